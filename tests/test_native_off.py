"""The native GNA emulator switched off (NPIN_GNA_NATIVE=0, or no compiler): everything that runs
it by default falls back to the numpy emulator with the same bits, and what needs it skips loudly
with the reason. CI runs the suite with the native emulator on; this runs the GNA parts with it off."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from parts import needs

ROOT = Path(__file__).resolve().parents[1]


def _off_env() -> dict:
    return {**os.environ, "NPIN_GNA_NATIVE": "0", "NPIN_REQUIRE": ""}


def test_the_gna_tests_pass_with_the_native_emulator_off():
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                        "tests/test_gna_emulator.py", "tests/test_gna_compiler.py", "tests/test_gna_native.py"],
                       cwd=ROOT, env=_off_env(), capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "[native] the native GNA emulator is switched off (NPIN_GNA_NATIVE=0)" in r.stdout
    assert " passed" in r.stdout.splitlines()[-1]


def test_an_explicit_native_run_with_it_off_is_a_one_line_error(tmp_path):
    from gna.ir import FullyConnectedAffine, GnaModel
    from gna.model_io import save_model

    model = GnaModel([FullyConnectedAffine(np.ones((4, 8), np.int16), np.zeros(4, np.int32), 1)])
    save_model(tmp_path / "m.npz", model)
    np.save(tmp_path / "x.npy", np.ones((8, 1), np.int16))
    r = subprocess.run([sys.executable, "-m", "toolkit.cli", "gna", "run", str(tmp_path / "m.npz"),
                        "--input", str(tmp_path / "x.npy"), "--backend", "native"], cwd=ROOT, env=_off_env(),
                       capture_output=True, text=True)
    assert r.returncode != 0 and "NPIN_GNA_NATIVE=0" in r.stderr and len(r.stderr.strip().splitlines()) <= 2, r.stderr


@needs("speech")
def test_the_vocoder_gives_the_same_samples_with_the_native_emulator_off(tmp_path):
    import soundfile as sf

    wavs = {}
    for switch in ("1", "0"):
        out = tmp_path / f"y{switch}.wav"
        r = subprocess.run([sys.executable, "-m", "toolkit.cli", "vocoder", "synth", "-o", str(out)], cwd=ROOT,
                           env={**os.environ, "NPIN_GNA_NATIVE": switch}, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        wavs[switch] = sf.read(out)[0]
    assert len(wavs["1"]) > 16000 and np.array_equal(wavs["1"], wavs["0"])
