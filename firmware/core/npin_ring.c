/* The Spindle: single-producer push and the consumer (docs/pin-spec.md §5). */
#include <string.h>

#include "npin_atomic.h"
#include "npin_internal.h"

int npin_push(uint8_t *slab, const int16_t *x)
{
    npin_view_t w = npin_view(slab);
    npin_header_t *h = w.hdr;
    uint32_t idx = NPIN_LOAD_RLX(&h->ring_head);
    uint32_t slot = idx & (h->slots - 1u);
    uint32_t stamp = 2u * (idx + 1u);

    NPIN_STORE_RLX(&w.stamp[slot], stamp - 1u);
    NPIN_FENCE_REL();
    npin_copy_q15(w.ring + slot * h->dims, x, h->dims);
    NPIN_STORE_REL(&w.stamp[slot], stamp);
    NPIN_STORE_REL(&h->ring_head, idx + 1u);
    return NPIN_OK;
}

int npin_step(uint8_t *slab, npin_event_t *event)
{
    npin_view_t w = npin_view(slab);
    npin_header_t *h = w.hdr;
    uint32_t slots = h->slots;

    for (;;) {
        uint32_t head = NPIN_LOAD_ACQ(&h->ring_head);
        uint32_t tail = h->ring_tail;
        uint32_t slot, want, s1, s2;
        int32_t age;
        if (head == tail) return NPIN_EMPTY;
        if (head - tail > slots) {
            h->overrun += head - tail - slots;
            tail = head - slots;
            h->ring_tail = tail;
        }
        slot = tail & (slots - 1u);
        want = 2u * (tail + 1u);
        s1 = NPIN_LOAD_ACQ(&w.stamp[slot]);
        age = (int32_t)(s1 - want);
        if (age < 0) return NPIN_EMPTY; /* the producer of `tail` is still writing */
        if (age == 0) {
            npin_copy_q15(w.x_last, w.ring + slot * h->dims, h->dims);
            NPIN_FENCE_ACQ();
            s2 = NPIN_LOAD_RLX(&w.stamp[slot]);
            if (s2 == s1) {
                h->ring_tail = tail + 1u;
                return npin_consume(slab, w.x_last, event);
            }
        }
        /* overwritten before or while it was read: counted, never half-applied */
        h->overrun += 1u;
        h->ring_tail = tail + 1u;
    }
}
