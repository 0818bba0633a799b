/* libFuzzer harness for the device end of the protocol (docs/protocol.md): frame reassembly,
 * COBS, CRC, sequence numbers and every command handler, on the firmware's own npin_service.c
 * booted from a real parameter block. Built with ASan and UBSan by `npin fuzz service`.
 *
 * An input is a script. Its first byte picks how the rest is sent: even, as raw bytes on the line
 * (framing, garbage, oversize); odd, as records [type u8][seq u16][len u16][len bytes] that the
 * harness frames itself (CRC and COBS right, so the fuzzer reaches the handlers with arbitrary
 * payloads). A record of type 0xEE reboots the service warm (retained RAM kept), so replies from
 * the retained cache and boot-time checks are fuzzed too. A record of type 0xEF stages a request:
 * its first byte is the request's type, the rest its payload, sent as 32-byte PART frames and then
 * the staged request with the CRC it needs (the fuzzer could not guess a CRC-32 itself). BENCH's
 * repetition count is cut to at most 3 (the only knob that makes one frame cost seconds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npin_service_twin.h"

static uint8_t *block;
static uint32_t block_len, capacity, max_payload;
static uint8_t sink[1u << 16];

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* NPIN_FUZZ_BLOCK: slab capacity u32, max payload u32, then the parameter block */
    const char *path = getenv("NPIN_FUZZ_BLOCK");
    FILE *f = path ? fopen(path, "rb") : NULL;
    long n;
    (void)argc;
    (void)argv;
    if (!f) {
        fprintf(stderr, "set NPIN_FUZZ_BLOCK to the file npin fuzz writes\n");
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    block = malloc((size_t)n);
    if (!block || n < 8 || fread(block, 1, (size_t)n, f) != (size_t)n) exit(2);
    fclose(f);
    capacity = rd32(block);
    max_payload = rd32(block + 4);
    block_len = (uint32_t)n - 8;
    memmove(block, block + 8, block_len);
    return 0;
}

static void drain(void)
{
    while (npin_svc_twin_feed(NULL, 0, sink, sizeof sink)) {
    }
}

static void send_frame(uint8_t type, uint16_t seq, const uint8_t *payload, uint16_t len)
{
    static uint8_t raw[NPIN_FRAME_OVERHEAD + 65536], enc[NPIN_COBS_MAX(NPIN_FRAME_OVERHEAD + 65536) + 1];
    uint32_t crc, n;
    raw[0] = NPIN_PROTO_VERSION;
    raw[1] = type;
    raw[2] = (uint8_t)seq;
    raw[3] = (uint8_t)(seq >> 8);
    raw[4] = (uint8_t)len;
    raw[5] = (uint8_t)(len >> 8);
    memcpy(raw + NPIN_FRAME_HEADER, payload, len);
    crc = npin_crc32(0, raw, NPIN_FRAME_HEADER + len);
    memcpy(raw + NPIN_FRAME_HEADER + len, &crc, 4);
    n = npin_cobs_encode(raw, NPIN_FRAME_OVERHEAD + len, enc);
    enc[n++] = 0;
    npin_svc_twin_feed(enc, n, sink, sizeof sink);
    drain();
}

/* A copy of a request's payload the harness can send; BENCH's reps are capped at 3: its timing loop
 * is the one place a single frame costs 65,535 Pin steps, and a few reps cover its code. */
static const uint8_t *sendable(uint8_t type, const uint8_t *payload, uint32_t len)
{
    static uint8_t copy[65536];
    memcpy(copy, payload, len);
    if (type == 7 && len >= 2) {
        copy[0] &= 3u;
        copy[1] = 0;
    }
    return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t i = 1;
    if (npin_svc_twin_boot(block, block_len, capacity, max_payload, 1) != 0) abort();
    drain();
    if (size == 0) return 0;
    if ((data[0] & 1) == 0) {
        npin_svc_twin_feed(data + 1, (uint32_t)(size - 1), sink, sizeof sink);
        drain();
        return 0;
    }
    while (i + 5 <= size) {
        uint8_t type = data[i];
        uint16_t seq = (uint16_t)(data[i + 1] | data[i + 2] << 8);
        uint16_t len = (uint16_t)(data[i + 3] | data[i + 4] << 8);
        i += 5;
        if (len > size - i) len = (uint16_t)(size - i);
        if (type == 0xEF && len >= 1) {
            static uint8_t part[2 + 32];
            uint8_t commit[8];
            uint32_t n = len - 1u, off, crc;
            const uint8_t *staged = sendable(data[i], data + i + 1, n);
            crc = npin_crc32(0, staged, n);
            for (off = 0; off < n; off += 32u) {
                uint32_t k = n - off < 32u ? n - off : 32u;
                part[0] = (uint8_t)off;
                part[1] = (uint8_t)(off >> 8);
                memcpy(part + 2, staged + off, k);
                send_frame(NPIN_MSG_PART, seq, part, (uint16_t)(2u + k));
            }
            commit[0] = (uint8_t)n;
            commit[1] = (uint8_t)(n >> 8);
            commit[2] = 1;
            commit[3] = 0;
            memcpy(commit + 4, &crc, 4);
            send_frame((uint8_t)(data[i] | NPIN_STAGED), seq, commit, 8);
        } else if (type == 0xEE) {
            if (npin_svc_twin_boot(block, block_len, capacity, max_payload, 0) != 0) abort();
            drain();
        } else {
            send_frame(type, seq, sendable(type, data + i, len), len);
        }
        i += len;
    }
    return 0;
}
