/* Multi-producer push for hosted builds (C11 atomics). The consumer is npin_step. */
#include <stdatomic.h>
#include <string.h>

#include "npin_internal.h"

int npin_push_mp(uint8_t *slab, const int16_t *x);

int npin_push_mp(uint8_t *slab, const int16_t *x)
{
    npin_view_t w = npin_view(slab);
    npin_header_t *h = w.hdr;
    _Atomic uint32_t *head = (_Atomic uint32_t *)&h->ring_head;
    uint32_t idx = atomic_fetch_add_explicit(head, 1u, memory_order_relaxed);
    uint32_t slot = idx & (h->slots - 1u);
    _Atomic uint32_t *stamp = (_Atomic uint32_t *)&w.stamp[slot];
    uint32_t busy = 2u * (idx + 1u) - 1u;
    uint32_t seen = atomic_load_explicit(stamp, memory_order_acquire);

    for (;;) {
        if ((int32_t)(seen - busy) > 0) return NPIN_OK; /* a newer index owns the slot: dropped */
        if (seen & 1u) {                                 /* an older writer is mid-copy */
            seen = atomic_load_explicit(stamp, memory_order_acquire);
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(stamp, &seen, busy, memory_order_acquire,
                                                  memory_order_acquire))
            break;
    }
    atomic_thread_fence(memory_order_release);
    memcpy(w.ring + slot * h->dims, x, 2u * h->dims);
    atomic_store_explicit(stamp, busy + 1u, memory_order_release);
    return NPIN_OK;
}
