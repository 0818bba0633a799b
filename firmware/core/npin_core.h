/* The fixed-point Neural Pin, layout version 2. The specification is docs/pin-spec.md.
 *
 * All state lives in a caller-provided, 8-byte-aligned slab; nothing here allocates, uses float,
 * or calls libc beyond memcpy. Prepare a slab once (npin_slab_prepare), then push vectors from a
 * producer (interrupt, DMA callback, another thread) and call npin_step from the main loop. */
#ifndef NPIN_CORE_H
#define NPIN_CORE_H

#include <stdint.h>

#include "npin_layout.h"

#if (-1 >> 1) != -1
#error "npin needs arithmetic right shifts of negative integers (docs/pin-spec.md section 1)"
#endif

enum {
    NPIN_OK = 0,
    NPIN_FIRED = 1,
    NPIN_EMPTY = 2,
    NPIN_ERR_MAGIC = -1,
    NPIN_ERR_VERSION = -2,
    NPIN_ERR_SHAPE = -3,
    NPIN_ERR_PARAM = -4,
    NPIN_ERR_FACET = -5,
    NPIN_ERR_ARG = -6
};

typedef struct npin_event {
    uint32_t step;     /* step counter after the update that fired */
    int16_t facet;     /* the fired facet: the intent */
    int16_t score_q15; /* integer cosine of the Mind and the facet */
    uint16_t tool;     /* the router's answer for that facet */
    uint16_t reserved;
} npin_event_t;

/* Validate a laid-out slab of `size` bytes and derive the facet norms. */
int npin_slab_prepare(uint8_t *slab, uint32_t size);

/* Producer: copy one D-vector of Q15 into the ring. Single-producer; see npin_push_mp. */
int npin_push(uint8_t *slab, const int16_t *x_q15);

/* Consumer: take the oldest vector, update the Mind, fire at most one facet.
 * Returns NPIN_OK, NPIN_FIRED (event written) or NPIN_EMPTY. */
int npin_step(uint8_t *slab, npin_event_t *event);

/* Update and Pin for a vector the caller already holds (the body of npin_step). */
int npin_consume(uint8_t *slab, const int16_t *x_q15, npin_event_t *event);

/* Feedback on facet k: sign +1 lowers its threshold towards thr_min, -1 raises it to thr_max. */
int npin_feedback(uint8_t *slab, uint32_t facet, int32_t sign);

/* Kernels. The reference versions are in npin_kernels_ref.c; optimized files define the same
 * symbols and must produce the same bits (tests build both and compare). The dot kernels take
 * `facets` rows of `dims` components in slab storage order (Q7: docs/pin-spec.md §2.2). */
uint64_t npin_update_q15(int16_t *m_q15, int16_t *v_q15, const int16_t *x_q15, uint32_t dims,
                         int16_t eta_q15, int16_t mu_q15);
void npin_dots_q15(const int16_t *m_q15, const int16_t *facets_q15, uint32_t dims,
                   uint32_t facets, int64_t *dot);
void npin_dots_q7(const int16_t *m_q15, const int8_t *facets_q7, uint32_t dims, uint32_t facets,
                  int64_t *dot);
uint32_t npin_isqrt64(uint64_t n);
void npin_copy_q15(int16_t *dst, const int16_t *src, uint32_t dims);

#endif
