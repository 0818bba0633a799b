/* Consistent Overhead Byte Stuffing: frames on the wire hold no zero byte; 0x00 ends a frame. */
#ifndef NPIN_COBS_H
#define NPIN_COBS_H

#include <stdint.h>

/* Worst-case encoded size of n bytes (without the 0x00 delimiter). */
#define NPIN_COBS_MAX(n) ((n) + (n) / 254u + 1u)

/* Encode n bytes of src into dst (NPIN_COBS_MAX(n) bytes); returns the encoded length. */
uint32_t npin_cobs_encode(const uint8_t *src, uint32_t n, uint8_t *dst);

/* Encode n bytes of src straight to put(), one byte at a time, without a second buffer. */
void npin_cobs_emit(const uint8_t *src, uint32_t n, void (*put)(uint8_t));

/* Decode n bytes in place; returns the decoded length, or -1 if the encoding is malformed. */
int32_t npin_cobs_decode(uint8_t *buf, uint32_t n);

#endif
