"""Optimized kernels against the reference kernels (TFLM discipline: same bits or not shipped)."""
import math

import numpy as np
import pytest

from conftest import ALL_KERNELS
from firmware.host_twin import load
from firmware.slab import facet_storage

OPTIMIZED = [k for k in ALL_KERNELS if k != "ref"]


def _call_update(kernels, m, v, x, eta, mu):
    ffi, lib = load(kernels)
    m, v = m.astype(np.int16).copy(), v.astype(np.int16).copy()
    x = x.astype(np.int16)
    nm = lib.npin_update_q15(ffi.from_buffer("int16_t[]", m), ffi.from_buffer("int16_t[]", v),
                             ffi.from_buffer("int16_t[]", x), len(m), eta, mu)
    return m, v, nm


def _call_dots(kernels, m, f):
    ffi, lib = load(kernels)
    m, f = m.astype(np.int16), np.ascontiguousarray(f, dtype=np.int16)
    out = np.zeros(f.shape[0], np.int64)
    lib.npin_dots_q15(ffi.from_buffer("int16_t[]", m), ffi.from_buffer("int16_t[]", f), f.shape[1],
                      f.shape[0], ffi.from_buffer("int64_t[]", out))
    return out


def _call_dots_q7(kernels, m, f):
    """f in logical order; the kernel gets the rows in slab storage order."""
    ffi, lib = load(kernels)
    m = m.astype(np.int16)
    rows = np.ascontiguousarray(facet_storage(f, "q7"), dtype=np.int8)
    out = np.zeros(f.shape[0], np.int64)
    lib.npin_dots_q7(ffi.from_buffer("int16_t[]", m), ffi.from_buffer("int8_t[]", rows), f.shape[1],
                     f.shape[0], ffi.from_buffer("int64_t[]", out))
    return out


@pytest.mark.parametrize("kernels", OPTIMIZED)
@pytest.mark.parametrize("dims", [8, 16, 24, 32, 40, 512, 520, 2048])
def test_update_and_dots_match_reference_at_extremes(kernels, dims):
    rng = np.random.default_rng(dims)
    cases = [np.full(dims, -32768), np.full(dims, 32767), rng.integers(-32768, 32768, dims),
             rng.choice([-32768, 32767], dims)]
    for m in cases:
        for x in cases:
            for eta, mu in ((32767, 32767), (0, 32767), (12345, 0)):
                got = _call_update(kernels, m, m[::-1], x, eta, mu)
                want = _call_update("ref", m, m[::-1], x, eta, mu)
                assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
                assert got[2] == want[2]
    f = np.stack([np.full(dims, 32767), np.full(dims, -32767), rng.integers(-32767, 32768, dims)] * 3)
    for m in cases:
        want = _call_dots("ref", m, f)
        assert np.array_equal(_call_dots(kernels, m, f), want)
        # and both equal the exact integer dot product
        assert want.tolist() == [int(np.dot(m.astype(object), row.astype(object))) for row in f]
    g = np.stack([np.full(dims, 127), np.full(dims, -127), rng.integers(-127, 128, dims), np.arange(dims) % 255 - 127])
    for m in cases:
        exact = [int(np.dot(m.astype(object), row.astype(object))) for row in g]
        assert _call_dots_q7("ref", m, g).tolist() == exact
        assert _call_dots_q7(kernels, m, g).tolist() == exact


@pytest.mark.parametrize("kernels", OPTIMIZED)
@pytest.mark.parametrize("n_facets", [1, 3, 4, 5, 8, 9, 16, 17, 33])
def test_dots_at_every_pass_width_and_the_lane_bounds(kernels, n_facets):
    """The optimized dots take several facets per pass and add lanes across in int32: every
    remainder of a pass, and the inputs that push each partial sum to its largest magnitude
    (mh = -128 or ml = 255 against +-32767; Q7 +-127) at D = 2048 with a tail of 8."""
    for dims in (2048, 2040):
        rng = np.random.default_rng(n_facets * dims)
        minds = [np.full(dims, -32768), np.full(dims, -32513),  # mh = -128, ml = 255
                 np.full(dims, 32767), rng.integers(-32768, 32768, dims)]
        f = rng.choice([-32767, 32767], (n_facets, dims))
        f[0] = -32767
        g = rng.choice([-127, 127], (n_facets, dims))
        g[0] = -127
        for m in minds:
            exact = [int(np.dot(m.astype(object), row.astype(object))) for row in f]
            assert _call_dots(kernels, m, f).tolist() == exact
            exact7 = [int(np.dot(m.astype(object), row.astype(object))) for row in g]
            assert _call_dots_q7(kernels, m, g).tolist() == exact7


def test_q7_reference_reads_the_storage_order():
    """A one-hot facet in each of the four positions of a group picks that component of m: the
    reference kernel undoes the swap of the middle two (docs/pin-spec.md §2.2)."""
    m = np.arange(1, 9) * 1000
    for i in range(8):
        f = np.zeros((1, 8), np.int64)
        f[0, i] = 1
        assert _call_dots_q7("ref", m, f).tolist() == [int(m[i])]


@pytest.mark.parametrize("kernels", ALL_KERNELS)
def test_isqrt_is_exact_floor(kernels):
    _, lib = load(kernels)
    values = [0, 1, 2, 3, 4, 15, 16, 17, 2**32 - 1, 2**32, 2**42, 2**42 - 1, 2**52 + 1, 2**63 - 1, 2**64 - 1]
    values += [n * n + d for n in (2**20 - 1, 2**21, 3037000499) for d in (-1, 0, 1) if n * n + d >= 0]
    for n in values:
        assert lib.npin_isqrt64(n) == math.isqrt(n), n


def test_pin_bench_reports_both_formats_the_routing_shape_and_ends_with_the_step_line(tmp_path, capsys):
    import json
    import re

    from toolkit.cli import main

    assert main(["pin", "bench", "--dims", "64", "--facets", "4", "--rounds", "1",
                 "--json", str(tmp_path / "pin.json")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert re.match(r"step: \d+ ns at D=64 K=4 \((AVX-512 VNNI|AVX-512|AVX2|portable C)\), [\d.]+x numpy"
                    r"(, [\d.]+x reference)?$", out[-1]), out[-1]
    doc = json.loads((tmp_path / "pin.json").read_text())
    shapes = [(s["dims"], s["facets"], s["facet_format"]) for s in doc["shapes"]]
    assert shapes == [(64, 4, "q15"), (64, 4, "q7"), (384, 150, "q7")]
    assert all(set(s["c_twin_ns"]) == set(ALL_KERNELS) for s in doc["shapes"])
