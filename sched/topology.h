/* Machine topology: how many workers by default, where to pin them, and in
 * which order a worker visits steal victims (nearest in the hwloc tree
 * first). hwloc when built WEFT_WITH_HWLOC, sched_getaffinity otherwise. */
#ifndef WEFT_SCHED_TOPOLOGY_H
#define WEFT_SCHED_TOPOLOGY_H

typedef struct weft__topo weft__topo_t;

/* Discover the processing units this process may run on (its affinity mask,
 * HWLOC_TOPOLOGY_FLAG_RESTRICT_TO_CPUBINDING). NULL on failure (out of
 * memory); callers then fall back to one worker per online CPU. */
weft__topo_t *weft__topo_open(void);
void weft__topo_close(weft__topo_t *t);

/* Workers by default: the allowed PUs, capped by a cgroup CPU quota
 * (cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us), rounded up;
 * at least 1. t may be NULL. */
int weft__topo_default_workers(const weft__topo_t *t);

/* Bind the calling thread to the allowed PU of index (worker % number of
 * PUs). 0, or a negative errno (-ENOTSUP without hwloc). */
int weft__topo_pin(const weft__topo_t *t, int worker);

/* Fill order[0..n-2] with the workers other than self, nearest first: a
 * worker whose PU shares a deeper hwloc ancestor (core, then cache, then
 * package, then NUMA node) with self's PU comes earlier; ties keep index
 * order. Worker i is taken to run on PU (i % number of PUs). t may be NULL
 * (plain index order starting after self). */
void weft__topo_victim_order(const weft__topo_t *t, int self, int n, int *order);

#endif
