/* weft-test: timeout=300 labels=stress twin=shuffle:WEFT_DEBUG_SHUFFLE=7 */
/* Stress per primitive: many tasks on 2 workers doing random operations
 * (deterministic seeds per task; WEFT_TEST_SEED changes them), with
 * random deadlines and a task that cancels others at random, and the
 * primitive's invariant checked throughout and at the end. Sizes shrink
 * with WEFT_TEST_SCALE under sanitizers. */
#include <stdatomic.h>

#include "t.h"

static uint64_t seed_base(void)
{
    const char *s = getenv("WEFT_TEST_SEED");
    return s ? strtoull(s, NULL, 0) : 0x5eedULL;
}

static uint32_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
}

static uint64_t seed_for(int i)
{
    return (seed_base() + (uint64_t)i + 1) * 0x9e3779b97f4a7c15ull | 1;
}

enum { TASKS = 16 };

typedef struct {
    void *(*body)(void *);
    long iters;
    atomic_long ok, interrupted;
} stress_t;

typedef struct {
    stress_t *st;
    uint64_t  seed;
} arg_t;

/* Maybe wrap the next wait in a short deadline. */
static int maybe_deadline(uint64_t *s)
{
    if (rnd(s) % 8)
        return 0;
    weft_deadline_push((uint64_t)(rnd(s) % 200) * 1000);  /* 0-200 us */
    return 1;
}

/* Spawn the workers, cancel a few at random while they run, join all. */
static void run_stress(stress_t *st)
{
    weft_task_t *t[TASKS];
    arg_t a[TASKS];
    for (int i = 0; i < TASKS; i++) {
        a[i] = (arg_t){ st, seed_for(i) };
        CHECK((t[i] = weft_spawn(st->body, &a[i])) != NULL);
    }
    uint64_t s = seed_for(-1);
    for (int k = 0; k < 3; k++) {
        weft_sleep((uint64_t)(rnd(&s) % 2000) * 1000);
        weft_cancel(t[rnd(&s) % TASKS]);
    }
    CHECK_EQ(weft_join_all(t, TASKS, NULL), 0);
    fprintf(stderr, "%ld operations, %ld interrupted\n", atomic_load(&st->ok),
            atomic_load(&st->interrupted));
    CHECK(atomic_load(&st->ok) > 0);
}

/* ---- mutex: exclusion and a free lock at the end ------------------------ */

static weft_mutex_t mx = WEFT_MUTEX_INIT;
static long mx_count;
static int mx_inside;

static void *mutex_body(void *p)
{
    arg_t *a = p;
    for (long i = 0; i < a->st->iters; i++) {
        int d = maybe_deadline(&a->seed);
        int rc = weft_mutex_lock(&mx);
        if (d)
            weft_deadline_pop();
        if (rc == -ECANCELED)
            break;
        if (rc != 0) {
            CHECK_EQ(rc, -ETIMEDOUT);
            atomic_fetch_add(&a->st->interrupted, 1);
            continue;
        }
        CHECK_EQ(mx_inside++, 0);
        if (rnd(&a->seed) % 4 == 0)
            weft_yield();
        mx_count++;
        mx_inside--;
        weft_mutex_unlock(&mx);
        atomic_fetch_add(&a->st->ok, 1);
    }
    return NULL;
}

static void *m_mutex(void *arg)
{
    stress_t st = { mutex_body, t_scale(20000), 0, 0 };
    run_stress(&st);
    CHECK_EQ(mx_count, atomic_load(&st.ok));
    CHECK_EQ(weft_mutex_trylock(&mx), 0);
    weft_mutex_unlock(&mx);
    return NULL;
}

static void mutex(void)
{
    t_run(2, m_mutex, NULL);
}

/* ---- semaphore: never more than its units inside; all back at the end -- */

enum { UNITS = 3 };
static weft_sem_t sem = WEFT_SEM_INIT(UNITS);
static atomic_int sem_inside;

static void *sem_body(void *p)
{
    arg_t *a = p;
    for (long i = 0; i < a->st->iters; i++) {
        int d = maybe_deadline(&a->seed);
        int rc = (rnd(&a->seed) % 4) ? weft_sem_acquire(&sem)
                                      : weft_sem_try_acquire(&sem);
        if (d)
            weft_deadline_pop();
        if (rc == -ECANCELED)
            break;
        if (rc != 0) {
            atomic_fetch_add(&a->st->interrupted, 1);
            continue;
        }
        CHECK(atomic_fetch_add(&sem_inside, 1) < UNITS);
        if (rnd(&a->seed) % 2)
            weft_yield();
        atomic_fetch_sub(&sem_inside, 1);
        CHECK_EQ(weft_sem_release(&sem), 0);
        atomic_fetch_add(&a->st->ok, 1);
    }
    return NULL;
}

static void *m_sem(void *arg)
{
    stress_t st = { sem_body, t_scale(20000), 0, 0 };
    run_stress(&st);
    for (int i = 0; i < UNITS; i++)
        CHECK_EQ(weft_sem_try_acquire(&sem), 0);
    CHECK_EQ(weft_sem_try_acquire(&sem), -EAGAIN);
    return NULL;
}

static void semaphore(void)
{
    t_run(2, m_sem, NULL);
}

/* ---- rwlock: readers share, writers alone; free at the end -------------- */

static weft_rwlock_t rw = WEFT_RWLOCK_INIT;
static atomic_int rw_readers, rw_writers;

static void *rw_body(void *p)
{
    arg_t *a = p;
    for (long i = 0; i < a->st->iters; i++) {
        int write = rnd(&a->seed) % 4 == 0;
        int d = maybe_deadline(&a->seed);
        int rc = write ? weft_rwlock_wrlock(&rw) : weft_rwlock_rdlock(&rw);
        if (d)
            weft_deadline_pop();
        if (rc == -ECANCELED)
            break;
        if (rc != 0) {
            atomic_fetch_add(&a->st->interrupted, 1);
            continue;
        }
        if (write) {
            CHECK_EQ(atomic_fetch_add(&rw_writers, 1), 0);
            CHECK_EQ(atomic_load(&rw_readers), 0);
        } else {
            atomic_fetch_add(&rw_readers, 1);
            CHECK_EQ(atomic_load(&rw_writers), 0);
        }
        if (rnd(&a->seed) % 2)
            weft_yield();
        atomic_fetch_sub(write ? &rw_writers : &rw_readers, 1);
        weft_rwlock_unlock(&rw);
        atomic_fetch_add(&a->st->ok, 1);
    }
    return NULL;
}

static void *m_rwlock(void *arg)
{
    stress_t st = { rw_body, t_scale(20000), 0, 0 };
    run_stress(&st);
    CHECK_EQ(weft_rwlock_trywrlock(&rw), 0);
    weft_rwlock_unlock(&rw);
    return NULL;
}

static void rwlock(void)
{
    t_run(2, m_rwlock, NULL);
}

/* ---- channels and select: every value sent is received exactly once ---- */

enum { NCHAN = 3 };
static weft_chan_t *chans[NCHAN];
static atomic_long sent_sum, recv_sum, sent_n, recv_n;

static void *chan_body(void *p)
{
    arg_t *a = p;
    for (long i = 0; i < a->st->iters; i++) {
        /* Always a deadline: the last task alive must not wait forever for
         * a partner. */
        weft_deadline_push((uint64_t)(rnd(&a->seed) % 500) * 1000);
        int rc, k = -1;
        long out = (long)(rnd(&a->seed) % 1000) + 1, in = 0;
        switch (rnd(&a->seed) % 4) {
        case 0:
            k = (int)(rnd(&a->seed) % NCHAN);
            rc = weft_chan_send(chans[k], &out);
            break;
        case 1:
            rc = weft_chan_recv(chans[rnd(&a->seed) % NCHAN], &in);
            break;
        default: {
            /* A select over a send and a receive on random channels. */
            weft_select_case_t cs[2] = {
                { chans[rnd(&a->seed) % NCHAN], WEFT_SEND, &out, 0 },
                { chans[rnd(&a->seed) % NCHAN], WEFT_RECV, &in, 0 },
            };
            rc = weft_select(cs, 2, (uint64_t)(rnd(&a->seed) % 500) * 1000);
            if (rc >= 0) {
                k = rc == 0 ? 0 : -1;
                rc = cs[rc].result;
            }
            break;
        }
        }
        weft_deadline_pop();
        if (rc == -ECANCELED)
            break;
        if (rc != 0) {
            CHECK(rc == -ETIMEDOUT);
            atomic_fetch_add(&a->st->interrupted, 1);
            continue;
        }
        if (k >= 0) {
            atomic_fetch_add(&sent_sum, out);
            atomic_fetch_add(&sent_n, 1);
        } else {
            CHECK(in >= 1 && in <= 1000);
            atomic_fetch_add(&recv_sum, in);
            atomic_fetch_add(&recv_n, 1);
        }
        atomic_fetch_add(&a->st->ok, 1);
    }
    return NULL;
}

static void *m_chan(void *arg)
{
    for (int i = 0; i < NCHAN; i++)
        CHECK((chans[i] = weft_chan_new(sizeof(long), (size_t)i * 2)) != NULL);
    stress_t st = { chan_body, t_scale(20000), 0, 0 };
    run_stress(&st);
    /* What is still buffered was sent and never received. */
    long v;
    for (int i = 0; i < NCHAN; i++) {
        weft_chan_close(chans[i]);
        while (weft_chan_recv(chans[i], &v) == 0) {
            atomic_fetch_add(&recv_sum, v);
            atomic_fetch_add(&recv_n, 1);
        }
        weft_chan_free(chans[i]);
    }
    CHECK_EQ(atomic_load(&sent_n), atomic_load(&recv_n));
    CHECK_EQ(atomic_load(&sent_sum), atomic_load(&recv_sum));
    return NULL;
}

static void channels(void)
{
    t_run(2, m_chan, NULL);
}

/* ---- condition + event + wait group: rounds of a barrier ---------------- */

static weft_mutex_t bm = WEFT_MUTEX_INIT;
static weft_cond_t bc = WEFT_COND_INIT;
static long b_arrived, b_round;

/* A barrier from a mutex and a condition; a wait group counts the tasks
 * still running, and an event starts them together. */
static weft_event_t start = WEFT_EVENT_INIT;
static weft_wg_t running = WEFT_WG_INIT;

static void *barrier_body(void *p)
{
    long rounds = (long)(intptr_t)p;
    CHECK_EQ(weft_event_wait(&start), 0);
    for (long r = 0; r < rounds; r++) {
        CHECK_EQ(weft_mutex_lock(&bm), 0);
        long my = b_round;
        if (++b_arrived == TASKS) {
            b_arrived = 0;
            b_round++;
            weft_cond_broadcast(&bc);
        } else {
            while (b_round == my)
                CHECK_EQ(weft_cond_wait(&bc, &bm), 0);
        }
        weft_mutex_unlock(&bm);
    }
    CHECK_EQ(weft_wg_done(&running), 0);
    return NULL;
}

static void *m_barrier(void *arg)
{
    long rounds = t_scale(2000);
    CHECK_EQ(weft_wg_add(&running, TASKS), 0);
    for (int i = 0; i < TASKS; i++)
        CHECK_EQ(weft_go(barrier_body, (void *)(intptr_t)rounds), 0);
    weft_sleep(MS(1));
    weft_event_set(&start);
    CHECK_EQ(weft_wg_wait(&running), 0);
    CHECK_EQ(b_round, rounds);
    return NULL;
}

static void barrier(void)
{
    t_run(2, m_barrier, NULL);
}

T_MAIN(
    T_CASE(mutex),
    T_CASE(semaphore),
    T_CASE(rwlock),
    T_CASE(channels),
    T_CASE(barrier),
)
