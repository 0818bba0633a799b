"""The `npin` command line: exit codes, last lines, one-line errors, nothing half-written."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from toolkit.cli import main
from parts import needs


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "toolkit.cli", *args], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])


def test_verify_exits_zero_with_the_bit_exact_line():
    res = run_cli("pin", "verify", "--steps", "400", "--seed", "3", "--dims", "64", "--facets", "8",
                  "--slots", "4", "--kernels", "all")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "bit-exact: 400 steps"


def test_verify_rejects_a_bad_shape_in_one_line():
    res = run_cli("pin", "verify", "--steps", "10", "--dims", "100")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert lines[0] == "error: D=100 is not a multiple of 8 in [8, 2048]"
    assert lines[1].startswith("hint: ")


def test_verify_rejects_an_oversized_slab_naming_what_fits():
    res = run_cli("pin", "verify", "--steps", "10", "--dims", "1024", "--facets", "16", "--slots", "64")
    assert res.returncode == 1
    first = res.stderr.splitlines()[0]
    assert first.startswith("error: D=1024 K=16 slots=64: slab needs 170496 bytes, 104960 over")
    assert "fits: D=512 K=16 slots=32" in first


def test_quantize_writes_params_and_reports(tmp_path, capsys):
    cfg = tmp_path / "pin.json"
    assert main(["pin", "example-config", "-o", str(cfg), "--dims", "64", "--facets", "4"]) == 0
    assert main(["pin", "quantize", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "float vs fixed: steps 800" in out
    doc = json.loads((tmp_path / "pin.q15.json").read_text())
    assert doc["format"] == "npin-pin-q15" and len(doc["facet_rows"]) == 4 and doc["facet_format"] == "q15"
    assert max(max(abs(v) for v in row) for row in doc["facet_rows"]) == 32767


def test_quantize_with_a_stream_of_the_wrong_width(tmp_path, capsys):
    cfg = tmp_path / "pin.json"
    main(["pin", "example-config", "-o", str(cfg), "--dims", "64", "--facets", "4"])
    np.save(tmp_path / "s.npy", np.zeros((10, 32)))
    assert main(["pin", "quantize", str(cfg), "--stream", str(tmp_path / "s.npy"),
                 "-o", str(tmp_path / "out.q15.json")]) == 1
    assert "has shape (10, 32); the config needs (N, 64)" in capsys.readouterr().err
    assert not (tmp_path / "out.q15.json").exists()


def test_config_typo_names_the_nearest_key(tmp_path, capsys):
    cfg = tmp_path / "pin.json"
    main(["pin", "example-config", "-o", str(cfg), "--dims", "8", "--facets", "2"])
    doc = json.loads(cfg.read_text())
    doc["etta"] = doc.pop("eta")
    cfg.write_text(json.dumps(doc))
    assert main(["pin", "quantize", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert "unknown key 'etta'" in err and "did you mean 'eta'?" in err
    assert list(tmp_path.iterdir()) == [cfg]


def test_missing_config_file(capsys):
    assert main(["pin", "quantize", "/nonexistent/pin.json"]) == 1
    assert "cannot read Pin config /nonexistent/pin.json" in capsys.readouterr().err


def test_bench_prints_ratios(capsys):
    assert main(["pin", "bench", "--dims", "64", "--facets", "4", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "x numpy" in out and "C twin [ref" in out


CLINC = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "clinc150"


@needs("clinc", "qemu", "arm")
def test_demo_runs_end_to_end(tmp_path):
    res = run_cli("demo", "--out", str(tmp_path), "--episodes", "4", "--no-gna")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[-1] == ("bit-exact: 120 steps on the host twin, 120 steps on mps2-an386 (QEMU), "
                         "20 real utterances on mps2-an386 (QEMU)")
    host = lines[lines.index(next(ln for ln in lines if ln.startswith("[2/5]"))) + 1:
                 lines.index(next(ln for ln in lines if ln.startswith("[3/5]")))]
    board = [ln for ln in lines[lines.index(next(ln for ln in lines if ln.startswith("[3/5]"))):
                                lines.index(next(ln for ln in lines if ln.startswith("[4/5]")))]
             if ln.startswith("  ok ") or ln.startswith("  BAD")]
    assert host and board == host  # the same pins, in order, from the C core on the host and on the M4
    routed = lines[lines.index(next(ln for ln in lines if ln.startswith("[5/5] routing 20 real CLINC150"))):-1]
    fired = [ln for ln in routed if "-> fired" in ln]
    # four conversations of four utterances and one out of scope: the board fires each intent once,
    # right, and nothing for the out-of-scope one
    assert len(fired) == 4 and all(ln.startswith("    ok ") for ln in fired), routed


def test_demo_host_only(tmp_path):
    res = run_cli("demo", "--out", str(tmp_path), "--episodes", "2", "--host-only")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    routed = "20 real utterances on the host twin" if (CLINC / "data_full.json").exists() else \
        "routing skipped (no CLINC150)"
    assert lines[-1] == f"bit-exact: 60 steps on the host twin, {routed}"
    assert any(ln.startswith("  i16: 6 operations") and "output SNR" in ln for ln in lines)


def test_a_broken_compiler_is_a_one_line_error(tmp_path):
    import os
    env = {**os.environ, "NPIN_BUILD_DIR": str(tmp_path), "CC": "/bin/false"}
    res = subprocess.run([sys.executable, "-m", "toolkit.cli", "pin", "verify", "--steps", "5", "--dims", "64",
                          "--facets", "2", "--slots", "4"], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == 1
    assert res.stderr.startswith("error: building the host twin (ref kernels) failed:")
    assert not list(tmp_path.rglob("*.so"))          # nothing half-built left behind


def test_a_layout_1_parameter_file_is_one_line_naming_the_version(tmp_path):
    cfg = tmp_path / "pin.json"
    assert main(["pin", "example-config", "-o", str(cfg), "--dims", "64", "--facets", "4"]) == 0
    assert main(["pin", "quantize", str(cfg)]) == 0
    doc = json.loads((tmp_path / "pin.q15.json").read_text())
    doc["layout_version"] = 1
    (tmp_path / "old.q15.json").write_text(json.dumps(doc))
    res = run_cli("firmware", "gen", "--board", "mps2-an386", "--pin", str(tmp_path / "old.q15.json"),
                  "-o", str(tmp_path / "fw"))
    assert res.returncode == 1
    assert res.stderr.splitlines()[0].endswith("old.q15.json: layout version 1, this npin speaks 2")
    assert not (tmp_path / "fw").exists()
