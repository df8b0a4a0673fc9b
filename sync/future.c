/* Futures: a value or an error, set once, awaited by any number of tasks
 * and threads, with done-callbacks (asyncio.Future without the loop). */
#include "../sched/alloc.h"
#include "sync.h"

typedef struct future_cb {
    struct future_cb *next;
    weft_future_cb    cb;
    void             *arg;
} future_cb_t;

struct weft_future {
    weft__sync_t          s;      /* state: 1 once done */
    weft__atomic(long)    refs;
    void                 *value;  /* written once, before state is set */
    int                   err;
    future_cb_t          *cbs, **cbs_tail;
};

weft_future_t *weft_future_new(void)
{
    weft_future_t *f = weft__calloc(1, sizeof *f);
    if (!f)
        return NULL;
    weft__store_relaxed(&f->refs, 1);
    f->cbs_tail = &f->cbs;
    return f;
}

weft_future_t *weft_future_retain(weft_future_t *f)
{
    if (f)
        weft__fetch_add_relaxed(&f->refs, 1);
    return f;
}

void weft_future_release(weft_future_t *f)
{
    /* acq_rel: the last owner sees every other owner's writes. */
    if (!f || weft__fetch_sub_acq_rel(&f->refs, 1) != 1)
        return;
    for (future_cb_t *c = f->cbs, *next; c; c = next) {
        next = c->next;
        weft__free(c);
    }
    weft__free(f);
}

static bool is_done(weft__sync_t *s)
{
    /* acquire: pairs with complete()'s release, for value and err. */
    return weft__load_acquire(&s->state) != 0;
}

int weft_future_done(const weft_future_t *f)
{
    return is_done(weft__sync(&f->s));
}

int weft_future_result(const weft_future_t *f, void **value)
{
    if (!is_done(weft__sync(&f->s)))
        return -EAGAIN;
    if (f->err)
        return f->err;
    if (value)
        *value = f->value;
    return 0;
}

static int complete(weft_future_t *f, void *value, int err)
{
    weft__guard_lock(&f->s.guard);
    if (weft__load_relaxed(&f->s.state)) {
        weft__guard_unlock(&f->s.guard);
        return -EALREADY;
    }
    f->value = value;
    f->err = err;
    weft__store_release(&f->s.state, 1);
    future_cb_t *cbs = f->cbs;
    f->cbs = NULL;
    f->cbs_tail = &f->cbs;
    while (weft__sync_wake_one(&f->s, 0)) {
    }
    weft__guard_unlock(&f->s.guard);
    /* Outside the guard: a callback may use the future (or wait on
     * another). The caller's reference keeps f alive until we return. */
    for (future_cb_t *next; cbs; cbs = next) {
        next = cbs->next;
        cbs->cb(f, cbs->arg);
        weft__free(cbs);
    }
    return 0;
}

int weft_future_set(weft_future_t *f, void *value)
{
    return complete(f, value, 0);
}

int weft_future_fail(weft_future_t *f, int err)
{
    if (err >= 0)
        return -EINVAL;
    return complete(f, NULL, err);
}

int weft_future_cancel(weft_future_t *f)
{
    return complete(f, NULL, -ECANCELED);
}

int weft_future_wait(weft_future_t *f, void **value)
{
    if (!is_done(&f->s)) {
        weft__guard_lock(&f->s.guard);
        if (!weft__load_relaxed(&f->s.state)) {
            weft__sync_waiter_t x;
            int rc = weft__sync_wait(&f->s, &x, WEFT__WAIT(WEFT__WAIT_FUTURE), false);
            if (rc < 0) {
                weft__guard_unlock(&f->s.guard);
                return rc;
            }
        } else {
            weft__guard_unlock(&f->s.guard);
        }
    }
    return weft_future_result(f, value);
}

int weft_future_on_done(weft_future_t *f, weft_future_cb cb, void *arg)
{
    if (!cb)
        return -EINVAL;
    if (!is_done(&f->s)) {
        future_cb_t *c = weft__malloc(sizeof *c);
        if (!c)
            return -ENOMEM;
        c->next = NULL;
        c->cb = cb;
        c->arg = arg;
        weft__guard_lock(&f->s.guard);
        if (!weft__load_relaxed(&f->s.state)) {
            *f->cbs_tail = c;
            f->cbs_tail = &c->next;
            weft__guard_unlock(&f->s.guard);
            return 0;
        }
        weft__guard_unlock(&f->s.guard);
        weft__free(c);
    }
    cb(f, arg);
    return 0;
}
