"""Conv 1D onto GNA 2.0's legacy convolution (docs/gna-quant.md §4.2).

The input is read time-major with a channel pitch: element (c, t) at base + t*pitch + slot(c). The
filter unrolls the kernel over that memory — coefficient (tap, c) at lead + tap*dilation*pitch +
slot(c) — so channels, dilation and groups are zeros in the filter, and the stride is
stride*pitch. Zero padding is memory: the host writes a graph input with zeroed margins; a value
inside the network gets its producer's output placed in a zeroed, wider buffer. Every operand
starts on a 64-byte boundary, so a window that must begin earlier gets `lead` zero coefficients.
A convolution the 768-coefficient filter cannot hold (or one output position) is a fully
connected layer with the Toeplitz matrix instead.
"""
from __future__ import annotations

import numpy as np

from .ir import CNN_FILTER_SIZE
from .onnx_lowerings import _const, attr
from .onnx_plan import ALIGN16, CompileError, Planner, _Value, round_up, where

FC_FALLBACK_MACS = 1 << 23


def conv_pads(node, t: int, k_eff: int, stride: int) -> tuple[int, int]:
    auto = attr(node, "auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        total = max((-(-t // stride) - 1) * stride + k_eff - t, 0)
        small = total // 2
        return (small, total - small) if auto == "SAME_UPPER" else (total - small, small)
    if auto not in ("NOTSET", "VALID"):
        raise CompileError(f"{where(node)}: auto_pad {auto} is not an ONNX value")
    pads = attr(node, "pads") or [0, 0]
    if len(pads) != 2:
        raise CompileError(f"{where(node)}: pads {pads}: only 1D convolutions map to GNA 2.0")
    return (0, 0) if auto == "VALID" else (int(pads[0]), int(pads[1]))


def _pitch_layout(v: _Value):
    """(base, pitch, slots) if v [1, C, T] sits time-major in its buffer, after stripping time
    columns that are all padding (-1); else None. Also returns the stripped (left, right)."""
    ph = v.phys[0]
    live_cols = np.where(np.any(ph >= 0, axis=0))[0]
    if live_cols.size == 0:
        return None
    a, b = int(live_cols[0]), int(live_cols[-1]) + 1
    core = ph[:, a:b]
    if np.any(core < 0):
        return None
    slots0 = core[:, 0]
    base = int(slots0.min())
    if core.shape[1] > 1:
        d = np.diff(core, axis=1)
        pitch = int(d[0, 0])
        if np.any(d != pitch) or pitch <= 0:
            return None
    else:
        pitch = int(round_up(int(slots0.max()) - base + 1, 8))
    slots = slots0 - base
    if slots.max() >= pitch or len(np.unique(slots)) != len(slots):
        return None
    return base, pitch, slots, (a, ph.shape[1] - b), core.shape[1]


def lower_conv(p: Planner, node) -> None:
    v = p.value(node.input[0])
    wt = _const(p, node, 1, "weights")
    if wt.ndim != 3 or len(v.shape) != 3 or v.shape[0] != 1:
        raise CompileError(f"{where(node)}: only 1D convolutions ([1, C, T] input, [F, C/group, k] weights) map to "
                           "GNA 2.0; 2D convolutions need GNA 3.0")
    f, cg, k = wt.shape
    group = attr(node, "group", 1)
    c, t = v.shape[1], v.shape[2]
    if cg * group != c:
        raise CompileError(f"{where(node)}: {c} input channels do not match weights {list(wt.shape)} with group {group}")
    stride = (attr(node, "strides") or [1])[0]
    dil = (attr(node, "dilations") or [1])[0]
    k_eff = (k - 1) * dil + 1
    left, right = conv_pads(node, t, k_eff, stride)
    b = _const(p, node, 2, "bias")
    b = np.zeros(f) if b is None else b
    out = node.output[0]
    v = v.view(v.name, lambda a: np.pad(a, ((0, 0), (0, 0), (left, right)), constant_values=-1))
    tt = v.shape[2]
    positions = (tt - k_eff) // stride + 1
    if positions < 1:
        raise CompileError(f"{where(node)}: kernel {k_eff} is longer than the padded input {tt}")
    dense = np.zeros((f, c, tt))  # per output filter, the coefficient on each input element, for position 0
    for g in range(group):
        fs, cs = slice(g * (f // group), (g + 1) * (f // group)), slice(g * cg, (g + 1) * cg)
        for tap in range(k):
            dense[fs, cs, tap * dil] = wt[fs, :, tap]
    if v.buf is None:  # a host view: the host writes it time-major, margins included
        lay = None
        v = p.materialize(v, (c, c))
    lay = _pitch_layout(v)
    if lay is not None:
        base, pitch, slots, (pl, pr), core_t = lay
        span = (k_eff - 1) * pitch + int(slots.max()) + 1
        root_off = v.buf.root()[1]
        first = base - pl * pitch  # where padded time step 0 would sit
        lead = (first + root_off) % ALIGN16
        taps = round_up(lead + span, 8)
        ok = taps <= CNN_FILTER_SIZE[1] and positions * round_up(f, 8) * 4 <= 2 << 20
    if lay is None or not ok:
        return _as_dense(p, node, v, wt, b, dense, stride, positions, f, c, tt)
    if first - lead < 0 or (pl or pr):
        v, base, first = _zero_margins(p, node, v, pitch, pl, pr, base, core_t, slots)
        lead = (first + v.buf.root()[1]) % ALIGN16
        taps = round_up(lead + span, 8)
    taps = round_up(max(taps, stride * pitch), 8)   # GNA's stride may not exceed the filter: zero taps
    if taps > CNN_FILTER_SIZE[1]:
        return _as_dense(p, node, v, wt, b, dense, stride, positions, f, c, tt)
    start = first - lead
    fp = round_up(f, 8)
    filters = np.zeros((fp, taps))
    tap_elem = np.full(taps, -1)
    for tap in range(k):
        for ch in range(c):
            pos = lead + tap * dil * pitch + int(slots[ch])
            filters[:f, pos] = dense[:, ch, tap * dil]
            tap_elem[pos] = ch
    # GNA reads a width that is a multiple of 8; where that adds positions (a stride under 8
    # elements) their outputs land after ours, in memory nobody reads
    width = round_up((positions - 1) * stride * pitch + taps, 8)
    written = ((width - taps) // (stride * pitch) + 1) * fp
    v.buf.need(start + width)
    st = p.new_stage("conv", [node.name or "Conv"], written, (1, f, positions),
                     (np.arange(positions)[None, :] * fp + np.arange(f)[:, None])[None], pre=lambda t_, o=out: t_[o],
                     onnx=out)
    bias = np.zeros(fp)
    bias[:f] = b
    st.bias = bias
    st.conv = {"input": v, "start": start, "filters": filters, "stride": stride * pitch, "width": width,
               "positions": positions, "tap_channel": tap_elem}
    p.set(st.out)


def _zero_margins(p: Planner, node, v: _Value, pitch, pl, pr, base, core_t, slots):
    """Place v's producer output in a zeroed buffer with room for the padding on both sides."""
    owner = next((st for st in p.stages if st.out.buf is v.buf), None)
    written = owner.m if owner is not None else 0
    clean = owner is not None and v.buf.alias is None and written <= base + core_t * pitch \
        and not any(st.out.buf is v.buf for st in p.stages if st is not owner)
    if not clean:  # someone else's memory around it: copy it into a buffer of its own first
        like_buf = p.buffer("t")
        core = v.view(v.name, lambda a: a[:, :, pl:a.shape[2] - pr])
        pos = (np.arange(core_t)[None, :] * pitch + slots[:, None])[None]
        like = _Value(v.name, core.shape, pos, like_buf)
        like_buf.need(core_t * pitch)
        moved = p.gather_like(core, like)
        v = moved.view(v.name, lambda a: np.pad(a, ((0, 0), (0, 0), (pl, pr)), constant_values=-1))
        base = 0
    host = p.buffer("pad")
    offset = round_up(pl * pitch, ALIGN16)
    v.buf.place_in(host, offset)
    host.need(offset + base + (core_t + pr) * pitch + pitch)
    first = base - pl * pitch
    return v, base, first


def _as_dense(p: Planner, node, v, wt, b, dense, stride, positions, f, c, tt) -> None:
    macs = positions * f * c * tt
    if macs > FC_FALLBACK_MACS:
        raise CompileError(f"{where(node)}: this convolution fits neither GNA 2.0's 1D convolution (filter span over "
                           f"{CNN_FILTER_SIZE[1]} elements of time-major memory, or over 2 MiB of int32 scratch) nor a "
                           f"fully connected layer ({macs} MACs)")
    w = np.zeros((f, positions, c, tt))
    for pos in range(positions):
        sh = pos * stride
        w[:, pos, :, sh:] = dense[:, :, :tt - sh]
    w = w.reshape(f * positions, c, tt)
    st = p.fc([node.name or "Conv"], [(v, w.reshape((f * positions, 1, c, tt)))], np.repeat(b, positions),
              (1, f, positions), pre=lambda t_, o=node.output[0]: t_[o], onnx=node.output[0])
    p.set(st.out)


def channel_slice(p: Planner, v: _Value, lo: int, hi: int, out: str) -> _Value | None:
    """Channels lo..hi of a convolution's whole output, as a convolution of those filters alone:
    its output is then contiguous time-major, as element-wise consumers need, instead of a strided
    view (the filters would be computed once either way)."""
    owner = next((st for st in p.stages if st.out.buf is v.buf), None)
    if owner is None or owner.kind != "conv" or owner.scale_like is not None or v.buf.alias is not None \
            or not np.array_equal(v.phys, owner.out.phys) or not 0 <= lo < hi <= v.shape[1]:
        return None
    c = owner.conv
    f, positions = hi - lo, c["positions"]
    fp = round_up(f, 8)
    written = ((c["width"] - c["filters"].shape[1]) // c["stride"] + 1) * fp
    st = p.new_stage("conv", owner.nodes + [f"channels {lo}:{hi}"], written, (1, f, positions),
                     (np.arange(positions)[None, :] * fp + np.arange(f)[:, None])[None], pre=lambda t_: t_[out],
                     onnx=out)
    filters = np.zeros((fp, c["filters"].shape[1]))
    filters[:f] = c["filters"][lo:hi]
    bias = np.zeros(fp)
    bias[:f] = owner.bias[lo:hi]
    st.bias, st.act = bias, owner.act
    st.conv = {**c, "filters": filters}
    return p.set(st.out)
