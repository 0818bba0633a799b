"""LSTM and GRU (ONNX ops, forward, batch 1) unrolled over their time steps into affine and
diagonal operations (docs/gna-quant.md §4.5).

Per LSTM step (gates i, o, f, c):
    of  = sigmoid(W_of x + R_of h + b)             two affine ops each, the second taking the first's
    i   = sigmoid(W_i x + R_i h + b)               accumulator as bias (no copy of [x; h])
    g   = tanh(W_c x + R_c h + b)
    c'  = f * c + i * g                            diagonal ops whose weights are the gate buffers;
                                                   i and g share s_f * s_c evenly so the products add
    h'  = o * tanh(c')
Per GRU step (gates z, r, h; linear_before_reset as the op says):
    zr = sigmoid(W_zr x + R_zr h + b)
    n  = tanh(W_h x + b + r * (R_h h + b_r))   or   tanh(W_h x + R_h (r * h) + b)
    h' = n + z * (h - n)
The state enters as the op's initial_h / initial_c (a graph input, when the model carries its
state across inferences) and leaves as Y_h / Y_c; the host feeds it back between inferences.
Each gate block starts on a 64-byte boundary, so the diagonal ops can point at it.
"""
from __future__ import annotations

import numpy as np

from .onnx_lowerings import _const, attr, concat_values
from .onnx_plan import ALIGN16, CompileError, Planner, _Value, round_up, where


# The cell state integrates, and ranges as far as its inputs push it: Silero's reached twice the
# peak of its calibration stream on held-out noisy speech. Four times its calibrated peak keeps it
# from clipping (a clipped state is fed back) at two bits of its int16 resolution.
CELL_HEADROOM = 4.0


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _check(p: Planner, node, gates: int):
    direction = attr(node, "direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if direction != "forward" or attr(node, "layout", 0) != 0 or attr(node, "clip") is not None \
            or attr(node, "input_forget", 0):
        raise CompileError(f"{where(node)}: maps forward direction, layout 0, no clip, no input_forget")
    acts = attr(node, "activations")
    want = ["Sigmoid", "Tanh", "Tanh"] if gates == 4 else ["Sigmoid", "Tanh"]
    if acts and [a.decode() if isinstance(a, bytes) else a for a in acts] != want:
        raise CompileError(f"{where(node)}: activations {acts}; this lowering takes the defaults {want}")
    if len(node.input) > 4 and node.input[4]:
        raise CompileError(f"{where(node)}: sequence_lens is not supported (every step runs)")
    x = p.value(node.input[0])
    if len(x.shape) != 3 or x.shape[1] != 1:
        raise CompileError(f"{where(node)}: input {x.shape}; GNA maps batch 1 ([T, 1, I])")
    w, r = _const(p, node, 1, "W"), _const(p, node, 2, "R")
    h = attr(node, "hidden_size") or r.shape[-1]
    b = _const(p, node, 3, "B")
    b = np.zeros((1, 2 * gates * h)) if b is None else b
    return x, w[0], r[0], b[0], h


def _state(p: Planner, node, i: int, h: int, name: str) -> _Value:
    """initial_h / initial_c as an [H] value (zeros when the op has none)."""
    if len(node.input) > i and node.input[i]:
        v = p.value(node.input[i])
        return v.view(v.name, lambda a: a.reshape(h))
    zero = p.internal(name, lambda t: np.zeros((_batch(t), h)))
    return _Value(zero, (h,), np.full(h, -1), None)


def _batch(t) -> int:
    return next(iter(t.values())).shape[0]


def _float_in(p: Planner, v: _Value):
    name = v.name
    return lambda t: np.asarray(t[name]).reshape(_batch(t), -1)


def _outputs(p: Planner, node, ys: list[_Value], h_last: _Value, c_last: _Value | None) -> None:
    hsz = h_last.shape[0]
    outs = list(node.output) + [""] * 3
    if outs[0]:
        steps = [y.view(y.name, lambda a: a.reshape(1, 1, 1, hsz)) for y in ys]
        if len(steps) == 1:
            p.set(steps[0].view(outs[0], lambda a: a))
        else:
            concat_values(p, steps, 0, outs[0])
    if outs[1]:
        p.set(h_last.view(outs[1], lambda a: a.reshape(1, 1, hsz)))
    if c_last is not None and outs[2]:
        p.set(c_last.view(outs[2], lambda a: a.reshape(1, 1, hsz)))


class _StepReference:
    """The cell's float internals per time step (gates, cell, hidden), computed once per set of
    calibration tensors from the cell's inputs; `ref` registers one of them as a named tensor."""

    def __init__(self, p: Planner, name: str, compute):
        self.p, self.name, self.compute = p, name, compute
        self.memo: dict = {}

    def __call__(self, t) -> list[dict]:
        if id(t) not in self.memo:
            self.memo = {id(t): self.compute(t)}
        return self.memo[id(t)]

    def ref(self, s: int, k: str, shape=None) -> str:
        def value(t):
            v = self(t)[s][k]
            return v if shape is None else v.reshape((-1,) + shape)
        return self.p.internal(f"{self.name}.{k}{s}", value)


def lower_lstm(p: Planner, node) -> None:
    x, w, r, b, hsz = _check(p, node, 4)
    if len(node.input) > 7 and node.input[7]:
        raise CompileError(f"{where(node)}: peephole weights (P) are not supported")
    hp = round_up(hsz, ALIGN16)
    wb, rb = b[:4 * hsz], b[4 * hsz:]
    blk = [slice(k * hsz, (k + 1) * hsz) for k in range(4)]   # i, o, f, c
    h, c = _state(p, node, 5, hsz, "h0"), _state(p, node, 6, hsz, "c0")
    h_ref, c_ref = _float_in(p, h), _float_in(p, c)
    name = node.name or "LSTM"
    t_steps = x.shape[0]
    def compute(t):
        xs = np.asarray(t[x.name]).reshape(_batch(t), t_steps, -1)
        hh, cc = h_ref(t), c_ref(t)
        steps = []
        for s in range(t_steps):
            pre = xs[:, s] @ w.T + hh @ r.T + wb + rb
            i, o, f, g = (pre[:, k] for k in blk)
            cn = _sigmoid(f) * cc + _sigmoid(i) * np.tanh(g)
            tc = np.tanh(cn)
            hn = _sigmoid(o) * tc
            steps.append({"iof": np.concatenate([i, o, f], axis=1), "g": g, "c": cn, "tc": tc, "h": hn,
                          "of": _sigmoid(np.stack([o, f], axis=1)), "i": _sigmoid(i), "gt": np.tanh(g)})
            hh, cc = hn, cn
        return steps

    ref = _StepReference(p, name, compute).ref

    ys = []
    for s in range(t_steps):
        xt = x.view(x.name, lambda a, s=s: a[s, 0])
        rows = np.arange(2)[:, None] * hp + np.arange(hsz)[None, :]
        w_of = np.concatenate([w[blk[1]], w[blk[2]]])
        r_of = np.concatenate([r[blk[1]], r[blk[2]]])
        b_of = np.concatenate([(wb + rb)[blk[k]] for k in (1, 2)]).reshape(2, hsz)
        pre_iof = ref(s, "iof", (3, hsz))
        gates = p.fc([f"{name} gates o,f"], [(xt, w_of), (h, r_of)], b_of, (2, hsz),
                     pre=lambda t, n=pre_iof: p.derived[n](t)[:, 1:], rows=rows, onnx=ref(s, "of", (2, hsz)))
        gates.act, gates.out_range = ("sigmoid", {}), 1.0
        o_v, f_v = (gates.out.view(f"{gates.out.name}[{k}]", lambda a, k=k: a[k]) for k in range(2))
        # i * g must add to f * c in one accumulator: s_i * s_g = s_f * s_c. Split evenly, so
        # neither i nor g is squeezed into c's wide range
        c_prev = c

        def half(em, c_prev=c_prev):
            return float(np.sqrt(32767.0 * em.value_scale(c_prev, gates)))

        gate_i = p.fc([f"{name} gate i"], [(xt, w[blk[0]]), (h, r[blk[0]])], (wb + rb)[blk[0]], (hsz,),
                      pre=lambda t, n=pre_iof: p.derived[n](t)[:, 0], onnx=ref(s, "i"))
        gate_i.act, gate_i.scale_rule = ("sigmoid", {}), half
        i_v = gate_i.out
        pre_g = ref(s, "g")
        cand = p.fc([f"{name} gate c"], [(xt, w[blk[3]]), (h, r[blk[3]])], (wb + rb)[blk[3]], (hsz,),
                    pre=lambda t, n=pre_g: p.derived[n](t), onnx=ref(s, "gt"))
        cand.act, cand.scale_rule = ("tanh", {}), half
        c_name = ref(s, "c")
        cell = p.diag([f"{name} c = f*c + i*g"], c, 1.0, 0.0, pre=lambda t, n=c_name: p.derived[n](t),
                      wvalue=f_v, extra=[(cand.out, None, i_v)], onnx=c_name)
        cell.act, cell.headroom = ("identity", {}), CELL_HEADROOM
        tc = p.diag([f"{name} tanh(c)"], cell.out, 1.0, 0.0, pre=lambda t, n=c_name: p.derived[n](t),
                    onnx=ref(s, "tc"))
        tc.act, tc.out_range = ("tanh", {}), 1.0
        h_name = ref(s, "h")
        hid = p.diag([f"{name} h = o*tanh(c)"], tc.out, 1.0, 0.0, pre=lambda t, n=h_name: p.derived[n](t),
                     wvalue=o_v, onnx=h_name)
        hid.act, hid.out_range = ("identity", {}), 1.0   # |o * tanh(c)| < 1
        h, c = hid.out, cell.out
        ys.append(h)
    _outputs(p, node, ys, h, c)


def lower_gru(p: Planner, node) -> None:
    x, w, r, b, hsz = _check(p, node, 3)
    hp = round_up(hsz, ALIGN16)
    wb, rb = b[:3 * hsz], b[3 * hsz:]
    blk = [slice(k * hsz, (k + 1) * hsz) for k in range(3)]   # z, r, h
    lbr = attr(node, "linear_before_reset", 0)
    h = _state(p, node, 5, hsz, "h0")
    h_ref = _float_in(p, h)
    name = node.name or "GRU"
    t_steps = x.shape[0]
    def compute(t):
        xs = np.asarray(t[x.name]).reshape(_batch(t), t_steps, -1)
        hh = h_ref(t)
        steps = []
        for s in range(t_steps):
            xz = xs[:, s] @ w.T + wb
            zr = xz[:, :2 * hsz] + hh @ r[:2 * hsz].T + rb[:2 * hsz]
            z, rr = _sigmoid(zr[:, :hsz]), _sigmoid(zr[:, hsz:])
            hn = hh @ r[blk[2]].T + rb[blk[2]]
            rh = rr * hh
            pre_n = xz[:, blk[2]] + (rr * hn if lbr else rh @ r[blk[2]].T + rb[blk[2]])
            n = np.tanh(pre_n)
            d = hh - n
            hnew = n + z * d
            steps.append({"zr": zr, "hn": hn, "rh": rh, "n_pre": pre_n, "n": n, "d": d, "h": hnew})
            hh = hnew
        return steps

    ref = _StepReference(p, name, compute).ref

    def d(n):
        return lambda t: p.derived[n](t)

    ys = []
    for s in range(t_steps):
        xt = x.view(x.name, lambda a, s=s: a[s, 0])
        rows = np.arange(2)[:, None] * hp + np.arange(hsz)[None, :]
        zr = p.fc([f"{name} gates z,r"], [(xt, w[:2 * hsz]), (h, r[:2 * hsz])], (wb + rb)[:2 * hsz].reshape(2, hsz),
                  (2, hsz), pre=d(ref(s, "zr", (2, hsz))), rows=rows)
        zr.act, zr.out_range = ("sigmoid", {}), 1.0
        z_v, r_v = (zr.out.view(f"{zr.out.name}[{k}]", lambda a, k=k: a[k]) for k in range(2))
        if lbr:
            hn = p.fc([f"{name} R_h h"], [(h, r[blk[2]])], rb[blk[2]], (hsz,), pre=d(ref(s, "hn")))
            # r * hn fixes the accumulator's scale (s_r * s_hn); W_h x must still fit int16 there
            def hn_scale(em, hn=hn, xt=xt, wmax=float(np.max(np.abs(w[blk[2]])))):
                sx = float(np.min(em.scales_of(xt)))
                return min(em.natural_scale(hn), sx / max(wmax, 1e-30))

            hn.act, hn.scale_rule = ("identity", {}), hn_scale
            # tanh(W_h x + b + r * hn): the product's accumulator scale rules; the affine adapts
            cand = p.diag([f"{name} n"], hn.out, 1.0, 0.0, pre=d(ref(s, "n_pre")), wvalue=r_v)
            xt_m = p.materialize(xt)
            start, length = p.window(xt_m)
            wt = np.zeros((cand.m, length))
            wt[:hsz][:, (xt_m.phys.ravel() - start)] = w[blk[2]]
            from .onnx_plan import _Term
            cand.terms.insert(0, _Term("fc", xt_m, start, length, wt))
            bias = np.zeros(cand.m)
            bias[:hsz] = wb[blk[2]]
            cand.bias = bias
        else:
            rh = p.diag([f"{name} r*h"], h, 1.0, 0.0, pre=d(ref(s, "rh")), wvalue=r_v)
            rh.act = ("identity", {})
            cand = p.fc([f"{name} n"], [(xt, w[blk[2]]), (rh.out, r[blk[2]])], (wb + rb)[blk[2]], (hsz,),
                        pre=d(ref(s, "n_pre")))
        cand.act, cand.out_range = ("tanh", {}), 1.0
        n = cand.out
        diff = p.diag([f"{name} h - n"], h, 1.0, 0.0, pre=d(ref(s, "d")), extra=[(n, -1.0, None)])
        # z * (h - n) fixes h's accumulator scale (s_z * s_d); n joins with weight s_d * s_z / s_n,
        # which int16 holds while s_d <= 32767 (s_z = s_n = 32767)
        diff.act = ("identity", {})
        diff.scale_rule = lambda em, diff=diff: min(em.natural_scale(diff), 32767.0)
        h_name = ref(s, "h")
        hid = p.diag([f"{name} h = n + z*(h - n)"], diff.out, 1.0, 0.0, pre=d(h_name), wvalue=z_v,
                     extra=[(n, 1.0, None)], onnx=h_name)
        hid.act, hid.headroom = ("identity", {}), 1.25   # a mix of n and the previous h: as wide as they are
        h = hid.out
        ys.append(h)
    _outputs(p, node, ys, h, None)
