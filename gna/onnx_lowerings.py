"""One lowering per ONNX op (docs/gna-quant.md §4): each reads its inputs as planned values and
adds values (layout ops) or stages (everything that computes). Adding an op is one function and
one entry in LOWERINGS."""
from __future__ import annotations

import numpy as np

from .onnx_plan import ALIGN16, CompileError, Planner, _Value, round_up, where

UNARY_PWL = {"Relu": "relu", "LeakyRelu": "leaky_relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Clip": "clip",
             "Sqrt": "sqrt", "Exp": "exp", "Log": "log", "Abs": "abs", "Softsign": "softsign"}


def attr(node, name, default=None):
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _const(p: Planner, node, i: int, what: str):
    name = node.input[i] if len(node.input) > i else ""
    if not name:
        return None
    if name not in p.consts:
        raise CompileError(f"{where(node)}: its {what} must be a constant")
    return p.consts[name]


def _t(name):
    return lambda t: t[name]


# -- layout: no data moves --------------------------------------------------------------------

def _axes(node, p: Planner, i=1):
    axes = attr(node, "axes")
    if axes is None and len(node.input) > i and node.input[i]:
        axes = [int(v) for v in p.consts[node.input[i]]]
    return axes


def layout(p: Planner, node) -> None:
    op, v = node.op_type, p.value(node.input[0])
    out = node.output[0]
    nd = len(v.shape)
    if op == "Transpose":
        perm = attr(node, "perm") or list(reversed(range(nd)))
        p.set(v.view(out, lambda a: np.transpose(a, perm)))
    elif op == "Flatten":
        axis = attr(node, "axis", 1) % max(nd, 1)
        p.set(v.view(out, lambda a: a.reshape(int(np.prod(v.shape[:axis])), -1)))
    elif op == "Reshape":
        shape = [int(s) for s in p.consts[node.input[1]]]
        shape = [v.shape[i] if s == 0 and not attr(node, "allowzero", 0) else s for i, s in enumerate(shape)]
        p.set(v.view(out, lambda a: a.reshape(shape)))
    elif op == "Squeeze":
        axes = _axes(node, p)
        p.set(v.view(out, lambda a: np.squeeze(a, tuple(x % nd for x in axes)) if axes else np.squeeze(a)))
    elif op == "Unsqueeze":
        axes = _axes(node, p)
        p.set(v.view(out, lambda a: np.expand_dims(a, tuple(axes))))
    else:  # Identity, Dropout
        p.set(v.view(out, lambda a: a))


def slice_(p: Planner, node) -> None:
    v = p.value(node.input[0])
    starts, ends = p.consts[node.input[1]].astype(np.int64), p.consts[node.input[2]].astype(np.int64)
    axes = _const(p, node, 3, "axes")
    steps = _const(p, node, 4, "steps")
    axes = list(range(len(starts))) if axes is None else [int(a) % len(v.shape) for a in axes]
    steps = [1] * len(starts) if steps is None else [int(s) for s in steps]
    index = [slice(None)] * len(v.shape)
    for a, s, e, st in zip(axes, starts, ends, steps):
        index[a] = slice(*slice(int(max(min(s, 2**62), -2**62)), int(max(min(e, 2**62), -2**62)), st).indices(v.shape[a]))
    index = [slice(*ix.indices(n)) for ix, n in zip(index, v.shape)]
    ch = index[1] if len(v.shape) == 3 else None
    if ch is not None and ch.step == 1 and (ch.start, ch.stop) != (0, v.shape[1]) and all(ix == slice(0, n, 1) for i, (ix, n) in enumerate(zip(index, v.shape))
                                               if i != 1):
        from .onnx_conv import channel_slice

        if channel_slice(p, v, ch.start, ch.stop, node.output[0]) is not None:
            return
    p.set(v.view(node.output[0], lambda a: a[tuple(index)]))


def gather(p: Planner, node) -> None:
    v = p.value(node.input[0])
    idx = _const(p, node, 1, "indices").astype(np.int64)
    axis = attr(node, "axis", 0) % len(v.shape)
    p.set(v.view(node.output[0], lambda a: np.take(a, idx, axis=axis)))


def split(p: Planner, node) -> None:
    v = p.value(node.input[0])
    axis = attr(node, "axis", 0) % len(v.shape)
    sizes = attr(node, "split")
    if sizes is None and len(node.input) > 1 and node.input[1]:
        sizes = [int(s) for s in p.consts[node.input[1]]]
    if sizes is None:
        n = len(node.output)
        sizes = [-(-v.shape[axis] // n)] * (n - 1)
        sizes.append(v.shape[axis] - sum(sizes))
    edges = np.cumsum([0] + list(sizes))
    for out, a, b in zip(node.output, edges[:-1], edges[1:]):
        index = [slice(None)] * len(v.shape)
        index[axis] = slice(int(a), int(b))
        p.set(v.view(out, lambda arr, ix=tuple(index): arr[ix]))


def concat(p: Planner, node) -> None:
    parts = [p.value(n) for n in node.input if n]
    concat_values(p, parts, attr(node, "axis", 0) % len(parts[0].shape), node.output[0])


def concat_values(p: Planner, parts: list[_Value], axis: int, out: str) -> _Value:
    """Host views concatenate for free; values in GNA memory are placed side by side in one
    buffer (each part at a 64-byte boundary), their producers writing straight into it; a part
    that cannot move (someone else's memory) is copied in by a layout stage."""
    if all(v.buf is None for v in parts):
        phys = np.concatenate([v.phys for v in parts], axis=axis)
        writer = np.concatenate([v.writer for v in parts], axis=axis)
        return p.set(_Value(out, tuple(phys.shape), phys, None, writer))
    target = p.buffer("cat")
    offset, phys, writers = 0, [], []
    for v in parts:
        v = p.materialize(v)
        owner = next((st for st in p.stages if st.out.buf is v.buf), None)
        if owner is None or v.buf.alias is not None:
            fresh = _Value(v.name, v.shape, np.arange(v.phys.size).reshape(v.shape), p.buffer("t", v.phys.size))
            v = p.gather_like(v, fresh)
            owner = p.stages[-1]
        start, length = p.window(v)
        v.buf.place_in(target, offset)
        phys.append(v.phys + offset)
        writers.append(v.writer)
        offset += round_up(max(start + length, owner.m), ALIGN16)  # everything its producer writes
    target.need(offset)
    phys = np.concatenate(phys, axis=axis)
    return p.set(_Value(out, tuple(phys.shape), phys, target, np.concatenate(writers, axis=axis)))


def pad(p: Planner, node) -> None:
    """Pad on a host view is layout the host writes (any mode); inside the network only zero
    padding maps (padding regions of a zeroed buffer, which a following convolution reads)."""
    v = p.value(node.input[0])
    pads = p.consts[node.input[1]].astype(np.int64) if len(node.input) > 1 else np.array(attr(node, "pads"))
    mode = attr(node, "mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    value = _const(p, node, 2, "constant value")
    if value is not None and np.any(value != 0):
        raise CompileError(f"{where(node)}: constant padding with {float(value)} does not map; GNA pads with zeros")
    nd = len(v.shape)
    widths = [(int(pads[i]), int(pads[i + nd])) for i in range(nd)]
    if any(a < 0 or b < 0 for a, b in widths):
        raise CompileError(f"{where(node)}: negative pads (cropping) — use Slice")
    np_mode = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}.get(mode)
    if np_mode is None:
        raise CompileError(f"{where(node)}: pad mode {mode} is not an ONNX mode")
    if v.buf is not None and np_mode != "constant":
        raise CompileError(f"{where(node)}: {mode} padding inside the network does not map to GNA 2.0 (only zero "
                           "padding, as zeroed memory); it maps on the graph input, where the host writes it")
    kw = {"constant_values": -1} if np_mode == "constant" else {}
    phys = np.pad(v.phys, widths, mode=np_mode, **kw)
    writer = np.pad(v.writer, widths, mode="edge")
    p.set(_Value(node.output[0], tuple(phys.shape), phys, v.buf, writer))


# -- computing ---------------------------------------------------------------------------------

def _open_stage(p: Planner, v: _Value):
    """The stage whose whole output v is, if a following op may still fold into it."""
    if v.buf is None or p.uses.get(v.name, 1) != 1:
        return None
    for st in reversed(p.stages):
        if st.out is v or (st.out.buf is v.buf and st.onnx == v.name):
            return st if st.is_open and st.out.phys.shape == v.phys.shape and np.array_equal(st.out.phys, v.phys) \
                else None
    return None


def _per_position(st, v: _Value, c) -> np.ndarray | None:
    """Constant c (broadcast to v's shape) per output row of stage st, or None if it varies where
    one row serves several elements."""
    full = np.broadcast_to(np.asarray(c, dtype=np.float64), v.shape).ravel()
    rows = st.out.phys.ravel()
    if st.kind == "conv":
        fp = st.conv["filters"].shape[0]
        per = np.full(fp, np.nan)
        f = rows % fp
        for fi in np.unique(f):
            vals = full[f == fi]
            if not np.allclose(vals, vals[0]):
                return None
            per[fi] = vals[0]
        return np.nan_to_num(per, nan=1.0)
    per = np.full(st.m, np.nan)
    per[rows] = full
    return per


def _fold(p: Planner, node, v: _Value, scale=None, shift=None) -> bool:
    """Fold `x * scale + shift` (constants broadcast to v) into the open stage that wrote v."""
    st = _open_stage(p, v)
    if st is None or (scale is not None and any(t.wvalue is not None for t in st.terms)):
        return False
    per_s = None if scale is None else _per_position(st, v, scale)
    per_b = None if shift is None else _per_position(st, v, shift)
    if (scale is not None and per_s is None) or (shift is not None and per_b is None):
        return False
    if per_s is not None:
        per_s = np.nan_to_num(per_s, nan=1.0)
        if st.kind == "conv":
            st.conv["filters"] = st.conv["filters"] * per_s[:, None]
        for t in st.terms:
            t.weights = t.weights * (per_s[:, None] if t.kind == "fc" else per_s)
        st.bias = st.bias * per_s
    if per_b is not None:
        st.bias = st.bias + np.nan_to_num(per_b, nan=0.0)
    st.nodes.append(node.name or node.op_type)
    st.pre = _t(node.output[0])
    st.onnx = st.out.name = node.output[0]
    p.set(st.out)
    return True


def _diag_const(p: Planner, node, v: _Value, w, b) -> None:
    st = p.diag([node.name or node.op_type], v, w, b, pre=_t(node.output[0]), onnx=node.output[0])
    p.set(st.out)


def arithmetic(p: Planner, node) -> None:
    op = node.op_type
    data = [i for i in node.input if i not in p.consts]
    if len(data) == 2 and op in ("Add", "Sub", "Mul"):
        return _binary(p, node)
    if op == "Div" and node.input[1] not in p.consts:
        raise CompileError(f"{where(node)}: division by a value does not map to GNA 2.0 (no reciprocal)")
    if len(data) != 1:
        raise CompileError(f"{where(node)}: {op} of constants only should have been folded")
    v = p.value(data[0])
    c = p.consts[[i for i in node.input if i in p.consts][0]]
    neutral = 1.0 if op in ("Mul", "Div") else 0.0
    if np.all(np.asarray(c) == neutral) and not (op == "Sub" and node.input[0] in p.consts) and \
            np.broadcast_shapes(np.shape(c), v.shape) == v.shape:   # x + 0, x * 1: nothing to compute
        p.set(v.view(node.output[0], lambda a: a))
        return
    if op == "Sub" and node.input[0] in p.consts:  # c - x
        scale, shift = -1.0, c
    elif op in ("Mul", "Div"):
        scale, shift = (c if op == "Mul" else 1.0 / c), None
    else:
        scale, shift = None, (c if op == "Add" else -c)
    if not _fold(p, node, v, scale, shift):
        _diag_const(p, node, v, 1.0 if scale is None else scale, 0.0 if shift is None else shift)


def _binary(p: Planner, node) -> None:
    """Two values: a product is a diagonal whose weights are the other value's elements; a sum
    or difference is two diagonal products, the second taking the first's accumulator as bias.
    x + f(x) around one fully connected layer folds into its weights (W + I)."""
    a, b = p.value(node.input[0]), p.value(node.input[1])
    out = node.output[0]
    if node.op_type == "Mul":
        if a.shape != b.shape:
            big, small = (a, b) if a.phys.size >= b.phys.size else (b, a)
            a, b = big, small
        st = p.diag([node.name or "Mul"], a, 1.0, 0.0, pre=_t(out), onnx=out, wvalue=b)
        p.set(st.out)
        return
    sign = -1.0 if node.op_type == "Sub" else 1.0
    if sign > 0 and _sum_of_squares(p, node, a, b):
        return
    if _residual(p, node, a, b, sign) or (sign > 0 and _residual(p, node, b, a, sign)):
        return
    if a.shape != b.shape and a.phys.size < b.phys.size:
        a, b, swap = b, a, True
    else:
        swap = False
    wa, wb = (sign, 1.0) if swap else (1.0, sign)
    st = p.diag([node.name or node.op_type], a, wa, 0.0, pre=_t(out), onnx=out, extra=[(b, wb, None)])
    p.set(st.out)


def _square_term(p: Planner, v: _Value):
    st = _open_stage(p, v)
    if st is None or len(st.terms) != 1 or st.terms[0].wvalue is not st.terms[0].input:
        return None
    return st.terms[0].input


def _sum_of_squares(p: Planner, node, a: _Value, b: _Value) -> bool:
    """a^2 + b^2 (a power spectrum, an L2 norm) as one stage of two products adding in int32,
    rather than two int16 squares: a's and b's producers share one output scale (the smaller of
    the two they would have), so the products share one too."""
    xa, xb = _square_term(p, a), _square_term(p, b)
    if xa is None or xb is None or not p.same_pattern(xa, xb):
        return False
    owners = [next((st for st in p.stages if st.out.buf is x.buf), None) for x in (xa, xb)]
    if any(o is None or o.scale_like is not None or o.scale_group is not None for o in owners):
        return False
    group = owners if owners[0] is not owners[1] else None
    for o in owners:
        o.scale_group = group
    out = node.output[0]
    st = p.diag([node.name or "Add"], xa, 1.0, 0.0, pre=_t(out), onnx=out, wvalue=xa, extra=[(xb, None, xb)])
    p.set(st.out)
    return True


def _residual(p: Planner, node, fx: _Value, x: _Value, sign: float) -> bool:
    st = _open_stage(p, fx)
    if st is None or len(st.terms) != 1 or st.terms[0].kind != "fc" or st.kind != "sum":
        return False
    term = st.terms[0]
    same = term.input.name == x.name and term.input.shape == x.shape and \
        (x.buf is None or (x.buf is term.input.buf and np.array_equal(x.phys, term.input.phys)))
    if not same or x.phys.shape != fx.phys.shape or st.m != fx.phys.size:
        return False
    rows = fx.phys.ravel()
    cols = term.input.phys.ravel() - term.start
    if np.any(cols < 0) or np.any(cols >= term.length):
        return False
    term.weights[rows, cols] += sign
    st.nodes.append(node.name or node.op_type)
    st.pre = _t(node.output[0])
    st.onnx = st.out.name = node.output[0]
    p.set(st.out)
    return True


def unary(p: Planner, node) -> None:
    """An activation: the PWL of the open stage it follows, or of a diagonal identity stage."""
    op = node.op_type
    v = p.value(node.input[0])
    params = {}
    if op == "LeakyRelu":
        params["alpha"] = attr(node, "alpha", 0.01)
    if op == "Clip":
        lo = _const(p, node, 1, "min")
        hi = _const(p, node, 2, "max")
        params.update(min=float(attr(node, "min", -np.inf) if lo is None else lo),
                      max=float(attr(node, "max", np.inf) if hi is None else hi))
    st = _open_stage(p, v)
    if st is None:
        st = p.diag([], v, 1.0, 0.0, pre=_t(v.name))
    st.act = (UNARY_PWL[op], params)
    st.nodes.append(node.name or op)
    st.onnx = st.out.name = node.output[0]
    p.set(st.out)


def neg(p: Planner, node) -> None:
    v = p.value(node.input[0])
    if not _fold(p, node, v, -1.0):
        _diag_const(p, node, v, -1.0, 0.0)


def power(p: Planner, node) -> None:
    e = float(np.asarray(_const(p, node, 1, "exponent")).ravel()[0])
    v = p.value(node.input[0])
    out = node.output[0]
    if e == 2.0:
        st = p.diag([node.name or "Pow"], v, 1.0, 0.0, pre=_t(out), onnx=out, wvalue=v)
    elif e == 1.0:
        return p.set(v.view(out, lambda a: a))
    elif e == 0.5:
        st = _open_stage(p, v) or p.diag([], v, 1.0, 0.0, pre=_t(v.name))
        st.act = ("sqrt", {})
        st.nodes.append(node.name or "Pow")
        st.onnx = st.out.name = out
    else:
        raise CompileError(f"{where(node)}: exponent {e} does not map (GNA 2.0 maps x^2 as a product, x^0.5 as a "
                           "PWL; other powers: rewrite as Mul or an activation)")
    p.set(st.out)


def batch_norm(p: Planner, node) -> None:
    gamma, beta, mean, var = (_const(p, node, i, "scale/bias/mean/variance") for i in range(1, 5))
    v = p.value(node.input[0])
    scale = gamma / np.sqrt(var + attr(node, "epsilon", 1e-5))
    shape = (1, -1) + (1,) * (len(v.shape) - 2)
    sc, sh = scale.reshape(shape), (beta - mean * scale).reshape(shape)
    if not _fold(p, node, v, sc, sh):
        _diag_const(p, node, v, sc, sh)


def dense(p: Planner, node) -> None:
    op = node.op_type
    v = p.value(node.input[0])
    wt = _const(p, node, 1, "weight operand")
    if op == "Gemm":
        if attr(node, "transA", 0):
            raise CompileError(f"{where(node)}: transA is not supported")
        wt = (wt if attr(node, "transB", 0) else wt.T) * attr(node, "alpha", 1.0)
        b = _const(p, node, 2, "bias")
        b = 0.0 if b is None else b * attr(node, "beta", 1.0)
    else:
        wt, b = wt.T, 0.0
    m, k = wt.shape
    rows = int(np.prod(v.shape)) // k
    if rows * k != v.phys.size or v.shape[-1] != k:
        raise CompileError(f"{where(node)}: input {v.shape} does not end in {k}")
    out_shape = tuple(v.shape[:-1]) + (m,)
    # each of the `rows` vectors is one output block: W acts on the last axis
    w_full = np.zeros((rows * m,) + (rows * k,))
    for r in range(rows):
        w_full[r * m:(r + 1) * m, r * k:(r + 1) * k] = wt
    bias = np.tile(np.broadcast_to(np.asarray(b, dtype=np.float64), (m,)), rows)
    st = p.fc([node.name or op], [(v, w_full.reshape((rows * m,) + v.shape))], bias, out_shape,
              pre=_t(node.output[0]), onnx=node.output[0])
    p.set(st.out)


def reduce(p: Planner, node) -> None:
    v = p.value(node.input[0])
    axes = _axes(node, p)
    nd = len(v.shape)
    axes = sorted(a % nd for a in (axes if axes else range(nd)))
    keep = attr(node, "keepdims", 1)
    out_shape = tuple(1 if i in axes else s for i, s in enumerate(v.shape))
    n_out = int(np.prod(out_shape))
    idx_out = np.arange(n_out).reshape(out_shape)
    src = np.broadcast_to(idx_out, v.shape).ravel()
    w = np.zeros((n_out, v.phys.size))
    scale = 1.0 / np.prod([v.shape[a] for a in axes]) if node.op_type == "ReduceMean" else 1.0
    w[src, np.arange(v.phys.size)] = scale
    final = out_shape if keep else tuple(s for i, s in enumerate(v.shape) if i not in axes)
    st = p.fc([node.name or node.op_type], [(v, w.reshape((n_out,) + v.shape))], np.zeros(n_out), final,
              pre=_t(node.output[0]), onnx=node.output[0])
    p.set(st.out)


def conv(p: Planner, node) -> None:
    from .onnx_conv import lower_conv

    lower_conv(p, node)


def lstm(p: Planner, node) -> None:
    from .onnx_recurrent import lower_lstm

    lower_lstm(p, node)


def gru(p: Planner, node) -> None:
    from .onnx_recurrent import lower_gru

    lower_gru(p, node)


LAYOUT = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Dropout")
LOWERINGS = {**{op: layout for op in LAYOUT}, "Slice": slice_, "Gather": gather, "Split": split, "Concat": concat,
             "Pad": pad, **{op: arithmetic for op in ("Mul", "Add", "Sub", "Div")},
             **{op: unary for op in UNARY_PWL}, "Neg": neg, "Pow": power, "BatchNormalization": batch_norm,
             "Gemm": dense, "MatMul": dense, "ReduceMean": reduce, "ReduceSum": reduce, "Conv": conv,
             "LSTM": lstm, "GRU": gru}
