#include <string.h>

#include "npin_crc32.h"
#include "npin_layout.h"
#include "npin_params_block.h"

NPIN_STATIC_ASSERT(sizeof(npin_params_header_t) == NPIN_PARAMS_HEADER, params_header_is_48_bytes);

const char *npin_params_check(const uint8_t *block, uint32_t capacity)
{
    npin_params_header_t h;
    uint32_t crc;
    memcpy(&h, block, sizeof h);
    if (h.magic != NPIN_PARAMS_MAGIC) return "parameter block: no magic (none flashed?)";
    if (h.block_version == NPIN_PARAMS_VERSION && h.layout_version == 1u)
        return "parameter block: slab layout 1; this firmware reads 2 (regenerate)";
    if (h.block_version != NPIN_PARAMS_VERSION || h.layout_version != NPIN_LAYOUT_VERSION)
        return "parameter block: version not supported by this firmware";
    if (h.slab_bytes > capacity || h.image_bytes > h.slab_bytes || h.image_bytes < NPIN_HEADER_BYTES)
        return "parameter block: Pin shape does not fit this firmware's slab";
    crc = npin_crc32(0, block, 12u);
    crc = npin_crc32(crc, block + 16, NPIN_PARAMS_HEADER - 16u);
    crc = npin_crc32(crc, block + NPIN_PARAMS_HEADER, h.image_bytes);
    if (crc != h.crc32) return "parameter block: CRC mismatch";
    return 0;
}
