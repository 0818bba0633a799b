"""The libGNA backend (Intel's library through cffi), emulator against library bit for bit. These
tests need libgna.so (GNA_LIBRARY); without it they skip and say so — the golden vectors in
tests/data/gna_golden/ still hold the emulator to the library's results."""
import subprocess
import sys

import numpy as np
import pytest

from gna import emulator
from gna.ir import Convolution, FullyConnectedAffine, GnaModel, GnaModelError, Pwl
from gna.random_models import KINDS, random_case

from gna import libgna
from parts import needs

needs_lib = needs("libgna")  # the golden-vector tests still check the emulator


@needs_lib
@pytest.mark.parametrize("kind", KINDS)
def test_random_models_are_bit_exact_against_libgna(kind):
    rng = np.random.default_rng(100 + KINDS.index(kind))
    for _ in range(30):
        _, model, x = random_case(rng, kind)
        ours, theirs = emulator.run(model, x), libgna.run(model, x, "generic")
        for a, b in zip(ours.outputs, theirs.outputs):
            assert a.dtype == b.dtype and np.array_equal(a, b)
        assert ours.saturated == theirs.saturated


@needs_lib
def test_library_errors_carry_the_library_message(monkeypatch):
    monkeypatch.setattr(libgna, "check_model", lambda m: None)  # let a 2.0 violation through to the library
    bad = GnaModel([FullyConnectedAffine(np.zeros((8, 12), np.int16), np.zeros(8, np.int32))])
    with pytest.raises(libgna.GnaLibError) as e:
        libgna.run(bad, np.zeros((12, 1), np.int16))
    assert e.value.call == "Gna2ModelCreate" and e.value.status == -29
    assert e.value.library_message and "operation 0" in str(e.value)


@needs_lib
def test_known_crash_input_is_refused_before_the_library_sees_it():
    f = np.ones((16, 8), np.int16)
    crash = GnaModel([Convolution(f, np.zeros(16, np.int32), 65528, stride=1,
                                  pwl=Pwl([-4, 0], [0, 0], [0, 1]))])  # 65521 positions x 16 filters x 4 B > 2 MiB
    with pytest.raises(GnaModelError, match="libGNA's buffer holds 2097152"):
        libgna.run(crash, np.zeros((1, 65528), np.int16))
    assert emulator.run(crash, np.zeros((1, 65528), np.int16)).output.shape == (65521, 16)


@needs_lib
def test_conformance_command_reports_the_count():
    res = subprocess.run([sys.executable, "-m", "toolkit.cli", "gna", "conformance", "--cases", "60", "--seed", "3"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().splitlines()[-1] == "conformance: 60/60 bit-exact"


def test_missing_library_is_a_one_line_error(tmp_path):
    env = {"GNA_LIBRARY": str(tmp_path / "nope.so"), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-m", "toolkit.cli", "gna", "conformance", "--cases", "1"],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 1
    assert res.stderr.splitlines()[0] == f"error: GNA_LIBRARY={tmp_path / 'nope.so'} is not a file"
    assert res.stderr.splitlines()[1].startswith("hint: build or install Intel's libGNA")


@needs_lib
@pytest.mark.parametrize("weights", ["i16", "i8"])
def test_compiled_reference_net_is_bit_identical_on_libgna(weights):
    from gna.onnx_compiler import compile_onnx
    from gna.reference_net import build_reference_net, reference_inputs

    cm = compile_onnx(build_reference_net(), reference_inputs(32, 1), weights=weights)
    for x in reference_inputs(12, 5):
        q = cm.quantize_input(x)
        ours, theirs = emulator.run(cm.model, q), libgna.run(cm.model, q)
        assert all(np.array_equal(a, b) for a, b in zip(ours.outputs, theirs.outputs))
        assert ours.saturated == theirs.saturated
