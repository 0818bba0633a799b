"""HIL benchmarks: the Cortex-M4 kernels hold the reference's bits and the 12,000-instruction step
budget under an ARM emulator, and `npin bench` catches a deliberate slowdown against a baseline."""
import math
import re
from xml.etree import ElementTree

import numpy as np
import pytest

from firmware.project_gen import generate_project
from firmware.slab import facet_storage
from toolkit.bench.insn import counter_for, measure_grid, measure_shape
from toolkit.boards import load_board
from toolkit.cli import main
from toolkit.firmware.build import build_project
from toolkit.pin.synth import synthetic_pin
from parts import needs

pytestmark = needs("arm")
BOARD = load_board("mps2-an386")
A = BOARD.ram_origin + 0x200000  # scratch memory for direct kernel calls


@pytest.fixture(scope="module")
def elves(tmp_path_factory):
    out = tmp_path_factory.mktemp("elves")
    pin = synthetic_pin(64, 8, 8, seed=1)
    built = {}
    for kern in ("portable", "m4"):
        generate_project(BOARD, pin.params, out / kern, kernels=kern)
        built[kern] = counter_for(build_project(out / kern).elf, BOARD)
    return built


def _arrays(rng, d, style):
    if style == "extreme":
        pool = np.array([-32768, -32767, -1, 0, 1, 32766, 32767], np.int16)
        return [rng.choice(pool, d) for _ in range(3)]
    return [rng.integers(-32768, 32768, d).astype(np.int16) for _ in range(3)]


@pytest.mark.parametrize("d", [8, 24, 64, 520])
def test_m4_update_and_dots_equal_the_reference_kernels(elves, d):
    rng = np.random.default_rng(d)
    for style in ("random", "extreme", "random"):
        m, v, x = _arrays(rng, d, style)
        facets = rng.integers(-32767, 32768, (3, d)).astype(np.int16)
        eta, mu = (int(rng.integers(0, 32768)), int(rng.integers(0, 32768))) if style == "random" else (32767, 32767)
        got = {}
        for kern, cc in elves.items():
            cc.write(A, m.tobytes() + v.tobytes() + x.tobytes() + facets.tobytes())
            r = cc.call("npin_update_q15", A, A + 2 * d, A + 4 * d, d, eta, mu)
            mv = cc.read(A, 4 * d)
            cc.call("npin_dots_q15", A, A + 6 * d, d, 3, A + 0x10000)
            got[kern] = (r.r0 | r.r1 << 32, mv, cc.read(A + 0x10000, 24))
        assert got["m4"] == got["portable"], (d, style)


@pytest.mark.parametrize("d", [8, 24, 64, 384, 520])
def test_m4_q7_dots_equal_the_reference_and_the_exact_sum(elves, d):
    """Q7 rows in storage order through SXTB16/SMLALD: the portable kernel's bits, and both equal
    the exact dot product of the logical rows (the storage swap undone)."""
    rng = np.random.default_rng(d + 7)
    for style in ("random", "extreme"):
        m = _arrays(rng, d, style)[0]
        rows = rng.choice(np.array([-127, -1, 0, 1, 127], np.int8), (4, d)) if style == "extreme" else \
            rng.integers(-127, 128, (4, d)).astype(np.int8)
        stored = np.ascontiguousarray(facet_storage(rows, "q7"), dtype=np.int8)
        want = [int(np.dot(m.astype(np.int64), r.astype(np.int64))) for r in rows]
        for kern, cc in elves.items():
            cc.write(A, m.tobytes() + stored.tobytes())
            cc.call("npin_dots_q7", A, A + 2 * d, d, 4, A + 0x10000)
            assert np.frombuffer(cc.read(A + 0x10000, 32), "<i8").tolist() == want, (kern, d, style)


def test_m4_isqrt_is_exact(elves):
    rng = np.random.default_rng(0)
    values = [0, 1, 2, 3, 4, (1 << 32) - 1, 1 << 32, (1 << 62) - 1, (1 << 40) + 12345]
    values += [int(v) for v in rng.integers(0, 1 << 62, 60, dtype=np.uint64)]
    values += [int(v) ** 2 + o for v in rng.integers(1, 1 << 31, 30) for o in (-1, 0, 1)]
    for n in values:
        for kern, cc in elves.items():
            assert cc.call("npin_isqrt64", n & 0xFFFFFFFF, n >> 32).r0 == math.isqrt(n), (kern, n)


def test_m4_step_budget_at_d512_k16(elves):
    grid = {k: measure_grid(cc, BOARD, steps=3) for k, cc in elves.items()}  # each step checked against the reference
    m4, portable = grid["m4"]["step"][(512, 16)], grid["portable"]["step"][(512, 16)]
    assert m4 <= 12_000, m4
    assert portable > 4 * m4  # the portable path really is the slow one


def test_routing_shape_step_on_the_m4(elves):
    """Every CLINC150 intent (D=384, 150 Q7 facets): each step checked against the reference inside
    measure_shape. The SXTB16/SMLALD kernel takes 1.25 instructions per facet component; its loop,
    the update and the decision add about 0.3 more."""
    m4, portable = (measure_shape(elves[k], BOARD, "routing", steps=3) for k in ("m4", "portable"))
    assert m4 <= 1.6 * 384 * 150, m4
    assert portable > 3 * m4


@needs("qemu")
def test_bench_catches_a_deliberate_slowdown(tmp_path, capsys):
    """Only the exact figures are under test here: wall-clock figures (serial round trip, vectors/s)
    on a shared 2-core CI machine swing past any ratio, so they get a ratio no run can break."""
    out = tmp_path / "bench"
    common = ["bench", "--board", "mps2-an386", "--out", str(out), "--no-host"]
    assert main(common) == 0
    printed = capsys.readouterr().out
    assert re.search(r"device ticks per 8-facet check: \d+ on (SysTick|DWT CYCCNT) \(emulated", printed), printed
    first = sorted((out / "runs").glob("*.json"))[0]
    assert main(common + ["--baseline", str(first), "--noisy-ratio", "1e6"]) == 0
    rc = main(common + ["--baseline", str(first), "--noisy-ratio", "1e6", "--cflags=-O0"])
    assert rc == 1
    suite = ElementTree.parse(out / "bench-mps2-an386.junit.xml").getroot().find("testsuite")
    failed = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert "insn.m4.step.D512.K16" in failed and "insn.portable.step.D512.K16" in failed
    assert not any(name.startswith("link.") for name in failed)
    assert (out / "bench-mps2-an386.html").read_text().count("REGRESSION") >= len(failed)
    assert len(list((out / "runs").glob("*.json"))) == 3


def test_baseline_comparison_rules():
    from toolkit.bench.compare import compare
    base = {"insn.m4.step": 1000, "link.rtt_ms": 1.0, "link.vectors_per_s": 100.0}
    verdicts = {v.metric: v.ok for v in compare(
        {"insn.m4.step": 1011, "link.rtt_ms": 1.49, "link.vectors_per_s": 67.0}, base)}
    assert verdicts == {"insn.m4.step": False, "link.rtt_ms": True, "link.vectors_per_s": True}
    verdicts = {v.metric: v.ok for v in compare(
        {"insn.m4.step": 1010, "link.rtt_ms": 1.51, "link.vectors_per_s": 66.0}, base)}
    assert verdicts == {"insn.m4.step": True, "link.rtt_ms": False, "link.vectors_per_s": False}
