#include <string.h>

#include "npin_cobs.h"
#include "npin_crc32.h"
#include "npin_params_block.h"
#include "npin_service.h"

#define SESSION_MAGIC 0x53534E4Eu /* "NNSS" */
#define NO_SEQ 0xFFFFu

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v);
    put16(p + 2, v >> 16);
}

/* The mutable state's length: the header and m through thr (the digest's and the journal's range). */
static uint32_t state_bytes(const uint8_t *slab)
{
    const npin_header_t *h = (const npin_header_t *)(const void *)slab;
    return NPIN_STATE_BYTES(h->dims, h->facets, h->slots, NPIN_FACET_BYTES(h->flags));
}

uint32_t npin_state_digest(const uint8_t *slab) { return npin_crc32(0, slab, state_bytes(slab)); }

/* Stores before it reach memory before stores after it: the compiler may not move them across,
 * and on Arm neither may the write buffer (a reset drops what it still holds). */
#if defined(__arm__)
#define COMMIT_BARRIER() __asm__ volatile("dsb" ::: "memory")
#elif defined(__GNUC__)
#define COMMIT_BARRIER() __asm__ volatile("" ::: "memory")
#else
#define COMMIT_BARRIER() ((void)0)
#endif

static uint32_t session_check(const npin_session_t *ss)
{
    return npin_crc32(0, (const uint8_t *)ss, (uint32_t)offsetof(npin_session_t, check));
}

static int session_valid(const npin_session_t *ss) { return ss->magic == SESSION_MAGIC && ss->check == session_check(ss); }

/* Make the working copy the current record: written over the older copy, its CRC word last. Until
 * that one aligned store lands the other copy stays current; after it, this one. */
static void session_commit(npin_service_t *s)
{
    npin_session_t *dst = &s->records[s->active ^ 1u];
    s->ss.magic = SESSION_MAGIC;
    s->ss.gen += 1u;
    s->ss.check = session_check(&s->ss);
    memcpy(dst, &s->ss, offsetof(npin_session_t, check));
    COMMIT_BARRIER();
    *(volatile uint32_t *)&dst->check = s->ss.check;
    COMMIT_BARRIER();
    s->active ^= 1u;
}

/* Load the current record into the working copy: 0 when neither copy is valid. */
static int session_load(npin_service_t *s)
{
    const npin_session_t *r = s->records;
    int v0 = session_valid(&r[0]), v1 = session_valid(&r[1]);
    if (!v0 && !v1) return 0;
    s->active = (uint8_t)(v1 && (!v0 || (int32_t)(r[1].gen - r[0].gen) > 0));
    s->ss = r[s->active];
    return 1;
}

/* Before a command changes the slab: copy the bytes it will change (up to NPIN_JOURNAL_SEGMENTS
 * (offset, bytes) ranges) to the journal, then commit a record that names it. Every handler calls
 * this once, after its checks and before its first write, with NPIN_JOURNAL_NONE if it changes
 * nothing (the record still says the cached response is being overwritten). */
static int journal_begin(npin_service_t *s, uint32_t kind, const uint32_t *ranges, uint32_t n)
{
    uint8_t *j = s->journal, *data = j + NPIN_JOURNAL_HEAD;
    uint32_t i, used = 0;
    for (i = 0; i < n; ++i) used += ranges[2u * i + 1u];
    if (n > NPIN_JOURNAL_SEGMENTS || NPIN_JOURNAL_HEAD + used > s->journal_capacity) return -1;
    put32(j, n);
    for (i = 0; i < n; ++i) {
        put32(j + 4u + 8u * i, ranges[2u * i]);
        put32(j + 8u + 8u * i, ranges[2u * i + 1u]);
        memcpy(data, s->slab + ranges[2u * i], ranges[2u * i + 1u]);
        data += ranges[2u * i + 1u];
    }
    s->ss.journal = (uint8_t)kind;
    s->ss.resp_ok = 0;
    session_commit(s);
    return 0;
}

/* Put back what the journal holds; running it twice (a reset during it) gives the same slab. */
static int journal_undo(npin_service_t *s)
{
    const uint8_t *j = s->journal, *data = j + NPIN_JOURNAL_HEAD;
    uint32_t i, n = get32(j), used = 0;
    if (n > NPIN_JOURNAL_SEGMENTS) return -1;
    for (i = 0; i < n; ++i) {
        uint32_t off = get32(j + 4u + 8u * i), len = get32(j + 8u + 8u * i);
        if (off > s->slab_capacity || len > s->slab_capacity - off || len > s->journal_capacity - NPIN_JOURNAL_HEAD - used)
            return -1;
        memcpy(s->slab + off, data + used, len);
        used += len;
    }
    return 0;
}

/* Write the header and CRC around the payload already in buf. */
static void finish_frame(uint8_t *buf, uint32_t type, uint32_t seq, uint32_t len)
{
    buf[0] = NPIN_PROTO_VERSION;
    buf[1] = (uint8_t)type;
    put16(buf + 2, seq);
    put16(buf + 4, len);
    put32(buf + NPIN_FRAME_HEADER + len, npin_crc32(0, buf, NPIN_FRAME_HEADER + len));
}

static void emit_frame(npin_service_t *s, const uint8_t *buf, uint32_t bytes)
{
    s->put(0); /* ends whatever came before (a glitch while TX floated at reset): the frame stands alone */
    npin_cobs_emit(buf, bytes, s->put);
    s->put(0);
    if (s->flush) s->flush();
}

static void send_frame(npin_service_t *s, uint8_t *buf, uint32_t type, uint32_t seq, uint32_t len)
{
    finish_frame(buf, type, seq, len);
    emit_frame(s, buf, NPIN_FRAME_OVERHEAD + len);
}

static void send_error(npin_service_t *s, uint32_t seq, uint32_t code, const char *text)
{
    uint8_t buf[NPIN_FRAME_OVERHEAD + 2u + 60u];
    uint32_t n = 0;
    put16(buf + NPIN_FRAME_HEADER, code);
    while (text[n] != '\0' && n < 60u) {
        buf[NPIN_FRAME_HEADER + 2u + n] = (uint8_t)text[n];
        ++n;
    }
    send_frame(s, buf, NPIN_MSG_ERROR, seq, 2u + n);
}

static void send_event(npin_service_t *s, const npin_event_t *ev)
{
    uint8_t buf[NPIN_FRAME_OVERHEAD + 12u];
    uint8_t *p = buf + NPIN_FRAME_HEADER;
    put32(p, ev->step);
    put16(p + 4, (uint16_t)ev->facet);
    put16(p + 6, (uint16_t)ev->score_q15);
    put16(p + 8, ev->tool);
    put16(p + 10, 0);
    send_frame(s, buf, NPIN_MSG_EVENT, s->ss.event_seq++, 12u);
}

static void send_hello(npin_service_t *s, uint32_t seq, uint16_t extra_flags)
{
    uint8_t buf[NPIN_FRAME_OVERHEAD + NPIN_HELLO_BYTES];
    uint8_t *p = buf + NPIN_FRAME_HEADER;
    const npin_header_t *h = (const npin_header_t *)(const void *)s->slab;
    uint16_t flags = (uint16_t)(s->hello_flags | extra_flags);
    uint32_t n = 0;
    if (s->params_ok) flags |= NPIN_HELLO_FLAG_PARAMS_OK;
    if (s->warm) flags |= NPIN_HELLO_FLAG_WARM;
    if (s->stage) flags |= NPIN_HELLO_FLAG_PARTS;
    memset(p, 0, NPIN_HELLO_BYTES);
    p[0] = NPIN_PROTO_VERSION;
    p[1] = NPIN_LAYOUT_VERSION;
    put16(p + 2, flags);
    if (s->params_ok) {
        put16(p + 4, h->dims);
        put16(p + 6, h->facets);
        put16(p + 8, h->slots);
    }
    put16(p + 10, s->max_payload);
    put32(p + 12, s->ss.boot_count);
    memcpy(p + 16, s->build_id, NPIN_BUILD_ID_BYTES);
    if (s->params_ok) memcpy(p + 48, s->ss.params_id, NPIN_PARAMS_ID_BYTES);
    while (s->board[n] != '\0' && n < NPIN_BOARD_NAME_BYTES) {
        p[64 + n] = (uint8_t)s->board[n];
        ++n;
    }
    put32(p + 80, s->faults);
    send_frame(s, buf, NPIN_MSG_HELLO | NPIN_RESPONSE, seq, NPIN_HELLO_BYTES);
}

static int load_params(npin_service_t *s)
{
    npin_params_header_t ph;
    memcpy(&ph, s->params, sizeof ph);
    memcpy(s->slab, s->params + NPIN_PARAMS_HEADER, ph.image_bytes);
    memset(s->slab + ph.image_bytes, 0, ph.slab_bytes - ph.image_bytes);
    return npin_slab_prepare(s->slab, s->slab_capacity);
}

void npin_service_boot(npin_service_t *s)
{
    npin_session_t *ss = &s->ss;
    npin_params_header_t ph;
    int valid = session_load(s);

    s->rx_len = 0;
    s->rx_overflow = 0;
    s->warm = 0;
    s->stage_live = 0;
    s->params_error = npin_params_check(s->params, s->slab_capacity);
    s->params_ok = s->params_error == 0;
    if (!valid) {
        memset(ss, 0, sizeof *ss);
        s->active = 1; /* the first record goes to copy 0 */
    }
    ss->boot_count++;
    if (s->params_ok) {
        int same;
        memcpy(&ph, s->params, sizeof ph);
        same = valid && memcmp(ss->params_id, ph.params_id, NPIN_PARAMS_ID_BYTES) == 0;
        /* A command cut short by the reset is taken back; the host's retry applies it again. */
        if (same && ss->journal == NPIN_JOURNAL_UNDO && journal_undo(s) != 0) same = 0;
        if (same && ss->journal == NPIN_JOURNAL_RELOAD && load_params(s) != NPIN_OK) same = 0;
        ss->journal = NPIN_JOURNAL_NONE;
        if (same && npin_slab_prepare(s->slab, s->slab_capacity) == NPIN_OK) {
            s->warm = 1;
        } else {
            int rc = load_params(s);
            memcpy(ss->params_id, ph.params_id, NPIN_PARAMS_ID_BYTES);
            ss->have_last = 0;
            ss->resp_ok = 0;
            if (rc != NPIN_OK) {
                s->params_ok = 0;
                s->params_error = "parameter block: the Pin core rejects its slab image";
            }
        }
    }
    session_commit(s);
    if (!s->params_ok) send_error(s, NO_SEQ, NPIN_E_PARAMS, s->params_error);
    send_hello(s, NO_SEQ, NPIN_HELLO_FLAG_BANNER);
}

/* Each handler validates everything, then calls journal_begin before it changes anything, writes
 * its response payload at out and returns its length; or returns -1 after sending an ERROR itself,
 * having changed nothing. */

/* journal_begin for a handler that undoes by copying back `n` ranges; on failure the ERROR naming
 * `what` is sent and -1 returned. */
static int journal_undo_ranges(npin_service_t *s, uint32_t seq, const char *what, const uint32_t *ranges,
                               uint32_t n)
{
    if (journal_begin(s, NPIN_JOURNAL_UNDO, ranges, n) == 0) return 0;
    send_error(s, seq, NPIN_E_ARG, what);
    return -1;
}

/* The same for a handler that changes the state range only (STEP, FEEDBACK). */
static int journal_state(npin_service_t *s, uint32_t seq, const char *what)
{
    uint32_t ranges[2];
    ranges[0] = 0u;
    ranges[1] = state_bytes(s->slab);
    return journal_undo_ranges(s, seq, what, ranges, 1u);
}

#define JOURNAL_FULL ": the journal cannot hold this command's changes"

static int32_t do_push(npin_service_t *s, uint32_t seq, const uint8_t *p, uint32_t len, uint8_t *out)
{
    const npin_header_t *h = (const npin_header_t *)(const void *)s->slab;
    uint32_t count, i, vec = 2u * h->dims;
    if (len < 4u) goto bad;
    count = get16(p);
    if (count == 0u || len != 4u + count * vec) goto bad;
    {
        /* the header, the stamps and the slots this PUSH writes (at most all of them, maybe wrapping) */
        uint32_t d = h->dims, k = h->facets, r = h->slots, fb = NPIN_FACET_BYTES(h->flags);
        uint32_t first = h->ring_head & (r - 1u), n = count < r ? count : r;
        uint32_t a = n < r - first ? n : r - first;
        uint32_t ranges[8] = {0u, NPIN_STATE_BYTES(d, k, r, fb), NPIN_OFF_STAMP(d, k, r, fb), 4u * r,
                              NPIN_OFF_RING(d, k, r, fb) + first * vec, a * vec, NPIN_OFF_RING(d, k, r, fb), (n - a) * vec};
        if (journal_undo_ranges(s, seq, "PUSH" JOURNAL_FULL, ranges, n > a ? 4u : 3u) != 0) return -1;
    }
    for (i = 0; i < count; ++i) npin_push(s->slab, (const int16_t *)(const void *)(p + 4u + i * vec));
    put16(out, count);
    put16(out + 2, h->ring_head - h->ring_tail);
    put32(out + 4, h->overrun);
    return 8;
bad:
    send_error(s, seq, NPIN_E_ARG, "PUSH: payload is not count u16, pad u16, count*D int16");
    return -1;
}

static int32_t do_step(npin_service_t *s, uint32_t seq, const uint8_t *p, uint32_t len, uint8_t *out)
{
    uint32_t count, done = 0;
    if (len != 2u) {
        send_error(s, seq, NPIN_E_ARG, "STEP: payload is count u16");
        return -1;
    }
    count = get16(p);
    if (count == 0u || 4u + count * NPIN_STEP_RECORD > s->max_payload) {
        send_error(s, seq, NPIN_E_ARG, "STEP: count is 0 or its records exceed max_payload");
        return -1;
    }
    if (journal_state(s, seq, "STEP" JOURNAL_FULL) != 0) return -1;
    while (done < count) {
        npin_event_t ev;
        uint8_t *r = out + 4u + done * NPIN_STEP_RECORD;
        int st = npin_step(s->slab, &ev);
        if (st == NPIN_EMPTY) break;
        if (st == NPIN_FIRED) send_event(s, &ev);
        r[0] = (uint8_t)(int8_t)st;
        r[1] = 0;
        put16(r + 2, st == NPIN_FIRED ? (uint16_t)ev.facet : 0xFFFFu);
        put16(r + 4, st == NPIN_FIRED ? (uint16_t)ev.score_q15 : 0u);
        put16(r + 6, st == NPIN_FIRED ? ev.tool : 0u);
        put32(r + 8, npin_state_digest(s->slab));
        ++done;
    }
    put16(out, done);
    put16(out + 2, 0);
    return (int32_t)(4u + done * NPIN_STEP_RECORD);
}

static int32_t do_read(npin_service_t *s, uint32_t seq, const uint8_t *p, uint32_t len, uint8_t *out)
{
    const npin_header_t *h = (const npin_header_t *)(const void *)s->slab;
    uint32_t off, n;
    if (len != 6u) goto bad;
    off = get32(p);
    n = get16(p + 4);
    if (off > h->total_bytes || n > h->total_bytes - off || 8u + n > s->max_payload) goto bad;
    journal_begin(s, NPIN_JOURNAL_NONE, 0, 0u);
    put32(out, off);
    put16(out + 4, n);
    put16(out + 6, 0);
    memcpy(out + 8, s->slab + off, n);
    return (int32_t)(8u + n);
bad:
    send_error(s, seq, NPIN_E_ARG, "READ_STATE: offset u32, length u16 inside the slab and max_payload");
    return -1;
}

static int32_t do_feedback(npin_service_t *s, uint32_t seq, const uint8_t *p, uint32_t len,
                           uint8_t *out)
{
    const npin_header_t *h = (const npin_header_t *)(const void *)s->slab;
    uint32_t facet;
    int32_t sign;
    if (len != 4u) goto bad;
    facet = get16(p);
    sign = (int16_t)get16(p + 2);
    if (facet >= h->facets || (sign != 1 && sign != -1)) goto bad;
    if (journal_state(s, seq, "FEEDBACK" JOURNAL_FULL) != 0) return -1;
    npin_feedback(s->slab, facet, sign);
    put16(out, facet);
    put16(out + 2, (uint16_t)((const int16_t *)(const void *)(s->slab + NPIN_OFF_THR(h->dims, h->facets, h->slots,
                                                                                   NPIN_FACET_BYTES(h->flags))))[facet]);
    return 4;
bad:
    send_error(s, seq, NPIN_E_ARG, "FEEDBACK: facet u16 below K, sign i16 of +1 or -1");
    return -1;
}

/* The K facet dot products of the current Mind, 16 facets per kernel call as npin_consume does. */
static uint32_t bench_dots(const uint8_t *slab)
{
    const npin_header_t *h = (const npin_header_t *)(const void *)slab;
    uint32_t d = h->dims, k = h->facets, fb = NPIN_FACET_BYTES(h->flags), j, sum = 0;
    const int16_t *m = (const int16_t *)(const void *)(slab + NPIN_OFF_M(d, k, 0u, fb));
    const uint8_t *f = slab + NPIN_OFF_FACETS(d, k, 0u, fb);
    int64_t dots[16];
    for (j = 0; j < k; j += 16u) {
        uint32_t n = k - j < 16u ? k - j : 16u;
        if (fb == 1u)
            npin_dots_q7(m, (const int8_t *)(const void *)f + j * d, d, n, dots);
        else
            npin_dots_q15(m, (const int16_t *)(const void *)f + j * d, d, n, dots);
        sum += (uint32_t)dots[0];
    }
    return sum;
}

static int32_t do_bench(npin_service_t *s, uint32_t seq, const uint8_t *p, uint32_t len, uint8_t *out)
{
    uint32_t reps, i, t0, t1, check = 0;
    if (len != 2u || (reps = get16(p)) == 0u) {
        send_error(s, seq, NPIN_E_ARG, "BENCH: payload is reps u16, at least 1");
        return -1;
    }
    journal_begin(s, NPIN_JOURNAL_NONE, 0, 0u);
    if (s->ticks_run) s->ticks_run(1);
    t0 = s->ticks ? s->ticks() : 0u;
    for (i = 0; i < reps; ++i) check += bench_dots(s->slab);
    t1 = s->ticks ? s->ticks() : 0u;
    if (s->ticks_run) s->ticks_run(0);
    put32(out, s->ticks_source == 1u ? (t1 - t0) & 0x00FFFFFFu : t1 - t0); /* SysTick is 24-bit */
    put16(out + 4, reps);
    out[6] = s->ticks_source;
    out[7] = 0;
    put32(out + 8, check); /* keeps the loop from being optimized away */
    return 12;
}

static int32_t do_reset(npin_service_t *s, uint32_t seq, const uint8_t *p, uint32_t len, uint8_t *out)
{
    if (len != 1u || p[0] > NPIN_RESET_REBOOT) {
        send_error(s, seq, NPIN_E_ARG, "RESET: kind u8, 0 = state, 1 = reboot");
        return -1;
    }
    if (p[0] == NPIN_RESET_STATE) {
        if (!s->params_ok) {
            send_error(s, seq, NPIN_E_PARAMS, s->params_error);
            return -1;
        }
        journal_begin(s, NPIN_JOURNAL_RELOAD, 0, 0u); /* redone from flash if cut short */
        load_params(s);
    } else {
        journal_begin(s, NPIN_JOURNAL_NONE, 0, 0u);
    }
    out[0] = p[0];
    return 1;
}

typedef int32_t (*handler_t)(npin_service_t *, uint32_t, const uint8_t *, uint32_t, uint8_t *);

/* Decode and check one frame in place: its payload length, or -1 once an ERROR has been sent. */
static int32_t check_frame(npin_service_t *s, uint8_t *f, uint32_t encoded)
{
    int32_t n = npin_cobs_decode(f, encoded);
    uint32_t seq;

    if (n < 0) {
        send_error(s, NO_SEQ, NPIN_E_COBS, "malformed COBS encoding");
        return -1;
    }
    if ((uint32_t)n < NPIN_FRAME_OVERHEAD) {
        send_error(s, NO_SEQ, NPIN_E_TRUNCATED, "frame shorter than header and CRC");
        return -1;
    }
    if (npin_crc32(0, f, (uint32_t)n - 4u) != get32(f + n - 4)) {
        send_error(s, NO_SEQ, NPIN_E_CRC, "CRC-32 mismatch");
        return -1;
    }
    seq = get16(f + 2);
    if (f[0] != NPIN_PROTO_VERSION) {
        send_error(s, seq, NPIN_E_VERSION, "protocol version is not 2");
        return -1;
    }
    if (get16(f + 4) != (uint32_t)n - NPIN_FRAME_OVERHEAD) {
        send_error(s, seq, NPIN_E_TRUNCATED, "payload length differs from the header's");
        return -1;
    }
    return (int32_t)get16(f + 4);
}

/* SYNC is answered every time and never cached: it is how the host learns where the device stands. */
static void answer_sync(npin_service_t *s, uint8_t *f, uint32_t seq, uint32_t len)
{
    uint8_t *o = f + NPIN_FRAME_HEADER; /* the request is consumed: answer in place */
    const npin_header_t *h = (const npin_header_t *)(const void *)s->slab;
    const npin_session_t *ss = &s->ss;
    uint32_t nonce;

    if (len != 4u) {
        send_error(s, seq, NPIN_E_ARG, "SYNC: payload is nonce u32");
        return;
    }
    nonce = get32(o);
    put32(o, nonce);
    put32(o + 4, ss->boot_count);
    put16(o + 8, ss->last_seq);
    put16(o + 10, (uint16_t)((ss->have_last ? 1u : 0u) | (s->warm ? 2u : 0u) | (s->params_ok ? 4u : 0u)));
    put32(o + 12, s->params_ok ? h->step : 0u);
    put32(o + 16, s->params_ok ? npin_state_digest(s->slab) : 0u);
    put32(o + 20, s->params_ok ? h->ring_head - h->ring_tail : 0u);
    send_frame(s, f, NPIN_MSG_SYNC | NPIN_RESPONSE, seq, 24u);
}

/* The handler of a state-changing request; none for HELLO, SYNC and unknown types. */
static handler_t handler_for(uint32_t type)
{
    switch (type) {
    case NPIN_MSG_PUSH: return do_push;
    case NPIN_MSG_STEP: return do_step;
    case NPIN_MSG_READ_STATE: return do_read;
    case NPIN_MSG_FEEDBACK: return do_feedback;
    case NPIN_MSG_BENCH: return do_bench;
    case NPIN_MSG_RESET: return do_reset;
    default: return (handler_t)0;
    }
}

/* Sequence rule: the last applied number again is a retry (answered from the cache); one behind
 * it by half the space or less is stale; anything ahead is new. Returns 1 if the request was
 * answered here, 0 if it is new. */
static int answered_by_sequence(npin_service_t *s, uint32_t seq)
{
    npin_session_t *ss = &s->ss;
    uint16_t d = (uint16_t)(seq - ss->last_seq);
    if (ss->have_last && d == 0u) {
        if (ss->resp_ok)
            emit_frame(s, s->resp, ss->resp_len); /* the cached response, unchanged */
        else
            send_error(s, seq, NPIN_E_STALE, "the answer to this sequence number was not kept");
        return 1;
    }
    if (ss->have_last && d >= 0x8000u) {
        send_error(s, seq, NPIN_E_STALE, "stale sequence number");
        return 1;
    }
    return 0;
}

/* Apply a new request (payload p, len bytes) once and answer it. */
static void apply_once(npin_service_t *s, uint32_t type, uint32_t seq, const uint8_t *p, uint32_t len,
                       handler_t handler)
{
    npin_session_t *ss = &s->ss;
    int32_t out_len;

    if (!s->params_ok && type != NPIN_MSG_RESET) {
        send_error(s, seq, NPIN_E_PARAMS, s->params_error);
        return;
    }
    /* The response is built in the retained buffer, so a retry after a warm reset still finds it. */
    out_len = handler(s, seq, p, len, s->resp + NPIN_FRAME_HEADER);
    if (out_len < 0) return; /* nothing changed, nothing committed */
    ss->journal = NPIN_JOURNAL_NONE;
    ss->last_seq = (uint16_t)seq;
    ss->have_last = 1;
    ss->resp_ok = 1;
    ss->resp_len = (uint16_t)(NPIN_FRAME_OVERHEAD + (uint32_t)out_len);
    finish_frame(s->resp, type | NPIN_RESPONSE, seq, (uint32_t)out_len);
    session_commit(s); /* the instant the command counts as applied, its answer complete */
    emit_frame(s, s->resp, ss->resp_len);
    if (type == NPIN_MSG_RESET && p[0] == NPIN_RESET_REBOOT && s->reboot) s->reboot();
}

/* PART: one piece of the payload of request `seq`, kept until that request arrives staged. */
static void take_part(npin_service_t *s, uint32_t seq, const uint8_t *p, uint32_t len)
{
    uint32_t off, n, b;
    if (len < 3u || (off = get16(p)) % NPIN_PART_BLOCK != 0u || off > s->max_payload ||
        len - 2u > s->max_payload - off) {
        send_error(s, seq, NPIN_E_ARG, "PART: offset u16 (a multiple of 32), then bytes inside max_payload");
        return;
    }
    n = len - 2u;
    if (!s->stage_live || s->stage_seq != seq) { /* parts of a newer request: forget the old ones */
        memset(s->stage_have, 0, 4u * NPIN_STAGE_WORDS(s->max_payload));
        s->stage_seq = (uint16_t)seq;
        s->stage_live = 1;
    }
    memcpy(s->stage + off, p + 2, n);
    for (b = off / NPIN_PART_BLOCK; b * NPIN_PART_BLOCK < off + n; ++b) s->stage_have[b >> 5] |= 1u << (b & 31u);
}

/* A staged request: its payload must have arrived whole in PART frames; otherwise say which
 * blocks are missing (E_PARTS). */
static void apply_staged(npin_service_t *s, uint32_t type, uint32_t seq, const uint8_t *p, uint32_t len,
                         handler_t handler)
{
    uint8_t buf[NPIN_FRAME_OVERHEAD + 3u + 64u];
    uint8_t *bits = buf + NPIN_FRAME_HEADER + 3u;
    uint32_t total, blocks, b, missing = 0, bytes;
    if (len != 8u || (total = get16(p)) > s->max_payload) {
        send_error(s, seq, NPIN_E_ARG, "staged request: payload is length u16, round u8, 0 u8, CRC-32 u32");
        return;
    }
    if (answered_by_sequence(s, seq)) return;
    blocks = (total + NPIN_PART_BLOCK - 1u) / NPIN_PART_BLOCK;
    bytes = (blocks + 7u) / 8u;
    if (bytes > 64u) bytes = 64u; /* the first 512 blocks are named; the rest follow once those arrive */
    memset(bits, 0, bytes);
    for (b = 0; b < blocks; ++b) {
        int have = s->stage_live && s->stage_seq == seq && (s->stage_have[b >> 5] >> (b & 31u)) & 1u;
        if (!have) {
            ++missing;
            if (b < 8u * bytes) bits[b / 8u] |= (uint8_t)(1u << (b & 7u));
        }
    }
    if (missing == 0u && npin_crc32(0, s->stage, total) != get32(p + 4)) {
        for (b = 0; b < blocks && b < 8u * bytes; ++b) bits[b / 8u] |= (uint8_t)(1u << (b & 7u));
        s->stage_live = 0; /* pieces that do not add up: all again */
        missing = blocks;
    }
    if (missing) {
        put16(buf + NPIN_FRAME_HEADER, NPIN_E_PARTS);
        buf[NPIN_FRAME_HEADER + 2u] = p[2]; /* the host's round: it tells a late answer from this one */
        send_frame(s, buf, NPIN_MSG_ERROR, seq, 3u + bytes);
        return;
    }
    s->stage_live = 0;
    apply_once(s, type, seq, s->stage, total, handler);
}

static void handle_frame(npin_service_t *s, uint8_t *f, uint32_t encoded)
{
    int32_t len = check_frame(s, f, encoded);
    uint32_t type, seq;
    handler_t handler;

    if (len < 0) return;
    type = f[1];
    seq = get16(f + 2);
    if (type == NPIN_MSG_HELLO) {
        send_hello(s, seq, 0);
        return;
    }
    if (type == NPIN_MSG_SYNC) {
        answer_sync(s, f, seq, (uint32_t)len);
        return;
    }
    if (type == NPIN_MSG_PART && s->stage) {
        take_part(s, seq, f + NPIN_FRAME_HEADER, (uint32_t)len);
        return;
    }
    handler = handler_for(type & ~NPIN_STAGED);
    if (!handler || ((type & NPIN_STAGED) && !s->stage)) {
        send_error(s, seq, NPIN_E_TYPE, "unknown message type");
        return;
    }
    if (type & NPIN_STAGED)
        apply_staged(s, type & ~NPIN_STAGED, seq, f + NPIN_FRAME_HEADER, (uint32_t)len, handler);
    else if (!answered_by_sequence(s, seq))
        apply_once(s, type, seq, f + NPIN_FRAME_HEADER, (uint32_t)len, handler);
}

void npin_service_byte(npin_service_t *s, uint8_t byte)
{
    if (byte != 0u) {
        if (s->rx_len < s->rx_capacity)
            s->rx[s->rx_len++] = byte;
        else
            s->rx_overflow = 1;
        return;
    }
    if (s->rx_overflow)
        send_error(s, NO_SEQ, NPIN_E_OVERSIZE, "frame longer than the receive buffer");
    else if (s->rx_len > 0u)
        handle_frame(s, s->rx, s->rx_len);
    s->rx_len = 0;
    s->rx_overflow = 0;
}
