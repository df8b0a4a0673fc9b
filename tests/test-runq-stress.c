/* weft-test: timeout=300 labels=stress */
/* The per-worker run queue (sched/runq.h) on its own, with plain pthreads
 * and no runtime: exact steal-half and grab-half results on one thread, then
 * four owners pushing, popping, stealing and overflowing at once, where
 * every item must come out exactly once. */
#include <pthread.h>

#include "t.h"

#include "sched/runq.h"

#define CAP WEFT__RUNQ_CAP

/* Items are ids made odd, so no item is NULL and a torn or stale pointer
 * read is likely to show. */
static void *item(uint64_t id)
{
    return (void *)(uintptr_t)((id << 1) | 1);
}

static uint64_t item_id(void *x)
{
    uintptr_t v = (uintptr_t)x;
    CHECK(v & 1);
    return v >> 1;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Move q's indices on by n with a push and a pop each, so that the next
 * checks run across the wrap of the ring. */
static void advance(weft__runq_t *q, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        CHECK(weft__runq_push(q, item(1000000 + i)));
        CHECK(weft__runq_pop(q) == item(1000000 + i));
    }
    CHECK_EQ(weft__runq_len(q), 0);
}

/* ---- steal_half_rounds_up ---------------------------------------------- */

static weft__runq_t sh_victim, sh_thief;

static void steal_half_rounds_up(void)
{
    weft__runq_t *v = &sh_victim, *t = &sh_thief;
    weft__runq_init(v);
    weft__runq_init(t);
    for (int round = 0; round < 3; round++) {
        /* The case in the brief: 5 items, the thief takes 3 = 5 - 5/2 (the
         * oldest), returns the newest of them and keeps the other 2. */
        for (uint64_t i = 0; i < 5; i++)
            CHECK(weft__runq_push(v, item(i)));
        unsigned n = 0;
        CHECK(weft__runq_steal(v, t, &n) == item(2));
        CHECK_EQ(n, 3);
        CHECK_EQ(weft__runq_len(t), 2);
        CHECK_EQ(weft__runq_len(v), 2);
        CHECK(weft__runq_pop(t) == item(0));
        CHECK(weft__runq_pop(t) == item(1));
        CHECK(weft__runq_pop(t) == NULL);
        CHECK(weft__runq_pop(v) == item(3));
        CHECK(weft__runq_pop(v) == item(4));
        CHECK(weft__runq_pop(v) == NULL);

        /* One item: the thief takes it and its own ring stays empty. */
        CHECK(weft__runq_push(v, item(7)));
        n = 0;
        CHECK(weft__runq_steal(v, t, &n) == item(7));
        CHECK_EQ(n, 1);
        CHECK_EQ(weft__runq_len(t), 0);
        CHECK_EQ(weft__runq_len(v), 0);
        CHECK(weft__runq_pop(t) == NULL);

        /* Nothing to take. */
        CHECK(weft__runq_steal(v, t, &n) == NULL);
        CHECK_EQ(weft__runq_len(t), 0);

        /* Every size up to a full ring: ceil(k/2) taken, in order. */
        for (uint64_t k = 1; k <= CAP; k++) {
            for (uint64_t i = 0; i < k; i++)
                CHECK(weft__runq_push(v, item(i)));
            uint64_t want = k - k / 2;
            n = 0;
            CHECK(weft__runq_steal(v, t, &n) == item(want - 1));
            CHECK_EQ(n, want);
            CHECK_EQ(weft__runq_len(t), want - 1);
            CHECK_EQ(weft__runq_len(v), k / 2);
            for (uint64_t i = 0; i + 1 < want; i++)
                CHECK(weft__runq_pop(t) == item(i));
            CHECK(weft__runq_pop(t) == NULL);
            for (uint64_t i = want; i < k; i++)
                CHECK(weft__runq_pop(v) == item(i));
            CHECK(weft__runq_pop(v) == NULL);
        }
        /* Again with the indices elsewhere in the ring. */
        advance(v, 77 + 50 * round);
        advance(t, 131 + 10 * round);
    }
}

/* ---- grab_half_when_full -------------------------------------------------- */

static weft__runq_t gh_q;

static void grab_half_when_full(void)
{
    weft__runq_t *q = &gh_q;
    weft__runq_init(q);
    void *batch[CAP / 2];
    for (int round = 0; round < 3; round++) {
        CHECK_EQ(weft__runq_grab_half(q, batch), 0); /* empty: nothing */
        for (uint64_t i = 0; i < CAP; i++) {
            CHECK(weft__runq_push(q, item(i)));
            if (i + 1 < CAP)
                CHECK_EQ(weft__runq_grab_half(q, batch), 0); /* not full */
        }
        CHECK_EQ(weft__runq_len(q), CAP);
        CHECK(!weft__runq_push(q, item(CAP)));
        CHECK_EQ(weft__runq_len(q), CAP);
        /* The older half, oldest first. */
        CHECK_EQ(weft__runq_grab_half(q, batch), CAP / 2);
        for (uint64_t i = 0; i < CAP / 2; i++)
            CHECK(batch[i] == item(i));
        CHECK_EQ(weft__runq_len(q), CAP / 2);
        CHECK(weft__runq_push(q, item(CAP)));
        for (uint64_t i = CAP / 2; i <= CAP; i++)
            CHECK(weft__runq_pop(q) == item(i));
        CHECK(weft__runq_pop(q) == NULL);
        advance(q, 100 + 7 * round);
    }
}

/* ---- stress_push_pop_steal ------------------------------------------------- */

#define NTHREADS 4
#define STRESS_OPS 10000000L  /* in all, before t_scale */
#define OVERFLOW_TAKE 64      /* items moved from the overflow list at once */

typedef struct worker {
    weft__runq_t q;            /* owned by this worker's thread */
    int id;
    uint64_t rng;
    uint64_t first, next, end; /* ids this worker creates: [first, end) */
    uint64_t consumed;
    /* Stores by the owner, loads by whoever checks for the end. */
    _Alignas(64) weft__atomic(uint64_t) consumed_pub;
    /* counters, owner only */
    uint64_t ops, pushes, pops, pop_empty, steals, steal_items, steal_miss;
    uint64_t fulls, grabs, ov_in, ov_out;
    pthread_t thread;
} worker_t;

static _Alignas(64) worker_t workers[NTHREADS];
static long ops_per_worker;
static weft__atomic(uint8_t) *seen;   /* per id: how many times it came out */
static uint64_t n_ids;

/* Overflow list: what grab_half took out of full rings; any worker drains
 * it when its own ring is empty. */
static pthread_mutex_t ov_lock = PTHREAD_MUTEX_INITIALIZER;
static void **ov;
static size_t ov_len, ov_cap;

/* End detection: created_total is final once done == NTHREADS. */
static weft__atomic(uint64_t) created_total;
static weft__atomic(int) done;

static void consume(worker_t *w, void *x)
{
    uint64_t id = item_id(x);
    CHECK(id < n_ids);
    uint8_t before = atomic_fetch_add_explicit(&seen[id], 1, memory_order_relaxed);
    if (before != 0) {
        fprintf(stderr, "item %llu seen %u times before (worker %d)\n",
                (unsigned long long)id, before, w->id);
        abort();
    }
    w->consumed++;
    weft__store_release(&w->consumed_pub, w->consumed);
}

static void overflow_put(void **batch, unsigned n)
{
    pthread_mutex_lock(&ov_lock);
    if (ov_len + n > ov_cap) {
        ov_cap = ov_cap ? ov_cap * 2 : 4096;
        while (ov_cap < ov_len + n)
            ov_cap *= 2;
        ov = realloc(ov, ov_cap * sizeof *ov);
        CHECK(ov != NULL);
    }
    memcpy(ov + ov_len, batch, n * sizeof *batch);
    ov_len += n;
    pthread_mutex_unlock(&ov_lock);
}

/* Owner, own ring empty: move up to OVERFLOW_TAKE items from the overflow
 * list into it. Returns how many. */
static unsigned overflow_take(worker_t *w)
{
    void *batch[OVERFLOW_TAKE];
    unsigned n = 0;
    pthread_mutex_lock(&ov_lock);
    while (n < OVERFLOW_TAKE && ov_len > 0)
        batch[n++] = ov[--ov_len];
    pthread_mutex_unlock(&ov_lock);
    for (unsigned i = 0; i < n; i++)
        CHECK(weft__runq_push(&w->q, batch[i])); /* was empty: fits */
    w->ov_out += n;
    return n;
}

static void push_one(worker_t *w, void *x)
{
    void *batch[CAP / 2];
    while (!weft__runq_push(&w->q, x)) {
        w->fulls++;
        unsigned n = weft__runq_grab_half(&w->q, batch);
        if (n) {
            w->grabs++;
            w->ov_in += n;
            overflow_put(batch, n);
        }
        /* n == 0: thieves made room meanwhile; push again. */
    }
    w->pushes++;
}

static int steal_one(worker_t *w)
{
    int v = (int)(xorshift(&w->rng) % (NTHREADS - 1));
    if (v >= w->id)
        v++;
    unsigned n = 0;
    void *x = weft__runq_steal(&workers[v].q, &w->q, &n);
    if (!x) {
        w->steal_miss++;
        return 0;
    }
    CHECK(n >= 1 && n <= CAP / 2);
    w->steals++;
    w->steal_items += n;
    consume(w, x);
    return 1;
}

/* Take one item from somewhere and consume it; 0 when nothing was found. */
static int take_one(worker_t *w)
{
    void *x = weft__runq_pop(&w->q);
    if (x) {
        w->pops++;
        consume(w, x);
        return 1;
    }
    w->pop_empty++;
    /* Our ring is empty now (only we add to it), as steal requires. Try the
     * overflow list and a victim, in random order. */
    if (xorshift(&w->rng) & 1) {
        if (steal_one(w))
            return 1;
        if (!overflow_take(w))
            return 0;
    } else if (!overflow_take(w)) {
        return steal_one(w);
    }
    x = weft__runq_pop(&w->q); /* NULL if thieves took it all meanwhile */
    if (!x)
        return 0;
    w->pops++;
    consume(w, x);
    return 1;
}

static uint64_t consumed_sum(void)
{
    uint64_t s = 0;
    for (int i = 0; i < NTHREADS; i++)
        s += weft__load_acquire(&workers[i].consumed_pub);
    return s;
}

static void *stress_thread(void *arg)
{
    worker_t *w = arg;
    /* Push rate by phase of 4096 operations, shifted per worker, so that
     * rings fill up (grab_half, overflow) and run dry (steal) in turn. */
    static const unsigned push_pct[4] = { 90, 60, 40, 10 };
    for (long i = 0; i < ops_per_worker; i++) {
        w->ops++;
        unsigned pct = push_pct[(((unsigned long)i >> 12) + (unsigned)w->id) & 3];
        if (xorshift(&w->rng) % 100 < pct && w->next < w->end)
            push_one(w, item(w->next++));
        else
            take_one(w);
    }
    weft__fetch_add_acq_rel(&created_total, w->next - w->first);
    weft__fetch_add_acq_rel(&done, 1);
    /* Drain: everything created must be consumed by someone. */
    for (;;) {
        if (take_one(w))
            continue;
        if (weft__load_acquire(&done) == NTHREADS &&
            consumed_sum() == weft__load_acquire(&created_total))
            break;
        weft__cpu_relax();
    }
    return NULL;
}

static void stress_push_pop_steal(void)
{
    long total = t_scale(STRESS_OPS);
    ops_per_worker = total / NTHREADS > 0 ? total / NTHREADS : 1;
    n_ids = (uint64_t)ops_per_worker * NTHREADS;
    seen = calloc(n_ids, sizeof *seen);
    CHECK(seen != NULL);
    for (int i = 0; i < NTHREADS; i++) {
        worker_t *w = &workers[i];
        weft__runq_init(&w->q);
        w->id = i;
        w->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1); /* deterministic */
        w->first = w->next = (uint64_t)ops_per_worker * (uint64_t)i;
        w->end = w->first + (uint64_t)ops_per_worker;
        weft__store_relaxed(&w->consumed_pub, 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&workers[i].thread, NULL, stress_thread, &workers[i]) == 0);
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_join(workers[i].thread, NULL) == 0);

    /* Every created item came out exactly once, nothing else came out, and
     * nothing is left anywhere. */
    uint64_t created = 0;
    for (int i = 0; i < NTHREADS; i++) {
        worker_t *w = &workers[i];
        for (uint64_t id = w->first; id < w->end; id++) {
            unsigned want = id < w->next;
            if (atomic_load_explicit(&seen[id], memory_order_relaxed) != want) {
                fprintf(stderr, "item %llu seen %u times, want %u\n",
                        (unsigned long long)id,
                        (unsigned)atomic_load_explicit(&seen[id], memory_order_relaxed),
                        want);
                abort();
            }
        }
        created += w->next - w->first;
        CHECK_EQ(weft__runq_len(&w->q), 0);
        CHECK(weft__runq_pop(&w->q) == NULL);
    }
    CHECK_EQ(created, weft__load_acquire(&created_total));
    CHECK_EQ(consumed_sum(), created);
    CHECK_EQ(ov_len, 0);

    worker_t sum = { 0 };
    for (int i = 0; i < NTHREADS; i++) {
        worker_t *w = &workers[i];
        printf("worker %d: ops %llu push %llu pop %llu pop-empty %llu "
               "steal %llu (items %llu) steal-miss %llu full %llu grab-half %llu "
               "overflow in %llu out %llu\n",
               i, (unsigned long long)w->ops, (unsigned long long)w->pushes,
               (unsigned long long)w->pops, (unsigned long long)w->pop_empty,
               (unsigned long long)w->steals, (unsigned long long)w->steal_items,
               (unsigned long long)w->steal_miss, (unsigned long long)w->fulls,
               (unsigned long long)w->grabs, (unsigned long long)w->ov_in,
               (unsigned long long)w->ov_out);
        sum.ops += w->ops;
        sum.pushes += w->pushes;
        sum.pops += w->pops;
        sum.steals += w->steals;
        sum.steal_items += w->steal_items;
        sum.grabs += w->grabs;
        sum.ov_in += w->ov_in;
        sum.ov_out += w->ov_out;
    }
    printf("total: ops %llu items %llu push %llu pop %llu steal %llu (items %llu) "
           "grab-half %llu overflow in %llu out %llu\n",
           (unsigned long long)sum.ops, (unsigned long long)created,
           (unsigned long long)sum.pushes, (unsigned long long)sum.pops,
           (unsigned long long)sum.steals, (unsigned long long)sum.steal_items,
           (unsigned long long)sum.grabs, (unsigned long long)sum.ov_in,
           (unsigned long long)sum.ov_out);
    CHECK_EQ(sum.pushes, created);
    CHECK_EQ(sum.ov_in, sum.ov_out);
    CHECK_EQ(sum.pops + sum.steals, created); /* every item left by one of them */
    free(seen);
    free(ov);
}

T_MAIN(
    T_CASE(stress_push_pop_steal),
    T_CASE(steal_half_rounds_up),
    T_CASE(grab_half_when_full)
)
