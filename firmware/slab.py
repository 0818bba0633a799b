"""The slab's binary layout (docs/pin-spec.md §2): offsets, packing and unpacking.

Mirrors ``NPIN_OFF_*`` in firmware/core/npin_layout.h; tests compare the two.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from quant.pin_fixed import PinFixed, PinParamsQ15

MAGIC = 0x4E49504E
LAYOUT_VERSION = 1
HEADER_BYTES = 64
SLAB_MAX_BYTES = 65536

# name, struct code, offset — the header table of the spec, in order.
HEADER_FIELDS = (
    ("magic", "I", 0), ("layout_version", "H", 4), ("header_bytes", "H", 6),
    ("dims", "H", 8), ("facets", "H", 10), ("slots", "H", 12), ("flags", "H", 14),
    ("step", "I", 16), ("ring_head", "I", 20), ("ring_tail", "I", 24), ("overrun", "I", 28),
    ("eta_q15", "h", 32), ("mu_q15", "h", 34), ("thr_gain_q15", "h", 36),
    ("thr_min_q15", "h", 38), ("thr_max_q15", "h", 40), ("hysteresis_q15", "h", 42),
    ("armed_mask", "H", 44), ("last_fired", "h", 46), ("fires", "I", 48),
    ("min_norm", "I", 52), ("total_bytes", "I", 56), ("reserved", "I", 60),
)
_HEADER = struct.Struct("<" + "".join(code for _, code, _ in HEADER_FIELDS))
assert _HEADER.size == HEADER_BYTES

# name, dtype, count as a function of (D, K, R) — the array table of the spec, in order.
ARRAYS = (
    ("m", "<i2", lambda d, k, r: d),
    ("v", "<i2", lambda d, k, r: d),
    ("x_last", "<i2", lambda d, k, r: d),
    ("facets", "<i2", lambda d, k, r: k * d),
    ("facet_norm", "<u4", lambda d, k, r: k),
    ("thr_q15", "<i2", lambda d, k, r: k),
    ("tool", "<u2", lambda d, k, r: k),
    ("stamp", "<u4", lambda d, k, r: r),
    ("ring", "<i2", lambda d, k, r: r * d),
)


def _align8(n: int) -> int:
    return (n + 7) & ~7


@dataclass(frozen=True)
class SlabLayout:
    dims: int
    facets: int
    slots: int
    offsets: dict[str, int]
    counts: dict[str, int]
    total_bytes: int

    def view(self, buf, name: str) -> np.ndarray:
        dtype = dict((n, t) for n, t, _ in ARRAYS)[name]
        return np.frombuffer(buf, dtype=dtype, count=self.counts[name], offset=self.offsets[name])


def slab_layout(dims: int, facets: int, slots: int) -> SlabLayout:
    offsets, counts = {}, {}
    end = HEADER_BYTES
    for name, dtype, count in ARRAYS:
        off = _align8(end)
        n = count(dims, facets, slots)
        offsets[name], counts[name] = off, n
        end = off + n * np.dtype(dtype).itemsize
    return SlabLayout(dims, facets, slots, offsets, counts, end)


def fit_message(dims: int, facets: int, slots: int, budget: int) -> str | None:
    """None if the slab fits ``budget`` bytes, else one line naming the excess and what would fit."""
    need = slab_layout(dims, facets, slots).total_bytes
    if need <= budget:
        return None
    fits = [(d, k, r) for d in (512, 384, 256, 192, 128, 96, 64, 32) for k in (16, 12, 8, 4)
            for r in (32, 16, 8, 4) if d <= dims and k <= facets and r <= slots
            and slab_layout(d, k, r).total_bytes <= budget]
    hint = ("; fits: " + ", ".join(f"D={d} K={k} slots={r}" for d, k, r in fits[:3])) if fits else ""
    return f"slab needs {need} bytes, {need - budget} over the {budget}-byte budget{hint}"


def pack_slab(params: PinParamsQ15) -> bytearray:
    """A freshly laid-out slab for ``params`` (state zero), facet norms included."""
    ref = PinFixed(params)  # validates
    lay = slab_layout(params.dims, params.n_facets, params.slots)
    if lay.total_bytes > SLAB_MAX_BYTES:
        raise ValueError(fit_message(params.dims, params.n_facets, params.slots, SLAB_MAX_BYTES))
    buf = bytearray(lay.total_bytes)
    write_state(buf, lay, ref)
    return buf


def _header_bytes(lay: SlabLayout, ref: PinFixed) -> bytes:
    p = ref.params
    header = dict(
        magic=MAGIC, layout_version=LAYOUT_VERSION, header_bytes=HEADER_BYTES,
        dims=p.dims, facets=p.n_facets, slots=p.slots, flags=0,
        step=ref.step_count, ring_head=ref.ring_head, ring_tail=ref.ring_tail, overrun=ref.overrun,
        eta_q15=p.eta_q15, mu_q15=p.mu_q15, thr_gain_q15=p.thr_gain_q15,
        thr_min_q15=p.thr_min_q15, thr_max_q15=p.thr_max_q15, hysteresis_q15=p.hysteresis_q15,
        armed_mask=ref.armed_mask, last_fired=ref.last_fired, fires=ref.fires,
        min_norm=p.min_norm, total_bytes=lay.total_bytes, reserved=0,
    )
    return _HEADER.pack(*(header[name] for name, _, _ in HEADER_FIELDS))


def write_state(buf, lay: SlabLayout, ref: PinFixed) -> None:
    p = ref.params
    buf[0:HEADER_BYTES] = _header_bytes(lay, ref)
    arrays = dict(m=ref.m, v=ref.v, x_last=ref.x_last, facets=np.asarray(p.facets_q15).ravel(),
                  facet_norm=ref.facet_norm, thr_q15=ref.thr_q15, tool=np.asarray(p.tool),
                  stamp=ref.stamp, ring=ref.ring.ravel())
    for name, dtype, _ in ARRAYS:
        off = lay.offsets[name]
        data = np.asarray(arrays[name]).astype(dtype).tobytes()
        buf[off:off + len(data)] = data


def read_header(buf) -> dict[str, int]:
    return dict(zip((name for name, _, _ in HEADER_FIELDS), _HEADER.unpack_from(buf, 0)))


def read_state(buf) -> dict:
    """Header fields and every array, as Python ints and int64 arrays (copies)."""
    head = read_header(buf)
    lay = slab_layout(head["dims"], head["facets"], head["slots"])
    state = dict(head)
    for name, _, _ in ARRAYS:
        state[name] = lay.view(buf, name).astype(np.int64)
    return state


def reference_state(ref: PinFixed) -> dict:
    """The same dictionary as ``read_state`` for the Python reference."""
    lay = slab_layout(ref.params.dims, ref.params.n_facets, ref.params.slots)
    buf = bytearray(lay.total_bytes)
    write_state(buf, lay, ref)
    return read_state(buf)


def state_digest(ref: PinFixed) -> int:
    """CRC-32 of the mutable state as the firmware digests it (docs/protocol.md §4): slab bytes
    from the header through x_last, then the thresholds."""
    p = ref.params
    lay = slab_layout(p.dims, p.n_facets, p.slots)
    crc = zlib.crc32(_header_bytes(lay, ref))
    for arr in (ref.m, ref.v, ref.x_last):  # D is a multiple of 8: no padding between them
        crc = zlib.crc32(np.asarray(arr, dtype="<i2").tobytes(), crc)
    return zlib.crc32(np.asarray(ref.thr_q15, dtype="<i2").tobytes(), crc) & 0xFFFFFFFF
