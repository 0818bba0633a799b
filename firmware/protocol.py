"""The host end of the npin serial protocol (docs/protocol.md): COBS framing, CRC-32, and the
message layouts. Pure functions over bytes; the transport lives in toolkit.hil."""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from common.errors import NpinError

VERSION = 2
HEADER = struct.Struct("<BBHH")  # version, type, seq, payload length
OVERHEAD = HEADER.size + 4
RESPONSE = 0x80

HELLO, SYNC, PUSH, STEP, READ_STATE, FEEDBACK, BENCH, RESET, PART = range(1, 10)
EVENT, ERROR = 0x20, 0x7F
STAGED = 0x40      # request type | STAGED: the payload went ahead in PART frames (docs/protocol.md §3.2)
PART_BLOCK = 32    # PART offsets are multiples of this; E_PARTS names missing blocks
NAMES = {HELLO: "HELLO", SYNC: "SYNC", PUSH: "PUSH", STEP: "STEP", READ_STATE: "READ_STATE",
         FEEDBACK: "FEEDBACK", BENCH: "BENCH", RESET: "RESET", PART: "PART", EVENT: "EVENT", ERROR: "ERROR"}

E_CRC, E_TRUNCATED, E_OVERSIZE, E_TYPE, E_STALE, E_VERSION, E_COBS, E_ARG, E_PARAMS, E_CORE, E_PARTS = range(1, 12)
ERROR_NAMES = {E_CRC: "CRC", E_TRUNCATED: "TRUNCATED", E_OVERSIZE: "OVERSIZE", E_TYPE: "TYPE",
               E_STALE: "STALE", E_VERSION: "VERSION", E_COBS: "COBS", E_ARG: "ARG", E_PARAMS: "PARAMS",
               E_CORE: "CORE", E_PARTS: "PARTS"}

FLAG_PARAMS_OK, FLAG_WARM, FLAG_BANNER, FLAG_SIMD, FLAG_PARTS = 1, 2, 4, 8, 16
RESET_STATE, RESET_REBOOT = 0, 1
TICK_SOURCES = {0: "none", 1: "SysTick", 2: "DWT CYCCNT", 3: "nRF51 TIMER0"}  # BENCH's source byte; all count CPU cycles
HELLO_BYTES = 84
STEP_RECORD = struct.Struct("<bxhhHI")  # status, 0, facet (-1 unless fired), score_q15, tool, digest
NO_SEQ = 0xFFFF


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC; zlib's crc32 is exactly this function."""
    return zlib.crc32(data) & 0xFFFFFFFF


def cobs_encode(data: bytes) -> bytes:
    out, block = bytearray(), bytearray()
    for b in data:
        if b == 0:
            out += bytes([len(block) + 1]) + block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out += b"\xff" + block
                block.clear()
    out += bytes([len(block) + 1]) + block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out, i, n = bytearray(), 0, len(data)
    while i < n:
        code = data[i]
        if code == 0 or i + code > n:
            raise ValueError("malformed COBS encoding")
        out += data[i + 1:i + code]
        i += code
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def frame(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    """One frame as it goes on the wire, 0x00 delimiter included."""
    raw = HEADER.pack(VERSION, msg_type, seq & 0xFFFF, len(payload)) + payload
    return cobs_encode(raw + struct.pack("<I", crc32(raw))) + b"\x00"


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes

    @property
    def name(self) -> str:
        base = NAMES.get(self.type & ~RESPONSE if self.type not in (EVENT, ERROR) else self.type, hex(self.type))
        return base + ("_RESP" if self.type & RESPONSE else "")


class FrameError(NpinError, ValueError):
    """A frame that fails COBS, length or CRC checks."""

    hint = "check the serial link (baud rate, port) and that the board runs npin firmware"


def parse_frame(encoded: bytes) -> Frame:
    """Decode one frame (without its 0x00) and check CRC and length."""
    raw = cobs_decode(encoded)
    if len(raw) < OVERHEAD:
        raise FrameError(f"frame of {len(raw)} bytes is shorter than header and CRC")
    if crc32(raw[:-4]) != struct.unpack_from("<I", raw, len(raw) - 4)[0]:
        raise FrameError("CRC-32 mismatch")
    ver, msg_type, seq, length = HEADER.unpack_from(raw)
    if ver != VERSION or length != len(raw) - OVERHEAD:
        raise FrameError(f"bad header: version {ver}, length {length} of {len(raw) - OVERHEAD}")
    return Frame(msg_type, seq, raw[HEADER.size:-4])


@dataclass(frozen=True)
class Hello:
    proto_version: int
    layout_version: int
    flags: int
    dims: int
    facets: int
    slots: int
    max_payload: int
    boot_count: int
    build_id: bytes
    params_id: bytes
    board: str
    faults: int = 0  # faults since power-on, each followed by a restart (an older 80-byte HELLO: 0)

    @classmethod
    def parse(cls, p: bytes) -> "Hello":
        pv, lv, flags, d, k, r, mp, boots = struct.unpack_from("<BBHHHHHI", p)
        faults = struct.unpack_from("<I", p, 80)[0] if len(p) >= 84 else 0
        return cls(pv, lv, flags, d, k, r, mp, boots, bytes(p[16:48]), bytes(p[48:64]),
                   bytes(p[64:80]).rstrip(b"\0").decode("ascii", "replace"), faults)


@dataclass(frozen=True)
class SyncReply:
    nonce: int
    boot_count: int
    last_seq: int
    flags: int
    step: int
    digest: int
    ring_fill: int

    @property
    def has_last(self) -> bool:
        return bool(self.flags & 1)

    @property
    def warm(self) -> bool:
        return bool(self.flags & 2)

    @classmethod
    def parse(cls, p: bytes) -> "SyncReply":
        return cls(*struct.unpack_from("<IIHHIII", p))


@dataclass(frozen=True)
class StepRecord:
    status: int
    facet: int
    score_q15: int
    tool: int
    digest: int


def parse_step_reply(p: bytes) -> list[StepRecord]:
    (done,) = struct.unpack_from("<H", p)
    recs = []
    for i in range(done):
        st, facet, score, tool, digest = STEP_RECORD.unpack_from(p, 4 + i * STEP_RECORD.size)
        recs.append(StepRecord(st, facet, score, tool, digest))
    return recs


@dataclass(frozen=True)
class DeviceEvent:
    step: int
    facet: int
    score_q15: int
    tool: int

    @classmethod
    def parse(cls, p: bytes) -> "DeviceEvent":
        return cls(*struct.unpack_from("<IhhH", p))


def missing_blocks(p: bytes) -> tuple[int, list[int]]:
    """An E_PARTS error's round and the blocks it names (a bitmap, bit i of byte i // 8: block i)."""
    bits = bytes(p[3:])
    return p[2], [i for i in range(8 * len(bits)) if bits[i // 8] >> (i % 8) & 1]


def parse_error(p: bytes) -> tuple[int, str]:
    (code,) = struct.unpack_from("<H", p)
    return code, bytes(p[2:]).decode("ascii", "replace")
