"""`npin gna bench`: per-inference time of the numpy emulator, the native emulator and libGNA
(Generic and AVX2) on the same models in one run, as ratios, and the native emulator's GMAC/s
beside the measured peak of its multiply-add instruction on one core."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from common.timing import best_of, timed
from gna import emulator
from gna.ops import model_macs


@dataclass
class BenchModel:
    name: str
    macs: int
    run_numpy: object          # () -> None
    run_native: object
    libgna: object | None      # acceleration -> context manager yielding one_sample() -> seconds, or None
    same: object               # () -> bool: native and numpy outputs identical (and libGNA's, when given)


def _ops_models(rng):
    from gna.ir import Convolution, ElementWiseAffine, FullyConnectedAffine, GnaModel, Recurrent
    from gna.random_models import random_pwl

    def r(shape, dtype=np.int16, hi=2000):
        return rng.integers(-hi, hi, size=shape).astype(dtype)
    out = {}
    for width in (256, 1024, 4096):
        for n in (1, 8):
            out[f"affine {width}x{width} i16 N={n} +PWL"] = (GnaModel([FullyConnectedAffine(
                r((width, width)), r(width, np.int32), n, pwl=random_pwl(rng, 16, "even"))]), r((width, n)))
            out[f"affine {width}x{width} i8 N={n}"] = (GnaModel([FullyConnectedAffine(
                r((width, width), np.int8, 100), r(width, np.int32), n,
                multiplier=rng.integers(0, 256, width))]), r((width, n)))
    for m in (128, 512, 1024):
        out[f"recurrent K={m} M={m} N=8"] = (GnaModel([Recurrent(r((m, 2 * m)), r(m, np.int32),
                                                                  random_pwl(rng, 16, "even"), 8, 1)]), r((8, m)))
    for n in (1, 8):
        out[f"diagonal 8192 N={n} +PWL"] = (GnaModel([ElementWiseAffine(r(8192), r(8192, np.int32), n,
                                                                         pwl=random_pwl(rng, 32, "even"))]), r((8192, n)))
    out["conv W=16384 C=64 F=32 s=2 maxpool"] = (GnaModel([Convolution(
        r((32, 64)), r(32, np.int32), 16384, 2, "max", 3, 3, pwl=random_pwl(rng, 16, "even"))]), r((1, 16384)))
    out["conv W=8192 C=64 F=32 s=2"] = (GnaModel([Convolution(
        r((32, 64)), r(32, np.int32), 8192, 2, pwl=random_pwl(rng, 16, "even"))]), r((1, 8192)))
    return out


def _chain_graph(model):
    """The chain as a GnaGraph (one buffer per operation output), so libGNA loads it once and runs
    it many times: a request is timed alone, the model's creation (a copy of all its weights) apart."""
    from gna.graph import Buffer, GnaGraph, Placed, Ref
    from gna.ir import output_dtype

    g = GnaGraph(inputs=["b0"], outputs=[f"b{len(model.operations)}"])
    g.buffers["b0"] = Buffer(int(np.prod(model.input_shape)))
    for i, op in enumerate(model.operations):
        g.buffers[f"b{i + 1}"] = Buffer(int(np.prod(op.output_shape)), output_dtype(op).name)
        g.nodes.append(Placed(op, Ref(f"b{i}"), Ref(f"b{i + 1}")))
    return g


@contextlib.contextmanager
def _libgna_sampler(lib, model, x, acc: str):
    """one_sample() -> seconds of one request on a model loaded once (the request writes the input
    and runs). A recurrent layer cannot be a graph node (its feedback sits before its output
    buffer): there a sample is (9 requests - 1 request) / 8, each run creating the model."""
    from gna.ir import Recurrent

    if any(isinstance(op, Recurrent) for op in model.operations):
        reps = 8
        yield lambda: max(timed(lambda: lib.run(model, x, acc, 1 + reps)) - timed(lambda: lib.run(model, x, acc, 1)),
                          1e-9) / reps
        return
    feeds = {"b0": np.ascontiguousarray(x, np.int16).reshape(-1)}
    with lib.GraphSession(_chain_graph(model), acc) as sess:
        yield lambda: timed(lambda: sess.run(feeds))


def chain_models(lib) -> list[BenchModel]:
    rng = np.random.default_rng(1)
    out = []
    for name, (model, x) in _ops_models(rng).items():
        def same(model=model, x=x):
            a, b = emulator.run(model, x), emulator.run(model, x, backend="native")
            ok = a.saturated == b.saturated and all(np.array_equal(p, q) for p, q in zip(a.outputs, b.outputs))
            if lib is not None:
                c = lib.run(model, x, "generic")
                ok = ok and c.saturated == a.saturated and all(np.array_equal(p, q) for p, q in zip(a.outputs, c.outputs))
            return ok
        out.append(BenchModel(
            name, model_macs(model), lambda model=model, x=x: emulator.run(model, x),
            lambda model=model, x=x: emulator.run(model, x, backend="native"),
            None if lib is None else (lambda acc, model=model, x=x: _libgna_sampler(lib, model, x, acc)),
            same))
    return out


def _graph_model(name, cm, inputs, lib) -> BenchModel:
    from gna.graph import run_graph
    from gna.ir import GnaModel, GnaModelError

    bufs = cm.host_buffers(cm.feeds_of(inputs))
    try:  # a chain runs as the vocoder runs it: one C call per inference
        chain, x = cm.model, cm.quantize_input(inputs[None])
    except GnaModelError:
        chain = x = None

    def native():
        return emulator.run(chain, x, backend="native") if chain is not None else \
            run_graph(cm.graph, bufs, backend="native")

    @contextlib.contextmanager
    def libgna(acc):
        with lib.GraphSession(cm.graph, acc) as sess:
            yield lambda: timed(lambda: sess.run(bufs))

    def same():
        a, sa = run_graph(cm.graph, bufs)
        b, sb = run_graph(cm.graph, bufs, backend="native")
        ok = sa == sb and all(np.array_equal(a[k], b[k]) for k in a)
        if chain is not None:
            res = native()
            ok = ok and np.array_equal(res.output.reshape(-1), a[cm.graph.nodes[-1].output.buffer][:res.output.size])
        if lib is not None:
            with lib.GraphSession(cm.graph) as sess:
                c, sc = sess.run(bufs)
            ok = ok and sc == sa and all(np.array_equal(a[k], c[k]) for k in c)
        return ok
    return BenchModel(name, model_macs(GnaModel(cm.graph.operations)), lambda: run_graph(cm.graph, bufs), native,
                      None if lib is None else libgna, same)


def network_models(lib) -> list[BenchModel]:
    """The two networks the repository compiles: the reference FiLM network and the FiLM vocoder
    (mean voice), int16 weights, calibrated on their own kind of input."""
    from gna.onnx_compiler import compile_onnx
    from gna.reference_net import build_reference_net, reference_inputs

    out = []
    net = build_reference_net()
    cm = compile_onnx(net, reference_inputs(64, 1), weights="i16")
    out.append(_graph_model("network: reference FiLM (i16)", cm, reference_inputs(1, 3)[0], lib))
    from toolkit.vocoder.chain import load_model
    from toolkit.vocoder.export import MEAN_VOICE, for_speaker

    voc = for_speaker(load_model(), MEAN_VOICE)
    rng = np.random.default_rng(4)
    width = int(np.prod([d.dim_value for d in voc.graph.input[0].type.tensor_type.shape.dim][1:]))
    calib = rng.normal(-4, 2, (64, 1, width)).astype(np.float32)
    cm = compile_onnx(voc, calib, weights="i16")
    out.append(_graph_model("network: FiLM vocoder, one 10 ms frame (i16)", cm, calib[0], lib))
    return out


def scaling(model, xs, rounds: int, cores: int) -> list[tuple[int, float]]:
    """Seconds for the batch `xs` of independent inferences on the native emulator, 1..cores threads."""
    return [(jobs, best_of(lambda: emulator.run_many(model, xs, "native", jobs), rounds)) for jobs in range(1, cores + 1)]


def vocoder_batch(frames: int = 256):
    """The FiLM vocoder (mean voice, i16) as a chain, and `frames` quantized input windows."""
    from gna.onnx_compiler import compile_onnx
    from toolkit.vocoder.chain import load_model
    from toolkit.vocoder.export import MEAN_VOICE, for_speaker

    voc = for_speaker(load_model(), MEAN_VOICE)
    width = int(np.prod([d.dim_value for d in voc.graph.input[0].type.tensor_type.shape.dim][1:]))
    rng = np.random.default_rng(4)
    cm = compile_onnx(voc, rng.normal(-4, 2, (64, 1, width)).astype(np.float32), weights="i16")
    wins = rng.normal(-4, 2, (frames, 1, width)).astype(np.float32)
    return cm.model, [cm.quantize_input(w) for w in wins]
