/* Cortex-M4 (Armv7E-M) inner loops for npin_kernels_m4.c, in assembly because they need every
 * register: the compiler spills and cannot use LDM for them. Same bits as the reference kernels
 * (tests run both under an ARM emulator and compare). AAPCS: r0-r3 arguments, r4-r11 saved. */
    .syntax unified
    .thumb
    .text

    .macro DOT8                     @ eight lanes: two LDMs, four SMLALDs
    ldmia   r0!, {r4-r7}
    ldmia   r1!, {r8-r11}
    smlald  r3, r12, r4, r8
    smlald  r3, r12, r5, r9
    smlald  r3, r12, r6, r10
    smlald  r3, r12, r7, r11
    .endm

/* int64_t npin_m4_dot(const int16_t *a, const int16_t *b, uint32_t n)   n a multiple of 8
 * sum of a[i] * b[i], exact: eight lanes per two LDMs, two per SMLALD. */
    .global npin_m4_dot
    .type npin_m4_dot, %function
    .thumb_func
npin_m4_dot:
    push    {r4-r11, lr}
    movs    r3, #0                  @ r3:r12 = sum (lo:hi)
    mov     r12, #0
    add     r2, r0, r2, lsl #1      @ r2 = end of a
    sub     lr, r2, r0
    ands    lr, lr, #48             @ bytes beyond a multiple of 64 (0, 16, 32 or 48)
    beq     2f
    add     lr, r0, lr              @ first 8-element blocks until the rest is a multiple of 32
1:  DOT8
    cmp     r0, lr
    bne     1b
2:  cmp     r0, r2
    beq     4f
3:  .rept 4
    DOT8
    .endr
    cmp     r0, r2
    bne     3b
4:  mov     r0, r3
    mov     r1, r12
    pop     {r4-r11, pc}
    .size npin_m4_dot, . - npin_m4_dot

    .macro DOTQ7_8                  @ eight lanes: m by LDM, four Q7 facets per word unpacked by SXTB16
    ldmia   r0!, {r4-r7}            @ (m0,m1) (m2,m3) (m4,m5) (m6,m7)
    ldmia   r1!, {r8, r9}           @ stored (f0,f2,f1,f3) (f4,f6,f5,f7)
    sxtb16  r10, r8                 @ (f0, f1)
    sxtb16  r11, r8, ror #8         @ (f2, f3)
    smlald  r3, r12, r4, r10
    smlald  r3, r12, r5, r11
    sxtb16  r10, r9
    sxtb16  r11, r9, ror #8
    smlald  r3, r12, r6, r10
    smlald  r3, r12, r7, r11
    .endm

/* Both dot kernels walk `k` facet rows of `n` components (n a multiple of 8) against the same m
 * and store one exact int64 per row. The row loop is here too: a C loop calling a one-row
 * function paid a push/pop of nine registers per facet. The inner loops need every register, so
 * the row loop keeps m, 2n, the rows left and the output pointer on the stack. */
    .macro DOTS name, BLOCK
    .global \name
    .type \name, %function
    .thumb_func
\name:
    push    {r4-r11, lr}
    sub     sp, sp, #16
    str     r0, [sp, #0]            @ m
    lsl     r2, r2, #1
    str     r2, [sp, #4]            @ bytes of m
    str     r3, [sp, #8]            @ rows left
    ldr     r12, [sp, #52]          @ dot (fifth argument, above the locals and nine saved registers)
    str     r12, [sp, #12]
5:  ldr     r0, [sp, #0]
    ldr     r2, [sp, #4]
    add     r2, r0, r2              @ end of m
    movs    r3, #0                  @ r3:r12 = sum (lo:hi)
    mov     r12, #0
    sub     lr, r2, r0
    ands    lr, lr, #48             @ bytes of m beyond a multiple of 64 (0, 16, 32 or 48)
    beq     2f
    add     lr, r0, lr              @ 8-element blocks until the rest is a multiple of 32
1:  \BLOCK
    cmp     r0, lr
    bne     1b
2:  cmp     r0, r2
    beq     4f
3:  .rept 4
    \BLOCK
    .endr
    cmp     r0, r2
    bne     3b
4:  ldr     lr, [sp, #12]
    strd    r3, r12, [lr], #8
    str     lr, [sp, #12]
    ldr     lr, [sp, #8]
    subs    lr, lr, #1
    str     lr, [sp, #8]
    bne     5b
    add     sp, sp, #16
    pop     {r4-r11, pc}
    .size \name, . - \name
    .endm

/* void npin_m4_dots_q15(const int16_t *m, const int16_t *f, uint32_t n, uint32_t k, int64_t *dot) */
    DOTS npin_m4_dots_q15, DOT8

/* void npin_m4_dots_q7(const int16_t *m, const int8_t *f, uint32_t n, uint32_t k, int64_t *dot)
 * rows in Q7 storage order (docs/pin-spec.md §2.2) */
    DOTS npin_m4_dots_q7, DOTQ7_8

    .macro UPDATE2 v, d, m         @ one word of two lanes: v <- v', m <- m' (r10, r11 scratch)
    pkhbt   r10, \v, \d, lsl #16      @ (v0, d0)
    pkhtb   r11, \d, \v, asr #16      @ (v1, d1)
    smlad   r10, r10, r12, lr       @ mu*v + eta*d + 2^14
    smlad   r11, r11, r12, lr
    ssat    r10, #16, r10, asr #15
    ssat    r11, #16, r11, asr #15
    pkhbt   \v, r10, r11, lsl #16   @ v'
    qadd16  \m, \m, \v             @ m' = sat16(m + v')
    .endm

/* void npin_m4_update(int16_t *m, int16_t *v, const int16_t *x, uint32_t n, uint32_t mu_eta)
 * n a multiple of 4; mu_eta = mu | eta << 16. Per component (docs/pin-spec.md section 3):
 *   d = sat16(x - m); v' = sat16((mu*v + eta*d + 2^14) >> 15); m' = sat16(m + v') */
    .global npin_m4_update
    .type npin_m4_update, %function
    .thumb_func
npin_m4_update:
    push    {r4-r11, lr}
    ldr     r12, [sp, #36]          @ mu_eta (fifth argument, above the nine saved registers)
    mov     lr, #0x4000             @ rounding constant
    add     r3, r0, r3, lsl #1      @ r3 = end of m
1:  ldrd    r4, r5, [r0]            @ m: two pairs
    ldrd    r6, r7, [r1]            @ v
    ldrd    r8, r9, [r2], #8        @ x
    qsub16  r8, r8, r4              @ d
    qsub16  r9, r9, r5
    UPDATE2 r6, r8, r4              @ pair 0
    UPDATE2 r7, r9, r5              @ pair 1
    strd    r6, r7, [r1], #8
    strd    r4, r5, [r0], #8
    cmp     r0, r3
    bne     1b
    pop     {r4-r11, pc}
    .size npin_m4_update, . - npin_m4_update

/* void npin_m4_copy(int16_t *dst, const int16_t *src, uint32_t n)   n a multiple of 8:
 * one 16-byte block if n is not a multiple of 16, then 32-byte blocks */
    .global npin_m4_copy
    .type npin_m4_copy, %function
    .thumb_func
npin_m4_copy:
    push    {r4-r9}
    add     r2, r1, r2, lsl #1      @ r2 = end of src
    sub     r12, r2, r1
    tst     r12, #16
    beq     1f
    ldmia   r1!, {r3-r6}
    stmia   r0!, {r3-r6}
1:  cmp     r1, r2
    beq     3f
2:  ldmia   r1!, {r3-r9, r12}
    stmia   r0!, {r3-r9, r12}
    cmp     r1, r2
    bne     2b
3:  pop     {r4-r9}
    bx      lr
    .size npin_m4_copy, . - npin_m4_copy
