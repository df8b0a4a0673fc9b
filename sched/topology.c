/* Machine topology: the processing units (PUs) the process may use, the cgroup
 * CPU quota, pinning, and the nearest-first steal order; hwloc when built
 * WEFT_WITH_HWLOC, sched_getaffinity otherwise. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* sched_getaffinity, CPU_ALLOC */
#endif
#include "topology.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#ifdef WEFT_WITH_HWLOC
#include <hwloc.h>
#if HWLOC_API_VERSION < 0x00020000
#error "weft needs hwloc 2.x (or build with WEFT_WITH_HWLOC=OFF)"
#endif
#endif

struct weft__topo {
    int npu; /* allowed PUs, >= 1 */
#ifdef WEFT_WITH_HWLOC
    /* NULL when hwloc could not load a topology: then this is the plain
     * affinity-mask topology (no pinning, index-order stealing). */
    hwloc_topology_t hw;
    /* The allowed PUs in the order workers take them: the first PU of every
     * core, then the second of every core, ... so that N workers land on N
     * distinct cores before any two share one (SMT siblings share the
     * execution units, which is what WEFT_PIN's "i-th core" promises). */
    hwloc_obj_t *pu;
#endif
};

/* ---- affinity mask ----------------------------------------------------------- */

/* CPUs in the calling thread's affinity mask, at least 1. */
static int affinity_count(void)
{
    long online;

#if defined(__linux__) && defined(CPU_ALLOC)
    /* A cpu_set_t holds CPU_SETSIZE (1024) CPUs, and the kernel answers
     * EINVAL while the mask is smaller than its own: grow until it fits. */
    for (int ncpu = CPU_SETSIZE; ncpu <= (1 << 22); ncpu *= 2) {
        cpu_set_t *set = CPU_ALLOC(ncpu);
        size_t size = CPU_ALLOC_SIZE(ncpu);
        int n, rc;

        if (set == NULL)
            break;
        rc = sched_getaffinity(0, size, set);
        n = rc == 0 ? CPU_COUNT_S(size, set) : 0;
        CPU_FREE(set);
        if (rc == 0)
            return n > 0 ? n : 1;
        if (errno != EINVAL)
            break;
    }
#endif
    online = sysconf(_SC_NPROCESSORS_ONLN);
    return online < 1 ? 1 : online > INT_MAX ? INT_MAX : (int)online;
}

/* ---- cgroup CPU quota -------------------------------------------------------- */

#define CGROUP_FS "/sys/fs/cgroup"

/* Read a small file whole into buf (NUL-terminated). Length, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    while (len + 1 < cap) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* A non-negative or -1 decimal at *p, advancing *p; -2 when there is none.
 * Hand-rolled so that a quota file can never be misread as a larger number. */
static long long read_ll(const char **p)
{
    const char *s = *p;
    long long v = 0;
    int neg = 0;

    if (*s == '-') {
        neg = 1;
        s++;
    }
    if (*s < '0' || *s > '9')
        return -2;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (LLONG_MAX - (*s - '0')) / 10)
            return -2;
        v = v * 10 + (*s - '0');
    }
    *p = s;
    return neg ? (v == 1 ? -1 : -2) : v;
}

/* ceil(quota / period) as a CPU count: the quota is CPU time per period, so a
 * quota of 1.5 periods still keeps 2 CPUs partly busy. INT_MAX: no limit. */
static int quota_cpus(long long quota, long long period)
{
    long long n;

    if (quota <= 0 || period <= 0)
        return INT_MAX;
    n = quota / period + (quota % period != 0);
    return n < 1 ? 1 : n > INT_MAX ? INT_MAX : (int)n;
}

/* One cgroup v2 cpu.max: "max <period>" or "<quota> <period>". The CPU cap,
 * INT_MAX for none, or -1 when the file is missing or unreadable. */
static int cpu_max_file(const char *path)
{
    char buf[64];
    const char *p = buf;
    long long quota, period;

    if (read_small(path, buf, sizeof buf) <= 0)
        return -1;
    if (strncmp(buf, "max", 3) == 0)
        return INT_MAX;
    quota = read_ll(&p);
    if (quota < 0 || *p++ != ' ')
        return -1;
    period = read_ll(&p);
    return period > 0 ? quota_cpus(quota, period) : -1;
}

/* cgroup v2: a limit anywhere on the path from the process's cgroup up to
 * the root applies, so walk it and keep the smallest; the root file last
 * (a container sees its own cgroup as the root of /sys/fs/cgroup). */
static int cgroup2_cap(void)
{
    char self[4096], path[4096 + 32];
    const char *line, *rel = NULL;
    int found = 0, cap = INT_MAX, c;
    size_t len = 0;

    if (read_small("/proc/self/cgroup", self, sizeof self) > 0) {
        for (line = self; line != NULL && *line; ) {
            const char *nl = strchr(line, '\n');
            /* The kernel ends every line with '\n'; one without it was
             * cut short by our buffer and names no real cgroup. */
            if (nl != NULL && strncmp(line, "0::/", 4) == 0) {
                rel = line + 3;
                len = (size_t)(nl - rel);
                break;
            }
            line = nl != NULL ? nl + 1 : NULL;
        }
    }
    /* "/.." appears when the cgroup lies outside our cgroup namespace: then
     * the path means nothing under our mount, so only the root file counts. */
    if (rel != NULL && strncmp(rel, "/..", 3) != 0 &&
        len < sizeof path - sizeof CGROUP_FS "/cpu.max") {
        /* Strip trailing components one by one: /a/b, /a, then the root. */
        while (len > 1) {
            const size_t root = sizeof CGROUP_FS - 1;

            memcpy(path, CGROUP_FS, root);
            memcpy(path + root, rel, len);
            memcpy(path + root + len, "/cpu.max", sizeof "/cpu.max");
            if ((c = cpu_max_file(path)) >= 0) {
                found = 1;
                cap = c < cap ? c : cap;
            }
            while (len > 1 && rel[len - 1] != '/')
                len--;
            if (len > 1)
                len--; /* the '/' itself */
        }
    }
    if ((c = cpu_max_file(CGROUP_FS "/cpu.max")) >= 0) {
        found = 1;
        cap = c < cap ? c : cap;
    }
    return found ? cap : -1;
}

/* cgroup v1: cpu.cfs_quota_us (-1: none) over cpu.cfs_period_us. */
static int cgroup1_cap(void)
{
    char buf[64];
    const char *p;
    long long quota, period;

    if (read_small(CGROUP_FS "/cpu/cpu.cfs_quota_us", buf, sizeof buf) <= 0)
        return -1;
    p = buf;
    quota = read_ll(&p);
    if (quota == -1)
        return INT_MAX;
    if (read_small(CGROUP_FS "/cpu/cpu.cfs_period_us", buf, sizeof buf) <= 0)
        return -1;
    p = buf;
    period = read_ll(&p);
    return quota > 0 && period > 0 ? quota_cpus(quota, period) : -1;
}

/* The CPU cap of the cgroup quota, INT_MAX when there is none (or no
 * cgroup filesystem, as outside Linux). */
static int cgroup_cap(void)
{
    int cap = cgroup2_cap();

    if (cap < 0)
        cap = cgroup1_cap();
    return cap < 0 ? INT_MAX : cap;
}

/* ---- hwloc ---------------------------------------------------------------------- */

#ifdef WEFT_WITH_HWLOC
/* Order PUs by their rank inside their core, then by hwloc's logical order. */
static int pu_rank(hwloc_obj_t pu)
{
    return pu->parent != NULL && pu->parent->type == HWLOC_OBJ_CORE
               ? (int)pu->sibling_rank : 0;
}

static int pu_cmp(const void *a, const void *b)
{
    hwloc_obj_t x = *(const hwloc_obj_t *)a, y = *(const hwloc_obj_t *)b;
    int rx = pu_rank(x), ry = pu_rank(y);

    if (rx != ry)
        return rx < ry ? -1 : 1;
    return x->logical_index < y->logical_index ? -1
           : x->logical_index > y->logical_index;
}

/* Load the topology restricted to the process's CPU binding. 0, or -1 with
 * nothing left allocated. */
static int hw_open(weft__topo_t *t)
{
    hwloc_topology_t hw;
    unsigned long flags = 0;
    int n;

    if (hwloc_topology_init(&hw) < 0)
        return -1;
#if HWLOC_API_VERSION >= 0x00020500 /* hwloc 2.5 added the flag */
    flags |= HWLOC_TOPOLOGY_FLAG_IS_THISSYSTEM |
             HWLOC_TOPOLOGY_FLAG_RESTRICT_TO_CPUBINDING;
#endif
    if (hwloc_topology_set_flags(hw, flags) < 0 || hwloc_topology_load(hw) < 0)
        goto fail;
#if HWLOC_API_VERSION < 0x00020500
    {
        /* Older hwloc: restrict after discovery, which yields the same tree. */
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        int rc = -1;

        if (set != NULL && hwloc_get_cpubind(hw, set, HWLOC_CPUBIND_PROCESS) == 0)
            rc = hwloc_topology_restrict(hw, set, 0);
        hwloc_bitmap_free(set);
        if (rc < 0)
            goto fail;
    }
#endif
    n = hwloc_get_nbobjs_by_type(hw, HWLOC_OBJ_PU);
    if (n <= 0)
        goto fail;
    t->pu = malloc((size_t)n * sizeof *t->pu);
    if (t->pu == NULL)
        goto fail;
    for (int i = 0; i < n; i++)
        t->pu[i] = hwloc_get_obj_by_type(hw, HWLOC_OBJ_PU, (unsigned)i);
    qsort(t->pu, (size_t)n, sizeof *t->pu, pu_cmp);
    t->hw = hw;
    t->npu = n;
    return 0;
fail:
    hwloc_topology_destroy(hw);
    return -1;
}

/* Depth of the deepest object that holds both PUs: the larger, the nearer
 * (same core > same L2 > same L3 > same die or package > machine). hwloc 2
 * hangs NUMA nodes off the tree as memory children, so the Package or Group
 * above a node's cores is what stands for "same NUMA node" here. */
static int shared_depth(const weft__topo_t *t, int a, int b)
{
    hwloc_obj_t pa = t->pu[a % t->npu], pb = t->pu[b % t->npu];
    hwloc_obj_t anc = hwloc_get_common_ancestor_obj(t->hw, pa, pb);

    return anc != NULL && anc->depth > 0 ? anc->depth : 0;
}

static int int_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}
#endif /* WEFT_WITH_HWLOC */

/* ---- the interface --------------------------------------------------------------- */

/* Called by weft_run's thread before the workers start. */
weft__topo_t *weft__topo_open(void)
{
    weft__topo_t *t = calloc(1, sizeof *t);

    if (t == NULL)
        return NULL;
#ifdef WEFT_WITH_HWLOC
    /* hwloc can fail where /sys is hidden (some sandboxes); degrade to the
     * affinity mask rather than refuse to run. */
    if (hw_open(t) == 0)
        return t;
#endif
    t->npu = affinity_count();
    return t;
}

/* Called by weft_run's thread after every worker has stopped. */
void weft__topo_close(weft__topo_t *t)
{
    if (t == NULL)
        return;
#ifdef WEFT_WITH_HWLOC
    if (t->hw != NULL)
        hwloc_topology_destroy(t->hw);
    free(t->pu);
#endif
    free(t);
}

/* Any thread; reads files, so not for a hot path. */
int weft__topo_default_workers(const weft__topo_t *t)
{
    int n = t != NULL ? t->npu : affinity_count();
    int cap = cgroup_cap();

    if (cap < n)
        n = cap;
    /* More PUs than weft can drive (or WEFT_WORKERS accepts): use the most. */
    if (n > WEFT__WORKERS_MAX)
        n = WEFT__WORKERS_MAX;
    return n < 1 ? 1 : n;
}

/* Any thread, for itself (a worker pins itself once as it starts); a loaded
 * hwloc topology is read-only and safe to share. */
int weft__topo_pin(const weft__topo_t *t, int worker)
{
#ifdef WEFT_WITH_HWLOC
    if (t != NULL && t->hw != NULL) {
        hwloc_obj_t pu = t->pu[(unsigned)worker % (unsigned)t->npu];

        if (hwloc_set_cpubind(t->hw, pu->cpuset, HWLOC_CPUBIND_THREAD) < 0)
            return errno > 0 ? -errno : -EINVAL;
        return 0;
    }
#endif
    (void)t;
    (void)worker;
    return -ENOTSUP;
}

/* Any thread (each worker computes its own order once as it starts). */
void weft__topo_victim_order(const weft__topo_t *t, int self, int n, int *order)
{
    if (n < 2 || self < 0 || self >= n)
        return;
    for (int k = 1; k < n; k++)
        order[k - 1] = (self + k) % n;
#ifdef WEFT_WITH_HWLOC
    /* Sort by (descending shared depth, ascending distance k from self),
     * packed into one int per slot so that the sort needs no memory beyond
     * order[] and stays O(n log n) for 1024 workers. */
    enum { KBITS = 21, DMAX = (1 << (30 - KBITS)) - 1 };
    if (t == NULL || t->hw == NULL || t->npu < 2 || n > (1 << KBITS))
        return;
    for (int k = 1; k < n; k++) {
        int d = shared_depth(t, self, (self + k) % n);
        order[k - 1] = ((DMAX - (d < DMAX ? d : DMAX)) << KBITS) | k;
    }
    /* Keys are distinct (k is), so qsort's instability cannot reorder ties. */
    qsort(order, (size_t)(n - 1), sizeof *order, int_cmp);
    for (int i = 0; i < n - 1; i++)
        order[i] = (self + (order[i] & ((1 << KBITS) - 1))) % n;
#else
    (void)t;
#endif
}
