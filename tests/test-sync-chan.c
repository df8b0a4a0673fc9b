/* weft-test: labels=unit twin=shuffle:WEFT_DEBUG_SHUFFLE=5 */
/* Channels and select: rendezvous, buffering, close and drain, try ops,
 * select readiness, timeout and fairness, interruption, plain threads. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "t.h"

#define RUN2(m) t_run(2, m, NULL)

/* ---- unbuffered ping-pong ---------------------------------------------- */

typedef struct { weft_chan_t *ping, *pong; long n; } pp_t;

static void *ponger(void *arg)
{
    pp_t *p = arg;
    long v;
    for (long i = 0; i < p->n; i++) {
        CHECK_EQ(weft_chan_recv(p->ping, &v), 0);
        CHECK_EQ(v, i);
        v = -i;
        CHECK_EQ(weft_chan_send(p->pong, &v), 0);
    }
    return NULL;
}

static void *m_unbuffered_pingpong(void *arg)
{
    pp_t p = { weft_chan_new(sizeof(long), 0), weft_chan_new(sizeof(long), 0), t_scale(20000) };
    CHECK(p.ping && p.pong);
    CHECK_EQ(weft_chan_cap(p.ping), 0);
    weft_task_t *t = weft_spawn(ponger, &p);
    for (long i = 0; i < p.n; i++) {
        long v = i;
        CHECK_EQ(weft_chan_send(p.ping, &v), 0);
        CHECK_EQ(weft_chan_recv(p.pong, &v), 0);
        CHECK_EQ(v, -i);
    }
    CHECK_EQ(weft_join(t, NULL), 0);
    /* Unbuffered: a send with no receiver would wait. */
    long v = 1;
    CHECK_EQ(weft_chan_try_send(p.ping, &v), -EAGAIN);
    CHECK_EQ(weft_chan_try_recv(p.ping, &v), -EAGAIN);
    weft_chan_free(p.ping);
    weft_chan_free(p.pong);
    return NULL;
}

static void unbuffered_pingpong(void)
{
    RUN2(m_unbuffered_pingpong);
}

/* ---- 4 producers x 3 consumers, every value exactly once ---------------- */

enum { PRODUCERS = 4, CONSUMERS = 3 };
typedef struct { weft_chan_t *ch; long n; unsigned char *seen; atomic_long got; } mpmc_t;

typedef struct { mpmc_t *m; long base; } prod_t;

static void *producer(void *arg)
{
    mpmc_t *m = ((prod_t *)arg)->m;
    long base = ((prod_t *)arg)->base;
    for (long i = 0; i < m->n; i++) {
        long v = base * m->n + i;
        CHECK_EQ(weft_chan_send(m->ch, &v), 0);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    mpmc_t *m = arg;
    long v;
    int rc;
    while ((rc = weft_chan_recv(m->ch, &v)) == 0) {
        CHECK(v >= 0 && v < PRODUCERS * m->n);
        /* Exactly once: each slot is written by one consumer only. */
        CHECK_EQ(m->seen[v]++, 0);
        atomic_fetch_add(&m->got, 1);
    }
    CHECK_EQ(rc, -EPIPE);
    return NULL;
}

static void mpmc_with(size_t cap)
{
    mpmc_t m = { weft_chan_new(sizeof(long), cap), t_scale(20000), NULL, 0 };
    m.seen = calloc((size_t)(PRODUCERS * m.n), 1);
    CHECK(m.ch && m.seen);
    prod_t args[PRODUCERS];
    weft_task_t *p[PRODUCERS], *c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        c[i] = weft_spawn(consumer, &m);
    for (int i = 0; i < PRODUCERS; i++) {
        args[i] = (prod_t){ &m, i };
        p[i] = weft_spawn(producer, &args[i]);
    }
    CHECK_EQ(weft_join_all(p, PRODUCERS, NULL), 0);
    weft_chan_close(m.ch);
    CHECK_EQ(weft_join_all(c, CONSUMERS, NULL), 0);
    CHECK_EQ(atomic_load(&m.got), PRODUCERS * m.n);
    for (long i = 0; i < PRODUCERS * m.n; i++)
        CHECK_EQ(m.seen[i], 1);
    free(m.seen);
    weft_chan_free(m.ch);
}

static void *m_mpmc(void *arg)
{
    mpmc_with(0);
    mpmc_with(1);
    mpmc_with(64);
    return NULL;
}

static void mpmc_exactly_once(void)
{
    RUN2(m_mpmc);
}

/* ---- close and drain --------------------------------------------------- */

static void *recv_one(void *arg)
{
    long v;
    return (void *)(intptr_t)weft_chan_recv(arg, &v);
}

static void *send_one(void *arg)
{
    long v = 99;
    return (void *)(intptr_t)weft_chan_send(arg, &v);
}

static void *m_close_drain(void *arg)
{
    weft_chan_t *ch = weft_chan_new(sizeof(long), 3);
    for (long i = 0; i < 3; i++)
        CHECK_EQ(weft_chan_send(ch, &i), 0);
    CHECK_EQ(weft_chan_len(ch), 3);
    /* Full: a sender waits, and close wakes it with -EPIPE. */
    weft_task_t *s = weft_spawn(send_one, ch);
    weft_sleep(MS(5));
    weft_chan_close(ch);
    weft_chan_close(ch);  /* twice: nothing */
    void *r;
    CHECK_EQ(weft_join(s, &r), 0);
    CHECK_EQ((intptr_t)r, -EPIPE);
    long v = 1;
    CHECK_EQ(weft_chan_send(ch, &v), -EPIPE);
    CHECK_EQ(weft_chan_try_send(ch, &v), -EPIPE);
    /* Receivers drain the buffer in order, then see -EPIPE. */
    for (long i = 0; i < 3; i++) {
        CHECK_EQ(weft_chan_recv(ch, &v), 0);
        CHECK_EQ(v, i);
    }
    CHECK_EQ(weft_chan_recv(ch, &v), -EPIPE);
    CHECK_EQ(weft_chan_try_recv(ch, &v), -EPIPE);
    weft_chan_free(ch);

    /* A receiver waiting on an empty channel wakes with -EPIPE. */
    ch = weft_chan_new(sizeof(long), 0);
    weft_task_t *rt = weft_spawn(recv_one, ch);
    weft_sleep(MS(5));
    weft_chan_close(ch);
    CHECK_EQ(weft_join(rt, &r), 0);
    CHECK_EQ((intptr_t)r, -EPIPE);
    weft_chan_free(ch);
    return NULL;
}

static void close_drain(void)
{
    RUN2(m_close_drain);
}

/* ---- try ops, odd sizes, bad arguments --------------------------------- */

static void *m_try_ops(void *arg)
{
    weft_chan_t *ch = weft_chan_new(sizeof(int), 2);
    int v = 1;
    CHECK_EQ(weft_chan_try_recv(ch, &v), -EAGAIN);
    CHECK_EQ(weft_chan_try_send(ch, &v), 0);
    v = 2;
    CHECK_EQ(weft_chan_try_send(ch, &v), 0);
    CHECK_EQ(weft_chan_try_send(ch, &v), -EAGAIN);
    CHECK_EQ(weft_chan_len(ch), 2);
    CHECK_EQ(weft_chan_try_recv(ch, &v), 0);
    CHECK_EQ(v, 1);
    CHECK_EQ(weft_chan_try_recv(ch, NULL), 0);  /* NULL: drop the value */
    CHECK_EQ(weft_chan_len(ch), 0);
    /* The ring wraps. */
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(weft_chan_try_send(ch, &i), 0);
        CHECK_EQ(weft_chan_try_recv(ch, &v), 0);
        CHECK_EQ(v, i);
    }
    weft_chan_free(ch);

    /* Size 0: a channel of signals. */
    ch = weft_chan_new(0, 1);
    CHECK(ch != NULL);
    CHECK_EQ(weft_chan_try_send(ch, NULL), 0);
    CHECK_EQ(weft_chan_try_recv(ch, NULL), 0);
    weft_chan_free(ch);

    CHECK(weft_chan_new(SIZE_MAX / 2, 3) == NULL);  /* overflow */
    CHECK_EQ(weft_chan_send(NULL, &v), -EINVAL);
    CHECK_EQ(weft_chan_recv(NULL, &v), -EINVAL);
    weft_chan_close(NULL);
    weft_chan_free(NULL);
    return NULL;
}

static void try_ops(void)
{
    RUN2(m_try_ops);
}

/* ---- select ------------------------------------------------------------ */

static void *send_after(void *arg)
{
    weft_sleep(MS(10));
    long v = 7;
    CHECK_EQ(weft_chan_send(arg, &v), 0);
    return NULL;
}

static void *m_select_basic(void *arg)
{
    weft_chan_t *a = weft_chan_new(sizeof(long), 0);
    weft_chan_t *b = weft_chan_new(sizeof(long), 1);
    long ra = 0, sb = 5;
    weft_select_case_t cs[3] = {
        { a, WEFT_RECV, &ra, 1 },
        { b, WEFT_SEND, &sb, 1 },
        { NULL, WEFT_RECV, NULL, 1 },  /* never ready */
    };
    /* b has room: the send case is the one ready. */
    CHECK_EQ(weft_select(cs, 3, WEFT_FOREVER), 1);
    CHECK_EQ(cs[1].result, 0);
    CHECK_EQ(weft_chan_len(b), 1);
    /* Nothing ready: timeout (0 polls). */
    CHECK_EQ(weft_select(cs, 3, 0), -ETIMEDOUT);
    uint64_t t0 = weft_now();
    CHECK_EQ(weft_select(cs, 3, MS(20)), -ETIMEDOUT);
    CHECK(weft_now() - t0 >= MS(20));
    /* A sender arrives while we wait on the receive case. */
    weft_task_t *t = weft_spawn(send_after, a);
    CHECK_EQ(weft_select(cs, 3, WEFT_FOREVER), 0);
    CHECK_EQ(cs[0].result, 0);
    CHECK_EQ(ra, 7);
    CHECK_EQ(weft_join(t, NULL), 0);
    /* A closed channel makes its cases ready with -EPIPE. */
    weft_chan_close(a);
    CHECK_EQ(weft_select(cs, 1, WEFT_FOREVER), 0);
    CHECK_EQ(cs[0].result, -EPIPE);
    /* Bad arguments. */
    weft_select_case_t bad = { b, 9, NULL, 0 };
    CHECK_EQ(weft_select(&bad, 1, 0), -EINVAL);
    CHECK_EQ(weft_select(NULL, 1, 0), -EINVAL);
    CHECK_EQ(weft_select(NULL, 0, MS(1)), -ETIMEDOUT);
    weft_chan_free(a);
    weft_chan_free(b);
    return NULL;
}

static void select_basic(void)
{
    RUN2(m_select_basic);
}

/* Many cases (more than fit on the stack), one of them becomes ready. */
static void *m_select_many(void *arg)
{
    enum { N = 40 };
    weft_chan_t *ch[N];
    long vals[N];
    weft_select_case_t cs[N];
    for (int i = 0; i < N; i++) {
        ch[i] = weft_chan_new(sizeof(long), 0);
        cs[i] = (weft_select_case_t){ ch[i], WEFT_RECV, &vals[i], 1 };
    }
    for (int round = 0; round < 20; round++) {
        int k = (round * 7) % N;
        weft_task_t *t = weft_spawn(send_after, ch[k]);
        CHECK_EQ(weft_select(cs, N, WEFT_FOREVER), k);
        CHECK_EQ(vals[k], 7);
        CHECK_EQ(weft_join(t, NULL), 0);
        /* The losers' waiters are gone: the channel is back to empty. */
        long v;
        CHECK_EQ(weft_chan_try_recv(ch[(k + 1) % N], &v), -EAGAIN);
    }
    for (int i = 0; i < N; i++)
        weft_chan_free(ch[i]);
    return NULL;
}

static void select_many(void)
{
    RUN2(m_select_many);
}

/* Two always-ready cases: over many rounds each is chosen about half of
 * the time (Go's uniform choice), never always the first. */
static void *m_select_fairness(void *arg)
{
    weft_chan_t *a = weft_chan_new(sizeof(int), 1);
    weft_chan_t *b = weft_chan_new(sizeof(int), 1);
    int one = 1, got;
    CHECK_EQ(weft_chan_send(a, &one), 0);
    CHECK_EQ(weft_chan_send(b, &one), 0);
    weft_select_case_t cs[2] = { { a, WEFT_RECV, &got, 0 }, { b, WEFT_RECV, &got, 0 } };
    enum { ROUNDS = 10000 };
    int count[2] = { 0, 0 };
    for (int i = 0; i < ROUNDS; i++) {
        int k = weft_select(cs, 2, 0);
        CHECK(k == 0 || k == 1);
        count[k]++;
        CHECK_EQ(weft_chan_send(k ? b : a, &one), 0);  /* ready again */
    }
    /* Binomial(10000, 1/2): sd 50, so 4500..5500 is 10 sd wide. */
    CHECK(count[0] > 4500 && count[0] < 5500);
    weft_chan_free(a);
    weft_chan_free(b);
    return NULL;
}

static void select_fairness(void)
{
    RUN2(m_select_fairness);
}

/* ---- interruption ------------------------------------------------------ */

static void *select_forever(void *arg)
{
    long v;
    weft_select_case_t c = { arg, WEFT_RECV, &v, 0 };
    return (void *)(intptr_t)weft_select(&c, 1, WEFT_FOREVER);
}

static void *recv_deadline(void *arg)
{
    long v;
    weft_deadline_push(MS(10));
    int rc = weft_chan_recv(arg, &v);
    weft_deadline_pop();
    return (void *)(intptr_t)rc;
}

static void *m_interrupted(void *arg)
{
    weft_chan_t *ch = weft_chan_new(sizeof(long), 0);
    weft_task_t *r = weft_spawn(recv_one, ch);
    weft_task_t *s = weft_spawn(select_forever, ch);
    weft_task_t *d = weft_spawn(recv_deadline, ch);
    weft_sleep(MS(5));
    weft_cancel(r);
    weft_cancel(s);
    void *res;
    CHECK_EQ(weft_join(r, &res), 0);
    CHECK_EQ((intptr_t)res, -ECANCELED);
    CHECK_EQ(weft_join(s, &res), 0);
    CHECK_EQ((intptr_t)res, -ECANCELED);
    CHECK_EQ(weft_join(d, &res), 0);
    CHECK_EQ((intptr_t)res, -ETIMEDOUT);
    /* Nobody is left waiting: a send has no partner. */
    long v = 1;
    CHECK_EQ(weft_chan_try_send(ch, &v), -EAGAIN);
    /* A sender that gives up leaves no value behind. */
    weft_task_t *snd = weft_spawn(send_one, ch);
    weft_sleep(MS(5));
    weft_cancel(snd);
    CHECK_EQ(weft_join(snd, &res), 0);
    CHECK_EQ((intptr_t)res, -ECANCELED);
    CHECK_EQ(weft_chan_try_recv(ch, &v), -EAGAIN);
    weft_deadline_push(MS(5));
    CHECK_EQ(weft_chan_send(ch, &v), -ETIMEDOUT);
    weft_deadline_pop();
    weft_chan_free(ch);
    return NULL;
}

static void interrupted(void)
{
    RUN2(m_interrupted);
}

/* ---- a plain pthread feeding a channel --------------------------------- */

typedef struct { weft_chan_t *ch; long n; } feed_t;

static void *feeder(void *arg)
{
    feed_t *f = arg;
    CHECK(weft_self() == NULL);
    for (long i = 0; i < f->n; i++)
        CHECK_EQ(weft_chan_send(f->ch, &i), 0);
    weft_chan_close(f->ch);
    return NULL;
}

static atomic_int receiver_started;

static void *thread_receiver(void *arg)
{
    /* A thread selecting with a timeout, then receiving. */
    weft_chan_t *ch = arg;
    long v;
    weft_select_case_t c = { ch, WEFT_RECV, &v, 0 };
    atomic_store(&receiver_started, 1);
    CHECK_EQ(weft_select(&c, 1, MS(5)), -ETIMEDOUT);
    CHECK_EQ(weft_select(&c, 1, WEFT_FOREVER), 0);
    CHECK_EQ(v, 42);
    CHECK_EQ(weft_chan_recv(ch, &v), 0);
    CHECK_EQ(v, 43);
    return NULL;
}

static void *m_thread_feeds(void *arg)
{
    feed_t f = { weft_chan_new(sizeof(long), 0), t_scale(10000) };
    pthread_t th;
    /* The feeder wakes us from outside weft: declared, or a moment with
     * every task parked would be reported as a deadlock. */
    CHECK_EQ(weft_waker_add(1), 0);
    CHECK_EQ(pthread_create(&th, NULL, feeder, &f), 0);
    long v, expect = 0;
    int rc;
    while ((rc = weft_chan_recv(f.ch, &v)) == 0)
        CHECK_EQ(v, expect++);
    CHECK_EQ(rc, -EPIPE);
    CHECK_EQ(expect, f.n);
    pthread_join(th, NULL);  /* it has closed the channel: done or nearly */
    weft_chan_free(f.ch);

    weft_chan_t *ch = weft_chan_new(sizeof(long), 0);
    CHECK_EQ(pthread_create(&th, NULL, thread_receiver, ch), 0);
    /* Send well after its 5 ms select began (a loaded machine may start
     * the thread late). */
    while (!atomic_load(&receiver_started))
        weft_sleep(MS(1));
    weft_sleep(MS(20));
    v = 42;
    CHECK_EQ(weft_chan_send(ch, &v), 0);
    v = 43;
    CHECK_EQ(weft_chan_send(ch, &v), 0);
    pthread_join(th, NULL);
    CHECK_EQ(weft_waker_add(-1), 0);
    weft_chan_free(ch);
    return NULL;
}

static void thread_feeds(void)
{
    RUN2(m_thread_feeds);
}

T_MAIN(
    T_CASE(unbuffered_pingpong),
    T_CASE(mpmc_exactly_once),
    T_CASE(close_drain),
    T_CASE(try_ops),
    T_CASE(select_basic),
    T_CASE(select_many),
    T_CASE(select_fairness),
    T_CASE(interrupted),
    T_CASE(thread_feeds),
)
