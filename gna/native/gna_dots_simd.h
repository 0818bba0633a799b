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
KERNEL_BLOCK(const void *w, size_t ws, const int16_t *xa, const int16_t *xb, size_t vs, int len,
             int64_t *out, int nvec, const int RB, const int NB, const int H, const int W8)
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
            for (int r = 0; r < RB; r++) {
                wv[r] = W8 ? LOADW8((const int8_t *)w + r * ws + k) : LOADU((const int16_t *)w + r * ws + k);
                /* the next block's rows, same columns: each row is a new page to the hardware
                 * prefetcher, which would otherwise start cold on every one */
                __builtin_prefetch((const char *)w + ((RB + r) * ws + k) * (W8 ? 1 : 2), 0, 0);
            }
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

/* One input vector (batch-1 layers, bound by memory): each row is read front to back as one
 * stream, the pattern the hardware prefetcher follows best, with four blocks in flight. The four
 * accumulators together take at most FLUSH_STEPS steps per flush, so their int32 sum is exact. */
static inline __attribute__((always_inline)) int64_t
KERNEL_ROW1(const void *w, const int16_t *xa, const int16_t *xb, int len, const int H, const int W8)
{
    int64_t tot[2] = {0, 0};
    for (int k0 = 0; k0 < len; k0 += LANES16 * FLUSH_STEPS) {
        int k1 = k0 + LANES16 * FLUSH_STEPS < len ? k0 + LANES16 * FLUSH_STEPS : len, k = k0;
        VEC acc[4][2];
        for (int u = 0; u < 4; u++)
            acc[u][0] = acc[u][1] = ZERO();
        for (; k + 4 * LANES16 <= k1; k += 4 * LANES16)
            for (int u = 0; u < 4; u++) {
                int ku = k + u * LANES16;
                VEC wv = W8 ? LOADW8((const int8_t *)w + ku) : LOADU((const int16_t *)w + ku);
                acc[u][0] = MAC(acc[u][0], wv, LOADU(xa + ku));
                if (H == 2)
                    acc[u][1] = MAC(acc[u][1], wv, LOADU(xb + ku));
            }
        for (; k < k1; k += LANES16) {
            VEC wv = W8 ? LOADW8((const int8_t *)w + k) : LOADU((const int16_t *)w + k);
            acc[0][0] = MAC(acc[0][0], wv, LOADU(xa + k));
            if (H == 2)
                acc[0][1] = MAC(acc[0][1], wv, LOADU(xb + k));
        }
        for (int h = 0; h < H; h++)
            tot[h] += HSUM64(ADD32(ADD32(acc[0][h], acc[1][h]), ADD32(acc[2][h], acc[3][h])));
    }
    return H == 2 ? tot[1] * 256 + tot[0] : tot[0];
}

#define KERNEL_ONE_VECTOR(H, W8)                                                                    \
    for (; r < rows; r++)                                                                          \
        out[r] = KERNEL_ROW1(W8 ? (const void *)((const int8_t *)w + r * ws) : (const void *)((const int16_t *)w + r * ws), \
                             xa, xb, len, H, W8);

#define KERNEL_ROWS(RB, NB, H, W8)                                                                  \
    for (; r + RB <= rows; r += RB) {                                                              \
        int v = 0;                                                                                 \
        const void *wr = W8 ? (const void *)((const int8_t *)w + r * ws) : (const void *)((const int16_t *)w + r * ws); \
        for (; v + NB <= nvec; v += NB)                                                            \
            KERNEL_BLOCK(wr, ws, xa + v * vs, xb ? xb + v * vs : 0, vs, len,                      \
                         out + (size_t)r * nvec + v, nvec, RB, NB, H, W8);                         \
        for (; v < nvec; v++)                                                                      \
            KERNEL_BLOCK(wr, ws, xa + v * vs, xb ? xb + v * vs : 0, vs, len,                      \
                         out + (size_t)r * nvec + v, nvec, RB, 1, H, W8);                          \
    }

void KERNEL(const int16_t *w, size_t ws, int rows, const int16_t *xa, const int16_t *xb, size_t vs,
            int nvec, int len, int64_t *out)
{
    int r = 0;
    if (nvec == 1) {
        if (xb) {
            KERNEL_ONE_VECTOR(2, 0)
        } else {
            KERNEL_ONE_VECTOR(1, 0)
        }
        return;
    }
    if (xb) {
        if (nvec >= NB_SPLIT) {
            KERNEL_ROWS(RB_SPLIT, NB_SPLIT, 2, 0)
        } else {
            KERNEL_ROWS(RB_SPLIT, 1, 2, 0)
        }
        KERNEL_ROWS(1, 1, 2, 0)
    } else {
        if (nvec >= NB_ONE) {
            KERNEL_ROWS(RB_ONE, NB_ONE, 1, 0)
        } else {
            KERNEL_ROWS(RB_ONE, 1, 1, 0)
        }
        KERNEL_ROWS(1, 1, 1, 0)
    }
}

/* int8 weights, read as int8 (half the memory traffic) and widened in registers; x unsplit. */
void KERNEL8(const int8_t *w, size_t ws, int rows, const int16_t *xa, size_t vs, int nvec, int len, int64_t *out)
{
    const int16_t *xb = 0;
    int r = 0;
    if (nvec == 1) {
        KERNEL_ONE_VECTOR(1, 1)
        return;
    }
    if (nvec >= NB_ONE) {
        KERNEL_ROWS(RB_ONE, NB_ONE, 1, 1)
    } else {
        KERNEL_ROWS(RB_ONE, 1, 1, 1)
    }
    KERNEL_ROWS(1, 1, 1, 1)
}

/* The same sums with the rows in the lanes: out[v*rows_pad + r]. wt holds the weights in pairs of
 * inputs, [len/2][rows_pad][2]; each pair of inputs is broadcast and multiplied with RL rows at
 * once (RL = int32 lanes per vector), so no horizontal sums are needed — the shape for many
 * vectors against few rows (convolution: positions against filters). rows_pad: a multiple of RL. */
static inline __attribute__((always_inline)) void
KERNEL_T_BLOCK(const int16_t *wt, int rows_pad, int r0, const int16_t *a, const int16_t *b, int len,
               int64_t *out, const int RBT)
{
    const int RL = LANES16 / 2;
    VEC tl[2][2], th[2][2];
    for (int q = 0; q < RBT; q++)
        tl[q][0] = tl[q][1] = th[q][0] = th[q][1] = ZERO();
    for (int j0 = 0; j0 < len / 2; j0 += FLUSH_STEPS) {
        int j1 = j0 + FLUSH_STEPS < len / 2 ? j0 + FLUSH_STEPS : len / 2;
        VEC al[2], ah[2];
        for (int q = 0; q < RBT; q++)
            al[q] = ah[q] = ZERO();
        for (int j = j0; j < j1; j++) {
            int32_t pa, pb = 0;
            memcpy(&pa, a + 2 * j, 4);
            if (b)
                memcpy(&pb, b + 2 * j, 4);
            VEC va = SET1_32(pa), vb = SET1_32(pb);
            for (int q = 0; q < RBT; q++) {
                VEC wv = LOADU(wt + ((size_t)j * rows_pad + r0 + q * RL) * 2);
                al[q] = MAC(al[q], wv, va);
                if (b)
                    ah[q] = MAC(ah[q], wv, vb);
            }
        }
        for (int q = 0; q < RBT; q++) {
            tl[q][0] = ADD64(tl[q][0], CVT_LO64(al[q]));
            tl[q][1] = ADD64(tl[q][1], CVT_HI64(al[q]));
            th[q][0] = ADD64(th[q][0], CVT_LO64(ah[q]));
            th[q][1] = ADD64(th[q][1], CVT_HI64(ah[q]));
        }
    }
    for (int q = 0; q < RBT; q++) {
        int64_t *o = out + r0 + q * RL;
        STOREU(o, ADD64(tl[q][0], SHL8_64(th[q][0])));
        STOREU(o + RL / 2, ADD64(tl[q][1], SHL8_64(th[q][1])));
    }
}

void KERNEL_T(const int16_t *wt, int rows_pad, const int16_t *xa, const int16_t *xb, size_t vs, int nvec, int len,
              int64_t *out)
{
    const int RL = LANES16 / 2;
    for (int v = 0; v < nvec; v++) {
        const int16_t *a = xa + (size_t)v * vs, *b = xb ? xb + (size_t)v * vs : 0;
        int64_t *o = out + (size_t)v * rows_pad;
        int r0 = 0;
        for (; r0 + 2 * RL <= rows_pad; r0 += 2 * RL)
            KERNEL_T_BLOCK(wt, rows_pad, r0, a, b, len, o, 2);
        for (; r0 < rows_pad; r0 += RL)
            KERNEL_T_BLOCK(wt, rows_pad, r0, a, b, len, o, 1);
    }
}

/* The multiply-add instruction alone, from registers, 12 independent chains: what one core can
 * issue (`npin gna bench` reports GMAC/s against it). Each call does iters * 12 * LANES16 MACs;
 * the values wrap, which SIMD integer arithmetic defines. */
int64_t KERNEL_PEAK(long iters)
{
    VEC a = SET1_32(0x00030002);
    VEC acc[12];
    for (int i = 0; i < 12; i++)
        acc[i] = SET1_32(i);
    for (long n = 0; n < iters; n++) {
        /* each chain multiplies its own accumulator: nothing to share between chains or hoist */
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            acc[i] = MAC(acc[i], acc[i], a);
    }
    int64_t s = 0;
    for (int i = 0; i < 12; i++)
        s += HSUM64(acc[i]);
    return s;
}
