"""The parameter block (docs/protocol.md §6): the slab's constant part, checked by magic and
CRC-32, at a fixed flash address. Mirrors firmware/app/npin_params_block.[ch]."""
from __future__ import annotations

import hashlib
import struct
import zlib

from quant.pin_fixed import PinParams

from .slab import LAYOUT_VERSION, layout_of, pack_slab

MAGIC = 0x4250504E
BLOCK_VERSION = 1
HEADER_BYTES = 48


def params_block(params: PinParams) -> bytes:
    """Header + slab bytes up to the ring stamps; the firmware zeroes the rest at load."""
    slab = pack_slab(params)
    lay = layout_of(params)
    image = bytes(slab[:lay.offsets["stamp"]])
    params_id = hashlib.sha256(image).digest()[:16]
    head = struct.pack("<IHHII", MAGIC, BLOCK_VERSION, LAYOUT_VERSION, len(image), 0)
    tail = struct.pack("<II16s8s", lay.total_bytes, 0, params_id, b"\0" * 8)
    crc = zlib.crc32(tail + image, zlib.crc32(head[:12]))
    return head[:12] + struct.pack("<I", crc) + tail + image


def params_id_of(block: bytes) -> bytes:
    return bytes(block[24:40])


def check_block(block: bytes) -> str | None:
    """None if the block is whole, else what is wrong (the firmware's own wording)."""
    if len(block) < HEADER_BYTES:
        return "parameter block: shorter than its header"
    magic, bver, lver, image_bytes, crc = struct.unpack_from("<IHHII", block)
    if magic != MAGIC:
        return "parameter block: no magic (none flashed?)"
    if bver == BLOCK_VERSION and lver == 1:
        return "parameter block: slab layout 1; this firmware reads 2 (regenerate)"
    if bver != BLOCK_VERSION or lver != LAYOUT_VERSION:
        return "parameter block: version not supported by this firmware"
    if len(block) < HEADER_BYTES + image_bytes:
        return "parameter block: truncated"
    if zlib.crc32(bytes(block[16:HEADER_BYTES + image_bytes]), zlib.crc32(bytes(block[:12]))) != crc:
        return "parameter block: CRC mismatch"
    return None
