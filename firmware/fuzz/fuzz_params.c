/* libFuzzer harness for the parameter-block check the firmware runs at boot on whatever flash
 * holds (docs/protocol.md §6): any bytes, any claimed sizes. Built by `npin fuzz params`. */
#include <stdlib.h>
#include <string.h>

#include "npin_params_block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the flash region holds a header and a slab of the firmware's capacity (the linker script
     * reserves it), whatever the block in it claims */
    uint32_t capacity = size >= 2 ? 64u + (uint32_t)(data[size - 1] | data[size - 2] << 8) : 65536u;
    uint8_t *flash = calloc(size + NPIN_PARAMS_HEADER + capacity, 1);
    if (!flash) abort();
    memcpy(flash, data, size);
    (void)npin_params_check(flash, capacity);
    free(flash);
    return 0;
}
