/* Relacy model of the run queue (sched/runq.h), compiled from the very
 * header the library uses: atomic.h maps weft's named atomics onto
 * Relacy's under WEFT_MODEL_RELACY, and the ring shrinks to 4 slots so the
 * wrap-around and full-ring paths are reached in a few operations.
 *
 * Each scenario is an owner thread and thieves. Every item carries a plain
 * (non-atomic, rl::var) payload written before its push and read by
 * whoever takes it, so a missing release/acquire pair is a data race; and
 * every item must be taken exactly once (checked after each execution).
 *
 * Usage: runq-model [scenario|all] [iterations]; without a scenario it runs
 * all. Built with WEFT_MODEL_WEAKEN_RELEASE (every release store made
 * relaxed) the verdict is inverted: it exits 0 only when the checker
 * catches the weakened queue (the CTest "model.runq_weakened"). */
#define WEFT_MODEL_RELACY 1
#define WEFT__RUNQ_CAP 4u

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "sched/runq.h"

namespace {

constexpr int kItems = 6;

struct item {
    rl::var<int> payload;
    int          id;
};

/* Shared by the scenarios: the items and who took them. */
struct base {
    item         items[kItems];
    int          taken[kItems];   /* per item: times taken (checked in after) */
    rl::var<int> taken_by[kItems];

    void init_items()
    {
        for (int i = 0; i < kItems; i++) {
            items[i].id = i;
            taken[i] = 0;
        }
    }

    /* The taker reads the payload: a race here means the push did not
     * publish it. */
    void take(void *p)
    {
        item *x = static_cast<item *>(p);
        RL_ASSERT(x->payload($) == x->id + 100);
        taken_by[x->id]($) = 1;
        taken[x->id]++;
    }

    void publish(int i)
    {
        items[i].payload($) = i + 100;
    }
};

/* Owner pushes and pops while one thief steals. */
struct push_pop_steal : rl::test_suite<push_pop_steal, 2>, base {
    weft__runq_t owner_q, thief_q;
    int pushed;

    void before()
    {
        init_items();
        weft__runq_init(&owner_q);
        weft__runq_init(&thief_q);
        pushed = 0;
    }

    void thread(unsigned id)
    {
        if (id == 0) {
            for (int i = 0; i < kItems; i++) {
                publish(i);
                if (!weft__runq_push(&owner_q, &items[i])) {
                    /* Full: the owner runs one itself, then retries. */
                    void *x = weft__runq_pop(&owner_q);
                    if (x)
                        take(x);
                    RL_ASSERT(weft__runq_push(&owner_q, &items[i]));
                }
                if (i % 2)
                    if (void *x = weft__runq_pop(&owner_q))
                        take(x);
            }
            while (void *x = weft__runq_pop(&owner_q))
                take(x);
        } else {
            for (int round = 0; round < 2; round++) {
                unsigned got = 0;
                void *x = weft__runq_steal(&owner_q, &thief_q, &got);
                if (!x)
                    continue;
                take(x);
                while (void *y = weft__runq_pop(&thief_q))
                    take(y);
            }
        }
    }

    void after()
    {
        for (int i = 0; i < kItems; i++)
            RL_ASSERT(taken[i] == 1);
    }
};

/* Two thieves steal from one owner; the owner pops too. */
struct two_thieves : rl::test_suite<two_thieves, 3>, base {
    weft__runq_t owner_q, thief_q[2];

    void before()
    {
        init_items();
        weft__runq_init(&owner_q);
        weft__runq_init(&thief_q[0]);
        weft__runq_init(&thief_q[1]);
    }

    void thread(unsigned id)
    {
        if (id == 0) {
            for (int i = 0; i < 4; i++) {
                publish(i);
                RL_ASSERT(weft__runq_push(&owner_q, &items[i]));
            }
            if (void *x = weft__runq_pop(&owner_q))
                take(x);
            /* Pushing again after thieves made room reuses their slots. */
            for (int i = 4; i < kItems; i++) {
                publish(i);
                if (!weft__runq_push(&owner_q, &items[i])) {
                    void *x = weft__runq_pop(&owner_q);
                    RL_ASSERT(x != nullptr);
                    take(x);
                    RL_ASSERT(weft__runq_push(&owner_q, &items[i]));
                }
            }
            while (void *x = weft__runq_pop(&owner_q))
                take(x);
        } else {
            weft__runq_t *mine = &thief_q[id - 1];
            unsigned got = 0;
            if (void *x = weft__runq_steal(&owner_q, mine, &got)) {
                take(x);
                while (void *y = weft__runq_pop(mine))
                    take(y);
            }
        }
    }

    void after()
    {
        for (int i = 0; i < kItems; i++)
            RL_ASSERT(taken[i] == 1);
    }
};

/* A full ring: the owner moves its older half out (grab_half, the path to
 * the injection queue) while a thief steals. */
struct overflow : rl::test_suite<overflow, 2>, base {
    weft__runq_t owner_q, thief_q;

    void before()
    {
        init_items();
        weft__runq_init(&owner_q);
        weft__runq_init(&thief_q);
    }

    void thread(unsigned id)
    {
        if (id == 0) {
            for (int i = 0; i < (int)WEFT__RUNQ_CAP; i++) {
                publish(i);
                RL_ASSERT(weft__runq_push(&owner_q, &items[i]));
            }
            for (int i = (int)WEFT__RUNQ_CAP; i < kItems; i++) {
                publish(i);
                while (!weft__runq_push(&owner_q, &items[i])) {
                    void *batch[WEFT__RUNQ_CAP / 2];
                    unsigned n = weft__runq_grab_half(&owner_q, batch);
                    for (unsigned k = 0; k < n; k++)
                        take(batch[k]);
                }
            }
            while (void *x = weft__runq_pop(&owner_q))
                take(x);
        } else {
            unsigned got = 0;
            if (void *x = weft__runq_steal(&owner_q, &thief_q, &got)) {
                take(x);
                while (void *y = weft__runq_pop(&thief_q))
                    take(y);
            }
        }
    }

    void after()
    {
        for (int i = 0; i < kItems; i++)
            RL_ASSERT(taken[i] == 1);
    }
};

template <class T> bool check(const char *name, int iterations)
{
    rl::test_params p;
    p.iteration_count = iterations;
    p.search_type = rl::random_scheduler_type;
    p.output_history = false;
    std::printf("model %s: %d random schedules\n", name, iterations);
    std::fflush(stdout);
    return rl::simulate<T>(p);
}

} // namespace

int main(int argc, char **argv)
{
    const char *only = argc > 1 && std::strcmp(argv[1], "all") ? argv[1] : nullptr;
    int iterations = argc > 2 ? std::atoi(argv[2]) : 200000;
    if (iterations <= 0)
        iterations = 200000;
    bool ok = true;
    if (!only || !std::strcmp(only, "push_pop_steal"))
        ok &= check<push_pop_steal>("push_pop_steal", iterations);
    if (!only || !std::strcmp(only, "two_thieves"))
        ok &= check<two_thieves>("two_thieves", iterations);
    if (!only || !std::strcmp(only, "overflow"))
        ok &= check<overflow>("overflow", iterations);
#ifdef WEFT_MODEL_WEAKEN_RELEASE
    /* Inverted: this build must be caught. */
    std::printf(ok ? "model: the weakened run queue was NOT caught\n"
                   : "model: the weakened run queue was caught, as it must be\n");
    return ok ? 1 : 0;
#else
    return ok ? 0 : 1;
#endif
}
