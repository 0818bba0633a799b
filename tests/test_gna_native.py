"""The native GNA emulator (gna/native.py, C) against the numpy emulator and libGNA's golden
vectors, on every instruction set this CPU runs (portable C, AVX2, AVX-512, AVX-512 VNNI): the same
output bits, dtype and saturation flag. Generated cases come from each operation's own random
families (gna/ops/), hypothesis drives the arithmetic edges."""
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gna import emulator, native
from gna.golden import load_case, load_graph_case
from gna.graph import run_graph
from gna.ir import CHUNK_BY_BATCH, Convolution, ElementWiseAffine, FullyConnectedAffine, GnaModel, Recurrent
from gna.random_models import KINDS, random_case, random_pwl
from parts import missing, needs

pytestmark = needs("native")
DATA = Path(__file__).parent / "data" / "gna_golden"
ISAS = native.available_isas() if missing("native") is None else ["none"]


@pytest.fixture(params=ISAS)
def isa(request):
    native.set_isa(request.param)
    yield request.param
    native.set_isa(None)


def _same(a, b):
    assert a.saturated == b.saturated
    for i, (p, q) in enumerate(zip(a.outputs, b.outputs)):
        assert p.dtype == q.dtype and p.shape == q.shape, i
        assert np.array_equal(p, q), f"operation {i}: {int(np.sum(p != q))} elements differ"


@pytest.mark.parametrize("kind", KINDS)
def test_native_equals_numpy_on_every_random_family(kind, isa):
    rng = np.random.default_rng(abs(hash((kind, isa))) % 2**32)
    for _ in range(25):
        _, model, x = random_case(rng, kind)
        _same(emulator.run(model, x, backend="native"), emulator.run(model, x))


@pytest.mark.parametrize("lanes", [True, False])
def test_recurrent_in_both_layouts_equals_numpy(lanes, isa, monkeypatch):
    """A recurrent layer runs with its rows in the SIMD lanes up to ROWS_IN_LANES cells and as rows
    above: both layouts, on the random family and on cell counts off every padding multiple."""
    import gna.ops.recurrent as recurrent

    monkeypatch.setattr(recurrent, "ROWS_IN_LANES", 4096 if lanes else 0)
    rng = np.random.default_rng(7 + lanes)
    for _ in range(12):
        _, model, x = random_case(rng, "recurrent")
        _same(emulator.run(model, x, backend="native"), emulator.run(model, x))
    for m, k, w8 in ((8, 24, False), (20, 40, True), (40, 8, False), (300, 64, False)):
        wdt = np.int8 if w8 else np.int16
        top = 127 if w8 else 32767
        op = Recurrent(rng.integers(-top, top + 1, (m, k + m)).astype(wdt), rng.integers(-2**20, 2**20, m).astype(np.int32),
                       random_pwl(rng, 16, "even"), 4, 2, multiplier=rng.integers(0, 256, m) if w8 else None)
        model, x = GnaModel([op]), rng.integers(-32768, 32768, (4, k)).astype(np.int16)
        _same(emulator.run(model, x, backend="native"), emulator.run(model, x))


def test_native_equals_libgna_golden_vectors(isa):
    cases = sorted(p for p in DATA.glob("*.npz") if not p.stem.startswith("graph_"))
    assert len(cases) > 30
    for path in cases:
        meta, model, x, outs = load_case(path)
        res = emulator.run(model, x, backend="native")
        assert res.saturated == meta["saturated"], path.stem
        for got, want in zip(res.outputs, outs):
            assert got.dtype == want.dtype and np.array_equal(got, want), path.stem


def test_native_equals_libgna_on_compiled_graphs(isa):
    for path in sorted(DATA.glob("graph_*.npz")):
        meta, graph, steps = load_graph_case(path)
        for k, (inputs, want, saturated) in enumerate(steps):
            got, sat = run_graph(graph, inputs, backend="native")
            assert sat == saturated, (path.stem, k)
            for name in want:
                assert np.array_equal(got[name], want[name]), (path.stem, k, name)


def test_the_split_input_is_exact_at_the_extremes(isa):
    """-32768 everywhere (weights and inputs): every product 2^30, the widest a lane ever sees;
    a chunk of them overflows int32 and must clamp per chunk."""
    for n in (1, 3, 8):
        k = CHUNK_BY_BATCH[n - 1] + 64
        w = np.full((5, k), -32768, np.int16)
        w[1] = 32767
        w[2, ::2] = 32767
        x = np.full((k, n), -32768, np.int16)
        model = GnaModel([FullyConnectedAffine(w, np.array([0, -5, 7, 2**31 - 1, -2**31], np.int32), n)])
        _same(emulator.run(model, x, backend="native"), emulator.run(model, x))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_hypothesis_native_equals_numpy(data):
    """Shapes, widths, multipliers, PWLs and value ranges drawn by hypothesis, on the best ISA."""
    native.set_isa(None)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    kind = data.draw(st.sampled_from(["affine", "affine8", "diagonal", "conv", "recurrent"]))
    n = data.draw(st.integers(1, 8))
    hi = data.draw(st.sampled_from([3, 300, 32768]))
    pwl = random_pwl(rng, data.draw(st.integers(2, 128)), data.draw(st.sampled_from(["even", "random"]))) \
        if data.draw(st.booleans()) else None

    def v(shape, dtype=np.int16, top=hi):
        lo = -top if dtype != np.int8 else -min(top, 128)
        return rng.integers(lo, min(top, np.iinfo(dtype).max + 1), size=shape).astype(dtype)
    if kind in ("affine", "affine8"):
        m, k = data.draw(st.integers(1, 40)), 8 * data.draw(st.integers(1, 100))
        i8 = kind == "affine8"
        op = FullyConnectedAffine(v((m, k), np.int8 if i8 else np.int16), v(m, np.int32, 2**31), n, pwl=pwl,
                                  multiplier=rng.integers(0, 256, m) if i8 else None)
        x = v((k, n))
    elif kind == "diagonal":
        m = 8 * data.draw(st.integers(1, 64))
        op = ElementWiseAffine(v(m), v(m, np.int32, 2**31), n, pwl=pwl)
        x = v((m, n))
    elif kind == "conv":
        f, c = 4 * data.draw(st.integers(1, 12)), 8 * data.draw(st.integers(1, 12))
        stride = data.draw(st.integers(1, min(c, 8)))
        width = c + 8 * data.draw(st.integers(0, 40))
        pooling = data.draw(st.sampled_from([None, "max", "sum"]))
        op = Convolution(v((f, c)), v(f, np.int32, 2**31), width, stride, pooling,
                         data.draw(st.integers(1, 6)) if pooling else None,
                         data.draw(st.integers(1, 6)) if pooling else None,
                         pwl=pwl or (random_pwl(rng, 8, "even") if pooling else None))
        x = v((1, width))
    else:
        m, k = 32 * data.draw(st.integers(1, 3)), 8 * data.draw(st.integers(1, 40))
        op = Recurrent(v((m, k + m)), v(m, np.int32, 2**20), pwl or random_pwl(rng, 16, "even"), n,
                       data.draw(st.integers(1, n)))
        x = v((n, k))
    model = GnaModel([op])
    _same(emulator.run(model, x, backend="native"), emulator.run(model, x))


def test_npin_gna_isa_caps_the_instruction_set(monkeypatch):
    assert native.set_isa("portable") == "portable" and native.isa() == "portable"
    assert native.set_isa(None) == ISAS[-1]
    with pytest.raises(Exception, match="is not one of"):
        native.set_isa("sse9")


def test_a_batch_on_every_core_gives_each_inference_as_alone(tmp_path):
    """run_many: one C call per thread for a chain the plan covers, the per-operation path for one
    it does not (an int32 result handed on); results in input order, flags per inference."""
    rng = np.random.default_rng(7)
    chain = GnaModel([FullyConnectedAffine(rng.integers(-3000, 3000, (64, 48)).astype(np.int16),
                                           rng.integers(-2**31, 2**31, 64).astype(np.int32), 2,
                                           pwl=random_pwl(rng, 12, "even")),
                      ElementWiseAffine(rng.integers(-3000, 3000, 64).astype(np.int16), np.zeros(64, np.int32), 2)])
    handed_int32 = GnaModel([FullyConnectedAffine(rng.integers(-50, 50, (16, 16)).astype(np.int16),
                                                  np.zeros(16, np.int32), 1),
                             ElementWiseAffine(np.ones(16, np.int16), np.zeros(16, np.int32), 1)])
    assert native.chain_plan(chain) is not None and native.chain_plan(handed_int32) is None
    for model, shape in ((chain, (48, 2)), (handed_int32, (16, 1))):
        xs = [rng.integers(-32768, 32768, shape).astype(np.int16) for _ in range(9)]
        for jobs in (1, 2):
            for got, x in zip(emulator.run_many(model, xs, "native", jobs), xs):
                _same(got, emulator.run(model, x))


def test_gna_run_takes_a_stacked_batch(tmp_path):
    from gna.model_io import save_model
    from toolkit.cli import main

    rng = np.random.default_rng(3)
    model = GnaModel([FullyConnectedAffine(rng.integers(-900, 900, (24, 40)).astype(np.int16),
                                           np.zeros(24, np.int32), 1, pwl=random_pwl(rng, 8, "even"))])
    save_model(tmp_path / "m.npz", model)
    xs = rng.integers(-32768, 32768, (5, 40, 1)).astype(np.int16)
    np.save(tmp_path / "x.npy", xs)
    assert main(["gna", "run", str(tmp_path / "m.npz"), "--input", str(tmp_path / "x.npy"), "--backend", "native",
                 "--jobs", "2", "-o", str(tmp_path / "y.npy")]) == 0
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (5, 24, 1)
    for yi, xi in zip(y, xs):
        assert np.array_equal(yi, emulator.run(model, xi).output)


@pytest.mark.parametrize("segments", [2, 7, 16, 31, 32, 33, 128])
def test_pwl_at_every_segment_edge_matches_the_reference(segments, isa):
    """The PWL (vector path up to 32 segments on AVX-512, scalar otherwise) at every segment start,
    one either side, the int32 extremes and random values: the numpy reference's int16 and flag."""
    from gna.arith import Sat, pwl_apply

    rng = np.random.default_rng(segments)
    for style in ("even", "random"):
        pwl = random_pwl(rng, segments, style)
        base = pwl.x_base.astype(np.int64) & ~3
        values = np.concatenate([base, base - 1, base + 1, [-2**31, 2**31 - 1, 0],
                                 rng.integers(-2**31, 2**31, 500)]).astype(np.int64)
        ffi, lib = native.load()
        got = np.empty(len(values), np.int16)
        flag = lib.npg_pwl_apply(native.pwl_of(pwl), ffi.from_buffer("int64_t[]", values), len(values),
                                 ffi.from_buffer("int16_t[]", got))
        sat = Sat()
        want = pwl_apply(values, pwl, sat)
        assert np.array_equal(got, want) and bool(flag) == sat.hit, (segments, style)


def test_gna_bench_without_the_library_checks_every_model_bit_exact(tmp_path, capsys):
    """The bench's own comparison (numpy against native on each model) and its last line; with
    libGNA present the same command adds the library's two paths (not in CI)."""
    import json
    import re

    from toolkit.cli import main

    assert main(["gna", "bench", "--without-libgna", "--rounds", "1", "--no-networks",
                 "--json", str(tmp_path / "bench.json")]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.match(r"native vs libGNA AVX2: not measured \(no libGNA\); native vs numpy worst [\d.]+x \(.+\), bit-exact$",
                    last), last
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert len(doc["models"]) >= 19 and all(m["bit_exact"] for m in doc["models"])
    assert {m["model"].split()[0] for m in doc["models"]} == {"affine", "recurrent", "diagonal", "conv"}
    assert set(doc["scaling"]["seconds_by_cores"]) == {str(j) for j in range(1, (os.cpu_count() or 1) + 1)}
