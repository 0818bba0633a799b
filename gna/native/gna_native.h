/* The GNA 2.0 emulator's native kernels (gna/native.py drives them; gna/ops/ hold the readable
 * numpy reference they must match bit for bit; docs/gna-model.md §3 is the arithmetic).
 *
 * Dot products are exact. Weights are int16 (int8 weights arrive sign-extended). An int16 input
 * is split into a low byte (0..255) and a high byte (-128..127), x = 256*hi + lo, so every
 * product fits in 23 bits and 32-bit SIMD lanes can sum 128 of them before they are widened to
 * 64 bits; int8 weights need no split (|w*x| < 2^22). */
#ifndef GNA_NATIVE_H
#define GNA_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#define NPG_PAD 32            /* rows and vectors are padded with zeros to a multiple of this */

enum { NPG_PORTABLE = 0, NPG_AVX2 = 1, NPG_AVX512 = 2, NPG_AVX512_VNNI = 3 };

/* A PWL's lookup tables, as gna/arith.py's PwlTables builds them (docs/gna-model.md §3.6). */
typedef struct npg_pwl {
    int64_t lo, hi;           /* first and last segment base */
    int32_t bucket_shift, segments, steps;  /* steps: the most any bucket needs from its first segment */
    const int32_t *first;     /* the segment at each bucket's start */
    const int64_t *next_minus1, *slope, *offset;
    const int32_t *shift;
    /* the same per segment, 32 entries (zero-padded), for the vector path; NULL beyond 32 segments */
    const int64_t *t_next_minus1, *t_slope, *t_offset, *t_shift;
} npg_pwl_t;

int npg_best_isa(void);
int npg_set_isa(int isa);     /* at most the best; returns the one in use */

/* out[r*nvec + v] = sum over k < len of w[r*w_stride + k] * x_v[k], exactly, where x_v is
 * (xb ? 256*xb[v*v_stride + k] + xa[...] : xa[v*v_stride + k]). len is a multiple of NPG_PAD. */
void npg_dots(const int16_t *w, size_t w_stride, int rows, const int16_t *xa, const int16_t *xb,
              size_t v_stride, int nvec, int len, int64_t *out);

/* The same sums with the rows in the SIMD lanes: out[v*rows_pad + r]; wt is [len/2][rows_pad][2]
 * (the weights of inputs 2j and 2j+1 side by side per row); rows_pad a multiple of 16. */
void npg_dots_t(const int16_t *wt, int rows_pad, const int16_t *xa, const int16_t *xb, size_t v_stride, int nvec,
                int len, int64_t *out);

/* The ISA's multiply-add instruction alone, from registers: returns the MACs per iteration (0:
 * no SIMD peak for the portable code); the result goes to *sink so the loop is not elided. */
int npg_peak(long iters, int64_t *sink);

/* x [n][len] -> lo, hi bytes (see above). */
void npg_split(const int16_t *x, size_t count, int16_t *lo, int16_t *hi);

/* PWL of n int64 values (already int32) into int16; returns 1 if a value was clamped. It picks the
 * AVX-512 version (up to 32 segments, gna_pwl_avx512.c) or the scalar one. */
int npg_pwl_apply(const npg_pwl_t *p, const int64_t *s, size_t n, int16_t *y);
int npg_pwl_apply_scalar(const npg_pwl_t *p, const int64_t *s, size_t n, int16_t *y);

/* npg_dots with int8 weights, read as int8; x not split. */
void npg_dots8(const int8_t *w, size_t w_stride, int rows, const int16_t *x, size_t v_stride, int nvec, int len,
               int64_t *out);

/* FullyConnectedAffine: s[m][v] = bias[m]; per chunk of the K inputs s = clamp32(s + mult[m]*dot)
 * (mult NULL: 1). w: int16, or int8 when w8. x: GNA's interleaved input [k][n]; xs: 2*n*kpad + NPG_SPLIT_SLACK int16
 * of scratch for its split rows. out: int16 [m][n] through pwl, else int32 [m][n]. scratch: 2*m*n
 * int64. Returns 1 if anything saturated. */
int npg_affine(const void *w, int w8, int m, int kpad, int k, const int16_t *x, int n, int16_t *xs,
               const int32_t *bias, const uint8_t *mult, int chunk, const npg_pwl_t *pwl,
               int64_t *scratch, void *out);

/* ElementWiseAffine: s[m][v] = clamp32(bias[m] + wm[m]*x[m][v]) (wm = weight times multiplier). */
int npg_diagonal(const int32_t *wm, const int32_t *bias, int m, int n, const int16_t *x, const npg_pwl_t *pwl,
                 int64_t *scratch, void *out);

/* Convolution: raw[p][f] = bias[f] + filters[f] . x[p*stride ...]; pooling (0 none, 1 max, 2 sum)
 * over pool_window positions every pool_stride; clamp32; PWL. filters_t: npg_dots_t's layout with
 * fpad rows. xa/xb: the whole padded input. out: [outputs][f], int16 through pwl, else int32.
 * scratch: fpad*positions + f*outputs int64. */
int npg_conv(const int16_t *filters_t, int f, int fpad, int cpad, const int16_t *xa, const int16_t *xb, int stride,
             int positions, const int32_t *bias, int pooling, int pool_window, int pool_stride,
             const npg_pwl_t *pwl, int64_t *scratch, void *out);

/* Recurrent, one accumulator chunk over [x_t | feedback] (K + M <= chunk): xpart[t*xstride + r]
 * holds wx . x_t for every t; each step adds wf . feedback, applies bias, multiplier, clamp and PWL.
 * wf: [m][mpad] rows, or (rows_t > 0) npg_dots_t's layout with rows_t rows — no horizontal sums,
 * the faster shape for a small layer. state: [delay][m] rows before t = 0. out: int16 [n][m].
 * fb_lo, fb_hi: mpad int16 each; scratch: 2*mpad int64. */
int npg_recurrent(const int64_t *xpart, size_t xstride, const int16_t *wf, int rows_t, int m, int mpad,
                  const int32_t *bias, const uint8_t *mult, int n, int delay, const int16_t *state,
                  const npg_pwl_t *pwl, int16_t *fb_lo, int16_t *fb_hi, int64_t *scratch, int16_t *out);

/* The recurrent layer and the convolution from GNA's raw input (padding and split done here). */
int npg_recurrent_x(const int16_t *wx, int kpad, int k, int wx_split, const int16_t *wf, int rows_t, int m, int mpad,
                    const int32_t *bias, const uint8_t *mult, int n, int delay, const int16_t *state,
                    const npg_pwl_t *pwl, const int16_t *x, int16_t *s16, int64_t *s64, int16_t *out);
int npg_conv_x(const int16_t *filters_t, int f, int fpad, int cpad, const int16_t *x, int width, int stride,
               int positions, const int32_t *bias, int pooling, int pool_window, int pool_stride,
               const npg_pwl_t *pwl, int16_t *s16, int64_t *s64, void *out);

/* A whole chain in one call (the GIL stays released for all of it): each operation reads the one
 * before. Fields by kind — affine: w (int16, or int8 if w8), m, k, kpad, n, chunk, bias, mult;
 * diagonal: wm, bias, m, n; recurrent: w = wx [m][kpad] and wf [m][mpad] (int16; w8: int8 values,
 * unsplit input), or both in npg_dots_t's layout with rows_t rows, m, mpad, k, kpad, n, delay,
 * state, bias, mult; convolution: w = filters in npg_dots_t's layout,
 * m = filters, fpad, kpad = cpad, k = input width, n = positions, stride, pooling...; copy: m x n
 * output, k = input row length, rows, cols; transposition: [m][n] -> [n][m]. pwl may be NULL. */
/* The split input rows sit off 4 KiB boundaries from each other and from page-aligned weight rows:
 * loads whose addresses agree modulo 4 KiB share L1 sets (batch-1 layers measured 10-15 % slower).
 * An operation's s16 scratch holds NPG_SPLIT_SLACK elements beyond its split rows for that. */
enum { NPG_SPLIT_SLACK = 2208 };

enum { NPG_OP_AFFINE = 1, NPG_OP_DIAGONAL, NPG_OP_RECURRENT, NPG_OP_CONV, NPG_OP_COPY, NPG_OP_TRANSPOSE };
typedef struct npg_op {
    int32_t kind, m, k, kpad, n, w8, chunk, mpad, delay, fpad, stride, pooling, pool_window, pool_stride, rows, cols,
        rows_t;
    const void *w;
    const int16_t *wf, *state;
    const int32_t *wm;
    const int32_t *bias;
    const uint8_t *mult;
    const npg_pwl_t *pwl;
} npg_op_t;

/* outs: each operation's output buffer; s16, s64: scratch as large as the largest operation needs.
 * Returns 1 if anything saturated, -1 for an unknown kind. */
int npg_run_chain(const npg_op_t *ops, int nops, const int16_t *x, void *const *outs, int16_t *s16, int64_t *s64);

/* count inferences of the chain in one call: input b at xs + b*x_elems, operation i's output b at
 * outs[i] + b*out_bytes[i]; sat[b] its saturation flag. */
int npg_run_chain_many(const npg_op_t *ops, int nops, int count, const int16_t *xs, size_t x_elems,
                       void *const *outs, const size_t *out_bytes, int16_t *s16, int64_t *s64, uint8_t *sat);

#endif
