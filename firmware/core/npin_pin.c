/* The update and the Pin (docs/pin-spec.md §3, §4). Scores are compared as exact rationals by
 * cross-multiplication; the only division reports the fired score. */
#include "npin_internal.h"
#include "npin_wide.h"

/* Facets whose dot products are computed per kernel call: bounds the stack (8 bytes each) at any
 * K, and is large enough that the kernels' per-call set-up does not matter. */
#define NPIN_DOT_BLOCK 16u

/* floor(a / b) for b > 0; C's '/' truncates towards zero. */
static int64_t floordiv64(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b < 0) --q;
    return q;
}

static int16_t score_q15(int64_t dot, int64_t den)
{
    int64_t s;
    if (den == 0) return 0;
    s = floordiv64(dot * 32768, den);
    return (int16_t)(s > 32767 ? 32767 : (s < -32768 ? -32768 : s));
}

/* c >= t / 2^15 for c = dot / den, den = rm * fn (0 when rm = 0, and then c = 0). */
static int at_least(int64_t dot, int64_t den, int32_t t)
{
    if (den == 0) return 0 >= t;
    return dot * 32768 >= (int64_t)t * den;
}

/* c_a > c_b, rm common: dot_a * fn_b > dot_b * fn_a (each side < 2^61.5, section 7). */
static int beats(int64_t dot_a, uint32_t fn_a, int64_t dot_b, uint32_t fn_b)
{
    return dot_a * (int64_t)fn_b > dot_b * (int64_t)fn_a;
}

/* c_b - c_r >= M / 2^15: 2^15 (dot_b fn_r - dot_r fn_b) >= M rm fn_b fn_r, in 128 bits. */
static int leads(int64_t dot_b, uint32_t fn_b, int64_t dot_r, uint32_t fn_r, uint32_t rm, int32_t margin)
{
    uint64_t p = (uint64_t)(dot_b * (int64_t)fn_r - dot_r * (int64_t)fn_b); /* >= 0: b is the argmax */
    npin_u128_t lhs = npin_shl_u64(p, 15u);
    npin_u128_t rhs = npin_mul_u64((uint64_t)(uint32_t)margin * rm, (uint64_t)fn_b * fn_r);
    return npin_u128_ge(lhs, rhs);
}

static void block_dots(const npin_view_t *w, uint32_t k0, uint32_t n, int64_t *dot)
{
    uint32_t d = w->hdr->dims;
    if (w->hdr->flags & NPIN_FLAG_Q7)
        npin_dots_q7(w->m, (const int8_t *)(const void *)w->facets + k0 * d, d, n, dot);
    else
        npin_dots_q15(w->m, (const int16_t *)(const void *)w->facets + k0 * d, d, n, dot);
}

int npin_consume(uint8_t *slab, const int16_t *x, npin_event_t *event)
{
    npin_view_t w = npin_view(slab);
    npin_header_t *h = w.hdr;
    int64_t dot[NPIN_DOT_BLOCK], dot_b = 0, dot_r = 0;
    uint32_t k, j, n_facets = h->facets, rm, fn_b = 0, fn_r = 0;
    int32_t b = -1, r = -1;
    uint64_t nm = npin_update_q15(w.m, w.v, x, h->dims, h->eta_q15, h->mu_q15);

    h->step += 1u;
    rm = npin_isqrt64(nm);
    for (k = 0; k < n_facets; k += NPIN_DOT_BLOCK) {
        uint32_t n = n_facets - k < NPIN_DOT_BLOCK ? n_facets - k : NPIN_DOT_BLOCK;
        block_dots(&w, k, n, dot);
        for (j = 0; j < n; ++j) {
            uint32_t f = k + j, fn = w.facet_norm[f], bit = 1u << (f & 31u);
            uint32_t *word = &w.armed[f >> 5];
            /* 1. re-arm below thr - H */
            if (!(*word & bit) && !at_least(dot[j], (int64_t)rm * fn, (int32_t)w.thr[f] - h->hysteresis_q15))
                *word |= bit;
            /* 2. argmax and runner-up in one pass, ties to the lowest index; written with
             * selects, not branches: which facet leads is data, and hosts mispredict it */
            {
                int64_t d = dot[j];
                int gb = (b < 0) | beats(d, fn, dot_b, fn_b);
                int gr = (gb == 0) & ((r < 0) | beats(d, fn, dot_r, fn_r));
                int32_t nr = gb ? b : (gr ? (int32_t)f : r);
                int64_t ndr = gb ? dot_b : (gr ? d : dot_r);
                uint32_t nfr = gb ? fn_b : (gr ? fn : fn_r);
                b = gb ? (int32_t)f : b;
                dot_b = gb ? d : dot_b;
                fn_b = gb ? fn : fn_b;
                r = nr;
                dot_r = ndr;
                fn_r = nfr;
            }
        }
    }
    /* 3. the fire rule: a disarmed argmax blocks every other facet */
    if (!(w.armed[(uint32_t)b >> 5] & (1u << ((uint32_t)b & 31u))) || rm < h->min_norm ||
        !at_least(dot_b, (int64_t)rm * fn_b, w.thr[b]))
        return NPIN_OK;
    if (r >= 0 && !leads(dot_b, fn_b, dot_r, fn_r, rm, h->margin_q15)) return NPIN_OK;
    /* 4. fire */
    w.armed[(uint32_t)b >> 5] &= ~(1u << ((uint32_t)b & 31u));
    h->last_fired = (int16_t)b;
    h->fires += 1u;
    if (event != 0) {
        event->step = h->step;
        event->facet = (int16_t)b;
        event->score_q15 = score_q15(dot_b, (int64_t)rm * fn_b);
        event->tool = w.tool[b];
        event->reserved = 0;
    }
    return NPIN_FIRED;
}

int npin_feedback(uint8_t *slab, uint32_t facet, int32_t sign)
{
    npin_view_t w = npin_view(slab);
    const npin_header_t *h = w.hdr;
    int32_t thr;
    if (facet >= h->facets || (sign != 1 && sign != -1)) return NPIN_ERR_ARG;
    thr = w.thr[facet];
    if (sign > 0)
        thr -= npin_rshr15((thr - h->thr_min_q15) * h->thr_gain_q15);
    else
        thr += npin_rshr15((h->thr_max_q15 - thr) * h->thr_gain_q15);
    w.thr[facet] = (int16_t)thr;
    return NPIN_OK;
}
