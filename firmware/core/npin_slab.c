#include "npin_internal.h"

static int in_q15_range(int32_t x, int32_t lo) { return x >= lo && x <= 32767; }

int npin_slab_prepare(uint8_t *slab, uint32_t size)
{
    const npin_header_t *h = (const npin_header_t *)(void *)slab;
    uint32_t d, k, r, i, j;
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
    if (NPIN_SLAB_BYTES(d, k, r) > NPIN_SLAB_MAX_BYTES || h->total_bytes != NPIN_SLAB_BYTES(d, k, r) ||
        size < h->total_bytes)
        return NPIN_ERR_SHAPE;

    w = npin_view(slab);
    if (!in_q15_range(h->eta_q15, 0) || !in_q15_range(h->mu_q15, 0) ||
        !in_q15_range(h->thr_gain_q15, 0) || !in_q15_range(h->hysteresis_q15, 0))
        return NPIN_ERR_PARAM;
    if (h->thr_min_q15 < 1 || h->thr_min_q15 > h->thr_max_q15) return NPIN_ERR_PARAM;
    for (j = 0; j < k; ++j)
        if (w.thr[j] < h->thr_min_q15 || w.thr[j] > h->thr_max_q15) return NPIN_ERR_PARAM;
    for (i = 0; i < k * d; ++i)
        if (w.facets[i] == INT16_MIN) return NPIN_ERR_FACET;

    for (j = 0; j < k; ++j) {
        uint64_t nf = 0;
        const int16_t *f = w.facets + j * d;
        for (i = 0; i < d; ++i) nf += (uint64_t)((int32_t)f[i] * f[i]);
        w.facet_norm[j] = npin_isqrt64(nf);
    }
    return NPIN_OK;
}
