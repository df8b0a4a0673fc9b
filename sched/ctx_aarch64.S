/* AArch64 AAPCS64 context switch for weft.
 *
 * ABI implemented (Procedure Call Standard for the Arm 64-bit Architecture,
 * section 6.1): a callee must preserve x19-x28, the frame pointer x29, the
 * stack pointer sp and the low 64 bits of v8-v15 (d8-d15); the link register
 * x30 holds where to return. FPCR (rounding mode, flush-to-zero) is saved
 * too, so each context keeps its own FP control state as on x86-64.
 *
 * Saved frame, lowest address first (the saved stack pointer points at +0):
 *
 *   offset  content        offset  content
 *   +0      x19            +96     d8
 *   +8      x20            +104    d9
 *   +16     x21            +112    d10
 *   +24     x22            +120    d11
 *   +32     x23            +128    d12
 *   +40     x24            +136    d13
 *   +48     x25            +144    d14
 *   +56     x26            +152    d15
 *   +64     x27            +160    fpcr
 *   +72     x28            +168    padding (keeps sp 16-byte aligned)
 *   +80     x29 (fp)
 *   +88     x30 (lr)       = 176 bytes
 *
 * A fresh stack (weft__ctx_make in ctx.c) holds the same frame with
 * x19 = entry, x20 = data and x30 = weft__ctx_trampoline.
 */
    .text
    .globl  weft__ctx_switch
    .hidden weft__ctx_switch
    .type   weft__ctx_switch, %function
    .p2align 4
/* void weft__ctx_switch(void **save_sp  x0, void *load_sp  x1) */
weft__ctx_switch:
    .cfi_startproc
    sub     sp, sp, #176            /* room for the frame above            */
    stp     x19, x20, [sp, #0]      /* callee-saved integer registers      */
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]     /* frame pointer and return address    */
    stp     d8,  d9,  [sp, #96]     /* callee-saved FP registers (low 64)  */
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr                /* FP control: rounding, FZ, DN        */
    str     x9, [sp, #160]
    mov     x9, sp
    str     x9, [x0]                /* publish where this context was saved */
    mov     sp, x1                  /* adopt the other context's stack     */
    ldr     x9, [sp, #160]
    msr     fpcr, x9
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8,  d9,  [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #176
    ret                             /* to x30: the other context or trampoline */
    .cfi_endproc
    .size   weft__ctx_switch, .-weft__ctx_switch

    .globl  weft__ctx_trampoline
    .hidden weft__ctx_trampoline
    .type   weft__ctx_trampoline, %function
    .p2align 4
/* First code run on a fresh stack. */
weft__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined x30              /* outermost frame: unwinders stop here */
    mov     x0, x20                 /* data                                */
    blr     x19                     /* entry(data); must never return      */
    brk     #0                      /* a task entry that returns traps here */
    .cfi_endproc
    .size   weft__ctx_trampoline, .-weft__ctx_trampoline

    .section .note.GNU-stack,"",%progbits
