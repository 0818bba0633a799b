"""The emulator's declared GNA 2.0 envelope equals the one measured on libGNA. The library's
measurement (tests/data/gna_envelope_2.0.json, made by `npin gna probe --backend libgna`) is data;
the emulator is probed here, every run."""
import json
from pathlib import Path

import pytest

from gna.probe import ACCEPTANCE, DIM_PROBES, EmulatorBackend, bisect
from toolkit.cli import main

MEASURED = json.loads((Path(__file__).parent / "data" / "gna_envelope_2.0.json").read_text())


def test_the_library_report_has_receipts_for_every_probe():
    assert MEASURED["library"] == "libGNA 3.0.0.0" and MEASURED["target"] == "2.0"
    assert [d["name"] for d in MEASURED["dimensions"]] == [p.name for p in DIM_PROBES]
    for d in MEASURED["dimensions"]:
        assert d["passing"]["status"] == 0 and d["failing"]["status"] < 0, d["name"]
    assert MEASURED["crashes"][0]["outcome"] == "crashes"


@pytest.mark.parametrize("probe", DIM_PROBES, ids=[p.name for p in DIM_PROBES])
def test_emulator_limit_equals_the_measured_library_limit(probe):
    lib = next(d for d in MEASURED["dimensions"] if d["name"] == probe.name)
    emu = bisect(EmulatorBackend(), probe, "2.0")
    assert (emu.measured, emu.capped) == (lib["measured"], lib["capped"])
    if probe.unit == "bytes":
        assert emu.passing["model_bytes"] == lib["passing"]["model_bytes"]


def test_emulator_accepts_exactly_what_the_library_accepts():
    emu = EmulatorBackend()
    lib = {a["name"]: a["accepted"] for a in MEASURED["acceptance"]}
    assert {name: emu.verdict(pm, "2.0")[0] for name, pm in ACCEPTANCE} == lib


def test_the_figures_users_found_by_hand():
    dims = {d["name"]: d for d in MEASURED["dimensions"]}
    k = dims["FullyConnectedAffine inputs K"]
    assert k["measured"] >= 32768 and k["failing"]["K"] == 65536           # 32,768 passes, 65,536 fails
    mem = dims["Model memory"]
    assert 224 << 20 < mem["passing"]["model_bytes"] <= 256 << 20 < mem["failing"]["model_bytes"]
    acc = {a["name"]: a["accepted"] for a in MEASURED["acceptance"]}
    assert not acc["Convolution 2D"] and acc["ElementWiseAffine (FiLM) int16"]


def test_probe_command_on_the_emulator(tmp_path, capsys):
    assert main(["gna", "probe", "--backend", "emulator", "--json", str(tmp_path / "e.json")]) == 0
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["backend"] == "emulator" and (tmp_path / "e.md").exists()
    assert "| FullyConnectedAffine inputs K | 65528 | 65528 | K=65528 | K=65536 |" in (tmp_path / "e.md").read_text()
    assert main(["gna", "probe", "--backend", "emulator", "--target", "3.0"]) == 1
    assert "the emulator implements GNA 2.0 only" in capsys.readouterr().err
