/* Binary min-heap of timers (see timer.h). */
#include "timer.h"

#include <errno.h>

#include "alloc.h"
#include "debug.h"

void weft__timerheap_init(weft__timerheap_t *h, weft__timer_fire_fn *fire)
{
    pthread_mutex_init(&h->lock, NULL);
    h->a = 0;
    h->n = h->cap = 0;
    weft__store_relaxed(&h->next, UINT64_MAX);
    h->fire = fire;
}

void weft__timerheap_fini(weft__timerheap_t *h)
{
    weft__free(h->a);
    h->a = 0;
    pthread_mutex_destroy(&h->lock);
}

static void set(weft__timerheap_t *h, int i, weft__timer_t *t)
{
    h->a[i] = t;
    t->idx = i;
}

static void sift_up(weft__timerheap_t *h, int i)
{
    weft__timer_t *t = h->a[i];
    while (i > 0) {
        int p = (i - 1) / 2;
        if (h->a[p]->when <= t->when)
            break;
        set(h, i, h->a[p]);
        i = p;
    }
    set(h, i, t);
}

static void sift_down(weft__timerheap_t *h, int i)
{
    weft__timer_t *t = h->a[i];
    for (;;) {
        int c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->a[c + 1]->when < h->a[c]->when)
            c++;
        if (t->when <= h->a[c]->when)
            break;
        set(h, i, h->a[c]);
        i = c;
    }
    set(h, i, t);
}

/* WEFT_DEBUG 3: the whole heap is ordered and every index is right. Only
 * the first 1024 entries: past that the O(n) walk per change would make tests
 * with many sleepers quadratic. */
static int heap_ok(const weft__timerheap_t *h)
{
    for (int i = 0; i < h->n && i < 1024; i++) {
        if (h->a[i]->idx != i || h->a[i]->heap != h)
            return 0;
        if (i > 0 && h->a[(i - 1) / 2]->when > h->a[i]->when)
            return 0;
    }
    return 1;
}

static void publish_next(weft__timerheap_t *h)
{
    WEFT__ASSERT(3, heap_ok(h));
    /* relaxed: a hint for idle workers choosing a poll timeout; they
     * re-read under the lock before firing. */
    weft__store_relaxed(&h->next, h->n ? h->a[0]->when : UINT64_MAX);
}

/* h->lock held. */
static void remove_at(weft__timerheap_t *h, int i)
{
    weft__timer_t *t = h->a[i];
    h->n--;
    if (i != h->n) {
        set(h, i, h->a[h->n]);
        sift_down(h, i);
        sift_up(h, h->a[i]->idx);
    }
    t->idx = -1;
    __atomic_store_n(&t->heap, (weft__timerheap_t *)0, __ATOMIC_RELAXED);
}

int weft__timer_add(weft__timerheap_t *h, weft__timer_t *t, uint64_t when,
                    int code, int *became_first)
{
    pthread_mutex_lock(&h->lock);
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 64;
        weft__timer_t **a = weft__realloc(h->a, (size_t)cap * sizeof *a);
        if (!a) {
            pthread_mutex_unlock(&h->lock);
            return -ENOMEM;
        }
        h->a = a;
        h->cap = cap;
    }
    t->when = when;
    t->code = code;
    __atomic_store_n(&t->heap, h, __ATOMIC_RELAXED);
    h->a[h->n] = t;
    t->idx = h->n++;
    sift_up(h, t->idx);
    *became_first = t->idx == 0;
    publish_next(h);
    pthread_mutex_unlock(&h->lock);
    return 0;
}

int weft__timer_del(weft__timer_t *t)
{
    /* t->heap is written only under that heap's lock (add, fire, del); the
     * unlocked read races only with a fire setting it to NULL, and is
     * checked again under the lock. acquire: pairs with the fire's release
     * store of NULL, so a caller that sees its timer fired (and may then
     * re-arm it, or finish and be freed) comes after everything the fire
     * did to it. */
    weft__timerheap_t *h = __atomic_load_n(&t->heap, __ATOMIC_ACQUIRE);
    if (!h)
        return 0;
    pthread_mutex_lock(&h->lock);
    int armed = t->heap == h && t->idx >= 0;
    if (armed) {
        remove_at(h, t->idx);
        publish_next(h);
    }
    pthread_mutex_unlock(&h->lock);
    return armed;
}

int weft__timers_fire(weft__timerheap_t *h, uint64_t now)
{
    int fired = 0;
    pthread_mutex_lock(&h->lock);
    while (h->n > 0 && h->a[0]->when <= now) {
        weft__timer_t *t = h->a[0];
        remove_at(h, 0);
        /* t->heap stays set while the callback runs, so a concurrent
         * weft__timer_del takes the lock and waits for it to end. */
        __atomic_store_n(&t->heap, h, __ATOMIC_RELAXED);
        h->fire(t);
        /* release: pairs with weft__timer_del's unlocked acquire load. */
        __atomic_store_n(&t->heap, (weft__timerheap_t *)0, __ATOMIC_RELEASE);
        fired++;
    }
    publish_next(h);
    pthread_mutex_unlock(&h->lock);
    return fired;
}
