#include "npin_internal.h"

static int in_q15_range(int32_t x, int32_t lo) { return x >= lo && x <= 32767; }

/* Sum of squares of one facet row (storage order does not matter), or -1 if a component is the
 * format's excluded minimum. */
static int64_t facet_energy(const uint8_t *row, uint32_t d, int q7)
{
    uint64_t nf = 0;
    uint32_t i;
    for (i = 0; i < d; ++i) {
        int32_t c = q7 ? (int32_t)((const int8_t *)(const void *)row)[i]
                       : (int32_t)((const int16_t *)(const void *)row)[i];
        if (c == (q7 ? -128 : -32768)) return -1;
        nf += (uint64_t)(c * c);
    }
    return (int64_t)nf;
}

int npin_slab_prepare(uint8_t *slab, uint32_t size)
{
    const npin_header_t *h = (const npin_header_t *)(void *)slab;
    uint32_t d, k, r, j, fb;
    npin_view_t w;

    if (slab == 0 || ((uintptr_t)slab & 7u) != 0u || size < NPIN_HEADER_BYTES) return NPIN_ERR_ARG;
    if (h->magic != NPIN_MAGIC) return NPIN_ERR_MAGIC;
    if (h->layout_version != NPIN_LAYOUT_VERSION || h->header_bytes != NPIN_HEADER_BYTES)
        return NPIN_ERR_VERSION;
    d = h->dims;
    k = h->facets;
    r = h->slots;
    if (d < 8u || d > NPIN_MAX_DIMS || (d & 7u) != 0u) return NPIN_ERR_SHAPE;
    if (k < 1u || k > NPIN_MAX_FACETS) return NPIN_ERR_SHAPE;
    if (r < NPIN_MIN_SLOTS || r > NPIN_MAX_SLOTS || (r & (r - 1u)) != 0u) return NPIN_ERR_SHAPE;
    if ((h->flags & ~NPIN_FLAG_Q7) != 0u) return NPIN_ERR_SHAPE;
    fb = NPIN_FACET_BYTES(h->flags);
    if (NPIN_SLAB_BYTES(d, k, r, fb) > NPIN_SLAB_MAX_BYTES || h->total_bytes != NPIN_SLAB_BYTES(d, k, r, fb) ||
        size < h->total_bytes)
        return NPIN_ERR_SHAPE;

    w = npin_view(slab);
    if (!in_q15_range(h->eta_q15, 0) || !in_q15_range(h->mu_q15, 0) ||
        !in_q15_range(h->thr_gain_q15, 0) || !in_q15_range(h->hysteresis_q15, 0) ||
        !in_q15_range(h->margin_q15, 0))
        return NPIN_ERR_PARAM;
    if (h->thr_min_q15 < 1 || h->thr_min_q15 > h->thr_max_q15) return NPIN_ERR_PARAM;
    for (j = 0; j < k; ++j)
        if (w.thr[j] < h->thr_min_q15 || w.thr[j] > h->thr_max_q15) return NPIN_ERR_PARAM;
    for (j = 0; j < k; ++j) {
        int64_t nf = facet_energy(w.facets + j * d * fb, d, fb == 1u);
        if (nf <= 0) return NPIN_ERR_FACET; /* the excluded minimum, or an all-zero facet */
    }
    for (j = 0; j < k; ++j) w.facet_norm[j] = npin_isqrt64((uint64_t)facet_energy(w.facets + j * d * fb, d, fb == 1u));
    return NPIN_OK;
}
