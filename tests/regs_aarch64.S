/* AArch64 register helpers for tests/test-ctx-switch.c (callee_saved_*).
 *
 * ABI checked (AAPCS64, section 6.1): a callee preserves x19-x28, the frame
 * pointer x29, sp, and the low 64 bits of v8-v15 (d8-d15); x30 is where it
 * returns. FPCR's rounding mode and FZ/DN/AHP bits are checked too: weft
 * saves FPCR in every switch so that each context keeps its own, as on
 * x86-64. weft__ctx_switch must hand each context back exactly these.
 *
 * Why assembly: a C function preserves callee-saved registers by itself
 * (stp in the prologue, ldp in the epilogue), so a C frame anywhere between
 * "load the patterns" and "weft__ctx_switch" would put the pattern back and
 * hide a switch that forgot a register. Here nothing but these helpers runs
 * between the patterns, the garbage and the switch.
 *
 *   weft_test_regs_check(clobber, arg)  save the caller's registers, load a
 *       distinct pattern into each checked register, call clobber(arg),
 *       compare, restore the caller's registers; returns the mask of those
 *       that changed (0: all preserved):
 *         bits 0-9 x19-x28   bit 10 x29   bits 16-23 d8-d15
 *         bit 24 FPCR (AHP, DN, FZ, RMode)
 *   weft_test_regs_switch(sw)           clobber for the check: a tail branch
 *       to weft__ctx_switch(sw->save_sp, sw->load_sp), touching no
 *       callee-saved register and leaving x30 pointing into the check.
 *   weft_test_regs_scramble(sw)         for the other context: save the
 *       caller's registers, load garbage (other values than the patterns)
 *       into every checked register, weft__ctx_switch(sw->save_sp,
 *       sw->load_sp); once resumed, restore the caller's registers and return.
 *       A switch that did not restore a register hands this garbage to the
 *       checking context.
 *   weft_test_regs_trash(arg)           loads the same garbage and returns
 *       without restoring anything (an ABI violation on purpose): the check
 *       must then report every register, which proves the check itself.
 *
 * sw points at struct { void **save_sp; void *load_sp; } (offsets 0 and 8).
 *
 * Frame of check and scramble (sp after the prologue, 176 bytes):
 *   +0 x29  +8 x30  +16 x19 ... +88 x28  +96 d8 ... +152 d15  +160 FPCR
 */

#define PAT_FPCR  0x01400000   /* FZ, round toward +inf                     */
#define BAD_FPCR  0x02c00000   /* DN, round toward zero                     */
#define FPCR_MASK 0x07c00000   /* AHP (26), DN (25), FZ (24), RMode (23:22) */

/* Register number n (x19..x29 are 19..29, d8..d15 are 108..115) gets the
 * pattern PAT_BASE + n; the other side loads BAD_BASE + n instead. */
#define PAT_BASE  0x0b0b000000c0de00
#define BAD_BASE  0xbad0000000000000

/* Save the caller's callee-saved registers and FPCR. */
.macro SAVE_CALLER
    stp     x29, x30, [sp, #-176]!
    .cfi_def_cfa_offset 176
    .cfi_offset x29, -176
    .cfi_offset x30, -168
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]
    .cfi_offset x19, -160
    .cfi_offset x20, -152
    .cfi_offset x21, -144
    .cfi_offset x22, -136
    .cfi_offset x23, -128
    .cfi_offset x24, -120
    .cfi_offset x25, -112
    .cfi_offset x26, -104
    .cfi_offset x27, -96
    .cfi_offset x28, -88
    stp     d8,  d9,  [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    .cfi_offset d8, -80
    .cfi_offset d9, -72
    .cfi_offset d10, -64
    .cfi_offset d11, -56
    .cfi_offset d12, -48
    .cfi_offset d13, -40
    .cfi_offset d14, -32
    .cfi_offset d15, -24
    mrs     x9, fpcr
    str     x9, [sp, #160]
.endm

/* Put them back and return. */
.macro RESTORE_CALLER_AND_RET
    ldr     x9, [sp, #160]
    msr     fpcr, x9
    ldp     d8,  d9,  [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x23, x24, [sp, #48]
    ldp     x25, x26, [sp, #64]
    ldp     x27, x28, [sp, #80]
    ldp     x29, x30, [sp], #176
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x30
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore d8
    .cfi_restore d9
    .cfi_restore d10
    .cfi_restore d11
    .cfi_restore d12
    .cfi_restore d13
    .cfi_restore d14
    .cfi_restore d15
    ret
.endm

/* Load base + n into every checked register (x9 is scratch). */
.macro LOAD_ALL base, fpcr
    mov     x9, #\fpcr
    msr     fpcr, x9
    ldr     x19, =\base + 19
    ldr     x20, =\base + 20
    ldr     x21, =\base + 21
    ldr     x22, =\base + 22
    ldr     x23, =\base + 23
    ldr     x24, =\base + 24
    ldr     x25, =\base + 25
    ldr     x26, =\base + 26
    ldr     x27, =\base + 27
    ldr     x28, =\base + 28
    ldr     x29, =\base + 29
    ldr     x9, =\base + 108
    fmov    d8, x9
    ldr     x9, =\base + 109
    fmov    d9, x9
    ldr     x9, =\base + 110
    fmov    d10, x9
    ldr     x9, =\base + 111
    fmov    d11, x9
    ldr     x9, =\base + 112
    fmov    d12, x9
    ldr     x9, =\base + 113
    fmov    d13, x9
    ldr     x9, =\base + 114
    fmov    d14, x9
    ldr     x9, =\base + 115
    fmov    d15, x9
.endm

/* x0 |= 1 << bit when x-register reg != PAT_BASE + n (x10, x11 scratch). */
.macro CHECK_X reg, n, bit
    ldr     x10, =PAT_BASE + \n
    cmp     \reg, x10
    cset    x11, ne
    orr     x0, x0, x11, lsl #\bit
.endm

/* The same for the low 64 bits of a d-register. */
.macro CHECK_D reg, n, bit
    fmov    x12, \reg
    ldr     x10, =PAT_BASE + \n
    cmp     x12, x10
    cset    x11, ne
    orr     x0, x0, x11, lsl #\bit
.endm

    .text

/* uint64_t weft_test_regs_check(void (*clobber)(void *) x0, void *arg x1) */
    .globl  weft_test_regs_check
    .type   weft_test_regs_check, %function
    .p2align 4
weft_test_regs_check:
    .cfi_startproc
    SAVE_CALLER
    mov     x13, x0                 /* clobber                               */
    mov     x0, x1                  /* its argument                          */
    LOAD_ALL PAT_BASE, PAT_FPCR
    blr     x13
    mov     x0, #0                  /* the mask                              */
    CHECK_X x19, 19, 0
    CHECK_X x20, 20, 1
    CHECK_X x21, 21, 2
    CHECK_X x22, 22, 3
    CHECK_X x23, 23, 4
    CHECK_X x24, 24, 5
    CHECK_X x25, 25, 6
    CHECK_X x26, 26, 7
    CHECK_X x27, 27, 8
    CHECK_X x28, 28, 9
    CHECK_X x29, 29, 10
    CHECK_D d8,  108, 16
    CHECK_D d9,  109, 17
    CHECK_D d10, 110, 18
    CHECK_D d11, 111, 19
    CHECK_D d12, 112, 20
    CHECK_D d13, 113, 21
    CHECK_D d14, 114, 22
    CHECK_D d15, 115, 23
    mrs     x12, fpcr               /* FPCR: the control fields only         */
    and     x12, x12, #FPCR_MASK
    mov     x10, #PAT_FPCR
    cmp     x12, x10
    cset    x11, ne
    orr     x0, x0, x11, lsl #24
    RESTORE_CALLER_AND_RET
    .cfi_endproc
    .size   weft_test_regs_check, .-weft_test_regs_check
    .ltorg

/* void weft_test_regs_switch(void *sw x0) */
    .globl  weft_test_regs_switch
    .type   weft_test_regs_switch, %function
    .p2align 4
weft_test_regs_switch:
    .cfi_startproc
    ldr     x1, [x0, #8]            /* load_sp                               */
    ldr     x0, [x0]                /* save_sp                               */
    b       weft__ctx_switch        /* returns to x30: into the check        */
    .cfi_endproc
    .size   weft_test_regs_switch, .-weft_test_regs_switch

/* void weft_test_regs_scramble(void *sw x0) */
    .globl  weft_test_regs_scramble
    .type   weft_test_regs_scramble, %function
    .p2align 4
weft_test_regs_scramble:
    .cfi_startproc
    SAVE_CALLER
    ldr     x1, [x0, #8]            /* load_sp                               */
    ldr     x0, [x0]                /* save_sp                               */
    LOAD_ALL BAD_BASE, BAD_FPCR
    bl      weft__ctx_switch        /* saves the garbage as this context's   */
    RESTORE_CALLER_AND_RET          /* resumed: the C caller's values again  */
    .cfi_endproc
    .size   weft_test_regs_scramble, .-weft_test_regs_scramble
    .ltorg

/* void weft_test_regs_trash(void *arg x0): breaks the ABI on purpose. */
    .globl  weft_test_regs_trash
    .type   weft_test_regs_trash, %function
    .p2align 4
weft_test_regs_trash:
    .cfi_startproc
    LOAD_ALL BAD_BASE, BAD_FPCR
    ret
    .cfi_endproc
    .size   weft_test_regs_trash, .-weft_test_regs_trash
    .ltorg

    .section .note.GNU-stack,"",%progbits
