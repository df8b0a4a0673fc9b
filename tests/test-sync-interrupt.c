/* weft-test: labels=unit twin=shuffle:WEFT_DEBUG_SHUFFLE=11 */
/* Every blocking call of sync/, interrupted both ways: a task parked on it
 * is cancelled (-ECANCELED), and a task parked on it with a deadline
 * times out (-ETIMEDOUT). Afterwards the primitive still works: the
 * wake-up the leaver would have had reaches a second waiter. */
#include "t.h"

typedef struct prim {
    const char *name;
    void (*setup)(void);              /* make the call block */
    int (*wait)(void);                /* the blocking call */
    void (*undo)(void);               /* after a successful wait */
    void (*release)(void);            /* what wakes one waiter */
    void (*teardown)(void);
} prim_t;

static weft_mutex_t mx = WEFT_MUTEX_INIT;
static weft_mutex_t cmx = WEFT_MUTEX_INIT;
static weft_cond_t cv = WEFT_COND_INIT;
static weft_event_t ev = WEFT_EVENT_INIT;
static weft_sem_t sem = WEFT_SEM_INIT(0);
static weft_wg_t wg = WEFT_WG_INIT;
static weft_rwlock_t rw = WEFT_RWLOCK_INIT;
static weft_chan_t *ch;
static weft_future_t *fut;
static long val;

static void nothing(void) {}

/* mutex: held by the main task */
static void mx_setup(void) { CHECK_EQ(weft_mutex_lock(&mx), 0); }
static int mx_wait(void) { return weft_mutex_lock(&mx); }
static void mx_undo(void) { weft_mutex_unlock(&mx); }
static void mx_release(void) { weft_mutex_unlock(&mx); }

/* condition: wait returns with cmx held either way */
static int cv_wait(void)
{
    CHECK_EQ(weft_mutex_lock(&cmx), 0);
    int rc = weft_cond_wait(&cv, &cmx);
    CHECK_EQ(weft_mutex_trylock(&cmx), -EBUSY);
    weft_mutex_unlock(&cmx);
    return rc;
}
static void cv_release(void) { weft_cond_signal(&cv); }

static int ev_wait(void) { return weft_event_wait(&ev); }
static void ev_release(void) { weft_event_set(&ev); }
static void ev_teardown(void) { weft_event_clear(&ev); }

static int sem_wait(void) { return weft_sem_acquire(&sem); }
static void sem_release(void) { CHECK_EQ(weft_sem_release(&sem), 0); }

static void wg_setup(void) { CHECK_EQ(weft_wg_add(&wg, 1), 0); }
static int wg_wait(void) { return weft_wg_wait(&wg); }
static void wg_release(void) { CHECK_EQ(weft_wg_done(&wg), 0); }

/* rwlock, both sides */
static void rw_wsetup(void) { CHECK_EQ(weft_rwlock_wrlock(&rw), 0); }
static void rw_rsetup(void) { CHECK_EQ(weft_rwlock_rdlock(&rw), 0); }
static int rw_rdwait(void) { return weft_rwlock_rdlock(&rw); }
static int rw_wrwait(void) { return weft_rwlock_wrlock(&rw); }
static void rw_undo(void) { weft_rwlock_unlock(&rw); }

/* channels: unbuffered, no partner */
static void ch_setup(void) { CHECK((ch = weft_chan_new(sizeof val, 0)) != NULL); }
static void ch_teardown(void) { weft_chan_free(ch); }
static int ch_send(void) { long v = 1; return weft_chan_send(ch, &v); }
static int ch_recv(void) { return weft_chan_recv(ch, &val); }
static void ch_take(void) { long v; CHECK_EQ(weft_chan_recv(ch, &v), 0); }
static void ch_give(void) { long v = 2; CHECK_EQ(weft_chan_send(ch, &v), 0); }
static int ch_select(void)
{
    weft_select_case_t c[2] = { { ch, WEFT_RECV, &val, 0 }, { NULL, WEFT_SEND, NULL, 0 } };
    int k = weft_select(c, 2, WEFT_FOREVER);
    return k < 0 ? k : c[k].result;
}

static void fut_setup(void) { CHECK((fut = weft_future_new()) != NULL); }
static int fut_wait(void) { return weft_future_wait(fut, NULL); }
static void fut_release(void) { CHECK_EQ(weft_future_set(fut, NULL), 0); }
static void fut_teardown(void) { weft_future_release(fut); }

static const prim_t prims[] = {
    { "mutex", mx_setup, mx_wait, mx_undo, mx_release, nothing },
    { "cond", nothing, cv_wait, nothing, cv_release, nothing },
    { "event", nothing, ev_wait, nothing, ev_release, ev_teardown },
    { "sem", nothing, sem_wait, nothing, sem_release, nothing },
    { "wg", wg_setup, wg_wait, nothing, wg_release, nothing },
    { "rwlock_rd", rw_wsetup, rw_rdwait, rw_undo, rw_undo, nothing },
    { "rwlock_wr", rw_rsetup, rw_wrwait, rw_undo, rw_undo, nothing },
    { "chan_send", ch_setup, ch_send, nothing, ch_take, ch_teardown },
    { "chan_recv", ch_setup, ch_recv, nothing, ch_give, ch_teardown },
    { "select", ch_setup, ch_select, nothing, ch_give, ch_teardown },
    { "future", fut_setup, fut_wait, nothing, fut_release, fut_teardown },
};

static const prim_t *cur;

static void *waiter(void *arg)
{
    int rc = cur->wait();
    if (rc == 0)
        cur->undo();
    return (void *)(intptr_t)rc;
}

static void *waiter_deadline(void *arg)
{
    weft_deadline_push(MS(10));
    int rc = cur->wait();
    weft_deadline_pop();
    if (rc == 0)
        cur->undo();
    return (void *)(intptr_t)rc;
}

static void *m_matrix(void *arg)
{
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++) {
        cur = &prims[i];
        fprintf(stderr, "%s\n", cur->name);
        cur->setup();
        /* Three waiters queue: one is cancelled, one times out, and the
         * third still receives the wake-up. */
        weft_task_t *c = weft_spawn(waiter, NULL);
        weft_task_t *d = weft_spawn(waiter_deadline, NULL);
        weft_sleep(MS(2));
        weft_task_t *ok = weft_spawn(waiter, NULL);
        weft_sleep(MS(2));
        CHECK_EQ(weft_cancel(c), 0);
        void *r;
        CHECK_EQ(weft_join(c, &r), 0);
        CHECK_EQ((intptr_t)r, -ECANCELED);
        CHECK_EQ(weft_join(d, &r), 0);
        CHECK_EQ((intptr_t)r, -ETIMEDOUT);
        CHECK_EQ(weft_wait_any(&ok, 1, 0), -ETIMEDOUT);  /* still waiting */
        cur->release();
        CHECK_EQ(weft_join(ok, &r), 0);
        CHECK_EQ((intptr_t)r, 0);
        cur->teardown();
    }
    return NULL;
}

static void matrix(void)
{
    t_run(2, m_matrix, NULL);
}

static void matrix_one_worker(void)
{
    t_run(1, m_matrix, NULL);
}

T_MAIN(
    T_CASE(matrix),
    T_CASE(matrix_one_worker),
)
