/* CRC-32/ISO-HDLC (poly 0x04C11DB7 reflected, init and xorout 0xFFFFFFFF): check value
 * 0xCBF43926 for "123456789". Python's zlib.crc32 computes the same function. */
#ifndef NPIN_CRC32_H
#define NPIN_CRC32_H

#include <stdint.h>

/* Continue a CRC: start with crc = 0, feed any number of chunks, the result is final. */
uint32_t npin_crc32(uint32_t crc, const uint8_t *data, uint32_t len);

#endif
