"""Fuzzing what reads outside bytes: every input the fuzzers ever kept (seeds and the crashes they
found, fixed since) replays into a one-line error or a result; short fuzz rounds run here, long
ones by command (`npin fuzz service|params|loaders --runs N`)."""
import pytest

from toolkit.fuzz.loaders import KEPT, LOADERS, fuzz_one, replay
from tests.parts import needs


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_kept_inputs_replay_into_one_line_errors(loader):
    assert (KEPT / loader / "seed").exists(), "every loader keeps its seed"
    assert replay(loader) == []


@needs("atheris")
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_short_fuzz_round_finds_nothing_new(loader):
    runs, escaped = fuzz_one(loader, runs=400)
    assert runs >= 400 and escaped == [], escaped


@needs("clang")
@pytest.mark.parametrize("harness, at_least", [("service", 2_000), ("params", 50_000)])
def test_the_firmware_readers_survive_a_short_fuzz_round(harness, at_least, tmp_path):
    """libFuzzer with ASan and UBSan on the protocol service and the parameter-block check, from
    the kept corpus: a crash or sanitizer report fails (and is kept for the next run)."""
    from toolkit.fuzz.native import run
    from toolkit.pin.synth import synthetic_pin

    res = run(harness, synthetic_pin(64, 8, 8, seed=3).params, tmp_path, seconds=6)
    assert res.crashes == [], res.log_tail
    assert res.runs >= at_least, res.log_tail
