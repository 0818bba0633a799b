"""The ONNX compiler's last step (docs/gna-quant.md §4.1): each planned stage calibrated and
emitted as GNA 2.0 operations placed in buffers — scales, accumulator sharing, weights in int16
or int8 with compound bias, the PWL — and the carried state's per-element scales."""
from __future__ import annotations

import numpy as np

from quant.pwl_design import activation, design_pwl
from quant.quantizers import calibrate_range

from .graph import Buffer, GnaGraph, Placed, Ref
from .ir import Convolution, ElementWiseAffine, FullyConnectedAffine, Pwl
from .onnx_plan import ALIGN16, ALIGN32, CompileError, Planner, _Value, round_up

ACC_HEADROOM = 2.0 ** 30   # calibrated pre-activation peak lands at half the int32 range
I8_LIMIT = 127 * 255       # largest |weight| an int8 weight times a uint8 multiplier reaches
STATE_HEADROOM = 2.0       # a carried state's range, where its own scales cannot be used


class Emitter:
    def __init__(self, p: Planner, tensors, input_scales: np.ndarray, weights: str, calibration: str,
                 max_pwl_error: float, weight_scaling: str):
        self.p, self.t = p, tensors
        self.scale = {-1 - g: float(s) for g, s in enumerate(input_scales)}   # flattened inputs, then stages
        self.weights, self.calibration, self.max_pwl_error, self.weight_scaling = \
            weights, calibration, max_pwl_error, weight_scaling
        self.graph = GnaGraph()
        self.layers: list[dict] = []

    # scales and places
    def scales_of(self, v: _Value) -> np.ndarray:
        return np.vectorize(lambda w: self.scale[int(w)], otypes=[float])(v.writer) if v.writer.size else v.writer

    def ref(self, buf, offset: int, dtype="int16") -> Ref:
        root, off = buf.root()
        return Ref(self._declare(root, dtype), off + offset)

    def _declare(self, root, dtype="int16") -> str:
        if root.name not in self.graph.buffers:
            align = ALIGN16 if root.dtype == "int16" else ALIGN32
            self.graph.buffers[root.name] = Buffer(round_up(max(root.size, 8), align), root.dtype)
            if root.gather is not None:
                self.graph.inputs.append(root.name)
        return root.name

    def acc_buffer(self, sid: int, j: int, m: int) -> Ref:
        name = f"acc{sid}_{j}"
        self.graph.buffers[name] = Buffer(round_up(m, ALIGN32), "int32")
        return Ref(name, 0)

    def column_scales(self, v: _Value, start: int, length: int) -> np.ndarray:
        s = np.ones(length)
        live = v.phys.ravel() >= 0
        s[(v.phys.ravel() - start)[live]] = self.scales_of(v).ravel()[live]
        return s

    def value_scale(self, v: _Value, st) -> float:
        return self.uniform(self.scales_of(v), f"the scale of '{v.name}', which it must match", st)

    def uniform(self, scales: np.ndarray, what: str, st) -> float:
        s = np.asarray(scales, dtype=np.float64).ravel()
        if s.size and not np.allclose(s, s[0], rtol=1e-9):
            raise CompileError(f"{'+'.join(st.nodes)}: {what} mixes elements of different scales; this compiler needs "
                               "one scale there")
        return float(s[0])

    def function(self, st, pre: np.ndarray):
        if st.act is None:
            return activation("identity")
        params = {**st.act[1], **({"hi": float(np.max(pre))} if st.act[0] == "log" else {})}
        return activation(st.act[0], **params)

    def natural_scale(self, st, pre: np.ndarray | None = None) -> float:
        """The output scale calibration gives the stage on its own."""
        if st.out_range is not None:
            return 32767 / st.out_range
        pre = np.asarray(st.pre(self.t), dtype=np.float64) if pre is None else pre
        out = self.t[st.onnx] if st.act is not None and st.onnx in self.t else self.function(st, pre)[0](pre)
        if st.headroom != 1.0:
            return 32767 / (st.headroom * max(float(np.max(np.abs(out))), 1e-12))
        return 32767 / calibrate_range(out, self.calibration, 16)

    def pwl(self, st, pre: np.ndarray, s_acc: float):
        f, bp, sat = self.function(st, pre)
        if st.scale_rule is not None:
            s_y = st.scale_rule(self)
        elif st.scale_like is not None:
            s_y = self.value_scale(st.scale_like, st)
        elif st.scale_group:
            s_y = min(self.natural_scale(m, pre if m is st else None) for m in st.scale_group)
        else:
            s_y = self.natural_scale(st, pre)
        lo, hi = float(np.min(pre)), float(np.max(pre))
        if hi - lo < 1e-12:
            lo, hi = lo - 1.0, hi + 1.0
        seg = design_pwl(f, s_acc, s_y, lo, hi, breakpoints=bp, saturates=sat, max_error=self.max_pwl_error)
        return Pwl(seg.x_base, seg.y_base, seg.slope), s_y, seg.max_error

    def emit(self, st) -> None:
        pre = np.asarray(st.pre(self.t), dtype=np.float64)
        peak = max(float(np.max(np.abs(pre))), 1e-12)
        first = len(self.graph.nodes)
        if st.kind == "conv":
            s_acc, pwl_err, s_y = self._conv(st, pre, peak)
        else:
            s_acc, pwl_err, s_y = self._sum(st, pre, peak)
        self.scale[st.sid] = s_y
        out = st.out
        self.layers.append({"onnx": st.onnx or out.name, "nodes": st.nodes, "shape": tuple(out.shape),
                            "buffer": self.ref(out.buf, 0).buffer, "positions": out.absolute(), "scale": s_y,
                            "ops": list(range(first, len(self.graph.nodes))), "acc_scale": s_acc,
                            "pwl_segments": int(self.graph.nodes[-1].op.pwl.segments), "pwl_error": pwl_err})

    def _conv(self, st, pre, peak):
        c = st.conv
        v = c["input"]
        ch_scale = self.scales_of(v)[0]
        tap_ch = c["tap_channel"]
        s_tap = np.ones(len(tap_ch))
        for ch in np.unique(tap_ch[tap_ch >= 0]):
            live = v.phys[0, ch] >= 0
            s_tap[tap_ch == ch] = self.uniform(ch_scale[ch][live], "a channel of the convolution's input", st)
        fl = c["filters"]
        bound = np.max(np.abs(fl) / s_tap[None, :])
        s_acc = min(32767 / max(bound, 1e-30), ACC_HEADROOM / peak)
        fq = np.clip(np.round(fl * s_acc / s_tap[None, :]), -32767, 32767).astype(np.int16)
        bias = np.clip(np.round(st.bias * s_acc), -2**31, 2**31 - 1).astype(np.int32)
        pwl, s_y, err = self.pwl(st, pre, s_acc)
        op = Convolution(fq, bias, c["width"], c["stride"], pwl=pwl)
        self.graph.nodes.append(Placed(op, self.ref(v.buf, c["start"]), self.ref(st.out.buf, 0)))
        return s_acc, err, s_y

    def _sum(self, st, pre, peak):
        terms = st.terms
        products = []
        for t in terms:
            if t.wvalue is not None:
                sx = self.scales_of(t.input)
                sv = self.scales_of(t.wvalue)
                products.append(self.uniform(sx * sv, "an element-wise product", st))
        col_scales = [self.column_scales(t.input, t.start, t.length) for t in terms]
        # int8 weights need a compound bias (bias and multiplier per row): only the first term has a
        # constant bias; a later one reads its bias from an accumulator and keeps int16 weights
        i8 = [self.weights == "i8" and j == 0 and t.wvalue is None for j, t in enumerate(terms)]
        limits = [I8_LIMIT if q else 32767 for q in i8]
        if products:
            s_acc = products[0]
            if not np.allclose(products, s_acc, rtol=1e-9):
                raise CompileError(f"{'+'.join(st.nodes)}: the products it adds have different scales")
        else:
            s_acc = min(lim / max(float(np.max(np.abs(t.weights) / (cs[None, :] if t.kind == "fc" else cs))), 1e-30)
                        for t, cs, lim in zip(terms, col_scales, limits))
            s_acc = min(s_acc, ACC_HEADROOM / peak)
        pwl, s_y, err = self.pwl(st, pre, s_acc)
        bias = np.clip(np.round(st.bias * s_acc), -2**31, 2**31 - 1).astype(np.int32)
        prev = None
        for j, (t, cs) in enumerate(zip(terms, col_scales)):
            last, limit = j == len(terms) - 1, limits[j]
            mult = None
            if t.wvalue is not None:
                wq = np.zeros(t.length, np.int16)
            else:
                omega = t.weights * s_acc / (cs[None, :] if t.kind == "fc" else cs)
                if i8[j] and products and np.max(np.abs(omega)) > limit + 0.5:
                    i8[j], limit = False, 32767   # the products' scale leaves int8 no room: int16
                if np.max(np.abs(omega)) > limit + 0.5:
                    raise CompileError(f"{'+'.join(st.nodes)}: a weight needs {np.max(np.abs(omega)):.0f} at the "
                                       "scale the products fix; rescale the model's inputs")
                if i8[j]:
                    rows = omega.reshape(len(omega), -1) if omega.ndim == 2 else omega[:, None]
                    peaks = np.max(np.abs(rows), axis=1)
                    if self.weight_scaling == "tensor":
                        peaks = np.full_like(peaks, peaks.max())
                    mult = np.clip(np.ceil(peaks / 127), 1, 255).astype(np.uint8)
                    wq = np.clip(np.round(rows / mult[:, None]), -127, 127).astype(np.int8).reshape(omega.shape)
                else:
                    wq = np.clip(np.round(omega), -32767, 32767).astype(np.int16)
            b = bias if j == 0 else np.zeros(st.m, np.int32)
            kw = {"multiplier": mult, "pwl": pwl if last else None}
            op = FullyConnectedAffine(wq, b, 1, **kw) if t.kind == "fc" else ElementWiseAffine(wq, b, 1, **kw)
            out = self.ref(st.out.buf, 0) if last else self.acc_buffer(st.sid, j, st.m)
            self.graph.nodes.append(Placed(op, self.ref(t.input.buf, t.start), out,
                                           weights=None if t.wvalue is None else self.ref(t.wvalue.buf, t.wstart),
                                           bias=prev))
            prev = out
        return s_acc, err, s_y


def carried_scales(em: "Emitter", p: Planner, out: _Value, samples: np.ndarray) -> np.ndarray:
    """Per element, the scale of the output element it is fed back from: the state goes around
    as the same int16 counts, nothing lost. Stages whose scale is not their own (tied to another
    value) fall back to one scale with room to grow, since clipping a state is fed back too."""
    sc = np.empty(out.writer.size)
    for sid in np.unique(out.writer):
        st = p.stages[int(sid)] if sid >= 0 else None
        if st is None or st.scale_like is not None or st.scale_group or st.scale_rule is not None:
            return np.full(out.writer.size, 32767 / (STATE_HEADROOM * max(float(np.max(np.abs(samples))), 1e-12)))
        sc[out.writer.ravel() == sid] = em.natural_scale(st)
    return sc


def live_stages(p: Planner, outputs: list[_Value]) -> list:
    """Stages something reads (an output, or a live stage's operand), in order."""
    roots = {id(v.buf.root()[0]) for v in outputs}
    live = []
    for st in reversed(p.stages):
        if id(st.out.buf.root()[0]) not in roots:
            continue
        live.append(st)
        reads = [t.input for t in st.terms] + [t.wvalue for t in st.terms if t.wvalue is not None]
        reads += [st.conv["input"]] if st.kind == "conv" else []
        if st.scale_like is not None and st.scale_like.buf is not None:
            reads.append(st.scale_like)
        roots |= {id(v.buf.root()[0]) for v in reads if v.buf is not None}
    return list(reversed(live))


