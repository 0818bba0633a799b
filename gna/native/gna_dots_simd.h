/* One SIMD dot-product kernel, written once and compiled per instruction set by the files that
 * include it (gna_dots_avx2.c, gna_dots_avx512.c, gna_dots_vnni.c). They define:
 *   VEC, LANES16 (int16 lanes), LOADU(p), ZERO(), MAC(acc, a, b) (acc + pairwise a*b, int32),
 *   HSUM64(acc) (the int32 lanes summed in int64), KERNEL (the function's name), and the block
 *   sizes that fit the register file: RB_SPLIT x NB_SPLIT (split input), RB_ONE x NB_ONE (int8 weights).
 * Rows are taken RB at a time and vectors NB at a time, so one weight load serves NB vectors and
 * one input load RB rows; each block's accumulators live in registers. */

/* A lane gains two products per step: 64 steps keep |lane| < 2^31 (2*64*32768*255 < 2^31). */
#define FLUSH_STEPS 64

static inline __attribute__((always_inline)) void
KERNEL_BLOCK(const int16_t *w, size_t ws, const int16_t *xa, const int16_t *xb, size_t vs, int len,
             int64_t *out, int nvec, const int RB, const int NB, const int H)
{
    int64_t tot[4][8][2];
    for (int r = 0; r < RB; r++)
        for (int v = 0; v < NB; v++)
            tot[r][v][0] = tot[r][v][1] = 0;
    for (int k0 = 0; k0 < len; k0 += LANES16 * FLUSH_STEPS) {
        int k1 = k0 + LANES16 * FLUSH_STEPS < len ? k0 + LANES16 * FLUSH_STEPS : len;
        VEC acc[4][8][2];
        for (int r = 0; r < RB; r++)
            for (int v = 0; v < NB; v++)
                acc[r][v][0] = acc[r][v][1] = ZERO();
        for (int k = k0; k < k1; k += LANES16) {
            VEC wv[4];
            for (int r = 0; r < RB; r++)
                wv[r] = LOADU(w + r * ws + k);
            for (int v = 0; v < NB; v++) {
                VEC a = LOADU(xa + v * vs + k);
                for (int r = 0; r < RB; r++)
                    acc[r][v][0] = MAC(acc[r][v][0], wv[r], a);
                if (H == 2) {
                    VEC b = LOADU(xb + v * vs + k);
                    for (int r = 0; r < RB; r++)
                        acc[r][v][1] = MAC(acc[r][v][1], wv[r], b);
                }
            }
        }
        for (int r = 0; r < RB; r++)
            for (int v = 0; v < NB; v++) {
                tot[r][v][0] += HSUM64(acc[r][v][0]);
                if (H == 2)
                    tot[r][v][1] += HSUM64(acc[r][v][1]);
            }
    }
    for (int r = 0; r < RB; r++)
        for (int v = 0; v < NB; v++)
            out[r * nvec + v] = H == 2 ? tot[r][v][1] * 256 + tot[r][v][0] : tot[r][v][0];
}

#define KERNEL_ROWS(RB, NB, H)                                                                      \
    for (; r + RB <= rows; r += RB) {                                                              \
        int v = 0;                                                                                 \
        for (; v + NB <= nvec; v += NB)                                                            \
            KERNEL_BLOCK(w + r * ws, ws, xa + v * vs, xb ? xb + v * vs : 0, vs, len,              \
                         out + (size_t)r * nvec + v, nvec, RB, NB, H);                             \
        for (; v < nvec; v++)                                                                      \
            KERNEL_BLOCK(w + r * ws, ws, xa + v * vs, xb ? xb + v * vs : 0, vs, len,              \
                         out + (size_t)r * nvec + v, nvec, RB, 1, H);                              \
    }

void KERNEL(const int16_t *w, size_t ws, int rows, const int16_t *xa, const int16_t *xb, size_t vs,
            int nvec, int len, int64_t *out)
{
    int r = 0;
    if (xb) {
        if (nvec >= NB_SPLIT) {
            KERNEL_ROWS(RB_SPLIT, NB_SPLIT, 2)
        } else {
            KERNEL_ROWS(RB_SPLIT, 1, 2)
        }
        KERNEL_ROWS(1, 1, 2)
    } else {
        if (nvec >= NB_ONE) {
            KERNEL_ROWS(RB_ONE, NB_ONE, 1)
        } else {
            KERNEL_ROWS(RB_ONE, 1, 1)
        }
        KERNEL_ROWS(1, 1, 1)
    }
}
