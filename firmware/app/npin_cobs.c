#include "npin_cobs.h"

uint32_t npin_cobs_encode(const uint8_t *src, uint32_t n, uint8_t *dst)
{
    uint32_t out = 1, code_at = 0, i;
    uint8_t code = 1;
    for (i = 0; i < n; ++i) {
        if (src[i] == 0u) {
            dst[code_at] = code;
            code_at = out++;
            code = 1;
        } else {
            dst[out++] = src[i];
            if (++code == 0xFFu) {
                dst[code_at] = code;
                code_at = out++;
                code = 1;
            }
        }
    }
    dst[code_at] = code;
    return out;
}

int32_t npin_cobs_decode(uint8_t *buf, uint32_t n)
{
    uint32_t in = 0, out = 0;
    while (in < n) {
        uint8_t code = buf[in++];
        uint32_t k;
        if (code == 0u || in + code - 1u > n) return -1;
        for (k = 1; k < code; ++k) buf[out++] = buf[in++];
        if (code != 0xFFu && in < n) buf[out++] = 0u;
    }
    return (int32_t)out;
}

void npin_cobs_emit(const uint8_t *src, uint32_t n, void (*put)(uint8_t))
{
    uint32_t at = 0;
    for (;;) {
        uint32_t run = 0, k;
        while (at + run < n && src[at + run] != 0u && run < 254u) ++run;
        put((uint8_t)(run + 1u));
        for (k = 0; k < run; ++k) put(src[at + k]);
        at += run;
        if (run == 254u) {
            if (at == n) return;
            continue; /* a full block carries no implied zero */
        }
        if (at == n) return;
        ++at; /* the zero the code byte stood for */
    }
}
