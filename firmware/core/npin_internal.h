/* Typed views into a slab, derived from its header. Private to the core. */
#ifndef NPIN_INTERNAL_H
#define NPIN_INTERNAL_H

#include "npin_core.h"

typedef struct npin_view {
    npin_header_t *hdr;
    int16_t *m;
    int16_t *v;
    int16_t *x_last;
    uint32_t *armed;
    int16_t *thr;
    uint32_t *facet_norm;
    const uint16_t *tool;
    const uint8_t *facets; /* int16_t (Q15) or int8_t (Q7) rows: see hdr->flags */
    uint32_t *stamp;
    int16_t *ring;
} npin_view_t;

static inline npin_view_t npin_view(uint8_t *slab)
{
    npin_view_t w;
    npin_header_t *h = (npin_header_t *)(void *)slab;
    uint32_t d = h->dims, k = h->facets, r = h->slots, fb = NPIN_FACET_BYTES(h->flags);
    w.hdr = h;
    w.m = (int16_t *)(void *)(slab + NPIN_OFF_M(d, k, r, fb));
    w.v = (int16_t *)(void *)(slab + NPIN_OFF_V(d, k, r, fb));
    w.x_last = (int16_t *)(void *)(slab + NPIN_OFF_XLAST(d, k, r, fb));
    w.armed = (uint32_t *)(void *)(slab + NPIN_OFF_ARMED(d, k, r, fb));
    w.thr = (int16_t *)(void *)(slab + NPIN_OFF_THR(d, k, r, fb));
    w.facet_norm = (uint32_t *)(void *)(slab + NPIN_OFF_FNORM(d, k, r, fb));
    w.tool = (const uint16_t *)(void *)(slab + NPIN_OFF_TOOL(d, k, r, fb));
    w.facets = slab + NPIN_OFF_FACETS(d, k, r, fb);
    w.stamp = (uint32_t *)(void *)(slab + NPIN_OFF_STAMP(d, k, r, fb));
    w.ring = (int16_t *)(void *)(slab + NPIN_OFF_RING(d, k, r, fb));
    return w;
}

static inline uint32_t npin_slab_bytes(const npin_header_t *h)
{
    return NPIN_SLAB_BYTES((uint32_t)h->dims, (uint32_t)h->facets, (uint32_t)h->slots,
                           NPIN_FACET_BYTES(h->flags));
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

/* Storage position of logical component i in a Q7 row: the middle two of every four swap
 * (docs/pin-spec.md §2.2). The map is its own inverse. */
static inline uint32_t npin_q7_pos(uint32_t i) { return (i & ~3u) | ((i & 1u) << 1) | ((i & 2u) >> 1); }

#endif
