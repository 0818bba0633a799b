/* Typed views into a slab, derived from its header. Private to the core. */
#ifndef NPIN_INTERNAL_H
#define NPIN_INTERNAL_H

#include "npin_core.h"

typedef struct npin_view {
    npin_header_t *hdr;
    int16_t *m;
    int16_t *v;
    int16_t *x_last;
    const int16_t *facets;
    uint32_t *facet_norm;
    int16_t *thr;
    const uint16_t *tool;
    uint32_t *stamp;
    int16_t *ring;
} npin_view_t;

static inline npin_view_t npin_view(uint8_t *slab)
{
    npin_view_t w;
    npin_header_t *h = (npin_header_t *)(void *)slab;
    uint32_t d = h->dims, k = h->facets, r = h->slots;
    w.hdr = h;
    w.m = (int16_t *)(void *)(slab + NPIN_OFF_M(d, k, r));
    w.v = (int16_t *)(void *)(slab + NPIN_OFF_V(d, k, r));
    w.x_last = (int16_t *)(void *)(slab + NPIN_OFF_XLAST(d, k, r));
    w.facets = (const int16_t *)(void *)(slab + NPIN_OFF_FACETS(d, k, r));
    w.facet_norm = (uint32_t *)(void *)(slab + NPIN_OFF_FNORM(d, k, r));
    w.thr = (int16_t *)(void *)(slab + NPIN_OFF_THR(d, k, r));
    w.tool = (const uint16_t *)(void *)(slab + NPIN_OFF_TOOL(d, k, r));
    w.stamp = (uint32_t *)(void *)(slab + NPIN_OFF_STAMP(d, k, r));
    w.ring = (int16_t *)(void *)(slab + NPIN_OFF_RING(d, k, r));
    return w;
}

/* Round half up and shift by 15 (docs/pin-spec.md: rshr15). */
static inline int32_t npin_rshr15(int32_t a) { return (a + (1 << 14)) >> 15; }

static inline int32_t npin_sat16(int32_t a) { return a > 32767 ? 32767 : (a < -32768 ? -32768 : a); }

/* One component of the update (docs/pin-spec.md §3); returns m'^2 for the norm. Every kernel's
 * scalar path goes through here, so the arithmetic is written once. */
static inline uint32_t npin_update_one(int16_t *m, int16_t *v, int16_t x, int16_t eta_q15,
                                       int16_t mu_q15)
{
    int32_t delta = npin_sat16((int32_t)x - *m);
    int32_t a = (int32_t)mu_q15 * *v + (int32_t)eta_q15 * delta; /* |a| < 2^31 - 2^14 */
    int32_t v_new = npin_sat16(npin_rshr15(a));
    int32_t m_new = npin_sat16((int32_t)*m + v_new);
    *v = (int16_t)v_new;
    *m = (int16_t)m_new;
    return (uint32_t)(m_new * m_new);
}

#endif
