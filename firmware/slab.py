"""The slab's binary layout (docs/pin-spec.md §2, layout version 2): offsets, packing, unpacking.

Mirrors ``NPIN_OFF_*`` in firmware/core/npin_layout.h; tests compare the two.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from quant.pin_fixed import FACET_FORMATS, PinFixed, PinParams

MAGIC = 0x4E49504E
LAYOUT_VERSION = 2
HEADER_BYTES = 64
SLAB_MAX_BYTES = 65536
FLAG_Q7 = 0x0001            # flags bit 0: the facets are symmetric Q7 (int8)

# name, struct code, offset — the header table of the spec, in order.
HEADER_FIELDS = (
    ("magic", "I", 0), ("layout_version", "H", 4), ("header_bytes", "H", 6),
    ("dims", "H", 8), ("facets", "H", 10), ("slots", "H", 12), ("flags", "H", 14),
    ("step", "I", 16), ("ring_head", "I", 20), ("ring_tail", "I", 24), ("overrun", "I", 28),
    ("eta_q15", "h", 32), ("mu_q15", "h", 34), ("thr_gain_q15", "h", 36),
    ("thr_min_q15", "h", 38), ("thr_max_q15", "h", 40), ("hysteresis_q15", "h", 42),
    ("margin_q15", "h", 44), ("last_fired", "h", 46), ("fires", "I", 48),
    ("min_norm", "I", 52), ("total_bytes", "I", 56), ("reserved", "I", 60),
)
_HEADER = struct.Struct("<" + "".join(code for _, code, _ in HEADER_FIELDS))
assert _HEADER.size == HEADER_BYTES

# name, dtype (None: the facet format's), count as a function of (D, K, R), alignment — the array
# table of the spec, in order. The facets start on a 64-byte cache line: the host's 512-bit loads
# of a row that straddles lines cost a third of the step.
ARRAYS = (
    ("m", "<i2", lambda d, k, r: d, 8),
    ("v", "<i2", lambda d, k, r: d, 8),
    ("x_last", "<i2", lambda d, k, r: d, 8),
    ("armed", "<u4", lambda d, k, r: (k + 31) // 32, 8),
    ("thr_q15", "<i2", lambda d, k, r: k, 8),
    ("facet_norm", "<u4", lambda d, k, r: k, 8),
    ("tool", "<u2", lambda d, k, r: k, 8),
    ("facets", None, lambda d, k, r: k * d, 64),
    ("stamp", "<u4", lambda d, k, r: r, 8),
    ("ring", "<i2", lambda d, k, r: r * d, 8),
)
# Q7 rows are stored in groups of four with the middle two swapped (docs/pin-spec.md §2.2).
Q7_GROUP = np.array([0, 2, 1, 3])


def _align(n: int, to: int) -> int:
    return (n + to - 1) & ~(to - 1)


@dataclass(frozen=True)
class SlabLayout:
    dims: int
    facets: int
    slots: int
    facet_format: str
    offsets: dict[str, int]
    counts: dict[str, int]
    total_bytes: int

    def dtype(self, name: str) -> str:
        return dict((n, t) for n, t, _, _ in ARRAYS)[name] or FACET_FORMATS[self.facet_format][1]

    def view(self, buf, name: str) -> np.ndarray:
        return np.frombuffer(buf, dtype=self.dtype(name), count=self.counts[name], offset=self.offsets[name])

    @property
    def state_bytes(self) -> int:
        """The mutable state: the header and m through thr_q15 (the digest's range)."""
        return self.offsets["facet_norm"]


def slab_layout(dims: int, facets: int, slots: int, facet_format: str = "q15") -> SlabLayout:
    offsets, counts = {}, {}
    end = HEADER_BYTES
    for name, dtype, count, align in ARRAYS:
        off = _align(end, align)
        n = count(dims, facets, slots)
        offsets[name], counts[name] = off, n
        end = off + n * np.dtype(dtype or FACET_FORMATS[facet_format][1]).itemsize
    return SlabLayout(dims, facets, slots, facet_format, offsets, counts, end)


def layout_of(params: PinParams) -> SlabLayout:
    return slab_layout(params.dims, params.n_facets, params.slots, params.facet_format)


def facet_storage(facets: np.ndarray, facet_format: str) -> np.ndarray:
    """Rows in slab storage order (Q7: the middle two of every four swapped)."""
    f = np.asarray(facets)
    if facet_format != "q7":
        return f
    k, d = f.shape
    return f.reshape(k, d // 4, 4)[:, :, Q7_GROUP].reshape(k, d)


def facet_format_for(dims: int, facets: int, slots: int, budget: int = SLAB_MAX_BYTES) -> str:
    """Q15 when the slab fits the budget with Q15 facets, else Q7 (half the facet bytes)."""
    return "q15" if slab_layout(dims, facets, slots, "q15").total_bytes <= budget else "q7"


def fit_message(dims: int, facets: int, slots: int, budget: int, facet_format: str = "q15",
                need_of=None, what: str = "slab") -> str | None:
    """None if the shape fits ``budget`` bytes, else one line naming the excess and what would fit.
    ``need_of(d, k, r, fmt)`` is the bytes a shape takes (default: its slab)."""
    need_of = need_of or (lambda d, k, r, f: slab_layout(d, k, r, f).total_bytes)
    need = need_of(dims, facets, slots, facet_format)
    if need <= budget:
        return None
    fits = []
    if facet_format == "q15" and need_of(dims, facets, slots, "q7") <= budget:
        fits.append(f"the same shape with Q7 facets ({need_of(dims, facets, slots, 'q7')} bytes)")
    fits += [f"D={d} K={k} slots={r}" for d in (512, 384, 256, 192, 128, 96, 64, 32)
             for k in (16, 12, 8, 4) for r in (32, 16, 8, 4)
             if d <= dims and k <= facets and r <= slots
             and need_of(d, k, r, facet_format) <= budget]
    hint = ("; fits: " + ", ".join(fits[:3])) if fits else ""
    return f"{what} needs {need} bytes, {need - budget} over the {budget}-byte budget{hint}"


def pack_slab(params: PinParams) -> bytearray:
    """A freshly laid-out slab for ``params`` (state zero), facet norms included."""
    ref = PinFixed(params)  # validates
    lay = layout_of(params)
    if lay.total_bytes > SLAB_MAX_BYTES:
        raise ValueError(fit_message(params.dims, params.n_facets, params.slots, SLAB_MAX_BYTES,
                                     params.facet_format))
    buf = bytearray(lay.total_bytes)
    write_state(buf, lay, ref)
    return buf


def _header_bytes(lay: SlabLayout, ref: PinFixed) -> bytes:
    p = ref.params
    header = dict(
        magic=MAGIC, layout_version=LAYOUT_VERSION, header_bytes=HEADER_BYTES,
        dims=p.dims, facets=p.n_facets, slots=p.slots, flags=FLAG_Q7 if p.facet_format == "q7" else 0,
        step=ref.step_count, ring_head=ref.ring_head, ring_tail=ref.ring_tail, overrun=ref.overrun,
        eta_q15=p.eta_q15, mu_q15=p.mu_q15, thr_gain_q15=p.thr_gain_q15,
        thr_min_q15=p.thr_min_q15, thr_max_q15=p.thr_max_q15, hysteresis_q15=p.hysteresis_q15,
        margin_q15=p.margin_q15, last_fired=ref.last_fired, fires=ref.fires,
        min_norm=p.min_norm, total_bytes=lay.total_bytes, reserved=0,
    )
    return _HEADER.pack(*(header[name] for name, _, _ in HEADER_FIELDS))


def _arrays(ref: PinFixed) -> dict:
    p = ref.params
    return dict(m=ref.m, v=ref.v, x_last=ref.x_last, armed=ref.armed_words(), thr_q15=ref.thr_q15,
                facet_norm=ref.facet_norm, tool=np.asarray(p.tool),
                facets=facet_storage(p.facets, p.facet_format).ravel(), stamp=ref.stamp, ring=ref.ring.ravel())


def write_state(buf, lay: SlabLayout, ref: PinFixed) -> None:
    buf[0:HEADER_BYTES] = _header_bytes(lay, ref)
    arrays = _arrays(ref)
    for name, *_ in ARRAYS:
        off = lay.offsets[name]
        data = np.asarray(arrays[name]).astype(lay.dtype(name)).tobytes()
        buf[off:off + len(data)] = data


def read_header(buf) -> dict[str, int]:
    return dict(zip((name for name, _, _ in HEADER_FIELDS), _HEADER.unpack_from(buf, 0)))


def layout_from_header(head: dict) -> SlabLayout:
    return slab_layout(head["dims"], head["facets"], head["slots"], "q7" if head["flags"] & FLAG_Q7 else "q15")


def read_state(buf) -> dict:
    """Header fields and every array, as Python ints and int64 arrays (copies)."""
    head = read_header(buf)
    lay = layout_from_header(head)
    state = dict(head)
    for name, *_ in ARRAYS:
        state[name] = lay.view(buf, name).astype(np.int64)
    return state


def slab_image(ref: PinFixed) -> bytes:
    """The whole slab the firmware would hold in the reference's state, byte for byte."""
    lay = layout_of(ref.params)
    buf = bytearray(lay.total_bytes)
    write_state(buf, lay, ref)
    return bytes(buf)


def reference_state(ref: PinFixed) -> dict:
    """The same dictionary as ``read_state`` for the Python reference."""
    return read_state(slab_image(ref))


def state_digest(ref: PinFixed) -> int:
    """CRC-32 of the mutable state as the firmware digests it (docs/protocol.md §4): the slab
    bytes from the header through thr_q15."""
    lay = layout_of(ref.params)
    buf = bytearray(lay.state_bytes)
    buf[0:HEADER_BYTES] = _header_bytes(lay, ref)
    arrays = _arrays(ref)
    for name in ("m", "v", "x_last", "armed", "thr_q15"):
        off = lay.offsets[name]
        data = np.asarray(arrays[name]).astype(lay.dtype(name)).tobytes()
        buf[off:off + len(data)] = data
    return zlib.crc32(bytes(buf)) & 0xFFFFFFFF
