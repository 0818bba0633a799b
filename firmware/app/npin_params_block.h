/* The parameter block (docs/protocol.md §6): a checked image of the slab's constant part, at a
 * fixed flash address, written either into the firmware or merged later into its HEX file. */
#ifndef NPIN_PARAMS_BLOCK_H
#define NPIN_PARAMS_BLOCK_H

#include <stdint.h>

#define NPIN_PARAMS_MAGIC 0x4250504Eu /* "NPPB" little-endian */
#define NPIN_PARAMS_VERSION 1u
#define NPIN_PARAMS_HEADER 48u

typedef struct npin_params_header {
    uint32_t magic;
    uint16_t block_version;
    uint16_t layout_version;
    uint32_t image_bytes; /* slab bytes [0, image_bytes) follow the header; the rest starts zero */
    uint32_t crc32;       /* over header bytes [0,12) and [16,48), then the image */
    uint32_t slab_bytes;
    uint32_t reserved;
    uint8_t params_id[16]; /* first 16 bytes of SHA-256 over the image */
    uint8_t pad[8];
} npin_params_header_t;

/* 0 if the block at `block` is whole and fits a slab of `capacity` bytes; otherwise a static
 * string saying what is wrong. */
const char *npin_params_check(const uint8_t *block, uint32_t capacity);

#endif
