/* x86-64 register helpers for tests/test-ctx-switch.c (callee_saved_*).
 *
 * ABI checked (System V AMD64 psABI, section 3.2.1): a callee preserves
 * rbx, rbp, r12-r15 and rsp, the control bits of MXCSR (6-15: DAZ, exception
 * masks, rounding, FTZ) and the x87 control word; all of xmm0-15 are
 * caller-saved, so on x86-64 "FP callee-saved state" means the two control
 * words. weft__ctx_switch must hand each context back exactly these.
 *
 * Why assembly: a C function preserves callee-saved registers by itself
 * (push in the prologue, pop in the epilogue), so a C frame anywhere between
 * "load the patterns" and "weft__ctx_switch" would put the pattern back and
 * hide a switch that forgot a register. Here nothing but these helpers runs
 * between the patterns, the garbage and the switch.
 *
 *   weft_test_regs_check(clobber, arg)  save the caller's registers, load a
 *       distinct pattern into each checked register, call clobber(arg),
 *       compare, restore the caller's registers; returns the mask of those
 *       that changed (0: all preserved):
 *         bit 0 rbx  1 rbp  2 r12  3 r13  4 r14  5 r15
 *         bit 24 MXCSR control bits   bit 25 x87 control word
 *   weft_test_regs_switch(sw)           clobber for the check: a tail jump to
 *       weft__ctx_switch(sw->save_sp, sw->load_sp), touching no callee-saved
 *       register, so the switch returns straight into the check.
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
 * Frame of check and scramble (rsp after the prologue, 16-byte aligned):
 *   +0 caller's MXCSR  +4 caller's x87 CW  +8 scratch MXCSR  +12 scratch CW
 *   +16 padding  +24 r15  +32 r14  +40 r13  +48 r12  +56 rbx  +64 rbp
 *   +72 return address
 */

#define PAT_RBX   0x0b0b1111deadc0de   /* the check's patterns               */
#define PAT_RBP   0x0b0b2222feedface
#define PAT_R12   0x0b0b3333c0ffee12
#define PAT_R13   0x0b0b4444c0ffee13
#define PAT_R14   0x0b0b5555c0ffee14
#define PAT_R15   0x0b0b6666c0ffee15
#define PAT_MXCSR 0xdf80               /* FTZ, round up, all masked          */
#define PAT_X87CW 0x067f               /* double precision, round down       */

#define BAD_RBX   0xbad0000000000001   /* garbage from scramble and trash    */
#define BAD_RBP   0xbad0000000000002
#define BAD_R12   0xbad0000000000003
#define BAD_R13   0xbad0000000000004
#define BAD_R14   0xbad0000000000005
#define BAD_R15   0xbad0000000000006
#define BAD_MXCSR 0x7f80               /* round toward zero, all masked      */
#define BAD_X87CW 0x0c7f               /* single precision, toward zero      */

#define MXCSR_CONTROL 0xffc0           /* bits 0-5 are status: caller-saved  */
#define X87CW_CONTROL 0x0f3f           /* masks, precision, rounding         */

/* Save the caller's callee-saved registers and FP control words. */
.macro SAVE_CALLER
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r12, 0
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r13, 0
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r14, 0
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r15, 0
    subq    $24, %rsp               /* control words; realigns rsp to 16    */
    .cfi_adjust_cfa_offset 24
    stmxcsr 0(%rsp)
    fnstcw  4(%rsp)
.endm

/* Put them back (rsp as left by SAVE_CALLER) and return. */
.macro RESTORE_CALLER_AND_RET
    ldmxcsr 0(%rsp)
    fldcw   4(%rsp)
    addq    $24, %rsp
    .cfi_adjust_cfa_offset -24
    popq    %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore r15
    popq    %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore r14
    popq    %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore r13
    popq    %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore r12
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbp
    ret
.endm

/* Load the garbage; the FP words go through the scratch slot at 8(%rsp). */
.macro LOAD_GARBAGE scratch
    movl    $BAD_MXCSR, \scratch(%rsp)
    ldmxcsr \scratch(%rsp)
    movw    $BAD_X87CW, 4+\scratch(%rsp)
    fldcw   4+\scratch(%rsp)
    movabsq $BAD_RBX, %rbx
    movabsq $BAD_RBP, %rbp
    movabsq $BAD_R12, %r12
    movabsq $BAD_R13, %r13
    movabsq $BAD_R14, %r14
    movabsq $BAD_R15, %r15
.endm

/* eax |= bit when reg != pattern (rcx is scratch). */
.macro CHECK_REG reg, pat, bit
    movabsq $\pat, %rcx
    xorl    %edx, %edx
    cmpq    %rcx, \reg
    setne   %dl
    shll    $\bit, %edx
    orl     %edx, %eax
.endm

    .text

/* uint64_t weft_test_regs_check(void (*clobber)(void *) rdi, void *arg rsi) */
    .globl  weft_test_regs_check
    .type   weft_test_regs_check, @function
    .p2align 4
weft_test_regs_check:
    .cfi_startproc
    SAVE_CALLER
    movl    $PAT_MXCSR, 8(%rsp)     /* the FP control patterns ...           */
    ldmxcsr 8(%rsp)
    movw    $PAT_X87CW, 12(%rsp)
    fldcw   12(%rsp)
    movq    %rdi, %rax              /* clobber                               */
    movq    %rsi, %rdi              /* its argument                          */
    movabsq $PAT_RBX, %rbx          /* ... and the integer ones              */
    movabsq $PAT_RBP, %rbp
    movabsq $PAT_R12, %r12
    movabsq $PAT_R13, %r13
    movabsq $PAT_R14, %r14
    movabsq $PAT_R15, %r15
    callq   *%rax                   /* rsp is 16-byte aligned here           */
    xorl    %eax, %eax              /* the mask                              */
    CHECK_REG %rbx, PAT_RBX, 0
    CHECK_REG %rbp, PAT_RBP, 1
    CHECK_REG %r12, PAT_R12, 2
    CHECK_REG %r13, PAT_R13, 3
    CHECK_REG %r14, PAT_R14, 4
    CHECK_REG %r15, PAT_R15, 5
    stmxcsr 8(%rsp)                 /* MXCSR: control bits only              */
    movl    8(%rsp), %ecx
    andl    $MXCSR_CONTROL, %ecx
    xorl    %edx, %edx
    cmpl    $PAT_MXCSR, %ecx
    setne   %dl
    shll    $24, %edx
    orl     %edx, %eax
    fnstcw  12(%rsp)                /* x87 CW: masks, precision, rounding    */
    movzwl  12(%rsp), %ecx
    andl    $X87CW_CONTROL, %ecx
    xorl    %edx, %edx
    cmpl    $(PAT_X87CW & X87CW_CONTROL), %ecx
    setne   %dl
    shll    $25, %edx
    orl     %edx, %eax              /* zero-extends into rax: the result     */
    RESTORE_CALLER_AND_RET
    .cfi_endproc
    .size   weft_test_regs_check, .-weft_test_regs_check

/* void weft_test_regs_switch(void *sw rdi) */
    .globl  weft_test_regs_switch
    .type   weft_test_regs_switch, @function
    .p2align 4
weft_test_regs_switch:
    .cfi_startproc
    movq    8(%rdi), %rsi           /* load_sp                               */
    movq    (%rdi), %rdi            /* save_sp                               */
    jmp     weft__ctx_switch@PLT    /* returns to our caller, the check      */
    .cfi_endproc
    .size   weft_test_regs_switch, .-weft_test_regs_switch

/* void weft_test_regs_scramble(void *sw rdi) */
    .globl  weft_test_regs_scramble
    .type   weft_test_regs_scramble, @function
    .p2align 4
weft_test_regs_scramble:
    .cfi_startproc
    SAVE_CALLER
    movq    8(%rdi), %rsi           /* load_sp                               */
    movq    (%rdi), %rdi            /* save_sp                               */
    LOAD_GARBAGE 8
    callq   weft__ctx_switch@PLT    /* saves the garbage as this context's   */
    RESTORE_CALLER_AND_RET          /* resumed: the C caller's values again  */
    .cfi_endproc
    .size   weft_test_regs_scramble, .-weft_test_regs_scramble

/* void weft_test_regs_trash(void *arg rdi): breaks the ABI on purpose. */
    .globl  weft_test_regs_trash
    .type   weft_test_regs_trash, @function
    .p2align 4
weft_test_regs_trash:
    .cfi_startproc
    subq    $24, %rsp               /* scratch for the control words         */
    .cfi_adjust_cfa_offset 24
    LOAD_GARBAGE 0
    addq    $24, %rsp
    .cfi_adjust_cfa_offset -24
    ret
    .cfi_endproc
    .size   weft_test_regs_trash, .-weft_test_regs_trash

    .section .note.GNU-stack,"",@progbits
