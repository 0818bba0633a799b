/* The GNA 2.0 emulator's native operations (gna_native.h). Exact integer arithmetic throughout;
 * the dot products go to the best SIMD kernel this CPU runs, picked at run time. */
#include "gna_native.h"

#include <string.h>

void npg_dots_avx2(const int16_t *, size_t, int, const int16_t *, const int16_t *, size_t, int, int, int64_t *);
void npg_dots_avx512(const int16_t *, size_t, int, const int16_t *, const int16_t *, size_t, int, int, int64_t *);
void npg_dots_vnni(const int16_t *, size_t, int, const int16_t *, const int16_t *, size_t, int, int, int64_t *);
void npg_dots_t_avx2(const int16_t *, int, const int16_t *, const int16_t *, size_t, int, int, int64_t *);
void npg_dots_t_avx512(const int16_t *, int, const int16_t *, const int16_t *, size_t, int, int, int64_t *);
void npg_dots_t_vnni(const int16_t *, int, const int16_t *, const int16_t *, size_t, int, int, int64_t *);
void npg_dots8_avx2(const int8_t *, size_t, int, const int16_t *, size_t, int, int, int64_t *);
void npg_dots8_avx512(const int8_t *, size_t, int, const int16_t *, size_t, int, int, int64_t *);
void npg_dots8_vnni(const int8_t *, size_t, int, const int16_t *, size_t, int, int, int64_t *);
int npg_pwl_apply_avx512(const npg_pwl_t *, const int64_t *, size_t, int16_t *);
int64_t npg_peak_avx2(long);
int64_t npg_peak_avx512(long);
int64_t npg_peak_vnni(long);

/* The element-wise loops (clamps, conversions, the diagonal) are compiled for each of these and the
 * loader picks the best the CPU runs: the file itself is built for the baseline x86-64. */
#if defined(__x86_64__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

#define I32_MIN (-2147483647LL - 1)
#define I32_MAX 2147483647LL

static void dots_portable(const int16_t *w, size_t ws, int rows, const int16_t *xa, const int16_t *xb, size_t vs,
                          int nvec, int len, int64_t *out)
{
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < nvec; v++) {
            const int16_t *wr = w + (size_t)r * ws, *a = xa + (size_t)v * vs;
            int64_t lo = 0, hi = 0;
            for (int k = 0; k < len; k++)
                lo += (int32_t)wr[k] * a[k];
            if (xb) {
                const int16_t *b = xb + (size_t)v * vs;
                for (int k = 0; k < len; k++)
                    hi += (int32_t)wr[k] * b[k];
            }
            out[(size_t)r * nvec + v] = hi * 256 + lo;
        }
}

static void dots_t_portable(const int16_t *wt, int rows_pad, const int16_t *xa, const int16_t *xb, size_t vs,
                            int nvec, int len, int64_t *out)
{
    for (int v = 0; v < nvec; v++)
        for (int r = 0; r < rows_pad; r++) {
            const int16_t *a = xa + (size_t)v * vs, *b = xb ? xb + (size_t)v * vs : 0;
            int64_t lo = 0, hi = 0;
            for (int k = 0; k < len; k++) {
                int32_t w = wt[((size_t)(k / 2) * rows_pad + r) * 2 + (k & 1)];
                lo += w * a[k];
                if (b)
                    hi += w * b[k];
            }
            out[(size_t)v * rows_pad + r] = hi * 256 + lo;
        }
}

static void dots8_portable(const int8_t *w, size_t ws, int rows, const int16_t *xa, size_t vs, int nvec, int len,
                           int64_t *out)
{
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < nvec; v++) {
            const int8_t *wr = w + (size_t)r * ws;
            const int16_t *a = xa + (size_t)v * vs;
            int64_t s = 0;
            for (int k = 0; k < len; k++)
                s += (int32_t)wr[k] * a[k];
            out[(size_t)r * nvec + v] = s;
        }
}

typedef void (*dots8_fn)(const int8_t *, size_t, int, const int16_t *, size_t, int, int, int64_t *);
typedef void (*dots_fn)(const int16_t *, size_t, int, const int16_t *, const int16_t *, size_t, int, int, int64_t *);
typedef void (*dots_t_fn)(const int16_t *, int, const int16_t *, const int16_t *, size_t, int, int, int64_t *);

static int isa_in_use = -1;
static dots_fn dots = dots_portable;
static dots_t_fn dots_t = dots_t_portable;
static dots8_fn dots8 = dots8_portable;

int npg_best_isa(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni"))
        return NPG_AVX512_VNNI;
    if (__builtin_cpu_supports("avx512bw"))
        return NPG_AVX512;
    if (__builtin_cpu_supports("avx2"))
        return NPG_AVX2;
#endif
    return NPG_PORTABLE;
}

int npg_set_isa(int isa)
{
    int best = npg_best_isa();
    if (isa < 0 || isa > best)
        isa = best;
    switch (isa) {
#if defined(__x86_64__)
    case NPG_AVX512_VNNI: dots = npg_dots_vnni; dots_t = npg_dots_t_vnni; dots8 = npg_dots8_vnni; break;
    case NPG_AVX512: dots = npg_dots_avx512; dots_t = npg_dots_t_avx512; dots8 = npg_dots8_avx512; break;
    case NPG_AVX2: dots = npg_dots_avx2; dots_t = npg_dots_t_avx2; dots8 = npg_dots8_avx2; break;
#endif
    default: dots = dots_portable; dots_t = dots_t_portable; dots8 = dots8_portable; isa = NPG_PORTABLE; break;
    }
    isa_in_use = isa;
    return isa;
}

void npg_dots(const int16_t *w, size_t w_stride, int rows, const int16_t *xa, const int16_t *xb, size_t v_stride,
              int nvec, int len, int64_t *out)
{
    if (isa_in_use < 0)
        npg_set_isa(-1);
    dots(w, w_stride, rows, xa, xb, v_stride, nvec, len, out);
}

void npg_dots_t(const int16_t *wt, int rows_pad, const int16_t *xa, const int16_t *xb, size_t v_stride, int nvec,
                int len, int64_t *out)
{
    if (isa_in_use < 0)
        npg_set_isa(-1);
    dots_t(wt, rows_pad, xa, xb, v_stride, nvec, len, out);
}

void npg_dots8(const int8_t *w, size_t w_stride, int rows, const int16_t *x, size_t v_stride, int nvec, int len,
               int64_t *out)
{
    if (isa_in_use < 0)
        npg_set_isa(-1);
    dots8(w, w_stride, rows, x, v_stride, nvec, len, out);
}

int npg_peak(long iters, int64_t *sink)
{
    if (isa_in_use < 0)
        npg_set_isa(-1);
    switch (isa_in_use) {
#if defined(__x86_64__)
    case NPG_AVX512_VNNI: *sink = npg_peak_vnni(iters); return 12 * 32;
    case NPG_AVX512: *sink = npg_peak_avx512(iters); return 12 * 32;
    case NPG_AVX2: *sink = npg_peak_avx2(iters); return 12 * 16;
#endif
    default: return 0;
    }
}

VECTOR_CLONES void npg_split(const int16_t *x, size_t count, int16_t *lo, int16_t *hi)
{
    for (size_t i = 0; i < count; i++) {
        lo[i] = (int16_t)(x[i] & 0xFF);
        hi[i] = (int16_t)(x[i] >> 8);   /* arithmetic shift: x = 256*hi + lo */
    }
}

/* Branch-free, so the loops around it vectorize. */
static inline int64_t clamp32(int64_t v, int *sat)
{
    int64_t c = v < I32_MIN ? I32_MIN : v;
    c = c > I32_MAX ? I32_MAX : c;
    *sat |= c != v;
    return c;
}

/* Branch-free but for the rare crowded table: inputs far outside the segments are common and
 * would mispredict every clamp. */
static inline int16_t pwl_one(const npg_pwl_t *p, int64_t x, int *sat)
{
    x = x < p->lo ? p->lo : x;   /* x <= b_0 evaluates segment 0 at b_0 */
    int64_t xi = x < p->hi ? x : p->hi;
    int32_t k = p->first[(xi - p->lo) >> p->bucket_shift];
    if (p->steps <= 8) {
        /* the last segment's next_minus1 is INT32_MAX, so k never passes it */
        for (int s = 0; s < p->steps; s++)
            k += x > p->next_minus1[k];
    } else {
        while (k + 1 < p->segments && x > p->next_minus1[k])
            k++;
    }
    int64_t y = (x * p->slope[k] + p->offset[k]) >> p->shift[k];
    int64_t c = y < -32768 ? -32768 : y;
    c = c > 32767 ? 32767 : c;
    *sat |= c != y;
    return (int16_t)c;
}

int npg_pwl_apply_scalar(const npg_pwl_t *p, const int64_t *s, size_t n, int16_t *y)
{
    int sat = 0;
    for (size_t i = 0; i < n; i++)
        y[i] = pwl_one(p, s[i], &sat);
    return sat;
}

int npg_pwl_apply(const npg_pwl_t *p, const int64_t *s, size_t n, int16_t *y)
{
    if (isa_in_use < 0)
        npg_set_isa(-1);
#if defined(__x86_64__)
    if (isa_in_use >= NPG_AVX512 && p->t_slope && n >= 8)
        return npg_pwl_apply_avx512(p, s, n, y);
#endif
    return npg_pwl_apply_scalar(p, s, n, y);
}

/* int32 accumulators out, through the PWL (int16) or as they are (int32). */
VECTOR_CLONES static int finish(const int64_t *s, size_t n, const npg_pwl_t *pwl, void *out)
{
    if (pwl)
        return npg_pwl_apply(pwl, s, n, (int16_t *)out);
    int32_t *o = (int32_t *)out;
    for (size_t i = 0; i < n; i++)
        o[i] = (int32_t)s[i];
    return 0;
}

/* The places of the lo and hi rows (`elems` elements each) in s16 (NPG_SPLIT_SLACK in the header). */
static void split_places(int16_t *s16, size_t elems, int16_t **xa, int16_t **xb)
{
    *xa = s16 + 160;
    *xb = *xa + elems + (2048 + 4096 - elems * 2 % 4096) % 4096 / 2;  /* 2 KiB apart modulo 4 KiB */
}

/* n input vectors of k elements, element i of vector v at x[i*si + v*sv], as zero-padded rows of
 * kpad: split into lo/hi bytes (xb non-NULL) or copied as they are. */
static void vector_rows(const int16_t *x, int k, int n, size_t si, size_t sv, int kpad, int16_t *xa, int16_t *xb)
{
    memset(xa, 0, sizeof(int16_t) * (size_t)n * kpad);
    if (xb)
        memset(xb, 0, sizeof(int16_t) * (size_t)n * kpad);
    for (int v = 0; v < n; v++)
        for (int i = 0; i < k; i++) {
            int16_t e = x[(size_t)i * si + (size_t)v * sv];
            if (xb) {
                xa[(size_t)v * kpad + i] = (int16_t)(e & 0xFF);
                xb[(size_t)v * kpad + i] = (int16_t)(e >> 8);
            } else {
                xa[(size_t)v * kpad + i] = e;
            }
        }
}

int npg_affine(const void *w, int w8, int m, int kpad, int k, const int16_t *x, int n, int16_t *xs,
               const int32_t *bias, const uint8_t *mult, int chunk, const npg_pwl_t *pwl, int64_t *scratch, void *out)
{
    int64_t *s = scratch, *part = scratch + (size_t)m * n;
    int16_t *xa, *xb;
    split_places(xs, (size_t)n * kpad, &xa, &xb);
    if (w8)
        xb = 0;
    int sat = 0;
    vector_rows(x, k, n, (size_t)n, 1, kpad, xa, xb);  /* GNA's interleaved [K][N]; split unless int8 weights */
    for (int r = 0; r < m; r++)
        for (int v = 0; v < n; v++)
            s[(size_t)r * n + v] = bias[r];
    for (int c = 0; c < k; c += chunk) {
        int len = (c + chunk < kpad ? c + chunk : kpad) - c;
        if (w8)
            npg_dots8((const int8_t *)w + c, (size_t)kpad, m, xa + c, (size_t)kpad, n, len, part);
        else
            npg_dots((const int16_t *)w + c, (size_t)kpad, m, xa + c, xb ? xb + c : 0, (size_t)kpad, n, len, part);
        for (int r = 0; r < m; r++) {
            int64_t mr = mult ? mult[r] : 1;
            for (int v = 0; v < n; v++) {
                size_t i = (size_t)r * n + v;
                s[i] = clamp32(s[i] + mr * part[i], &sat);
            }
        }
    }
    return finish(s, (size_t)m * n, pwl, out) | sat;
}

VECTOR_CLONES int npg_diagonal(const int32_t *wm, const int32_t *bias, int m, int n, const int16_t *x, const npg_pwl_t *pwl,
                 int64_t *scratch, void *out)
{
    int sat = 0;
    if (n == 1) {  /* one flat loop the compiler vectorizes */
        for (int r = 0; r < m; r++)
            scratch[r] = clamp32(bias[r] + (int64_t)wm[r] * x[r], &sat);
    } else {
        for (int r = 0; r < m; r++) {
            const int64_t w = wm[r], b = bias[r];
            const int16_t *xr = x + (size_t)r * n;
            int64_t *sr = scratch + (size_t)r * n;
            for (int v = 0; v < n; v++)
                sr[v] = clamp32(b + w * xr[v], &sat);
        }
    }
    return finish(scratch, (size_t)m * n, pwl, out) | sat;
}

int npg_conv(const int16_t *filters_t, int f, int fpad, int cpad, const int16_t *xa, const int16_t *xb, int stride,
             int positions, const int32_t *bias, int pooling, int pool_window, int pool_stride,
             const npg_pwl_t *pwl, int64_t *scratch, void *out)
{
    int64_t *raw = scratch;  /* [positions][fpad] */
    npg_dots_t(filters_t, fpad, xa, xb, (size_t)stride, positions, cpad, raw);
    int outputs = pooling ? (positions + pool_stride - 1) / pool_stride : positions;
    int64_t *s = scratch + (size_t)fpad * positions;  /* [outputs][f] */
    int sat = 0;
    for (int o = 0; o < outputs; o++)
        for (int j = 0; j < f; j++) {
            int64_t v;
            if (!pooling) {
                v = raw[(size_t)o * fpad + j] + bias[j];
            } else {
                int p0 = o * pool_stride, p1 = p0 + pool_window < positions ? p0 + pool_window : positions;
                v = pooling == 1 ? INT64_MIN : 0;
                for (int p = p0; p < p1; p++) {
                    int64_t t = raw[(size_t)p * fpad + j] + bias[j];
                    v = pooling == 1 ? (t > v ? t : v) : v + t;
                }
            }
            s[(size_t)o * f + j] = clamp32(v, &sat);
        }
    return finish(s, (size_t)outputs * f, pwl, out) | sat;
}

int npg_recurrent(const int64_t *xpart, size_t xstride, const int16_t *wf, int rows_t, int m, int mpad,
                  const int32_t *bias, const uint8_t *mult, int n, int delay, const int16_t *state,
                  const npg_pwl_t *pwl, int16_t *fb_lo, int16_t *fb_hi, int64_t *scratch, int16_t *out)
{
    int sat = 0;
    int64_t *part = scratch, *s = scratch + mpad;
    memset(fb_lo, 0, sizeof(int16_t) * mpad);
    memset(fb_hi, 0, sizeof(int16_t) * mpad);
    for (int t = 0; t < n; t++) {
        const int16_t *fb = t < delay ? state + (size_t)t * m : out + (size_t)(t - delay) * m;
        npg_split(fb, (size_t)m, fb_lo, fb_hi);
        if (rows_t)
            npg_dots_t(wf, rows_t, fb_lo, fb_hi, 0, 1, mpad, part);
        else
            npg_dots(wf, (size_t)mpad, m, fb_lo, fb_hi, (size_t)mpad, 1, mpad, part);
        for (int r = 0; r < m; r++) {
            int64_t dot = part[r] + xpart[(size_t)t * xstride + r];
            s[r] = clamp32(bias[r] + (mult ? (int64_t)mult[r] * dot : dot), &sat);
        }
        sat |= npg_pwl_apply(pwl, s, (size_t)m, out + (size_t)t * m);
    }
    return sat;
}

/* Recurrent from GNA's flat input [n][k]: the input half of every step in one kernel call, then the
 * feedback loop. s16: 2*n*kpad + NPG_SPLIT_SLACK + 2*mpad int16; s64: 2*n*mpad + 2*mpad int64. */
int npg_recurrent_x(const int16_t *wx, int kpad, int k, int wx_split, const int16_t *wf, int rows_t, int m, int mpad,
                    const int32_t *bias, const uint8_t *mult, int n, int delay, const int16_t *state,
                    const npg_pwl_t *pwl, const int16_t *x, int16_t *s16, int64_t *s64, int16_t *out)
{
    int16_t *xa, *xb;
    split_places(s16, (size_t)n * kpad, &xa, &xb);
    if (!wx_split)
        xb = 0;
    int64_t *xpart = s64 + (size_t)n * mpad;
    size_t xstride = (size_t)m;
    vector_rows(x, k, n, 1, (size_t)k, kpad, xa, xb);  /* GNA's flat [N][K] */
    if (rows_t) {  /* out [t][rows_t]: already by step */
        npg_dots_t(wx, rows_t, xa, xb, (size_t)kpad, n, kpad, xpart);
        xstride = (size_t)rows_t;
    } else {
        int64_t *by_row = s64;
        npg_dots(wx, (size_t)kpad, m, xa, xb, (size_t)kpad, n, kpad, by_row);
        for (int r = 0; r < m; r++)
            for (int t = 0; t < n; t++)
                xpart[(size_t)t * m + r] = by_row[(size_t)r * n + t];
    }
    int16_t *fb_lo = s16 + (size_t)2 * n * kpad + NPG_SPLIT_SLACK, *fb_hi = fb_lo + mpad;
    return npg_recurrent(xpart, xstride, wf, rows_t, m, mpad, bias, mult, n, delay, state, pwl, fb_lo, fb_hi,
                         s64 + (size_t)2 * n * mpad, out);
}

/* Convolution from the raw input (width samples): padded to every window's cpad reads and split.
 * s16: 2*len int16 with len = (positions-1)*stride + cpad. */
int npg_conv_x(const int16_t *filters_t, int f, int fpad, int cpad, const int16_t *x, int width, int stride,
               int positions, const int32_t *bias, int pooling, int pool_window, int pool_stride,
               const npg_pwl_t *pwl, int16_t *s16, int64_t *s64, void *out)
{
    size_t len = (size_t)(positions - 1) * stride + cpad;
    int16_t *xa = s16, *xb = s16 + len;
    for (size_t i = 0; i < len; i++) {
        int16_t e = i < (size_t)width ? x[i] : 0;
        xa[i] = (int16_t)(e & 0xFF);
        xb[i] = (int16_t)(e >> 8);
    }
    return npg_conv(filters_t, f, fpad, cpad, xa, xb, stride, positions, bias, pooling, pool_window, pool_stride,
                    pwl, s64, out);
}

int npg_run_chain(const npg_op_t *ops, int nops, const int16_t *x, void *const *outs, int16_t *s16, int64_t *s64)
{
    int sat = 0;
    const int16_t *in = x;
    for (int i = 0; i < nops; i++) {
        const npg_op_t *o = &ops[i];
        switch (o->kind) {
        case NPG_OP_AFFINE:
            sat |= npg_affine(o->w, o->w8, o->m, o->kpad, o->k, in, o->n, s16, o->bias, o->mult, o->chunk, o->pwl,
                              s64, outs[i]);
            break;
        case NPG_OP_DIAGONAL:
            sat |= npg_diagonal(o->wm, o->bias, o->m, o->n, in, o->pwl, s64, outs[i]);
            break;
        case NPG_OP_RECURRENT:
            sat |= npg_recurrent_x((const int16_t *)o->w, o->kpad, o->k, !o->w8, o->wf, o->rows_t, o->m, o->mpad, o->bias,
                                   o->mult, o->n, o->delay, o->state, o->pwl, in, s16, s64, (int16_t *)outs[i]);
            break;
        case NPG_OP_CONV:
            sat |= npg_conv_x((const int16_t *)o->w, o->m, o->fpad, o->kpad, in, o->k, o->stride, o->n, o->bias,
                              o->pooling, o->pool_window, o->pool_stride, o->pwl, s16, s64, outs[i]);
            break;
        case NPG_OP_COPY: {
            int16_t *y = (int16_t *)outs[i];
            memset(y, 0, sizeof(int16_t) * (size_t)o->m * o->n);          /* out [m rows][n cols] */
            for (int r = 0; r < o->rows; r++)
                memcpy(y + (size_t)r * o->n, in + (size_t)r * o->k, sizeof(int16_t) * o->cols);  /* in rows of k */
            break;
        }
        case NPG_OP_TRANSPOSE: {
            int16_t *y = (int16_t *)outs[i];
            for (int a = 0; a < o->m; a++)
                for (int b = 0; b < o->n; b++)
                    y[(size_t)b * o->m + a] = in[(size_t)a * o->n + b];
            break;
        }
        default:
            return -1;
        }
        in = (const int16_t *)outs[i];
    }
    return sat;
}

int npg_run_chain_many(const npg_op_t *ops, int nops, int count, const int16_t *xs, size_t x_elems,
                       void *const *outs, const size_t *out_bytes, int16_t *s16, int64_t *s64, uint8_t *sat)
{
    void *cur[nops > 0 ? nops : 1];
    for (int b = 0; b < count; b++) {
        for (int i = 0; i < nops; i++)
            cur[i] = (uint8_t *)outs[i] + (size_t)b * out_bytes[i];
        int rc = npg_run_chain(ops, nops, xs + (size_t)b * x_elems, cur, s16, s64);
        if (rc < 0)
            return rc;
        sat[b] = (uint8_t)rc;
    }
    return 0;
}
