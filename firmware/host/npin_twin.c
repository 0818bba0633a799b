#include "npin_twin.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "npin_atomic.h"
#include "npin_internal.h"

void npin_twin_run(uint8_t *slab, const int16_t *xs, uint32_t n, int32_t *status,
                   npin_event_t *events)
{
    uint32_t d = ((npin_header_t *)(void *)slab)->dims, i;
    for (i = 0; i < n; ++i) {
        npin_push(slab, xs + (size_t)i * d);
        status[i] = npin_step(slab, &events[i]);
    }
}

void npin_twin_offsets(uint32_t d, uint32_t k, uint32_t r, uint32_t w, uint32_t *out)
{
    out[0] = NPIN_OFF_M(d, k, r, w);
    out[1] = NPIN_OFF_V(d, k, r, w);
    out[2] = NPIN_OFF_XLAST(d, k, r, w);
    out[3] = NPIN_OFF_ARMED(d, k, r, w);
    out[4] = NPIN_OFF_THR(d, k, r, w);
    out[5] = NPIN_OFF_FNORM(d, k, r, w);
    out[6] = NPIN_OFF_TOOL(d, k, r, w);
    out[7] = NPIN_OFF_FACETS(d, k, r, w);
    out[8] = NPIN_OFF_STAMP(d, k, r, w);
    out[9] = NPIN_OFF_RING(d, k, r, w);
    out[10] = NPIN_SLAB_BYTES(d, k, r, w);
}

uint32_t npin_twin_consume_n(uint8_t *slab, const int16_t *xs, uint32_t n, uint32_t repeat)
{
    uint32_t d = ((npin_header_t *)(void *)slab)->dims, i, r, fired = 0;
    npin_event_t ev;
    for (r = 0; r < repeat; ++r)
        for (i = 0; i < n; ++i) fired += npin_consume(slab, xs + (size_t)i * d, &ev) == NPIN_FIRED;
    return fired;
}

/* A stress vector carries its producer and sequence number in every component, so a torn copy
 * (two vectors mixed) is visible: x[i] = tag(pid, seq) ^ i for all i. */
static int16_t stress_tag(uint32_t pid, uint32_t seq) { return (int16_t)((pid << 12) | (seq & 0xFFFu)); }

typedef struct {
    uint8_t *slab;
    uint32_t pid, count;
    volatile uint32_t *done;
} producer_arg_t;

static void *producer(void *p)
{
    producer_arg_t *a = (producer_arg_t *)p;
    uint32_t d = ((npin_header_t *)(void *)a->slab)->dims, s, i;
    int16_t *x = (int16_t *)malloc(2u * d);
    for (s = 0; s < a->count; ++s) {
        int16_t tag = stress_tag(a->pid, s);
        for (i = 0; i < d; ++i) x[i] = (int16_t)(tag ^ (int16_t)i);
        npin_push_mp(a->slab, x);
        if ((s & 63u) == 0u) sched_yield();
    }
    free(x);
    __atomic_fetch_add(a->done, 1u, __ATOMIC_RELEASE);
    return 0;
}

int npin_twin_stress(uint8_t *slab, uint32_t producers, uint32_t per_producer, uint64_t *report)
{
    npin_view_t w = npin_view(slab);
    uint32_t d = w.hdr->dims, p, i;
    volatile uint32_t done = 0;
    pthread_t th[16];
    producer_arg_t args[16];
    uint32_t last_seq[16];
    uint64_t consumed = 0, torn = 0, reordered = 0;
    npin_event_t ev;

    if (producers == 0u || producers > 16u || per_producer > 4096u) return NPIN_ERR_ARG;
    for (p = 0; p < producers; ++p) {
        last_seq[p] = 0xFFFFFFFFu;
        args[p].slab = slab;
        args[p].pid = p;
        args[p].count = per_producer;
        args[p].done = &done;
        if (pthread_create(&th[p], 0, producer, &args[p]) != 0) return NPIN_ERR_ARG;
    }
    for (;;) {
        int all_done = __atomic_load_n(&done, __ATOMIC_ACQUIRE) == producers;
        int st = npin_step(slab, &ev);
        if (st == NPIN_EMPTY) {
            if (all_done && NPIN_LOAD_ACQ(&w.hdr->ring_head) == w.hdr->ring_tail) break;
            continue;
        }
        ++consumed;
        {
            uint32_t tag = (uint16_t)w.x_last[0], pid = (tag >> 12) & 0xFu, seq = tag & 0xFFFu;
            for (i = 1; i < d; ++i)
                if (w.x_last[i] != (int16_t)((int16_t)tag ^ (int16_t)i)) break;
            if (i != d || pid >= producers) {
                ++torn;
                continue;
            }
            if (last_seq[pid] != 0xFFFFFFFFu && seq <= last_seq[pid]) ++reordered;
            last_seq[pid] = seq;
        }
    }
    for (p = 0; p < producers; ++p) pthread_join(th[p], 0);
    report[0] = (uint64_t)producers * per_producer;
    report[1] = consumed;
    report[2] = w.hdr->overrun;
    report[3] = torn;
    report[4] = reordered;
    report[5] = w.hdr->ring_head - w.hdr->ring_tail;
    return NPIN_OK;
}
