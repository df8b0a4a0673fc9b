/* Task stacks in slabs of guarded stacks, pooled by size. */
#include "stack.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc.h"
#include "atomic.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102  /* Linux 6.13 uapi; older headers lack it */
#endif
#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif
#ifndef MAP_STACK
#define MAP_STACK 0
#endif

#define SLAB_BYTES  (64u * 1024u * 1024u) /* virtual span of one slab  */
#define SLAB_MAX_N  256
#define CANARY      0x5745465453544b21ull /* "WEFTSTK!" */
#define CANARY_WORDS 32                   /* the stack's lowest 256 bytes */

static void canary_fill(void *lo)
{
    uint64_t *w = lo;
    for (int i = 0; i < CANARY_WORDS; i++)
        w[i] = CANARY;
}

typedef struct slab {
    struct slab  *next;
    char         *base;
    size_t        bytes;
    unsigned      n;
    weft__stack_t st[];
} slab_t;

/* Free stacks are hot (pages still resident: reused first, no fault) or
 * cold (pages given back, or never touched). Releasing pages costs a TLB
 * shootdown on every core running this process, so it is not done when a
 * stack is freed but by weft__stack_trim, when a worker is about to idle. */
struct weft__stack_pool {
    weft__stack_pool_t *next;
    size_t              size;
    pthread_mutex_t     lock;
    weft__stack_t      *hot, *cold;
    size_t              nhot, ncold;
    slab_t             *slabs;
};

#define HOT_KEEP  1024  /* hot stacks a pool keeps resident when idle */
#define TRIM_STEP 256   /* stacks released per trim call */

/* Lock order: pools_lock before a pool's lock before guard_lock. */
static pthread_mutex_t     pools_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t     guard_lock = PTHREAD_MUTEX_INITIALIZER;
static weft__stack_pool_t *pools;
static int                 guard_cap = -1;   /* forced by tests, or -1 */
static int                 madv_broken;      /* kernel refused MADV_GUARD_INSTALL */
static size_t              mprotect_budget;  /* guards we may still mprotect */
static int                 budget_known;
/* Set when a pool could not grow (address space or mappings ran out),
 * cleared when one grows again. While set, freed stacks go to the pools,
 * not to the freeing worker's cache, and that worker empties its cache into
 * them too: a stack cached by one worker is out of reach of a spawn on
 * another, which would otherwise fail with up to WEFT__STACK_CACHE stacks
 * per worker free. Relaxed: a hint, the pools' locks order the stacks. */
static weft__atomic(int)   starved;

static size_t page_size(void)
{
    static size_t ps;
    if (!ps)
        ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

/* Each mprotect'ed guard inside a slab splits its mapping: +2 VMAs. Spend at
 * most a quarter of vm.max_map_count on them; the program needs the rest. */
static void init_budget(void)
{
    long max = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
    if (f) {
        if (fscanf(f, "%ld", &max) != 1)
            max = 65530;
        fclose(f);
    }
    mprotect_budget = (size_t)(max / 4 / 2);
    budget_known = 1;
}

/* Called with guard_lock held. */
static int install_guard(char *guard, unsigned char *lo)
{
    int cap = guard_cap < 0 ? WEFT__GUARD_MADV : guard_cap;
    if (cap <= WEFT__GUARD_MADV && !madv_broken) {
        if (madvise(guard, WEFT__STACK_GUARD, MADV_GUARD_INSTALL) == 0)
            return WEFT__GUARD_MADV;
        madv_broken = 1;  /* EINVAL before 6.13: fall through for good */
    }
    if (cap <= WEFT__GUARD_MPROTECT) {
        if (!budget_known)
            init_budget();
        if (mprotect_budget > 0 && mprotect(guard, WEFT__STACK_GUARD, PROT_NONE) == 0) {
            mprotect_budget--;
            return WEFT__GUARD_MPROTECT;
        }
    }
    canary_fill(lo);
    return WEFT__GUARD_CANARY;
}

static weft__stack_pool_t *pool_for(size_t size)
{
    pthread_mutex_lock(&pools_lock);
    weft__stack_pool_t *p;
    for (p = pools; p; p = p->next)
        if (p->size == size)
            break;
    if (!p) {
        p = weft__calloc(1, sizeof *p);
        if (p) {
            p->size = size;
            pthread_mutex_init(&p->lock, NULL);
            p->next = pools;
            pools = p;
        }
    }
    pthread_mutex_unlock(&pools_lock);
    return p;
}

/* Called with p->lock held: add a slab's stacks to p's free list. */
static int pool_grow(weft__stack_pool_t *p)
{
    size_t span = p->size + WEFT__STACK_GUARD;
    size_t n = SLAB_BYTES / span;
    if (n < 1)
        n = 1;
    if (n > SLAB_MAX_N)
        n = SLAB_MAX_N;
    slab_t *s = weft__malloc(sizeof *s + n * sizeof(weft__stack_t));
    if (!s)
        return -ENOMEM;
    void *base = mmap(NULL, n * span, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) {
        weft__free(s);
        return -ENOMEM;
    }
    s->base = base;
    s->bytes = n * span;
    s->n = (unsigned)n;
    pthread_mutex_lock(&guard_lock);  /* guards' shared budget and mode */
    for (size_t i = 0; i < n; i++) {
        weft__stack_t *st = &s->st[i];
        char *guard = s->base + i * span;
        st->lo = guard + WEFT__STACK_GUARD;
        st->size = p->size;
        st->pool = p;
        st->guard = install_guard(guard, st->lo);
        st->next = p->cold;
        p->cold = st;
    }
    pthread_mutex_unlock(&guard_lock);
    p->ncold += n;
    s->next = p->slabs;
    p->slabs = s;
    return 0;
}

weft__stack_t *weft__stack_get(weft__stack_cache_t *c, size_t size)
{
    size_t ps = page_size();
    size = (size + ps - 1) & ~(ps - 1);
    int n = c ? weft__load_relaxed(&c->n) : 0;
    if (n > 0 && size == c->size) {
        weft__store_relaxed(&c->n, n - 1);
        return c->s[n - 1];
    }
    weft__stack_pool_t *p = pool_for(size);
    if (!p)
        return NULL;
    pthread_mutex_lock(&p->lock);
    weft__stack_t *s = p->hot;
    if (s) {
        p->hot = s->next;
        p->nhot--;
    } else {
        if (!p->cold) {
            if (pool_grow(p) < 0) {
                pthread_mutex_unlock(&p->lock);
                weft__store_relaxed(&starved, 1);
                return NULL;
            }
            if (weft__load_relaxed(&starved))
                weft__store_relaxed(&starved, 0);
        }
        s = p->cold;
        p->cold = s->next;
        p->ncold--;
    }
    pthread_mutex_unlock(&p->lock);
    if (s->guard == WEFT__GUARD_CANARY)
        canary_fill(s->lo);  /* MADV_DONTNEED zeroed it in the pool */
    return s;
}

void weft__stack_put(weft__stack_cache_t *c, weft__stack_t *s)
{
    if (c && weft__load_relaxed(&starved)) {
        weft__stack_cache_drain(c);
        c = NULL;
    }
    int n = c ? weft__load_relaxed(&c->n) : WEFT__STACK_CACHE;
    if (n < WEFT__STACK_CACHE && s->size == c->size) {
        c->s[n] = s;
        weft__store_relaxed(&c->n, n + 1);
        return;
    }
    weft__stack_pool_t *p = s->pool;
    pthread_mutex_lock(&p->lock);
    s->next = p->hot;
    p->hot = s;
    p->nhot++;
    pthread_mutex_unlock(&p->lock);
}

int weft__stack_trim(void)
{
    int released = 0;
    pthread_mutex_lock(&pools_lock);
    for (weft__stack_pool_t *p = pools; p; p = p->next) {
        weft__stack_t *batch = NULL;
        int n = 0;
        pthread_mutex_lock(&p->lock);
        while (p->nhot > HOT_KEEP && n < TRIM_STEP) {
            weft__stack_t *s = p->hot;
            p->hot = s->next;
            p->nhot--;
            s->next = batch;
            batch = s;
            n++;
        }
        pthread_mutex_unlock(&p->lock);
        if (!batch)
            continue;
        weft__stack_t *last = batch;
        for (weft__stack_t *s = batch; s; s = s->next) {
            /* Keep the mapping and its guard; give the pages back. */
            madvise(s->lo, s->size, MADV_DONTNEED);
            last = s;
        }
        pthread_mutex_lock(&p->lock);
        last->next = p->cold;
        p->cold = batch;
        p->ncold += (size_t)n;
        pthread_mutex_unlock(&p->lock);
        released += n;
    }
    pthread_mutex_unlock(&pools_lock);
    return released;
}

void weft__stack_cache_drain(weft__stack_cache_t *c)
{
    int n;
    while ((n = weft__load_relaxed(&c->n)) > 0) {
        weft__store_relaxed(&c->n, n - 1);
        weft__stack_put(NULL, c->s[n - 1]);
    }
}

void weft__stacks_release_all(void)
{
    pthread_mutex_lock(&pools_lock);
    weft__stack_pool_t *p = pools;
    pools = NULL;
    pthread_mutex_unlock(&pools_lock);
    while (p) {
        weft__stack_pool_t *pn = p->next;
        for (slab_t *s = p->slabs, *sn; s; s = sn) {
            sn = s->next;
            pthread_mutex_lock(&guard_lock);
            for (unsigned i = 0; i < s->n; i++)
                if (s->st[i].guard == WEFT__GUARD_MPROTECT)
                    mprotect_budget++;
            pthread_mutex_unlock(&guard_lock);
            munmap(s->base, s->bytes);
            weft__free(s);
        }
        pthread_mutex_destroy(&p->lock);
        weft__free(p);
        p = pn;
    }
}

int weft__stack_smashed(const weft__stack_t *s)
{
    if (s->guard != WEFT__GUARD_CANARY)
        return 0;
    const volatile uint64_t *w = s->lo;
    for (int i = 0; i < CANARY_WORDS; i++)
        if (w[i] != CANARY)
            return 1;
    return 0;
}

int weft__stack_guard_hit(const weft__stack_t *s, const void *addr)
{
    uintptr_t a = (uintptr_t)addr, lo = (uintptr_t)s->lo;
    return a < lo && a >= lo - WEFT__STACK_GUARD;
}

void weft__stack_force_guard(int kind)
{
    pthread_mutex_lock(&guard_lock);
    guard_cap = kind;
    pthread_mutex_unlock(&guard_lock);
}

size_t weft__stack_pooled(void)
{
    size_t n = 0;
    pthread_mutex_lock(&pools_lock);
    for (weft__stack_pool_t *p = pools; p; p = p->next) {
        pthread_mutex_lock(&p->lock);
        n += p->nhot + p->ncold;
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&pools_lock);
    return n;
}
