/* The hand-written context switch (sched/ctx_<arch>.S, sched/ctx.c) on its
 * own, without the scheduler: values and stacks across switches, every
 * callee-saved register of the ABI, the FP control state of each context,
 * stack alignment on a fresh stack, reuse of a dead context's stack, and the
 * trap behind an entry that returns.
 *
 * Contexts switch through weft__fiber_switch (weft__ctx_switch plus the
 * ASan/TSan annotations, so that the sanitizer builds run these too), except
 * in callee_saved_*, where weft__ctx_switch is called from assembly
 * (tests/regs_<arch>.S, see there why) and the annotations are made here. */
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t.h"

#include "sched/ctx.h"

#ifdef WEFT_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "test-ctx-switch: no register helpers for this architecture (tests/regs_*.S)"
#endif

/* ---- contexts on mmap'd stacks ------------------------------------------ */

#define STACK_SIZE (256u * 1024u) /* ASan frames and printf need room */

typedef struct t_ctx {
    weft__fiber_t f;
    void *map;       /* guard page + stack */
    size_t map_size;
} t_ctx;

/* Map a stack with a guard page below it. */
static void ctx_map(t_ctx *c)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    c->map_size = STACK_SIZE + pg;
    c->map = mmap(NULL, c->map_size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    CHECK(c->map != MAP_FAILED);
    CHECK(mprotect(c->map, pg, PROT_NONE) == 0);
}

/* Make c, whose stack is mapped, a fresh context that will run entry(data);
 * top_off moves the top of the stack down, to try misaligned tops. */
static void ctx_start(t_ctx *c, void (*entry)(void *), void *data, size_t top_off)
{
    char *lo = (char *)c->map + (c->map_size - STACK_SIZE);
    weft__fiber_init(&c->f, lo, STACK_SIZE);
    c->f.sp = weft__ctx_make(lo + STACK_SIZE - top_off, entry, data);
    CHECK(c->f.sp != NULL);
}

static void ctx_new(t_ctx *c, void (*entry)(void *), void *data, size_t top_off)
{
    ctx_map(c);
    ctx_start(c, entry, data, top_off);
}

static void ctx_free(t_ctx *c)
{
    weft__fiber_fini(&c->f);
    CHECK(munmap(c->map, c->map_size) == 0);
}

static int on_stack(const t_ctx *c, const void *p)
{
    const char *lo = c->f.stack_lo;
    return (const char *)p >= lo && (const char *)p < lo + c->f.stack_size;
}

/* Hide a value from the optimizer (so that an alignment test of a known
 * aligned object is not folded to "true"). */
static uintptr_t launder(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    __asm__ volatile("" : "+r"(v));
    return v;
}

/* ---- ping_pong: main -> A -> B -> main, 1000 rounds ---------------------- */

#define PP_ROUNDS 1000

static weft__fiber_t pp_main;
static t_ctx pp_a, pp_b;
static volatile long pp_val;   /* passed along the ring of switches */
static volatile int pp_done;
static long pp_a_rounds, pp_b_rounds;

static void pp_entry_a(void *data)
{
    weft__fiber_started(&pp_a.f);
    CHECK(data == &pp_a);
    /* Locals live on A's own stack and must survive every switch. */
    volatile long canary[8];
    for (int i = 0; i < 8; i++)
        canary[i] = 0xa0a0 + i;
    CHECK(on_stack(&pp_a, (const void *)canary));
    long round = 0;
    while (!pp_done) {
        CHECK_EQ(pp_val, 3 * round);
        pp_val = pp_val + 1;
        round++;
        weft__fiber_switch(&pp_a.f, &pp_b.f, 0);
        for (int i = 0; i < 8; i++)
            CHECK_EQ(canary[i], 0xa0a0 + i);
    }
    pp_a_rounds = round;
    weft__fiber_switch(&pp_a.f, &pp_b.f, 1); /* never resumed */
    abort();
}

static void pp_entry_b(void *data)
{
    weft__fiber_started(&pp_b.f);
    CHECK(data == &pp_b);
    volatile long canary[8];
    for (int i = 0; i < 8; i++)
        canary[i] = 0xb0b0 + i;
    CHECK(on_stack(&pp_b, (const void *)canary));
    long round = 0;
    while (!pp_done) {
        CHECK_EQ(pp_val, 3 * round + 1);
        pp_val = pp_val + 1;
        round++;
        weft__fiber_switch(&pp_b.f, &pp_main, 0);
        for (int i = 0; i < 8; i++)
            CHECK_EQ(canary[i], 0xb0b0 + i);
    }
    pp_b_rounds = round;
    weft__fiber_switch(&pp_b.f, &pp_main, 1); /* never resumed */
    abort();
}

static void ping_pong(void)
{
    weft__fiber_init(&pp_main, NULL, 0);
    ctx_new(&pp_a, pp_entry_a, &pp_a, 0);
    ctx_new(&pp_b, pp_entry_b, &pp_b, 0);
    volatile long mine = 0x5eed; /* on the thread's stack */
    for (long i = 0; i < PP_ROUNDS; i++) {
        pp_val = 3 * i;
        weft__fiber_switch(&pp_main, &pp_a.f, 0); /* A, then B, then back */
        CHECK_EQ(pp_val, 3 * i + 2);
        CHECK_EQ(mine, 0x5eed);
    }
    pp_done = 1;
    weft__fiber_switch(&pp_main, &pp_a.f, 0); /* A and B finish */
    CHECK_EQ(pp_a_rounds, PP_ROUNDS);
    CHECK_EQ(pp_b_rounds, PP_ROUNDS);
    ctx_free(&pp_a);
    ctx_free(&pp_b);
    weft__fiber_fini(&pp_main);
}

/* ---- callee_saved_int, callee_saved_fp ----------------------------------- */

/* tests/regs_<arch>.S; see the comment there for the protocol. */
uint64_t weft_test_regs_check(void (*clobber)(void *), void *arg);
void weft_test_regs_switch(void *sw);
void weft_test_regs_scramble(void *sw);
void weft_test_regs_trash(void *arg);

typedef struct regs_sw {
    void **save_sp;  /* offset 0, read by the assembly */
    void *load_sp;   /* offset 8 */
} regs_sw_t;
_Static_assert(offsetof(regs_sw_t, load_sp) == 8, "layout used by regs_*.S");

/* The bits of weft_test_regs_check's result. The System V x86-64 ABI has no
 * callee-saved vector registers, so there callee_saved_fp is about the MXCSR
 * control bits and the x87 control word; on AArch64 it is d8-d15 and FPCR. */
static const struct { int bit; const char *name; } regs_names[] = {
#if defined(__x86_64__)
    { 0, "rbx" }, { 1, "rbp" }, { 2, "r12" }, { 3, "r13" }, { 4, "r14" },
    { 5, "r15" }, { 24, "mxcsr" }, { 25, "x87 cw" },
#define REGS_INT 0x3full
#define REGS_FP  (3ull << 24)
#else
    { 0, "x19" }, { 1, "x20" }, { 2, "x21" }, { 3, "x22" }, { 4, "x23" },
    { 5, "x24" }, { 6, "x25" }, { 7, "x26" }, { 8, "x27" }, { 9, "x28" },
    { 10, "x29" }, { 16, "d8" }, { 17, "d9" }, { 18, "d10" }, { 19, "d11" },
    { 20, "d12" }, { 21, "d13" }, { 22, "d14" }, { 23, "d15" }, { 24, "fpcr" },
#define REGS_INT 0x7ffull
#define REGS_FP  (0x1ffull << 16)
#endif
};

#define REGS_ROUNDS 100

static weft__fiber_t rg_main;
static t_ctx rg_other;
static regs_sw_t rg_to_other, rg_to_main;
static volatile int rg_stop;
static long rg_rounds;

/* weft__fiber_switch (sched/ctx.c) cut in two around a switch that must be
 * made from assembly: the sanitizer bookkeeping before it and after it.
 * Always inlined, so that no instrumented function return lies between
 * TSan's fiber switch and the real one. */
static inline __attribute__((always_inline)) void
ann_before(weft__fiber_t *from, weft__fiber_t *to)
{
#ifdef WEFT_ASAN
    __sanitizer_start_switch_fiber(&from->asan_fake, to->stack_lo, to->stack_size);
#endif
#ifdef WEFT_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    (void)from;
    (void)to;
}

static inline __attribute__((always_inline)) void ann_after(weft__fiber_t *self)
{
#ifdef WEFT_ASAN
    const void *lo;
    size_t size;
    __sanitizer_finish_switch_fiber(self->asan_fake, &lo, &size);
#endif
    (void)self;
}

/* The other context: every time it runs, it goes back to main with garbage
 * in all the checked registers (weft_test_regs_scramble). */
static void rg_entry(void *data)
{
    weft__fiber_started(&rg_other.f);
    for (;;) {
        if (rg_stop)
            weft__fiber_switch(&rg_other.f, &rg_main, 1); /* never resumed */
        rg_rounds++;
        rg_to_main.save_sp = &rg_other.f.sp;
        rg_to_main.load_sp = rg_main.sp;
        ann_before(&rg_other.f, &rg_main);
        weft_test_regs_scramble(&rg_to_main);
        ann_after(&rg_other.f);
    }
}

static void regs_nop(void *arg)
{
    (void)arg;
}

static void regs_print(const char *what, uint64_t mask)
{
    fprintf(stderr, "%s:", what);
    for (size_t i = 0; i < sizeof regs_names / sizeof regs_names[0]; i++)
        if (mask & (1ull << regs_names[i].bit))
            fprintf(stderr, " %s", regs_names[i].name);
    fprintf(stderr, "\n");
}

/* Mask of the registers that some switch failed to give back, over
 * REGS_ROUNDS round trips main -> other -> main (printed when not 0). */
static uint64_t regs_run(void)
{
    /* The check itself: a function that keeps the ABI changes nothing, one
     * that breaks it is caught in every register. */
    CHECK_EQ(weft_test_regs_check(regs_nop, NULL), 0);
    uint64_t all = REGS_INT | REGS_FP;
    uint64_t trashed = weft_test_regs_check(weft_test_regs_trash, NULL);
    if (trashed != all)
        regs_print("the check missed trashed registers", all & ~trashed);
    CHECK_EQ(trashed, all);

    weft__fiber_init(&rg_main, NULL, 0);
    ctx_new(&rg_other, rg_entry, NULL, 0);
    /* In memory, and reported before any more switching: a broken switch
     * also trashes this function's own callee-saved registers. */
    static volatile uint64_t bad;
    bad = 0;
    for (long i = 0; i < REGS_ROUNDS; i++) {
        rg_to_other.save_sp = &rg_main.sp;
        rg_to_other.load_sp = rg_other.f.sp;
        ann_before(&rg_main, &rg_other.f);
        bad |= weft_test_regs_check(weft_test_regs_switch, &rg_to_other);
        ann_after(&rg_main);
        CHECK_EQ(rg_rounds, i + 1);
    }
    if (bad)
        regs_print("not preserved across weft__ctx_switch", bad);
    rg_stop = 1;
    weft__fiber_switch(&rg_main, &rg_other.f, 0);
    ctx_free(&rg_other);
    weft__fiber_fini(&rg_main);
    return bad;
}

static void callee_saved_int(void)
{
    CHECK_EQ(regs_run() & REGS_INT, 0);
}

static void callee_saved_fp(void)
{
    CHECK_EQ(regs_run() & REGS_FP, 0);
}

/* ---- fp_control_words ----------------------------------------------------- */

#if defined(__x86_64__)
#define MXCSR_DEFAULT 0x1f80u  /* all exceptions masked, round to nearest   */
#define MXCSR_RZ      0x7f80u  /* ... round toward zero                      */
#define MXCSR_RU      0x5f80u  /* ... round up                               */
#define MXCSR_CONTROL 0xffc0u  /* bits 0-5 are sticky status flags           */
#define X87_DEFAULT   0x037fu  /* extended precision, round to nearest       */
#define X87_RZ        0x0f7fu  /* ... round toward zero                      */
#define X87_RU        0x0b7fu  /* ... round up                               */

static unsigned get_mxcsr(void)
{
    unsigned v;
    __asm__ volatile("stmxcsr %0" : "=m"(v) : : "memory");
    return v & MXCSR_CONTROL;
}

static void set_mxcsr(unsigned v)
{
    __asm__ volatile("ldmxcsr %0" : : "m"(v) : "memory");
}

static unsigned get_x87cw(void)
{
    unsigned short v;
    __asm__ volatile("fnstcw %0" : "=m"(v) : : "memory");
    return v;
}

static void set_x87cw(unsigned v)
{
    unsigned short w = (unsigned short)v;
    __asm__ volatile("fldcw %0" : : "m"(w) : "memory");
}

/* The control state of both FP units, and the three modes the cases use. */
typedef struct fpmode { unsigned sse, x87; } fpmode_t;
static fpmode_t fp_get(void) { return (fpmode_t){ get_mxcsr(), get_x87cw() }; }
static const fpmode_t FP_DEFAULT = { MXCSR_DEFAULT, X87_DEFAULT };
static const fpmode_t FP_RZ = { MXCSR_RZ, X87_RZ };
static const fpmode_t FP_RU = { MXCSR_RU, X87_RU };
static void fp_set(fpmode_t m) { set_mxcsr(m.sse); set_x87cw(m.x87); }
static int fp_eq(fpmode_t a, fpmode_t b) { return a.sse == b.sse && a.x87 == b.x87; }
#define FP_FMT "mxcsr %#x x87 cw %#x"
#define FP_ARGS(m) (m).sse, (m).x87
#else
#define FPCR_RMODE_RZ (3ull << 22)
#define FPCR_RMODE_RP (1ull << 22)

static uint64_t get_fpcr(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v) : : "memory");
    return v;
}

static void set_fpcr(uint64_t v)
{
    __asm__ volatile("msr fpcr, %0" : : "r"(v) : "memory");
}

typedef struct fpmode { uint64_t fpcr; } fpmode_t;
static fpmode_t fp_get(void) { return (fpmode_t){ get_fpcr() }; }
static const fpmode_t FP_DEFAULT = { 0 };
static const fpmode_t FP_RZ = { FPCR_RMODE_RZ };
static const fpmode_t FP_RU = { FPCR_RMODE_RP };
static void fp_set(fpmode_t m) { set_fpcr(m.fpcr); }
static int fp_eq(fpmode_t a, fpmode_t b) { return a.fpcr == b.fpcr; }
#define FP_FMT "fpcr %#llx"
#define FP_ARGS(m) (unsigned long long)(m).fpcr
#endif

#define CHECK_FP(want)                                                         \
    do {                                                                       \
        fpmode_t got_ = fp_get(), want_ = (want);                              \
        if (!fp_eq(got_, want_)) {                                             \
            fprintf(stderr, "%s:%d: FP mode " FP_FMT ", want " FP_FMT "\n",    \
                    __FILE__, __LINE__, FP_ARGS(got_), FP_ARGS(want_));        \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* The rounding that arithmetic actually uses: 1/3 and -1/3 in float (SSE or
 * the FP unit), 2/3 in long double (x87 on x86-64). */
static volatile float f_one = 1.0f, f_three = 3.0f;
static uint32_t f_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static uint32_t third_pos(void) { return f_bits(f_one / f_three); }
static uint32_t third_neg(void) { return f_bits(-f_one / f_three); }
#if defined(__x86_64__)
static volatile long double ld_two = 2.0L, ld_three = 3.0L, ld_nearest;
static long double two_thirds(void) { return ld_two / ld_three; }
#endif

/* Round to nearest: 0x3eaaaaab / 0xbeaaaaab; toward zero truncates both
 * magnitudes to ...aa; round up (+inf) truncates only the negative one. */
static void check_rounding(fpmode_t m)
{
    if (fp_eq(m, FP_RZ)) {
        CHECK_EQ(third_pos(), 0x3eaaaaaa);
        CHECK_EQ(third_neg(), 0xbeaaaaaa);
    } else if (fp_eq(m, FP_RU)) {
        CHECK_EQ(third_pos(), 0x3eaaaaab);
        CHECK_EQ(third_neg(), 0xbeaaaaaa);
    } else {
        CHECK_EQ(third_pos(), 0x3eaaaaab);
        CHECK_EQ(third_neg(), 0xbeaaaaab);
    }
#if defined(__x86_64__)
    long double t = two_thirds();
    if (fp_eq(m, FP_RZ))
        CHECK(t < ld_nearest);
    else
        CHECK(t == ld_nearest); /* 2/3 rounds up when to nearest */
#endif
}

static weft__fiber_t fp_main;
static t_ctx fp_a, fp_b;
static int fp_steps;

static void fp_entry_a(void *data)
{
    weft__fiber_started(&fp_a.f);
    fp_steps++;
    fp_set(FP_RZ);
    CHECK_FP(FP_RZ);
    check_rounding(FP_RZ);
    weft__fiber_switch(&fp_a.f, &fp_b.f, 0);   /* B starts */
    fp_steps++;
    CHECK_FP(FP_RZ);                            /* B's mode did not leak in */
    check_rounding(FP_RZ);
    weft__fiber_switch(&fp_a.f, &fp_b.f, 0);
    fp_steps++;
    CHECK_FP(FP_RZ);                            /* nor main's */
    check_rounding(FP_RZ);
    fp_set(FP_DEFAULT);
    weft__fiber_switch(&fp_a.f, &fp_main, 1);
    abort();
}

static void fp_entry_b(void *data)
{
    weft__fiber_started(&fp_b.f);
    fp_steps++;
    CHECK_FP(FP_DEFAULT);                       /* a fresh context's mode */
    check_rounding(FP_DEFAULT);
    fp_set(FP_RU);
    CHECK_FP(FP_RU);
    check_rounding(FP_RU);
    weft__fiber_switch(&fp_b.f, &fp_a.f, 0);
    fp_steps++;
    CHECK_FP(FP_RU);
    check_rounding(FP_RU);
    fp_set(FP_DEFAULT);
    weft__fiber_switch(&fp_b.f, &fp_main, 1);
    abort();
}

static void fp_control_words(void)
{
    fpmode_t saved = fp_get();
    fp_set(FP_DEFAULT);
#if defined(__x86_64__)
    ld_nearest = two_thirds();
#endif
    check_rounding(FP_DEFAULT);
    weft__fiber_init(&fp_main, NULL, 0);
    ctx_new(&fp_a, fp_entry_a, NULL, 0);
    ctx_new(&fp_b, fp_entry_b, NULL, 0);
    /* main -> A (sets RZ) -> B (sees the default, sets RU) -> A -> B -> main */
    weft__fiber_switch(&fp_main, &fp_a.f, 0);
    CHECK_EQ(fp_steps, 4);
    CHECK_FP(FP_DEFAULT);                       /* main's own mode */
    check_rounding(FP_DEFAULT);
    /* main -> A (still RZ) -> main */
    weft__fiber_switch(&fp_main, &fp_a.f, 0);
    CHECK_EQ(fp_steps, 5);
    CHECK_FP(FP_DEFAULT);
    ctx_free(&fp_a);
    ctx_free(&fp_b);
    weft__fiber_fini(&fp_main);
    fp_set(saved);
}

/* ---- alignment -------------------------------------------------------------- */

/* Aligned SSE loads and stores (movaps) fault on a misaligned address; on
 * AArch64 the hardware checks sp itself. */
typedef float v4f __attribute__((vector_size(16)));

static __attribute__((noinline)) float vec_sum(int n)
{
    volatile v4f spill[4]; /* 16-byte aligned by type: movaps on x86-64 */
    for (int i = 0; i < 4; i++)
        spill[i] = (v4f){ (float)i, (float)n, 1.0f, 2.0f };
    v4f s = spill[0] + spill[1] + spill[2] + spill[3];
    return s[0] + s[1] + s[2] + s[3];
}

static __attribute__((noinline)) void check_aligned_here(int depth)
{
    _Alignas(16) char buf[32];
    long double ld = depth;
    CHECK_EQ(launder(__builtin_frame_address(0)) % 16, 0);
    CHECK_EQ(launder(buf) % 16, 0);
    CHECK_EQ(launder(&ld) % 16, 0);
    CHECK(vec_sum(depth) == (0 + 1 + 2 + 3) + 4 * depth + 4 + 8);
    /* A variadic call with FP arguments: glibc's prologue spills the xmm
     * registers with movaps. */
    int n = snprintf(buf, sizeof buf, "%.2f %.2Lf", 1.5, ld + 0.25L);
    CHECK(n > 0 && (size_t)n < sizeof buf);
    char want[32];
    sprintf(want, "1.50 %d.25", depth);
    CHECK(strcmp(buf, want) == 0);
    if (depth > 0)
        check_aligned_here(depth - 1);
}

#define AL_TOPS 10

static weft__fiber_t al_main;
static t_ctx al_ctx[AL_TOPS];
static int al_ran;

static void al_entry(void *data)
{
    t_ctx *self = data;
    weft__fiber_started(&self->f);
    _Alignas(16) long double here = 1.0L;
    CHECK(on_stack(self, &here));
    CHECK_EQ(launder(&here) % 16, 0);
    CHECK_EQ(launder(__builtin_frame_address(0)) % 16, 0);
    check_aligned_here(3);
    al_ran = 1;
    weft__fiber_switch(&self->f, &al_main, 1);
    abort();
}

static void alignment(void)
{
    /* weft__ctx_make must align whatever top it is given. Each context has
     * its own stack (stack reuse is stack_reuse's business). */
    static const size_t offs[AL_TOPS] = { 0, 1, 4, 7, 8, 9, 12, 15, 16, 24 };
    weft__fiber_init(&al_main, NULL, 0);
    for (size_t i = 0; i < AL_TOPS; i++) {
        al_ran = 0;
        ctx_new(&al_ctx[i], al_entry, &al_ctx[i], offs[i]);
        weft__fiber_switch(&al_main, &al_ctx[i].f, 0);
        CHECK_EQ(al_ran, 1);
    }
    for (size_t i = 0; i < AL_TOPS; i++)
        ctx_free(&al_ctx[i]);
    weft__fiber_fini(&al_main);
}

/* ---- stack_reuse ------------------------------------------------------------ */

/* A stack pool hands the stack of a finished task to the next one. The
 * finished task never returned from its frames, so under ASan their
 * redzones are still poisoned: the fiber layer must forget them before the
 * stack is used again (weft__ctx_make writes the first frame right there). */
#define RU_TASKS 8

static weft__fiber_t ru_main;
static t_ctx ru_ctx;
static int ru_ran;

static __attribute__((noinline)) int ru_work(int n)
{
    volatile char buf[100]; /* a local with redzones around it */
    for (int i = 0; i < (int)sizeof buf; i++)
        buf[i] = (char)(n + i);
    return buf[n % (int)sizeof buf];
}

static void ru_entry(void *data)
{
    weft__fiber_started(&ru_ctx.f);
    int n = (int)(intptr_t)data;
    volatile char late[64]; /* live, with its redzones, when the task dies */
    late[0] = (char)ru_work(n);
    CHECK_EQ(late[0], (char)(n + n % 100));
    ru_ran++;
    weft__fiber_switch(&ru_ctx.f, &ru_main, 1);
    abort();
}

static void stack_reuse(void)
{
    weft__fiber_init(&ru_main, NULL, 0);
    ctx_map(&ru_ctx);
    for (int i = 0; i < RU_TASKS; i++) {
        ctx_start(&ru_ctx, ru_entry, (void *)(intptr_t)i, (size_t)i * 8);
        weft__fiber_switch(&ru_main, &ru_ctx.f, 0);
        CHECK_EQ(ru_ran, i + 1);
        weft__fiber_fini(&ru_ctx.f);
    }
    CHECK(munmap(ru_ctx.map, ru_ctx.map_size) == 0);
    weft__fiber_fini(&ru_main);
}

/* ---- entry_return_traps ----------------------------------------------------- */

static weft__fiber_t rt_main;
static t_ctx rt_ctx;

static void rt_entry(void *data)
{
    weft__fiber_started(&rt_ctx.f);
    /* returns into weft__ctx_trampoline, which must trap */
}

/* An entry function that returns must stop the process at once (ud2: SIGILL
 * on x86-64, brk: SIGTRAP on AArch64), not run on into whatever follows. */
static void entry_return_traps(void)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        weft__fiber_init(&rt_main, NULL, 0);
        ctx_new(&rt_ctx, rt_entry, NULL, 0);
        weft__fiber_switch(&rt_main, &rt_ctx.f, 0);
        _exit(0); /* not reached when the trampoline traps */
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    if (!WIFSIGNALED(st))
        fprintf(stderr, "child exited with status %d\n", WEXITSTATUS(st));
    CHECK(WIFSIGNALED(st));
    CHECK(WTERMSIG(st) == SIGILL || WTERMSIG(st) == SIGTRAP);
}

T_MAIN(
    T_CASE(ping_pong),
    T_CASE(callee_saved_int),
    T_CASE(callee_saved_fp),
    T_CASE(fp_control_words),
    T_CASE(alignment),
    T_CASE(stack_reuse),
    T_CASE(entry_return_traps)
)
