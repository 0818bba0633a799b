/* The update and the Pin (docs/pin-spec.md §3, §4). */
#include "npin_internal.h"

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

/* score >= t, decided without dividing: floordiv(a, b) >= t  <=>  a >= t*b  for b > 0. */
static int score_at_least(int64_t dot, int64_t den, int32_t t)
{
    if (den == 0) return 0 >= t;
    return dot * 32768 >= (int64_t)t * den;
}

int npin_consume(uint8_t *slab, const int16_t *x, npin_event_t *event)
{
    npin_view_t w = npin_view(slab);
    npin_header_t *h = w.hdr;
    int64_t dot[NPIN_MAX_FACETS];
    uint32_t k, n_facets = h->facets, rm;
    int32_t best = -1;
    int16_t best_score = 0;
    uint16_t armed = h->armed_mask;
    uint64_t nm = npin_update_q15(w.m, w.v, x, h->dims, h->eta_q15, h->mu_q15);

    h->step += 1u;
    rm = npin_isqrt64(nm);
    npin_dots_q15(w.m, w.facets, h->dims, n_facets, dot);
    for (k = 0; k < n_facets; ++k) {
        uint16_t bit = (uint16_t)(1u << k);
        int64_t den = (int64_t)rm * w.facet_norm[k];
        int32_t thr = w.thr[k];
        if (!(armed & bit) && !score_at_least(dot[k], den, thr - h->hysteresis_q15)) armed |= bit;
        if ((armed & bit) && rm >= h->min_norm && score_at_least(dot[k], den, thr)) {
            int16_t s = score_q15(dot[k], den);
            if (best < 0 || s > best_score) {
                best = (int32_t)k;
                best_score = s;
            }
        }
    }
    if (best < 0) {
        h->armed_mask = armed;
        return NPIN_OK;
    }
    h->armed_mask = (uint16_t)(armed & ~(1u << best));
    h->last_fired = (int16_t)best;
    h->fires += 1u;
    if (event != 0) {
        event->step = h->step;
        event->facet = (int16_t)best;
        event->score_q15 = best_score;
        event->tool = w.tool[best];
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
