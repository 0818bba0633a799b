"""The GNA 2.0 emulator: golden vectors made by libGNA (every operation, both weight widths) and
hand-worked cases of the arithmetic rules, computed here with Python integers."""
from pathlib import Path

import numpy as np
import pytest

from gna import arith, emulator
from gna.golden import load_case
from gna.ir import (CHUNK_BY_BATCH, Convolution, ElementWiseAffine, FullyConnectedAffine, GnaModel, Pwl,
                    Recurrent)
from gna.model_io import load_model, save_model
from gna.ops import affine
from gna.random_models import KINDS, random_case, random_pwl

GOLDEN = sorted(p for p in (Path(__file__).parent / "data" / "gna_golden").glob("*.npz") if not p.stem.startswith("graph_"))


def test_golden_vectors_cover_every_operation_and_weight_width():
    seen = set()
    for path in GOLDEN:
        meta, model, _, _ = load_case(path)
        assert meta["library"].startswith("libGNA 3.0") and meta["acceleration"] == "generic"
        for op in model.operations:
            w = getattr(op, "weights", getattr(op, "filters", None))
            grouping = getattr(op, "bias_index", None) is not None
            seen.add((op.kind, None if w is None else w.dtype.name, grouping, getattr(op, "pooling", None)))
    for kind in ("FullyConnectedAffine", "ElementWiseAffine", "Recurrent"):
        assert {(kind, "int16"), (kind, "int8")} <= {s[:2] for s in seen}, kind
    assert ("FullyConnectedAffine", "int16", True, None) in seen and ("FullyConnectedAffine", "int8", True, None) in seen
    assert {s[3] for s in seen if s[0] == "Convolution"} >= {None, "max", "sum"}
    assert {"Copy", "Transposition"} <= {s[0] for s in seen}


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_emulator_matches_libgna_golden_vector(path):
    meta, model, x, outs = load_case(path)
    res = emulator.run(model, x)
    for i, (got, want) in enumerate(zip(res.outputs, outs)):
        assert got.dtype == want.dtype and got.shape == want.shape, i
        assert np.array_equal(got, want), f"operation {i}: {int(np.sum(got != want))} elements differ"
    assert res.saturated == meta["saturated"]


def test_golden_vectors_pin_every_batch_size_s_chunk_length(monkeypatch):
    """libGNA's answers to chunk_boundary_b1..8 hold only for the 2.0 chunk lengths: moving any
    batch size's boundary by 8 inputs either way (or to 12,000 / 1,600) must break its case."""
    cases = {p.stem: p for p in GOLDEN if p.stem.startswith("chunk_boundary_b")}
    assert set(cases) == {f"chunk_boundary_b{n}" for n in range(1, 9)}
    for n in range(1, 9):
        meta, model, x, outs = load_case(cases[f"chunk_boundary_b{n}"])
        assert meta["library"].startswith("libGNA") and model.operations[0].batch == n
        assert np.array_equal(emulator.run(model, x).outputs[0], outs[0])
        assert not np.any(outs[0] == np.iinfo(np.int32).max)  # libGNA's sum came back below the clamp
        c = CHUNK_BY_BATCH[n - 1]
        for wrong in {c - 8, c + 8, 12_000 if n == 1 else c - 64, 1_600 if n == 8 else c + 64}:
            table = list(CHUNK_BY_BATCH)
            table[n - 1] = wrong
            monkeypatch.setattr(affine, "CHUNK_BY_BATCH", tuple(table))
            assert not np.array_equal(emulator.run(model, x).outputs[0], outs[0]), (n, wrong)
        monkeypatch.setattr(affine, "CHUNK_BY_BATCH", CHUNK_BY_BATCH)


def _pwl_ref(x: int, pwl: Pwl) -> int:
    bases = [int(b) & ~3 for b in pwl.x_base]
    if x <= bases[0]:
        return int(pwl.y_base[0])
    k = max(i for i, b in enumerate(bases) if b <= x)
    shift = 8 * ((int(pwl.x_base[k]) & 3) + 1)
    y = ((x - bases[k]) * int(pwl.slope[k]) >> shift) + int(pwl.y_base[k])  # Python >> floors
    return max(-32768, min(32767, y))


def test_pwl_against_python_integers_at_every_base_edge():
    rng = np.random.default_rng(3)
    for segments in (2, 3, 5, 17, 33, 128):
        for span in ("wide", "narrow", "even"):
            pwl = random_pwl(rng, segments, span)
            bases = (pwl.x_base.astype(np.int64) & ~3)
            xs = np.unique(np.clip(np.concatenate([bases[:, None] + np.arange(-4, 4)[None, :],
                                                   rng.integers(-2**31, 2**31, (4000, 1))], axis=None),
                                   -2**31, 2**31 - 1))
            got = arith.pwl_apply(xs, pwl)
            want = [_pwl_ref(int(x), pwl) for x in xs]
            assert got.tolist() == want, (segments, span)


def test_pwl_shift_is_eight_times_code_plus_one_and_floors():
    # one segment at 0 with slope 3: shift 8 (code 0) vs 32 (code 3); a negative product floors
    for code, shift in ((0, 8), (1, 16), (2, 24), (3, 32)):
        pwl = Pwl(x_base=[-1000 & ~3, 0 | code], y_base=[-7, 5], slope=[0, -3])
        x = np.array([1, 255, 256, 2**31 - 1], dtype=np.int64)
        assert arith.pwl_apply(x, pwl).tolist() == [max(-32768, min(32767, (-3 * int(v) >> shift) + 5)) for v in x]


@pytest.mark.parametrize("batch", range(1, 9))
def test_affine_clamps_after_every_chunk(batch):
    """Chunk 1 overflows to +2^31-1, chunk 2 subtracts: clamping only at the end would differ."""
    chunk = CHUNK_BY_BATCH[batch - 1]
    k = chunk + 16
    w = np.full((1, k), 32767, np.int16)
    w[0, chunk:] = -32768
    x = np.full((k, batch), 32767, np.int16)
    res = emulator.run(GnaModel([FullyConnectedAffine(w, np.array([5], np.int32), batch)]), x)
    s = 5
    for c in range(0, k, chunk):
        s = max(-2**31, min(2**31 - 1, s + sum(int(w[0, j]) * 32767 for j in range(c, min(c + chunk, k)))))
    unclamped = 5 + sum(int(v) * 32767 for v in w[0])
    assert s != max(-2**31, min(2**31 - 1, unclamped))
    assert res.output.tolist() == [[s] * batch] and res.saturated


def test_int8_weights_scale_products_not_bias():
    w = np.array([[1, -2, 3, 4, 5, 6, 7, -128]], np.int8)
    x = np.arange(1, 9, dtype=np.int16).reshape(8, 1)
    op = FullyConnectedAffine(w, np.array([1000], np.int32), 1, multiplier=np.array([7], np.uint8))
    assert emulator.run(GnaModel([op]), x).output.tolist() == [[1000 + 7 * int(np.dot(w[0].astype(int), x[:, 0]))]]


def test_diagonal_clamps_bias_plus_product():
    op = ElementWiseAffine(np.full(8, 32767, np.int16), np.full(8, 2**31 - 1, np.int32), 1)
    res = emulator.run(GnaModel([op]), np.full((8, 1), 2, np.int16))
    assert res.output.ravel().tolist() == [2**31 - 1] * 8 and res.saturated


def test_convolution_pooling_covers_partial_trailing_windows():
    f = np.ones((4, 8), np.int16)
    x = np.arange(32, dtype=np.int16).reshape(1, 32)
    pwl = Pwl(x_base=[-2**31, 0], y_base=[0, 0], slope=[0, 256])  # identity for x >= 0 (shift 8, slope 256)
    for mode, fn in (("max", max), ("sum", sum)):
        op = Convolution(f, np.zeros(4, np.int32), 32, stride=3, pooling=mode, pool_window=4, pool_stride=3, pwl=pwl)
        conv = [sum(range(p * 3, p * 3 + 8)) for p in range(op.conv_positions)]
        want = [fn(conv[j:min(j + 4, len(conv))]) for j in range(0, len(conv), 3)]
        got = emulator.run(GnaModel([op]), x).output
        assert got.shape == (len(want), 4) and got[:, 0].tolist() == [min(v, 32767) for v in want]


def test_recurrent_feeds_back_its_own_outputs():
    m, k = 32, 8
    w = np.zeros((m, k + m), np.int16)
    w[:, k:] = np.eye(m, dtype=np.int16)  # out[t] = PWL(bias + out[t-1])
    pwl = Pwl(x_base=[-2**31, -32768 & ~3], y_base=[-32768, -32768], slope=[0, 256])
    op = Recurrent(w, np.full(m, 3, np.int32), pwl, batch=5, delay=1, initial_state=np.full((1, m), 10, np.int16))
    out = emulator.run(GnaModel([op]), np.zeros((5, k), np.int16)).output
    assert out[:, 0].tolist() == [13, 16, 19, 22, 25]


@pytest.mark.parametrize("kind", KINDS)
def test_model_files_round_trip(kind, tmp_path):
    _, model, x = random_case(np.random.default_rng(KINDS.index(kind)), kind)
    save_model(tmp_path / "m.npz", model)
    again = load_model(tmp_path / "m.npz")
    assert np.array_equal(emulator.run(model, x).output, emulator.run(again, x).output)


def test_gna_run_cli_writes_the_emulator_output(tmp_path, capsys):
    from toolkit.cli import main

    _, model, x = random_case(np.random.default_rng(5), "chain")
    save_model(tmp_path / "m.npz", model)
    np.save(tmp_path / "x.npy", x)
    assert main(["gna", "run", str(tmp_path / "m.npz"), "--input", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "y.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), emulator.run(model, x).output)
    np.save(tmp_path / "bad.npy", x.astype(np.float32))
    assert main(["gna", "run", str(tmp_path / "m.npz"), "--input", str(tmp_path / "bad.npy")]) == 1
    err = capsys.readouterr().err
    assert "error: input is float32" in err and "hint: quantize the input to int16" in err


GRAPH_GOLDEN = sorted((Path(__file__).parent / "data" / "gna_golden").glob("graph_*.npz"))


def test_graph_golden_vectors_cover_every_lowering_and_silero():
    kinds = {p.stem.rsplit("_", 1)[0] for p in GRAPH_GOLDEN}
    assert {"graph_concat", "graph_mul", "graph_sub", "graph_conv", "graph_lstm", "graph_gru", "graph_silero"} <= kinds


@pytest.mark.parametrize("path", GRAPH_GOLDEN, ids=lambda p: p.stem)
def test_emulator_matches_libgna_on_compiled_graphs(path):
    """Graphs our compiler made (operands at offsets, weights and biases read from buffers), run
    by libGNA: every buffer after every inference, bit for bit."""
    from gna.golden import load_graph_case
    from gna.graph import run_graph

    meta, graph, steps = load_graph_case(path)
    for k, (inputs, want, saturated) in enumerate(steps):
        got, sat = run_graph(graph, inputs)
        for name in want:
            assert np.array_equal(got[name], want[name]), f"{path.stem} step {k} buffer {name}"
        assert sat == saturated
