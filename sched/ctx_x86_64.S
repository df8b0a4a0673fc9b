/* x86-64 System V context switch for weft.
 *
 * ABI implemented (System V AMD64 psABI, section 3.2.1): a callee must
 * preserve rbx, rbp, r12-r15, rsp, the MXCSR control bits and the x87
 * control word; every other register (rax, rcx, rdx, rsi, rdi, r8-r11,
 * xmm0-15, x87 stack) is caller-saved and already spilled by the C caller.
 *
 * Saved frame, lowest address first (the saved stack pointer points at +0):
 *
 *   offset  size  content
 *   +0      2     x87 control word   (fnstcw / fldcw)
 *   +2      2     padding
 *   +4      4     MXCSR              (stmxcsr / ldmxcsr)
 *   +8      8     r15
 *   +16     8     r14
 *   +24     8     r13
 *   +32     8     r12
 *   +40     8     rbx
 *   +48     8     rbp
 *   +56     8     return address     (popped by ret)
 *
 * A fresh stack (weft__ctx_make in ctx.c) holds the same frame with
 * r12 = entry, r13 = data and the return address weft__ctx_trampoline.
 */
    .text
    .globl  weft__ctx_switch
    .hidden weft__ctx_switch
    .type   weft__ctx_switch, @function
    .p2align 4
/* void weft__ctx_switch(void **save_sp  rdi, void *load_sp  rsi) */
weft__ctx_switch:
    .cfi_startproc
    pushq   %rbp                /* callee-saved integer registers ...      */
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
    subq    $8, %rsp            /* ... and room for the two control words  */
    .cfi_adjust_cfa_offset 8
    stmxcsr 4(%rsp)             /* SSE control/status (rounding, DAZ/FTZ)  */
    fnstcw  (%rsp)              /* x87 control word (precision, rounding)  */
    movq    %rsp, (%rdi)        /* publish where this context was saved    */
    movq    %rsi, %rsp          /* adopt the other context's stack         */
    ldmxcsr 4(%rsp)
    fldcw   (%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret                         /* into the other context (or trampoline)  */
    .cfi_endproc
    .size   weft__ctx_switch, .-weft__ctx_switch

    .globl  weft__ctx_trampoline
    .hidden weft__ctx_trampoline
    .type   weft__ctx_trampoline, @function
    .p2align 4
/* First code run on a fresh stack: rsp is 16-byte aligned here, so the call
 * below enters entry() with the alignment the ABI promises. */
weft__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip          /* outermost frame: unwinders stop here    */
    movq    %r13, %rdi          /* data                                    */
    callq   *%r12               /* entry(data); must never return          */
    ud2                         /* a task entry that returns traps here    */
    .cfi_endproc
    .size   weft__ctx_trampoline, .-weft__ctx_trampoline

    .section .note.GNU-stack,"",@progbits
