"""Routing on real intents: the numpy MiniLM equals sentence-transformers (reference embeddings
made with sentence-transformers 6.2.0 / torch 2.13.0, committed as data), the dataset loader reads
CLINC150 in place and CSVs, and the benchmark runs every method with the fixed Pin agreeing with
the float one."""
import json
from pathlib import Path

import numpy as np
import pytest

from toolkit.cli import main
from toolkit.errors import ConfigError
from toolkit.route.data import load_intents
from toolkit.route.minilm import MiniLM

CLINC = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "clinc150"
needs_clinc = pytest.mark.skipif(not (CLINC / "data_full.json").exists(),
                                 reason=f"CLINC150 is not at {CLINC} (the shared datasets folder)")


def test_numpy_minilm_equals_sentence_transformers():
    ref = np.load(Path(__file__).parent / "data" / "minilm_reference.npz")
    got = MiniLM().embed([str(t) for t in ref["texts"]])
    assert np.max(np.abs(got - ref["embeddings"])) < 1e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


@needs_clinc
def test_clinc_is_read_in_place_with_its_domains():
    data = load_intents(CLINC)
    assert len(data.in_scope("train")) == 15000 and len(data.oos("test")) == 1000
    assert len(set(data.domains.values())) == 10 and data.domains["translate"] == "travel"


def test_csv_datasets_and_their_errors(tmp_path):
    good = tmp_path / "d.csv"
    good.write_text("text,label,split\nhi there,greet,train\nbye,leave,val\nweather?,oos,test\n")
    data = load_intents(good)
    assert data.in_scope("train") == [("hi there", "greet")] and data.oos("test") == ["weather?"]
    bad = tmp_path / "b.csv"
    bad.write_text("utterance,intent\nhi,greet\n")
    with pytest.raises(ConfigError, match="need the columns text,label,split"):
        load_intents(bad)
    with pytest.raises(ConfigError, match="no dataset at"):
        load_intents(tmp_path / "missing.json")


@needs_clinc
def test_route_bench_runs_every_method_and_fixed_agrees_with_float(tmp_path):
    out = tmp_path / "route"
    assert main(["route", "bench", "--data", str(CLINC), "--limit", "5", "--episodes", "120", "--out", str(out),
                 "--cache", str(tmp_path / "cache")]) == 0
    res = json.loads((out / "route.json").read_text())
    for task in ("domains", "intents16"):
        t = res["tasks"][task]
        assert t["fixed_float_agreement"] >= 0.995
        assert len(t["methods"]) == 5
        for row in t["methods"].values():
            assert 0 <= row["in_scope_rejection"] <= 1 and row["episodes"] == 120
        assert (out / f"{task}-sweep.png").exists()
    assert "semantic-router (top-5 sum)" in (out / "report.md").read_text()
