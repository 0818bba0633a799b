"""Routing on real intents: the numpy MiniLM equals sentence-transformers (reference embeddings
made with sentence-transformers 6.2.0 / torch 2.13.0, committed as data); data sets load with
their errors; the episode metrics, the facet fit and the tuner do what docs/routing.md says on
constructed cases; and on CLINC150 the Pin out-routes the per-utterance baselines."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from quant.episodes import Stream, episode_metrics, make_stream, rejection_upper_bound
from quant.facet_fit import class_centroids, fit_facets
from quant.pin_tune import replay_stream, tune_pin
from toolkit.cli import main
from common.errors import ConfigError
from toolkit.pin.params_io import load_params
from toolkit.route.data import load_intents
from toolkit.route.minilm import MiniLM
from toolkit.route.pin_router import pin_shape
from parts import needs

CLINC = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "clinc150"
needs_clinc = needs("clinc")
ROUTING_PIN = Path(__file__).resolve().parents[1] / "toolkit" / "route" / "models" / "clinc150-intents.q15.json"


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
    assert not data.val_from_train


def _csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "split"])
        w.writerows(rows)
    return path


def test_csv_datasets_and_their_errors(tmp_path):
    rows = [(f"{lab} {i}", lab, "train") for lab in ("greet", "leave") for i in range(20)]
    data = load_intents(_csv(tmp_path / "d.csv", rows + [("weather?", "oos", "test"), ("hi", "greet", "test")]))
    # no validation rows: 15 % of each label's training rows (3 of 20) became validation
    assert data.val_from_train and len(data.in_scope("val")) == 6 and len(data.in_scope("train")) == 34
    assert {lab for _, lab in data.in_scope("val")} == {"greet", "leave"}
    assert data.oos("test") == ["weather?"]
    bad = tmp_path / "b.csv"
    bad.write_text("utterance,intent\nhi,greet\n")
    with pytest.raises(ConfigError, match="need the columns text,label,split"):
        load_intents(bad)
    with pytest.raises(ConfigError, match="no dataset at"):
        load_intents(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="label 'bye' has test rows but no training rows"):
        load_intents(_csv(tmp_path / "u.csv", rows + [("bye", "bye", "test")]))
    with pytest.raises(ConfigError, match="1 in-scope label"):
        load_intents(_csv(tmp_path / "one.csv", [("a", "x", "train"), ("b", "x", "test")]))
    with pytest.raises(ConfigError, match="split 'dev' is not train, val or test"):
        load_intents(_csv(tmp_path / "s.csv", rows + [("a", "greet", "dev")]))
    (tmp_path / "latin1.csv").write_bytes("text,label,split\ncaf\xe9,x,train\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_intents(tmp_path / "latin1.csv")


def test_a_data_set_with_more_labels_than_a_slab_holds_is_refused_in_one_line():
    assert pin_shape(384, 150) == ("q7", 4) and pin_shape(384, 16) == ("q15", 8)
    with pytest.raises(ConfigError, match="200 labels do not fit one Pin: at D=384 a 64 KiB slab holds at most 156"):
        pin_shape(384, 200)


def test_episode_metrics_on_a_hand_made_stream():
    # three episodes of two steps: label 0, out of scope, label 1
    s = Stream(np.zeros((6, 8)), np.array([0, 0, 1, 1, 2, 2]), np.array([0, -1, 1]))
    m = episode_metrics(s, np.array([-1, 0, 1, -1, 0, 1]), length=2)
    # decisions in in-scope episodes: 0 (right), 0 (wrong, episode 2), 1 (right) -> 2/3
    assert m["decision_accuracy"] == pytest.approx(2 / 3)
    # first decisions: episode 0 -> 0 right; episode 2 -> 0 wrong
    assert m["episode_accuracy"] == 0.5
    assert m["oos_recall"] == 0.0 and m["in_scope_rejection"] == 0.0
    # false fires: the out-of-scope decision and the wrong one in episode 2, over 3 episodes
    assert m["false_fires_per_episode"] == pytest.approx(2 / 3)
    # after 1 utterance: episode 0 has nothing yet, episode 2 holds 0 (wrong); after 2: both right
    assert m["answer_after_n"] == [0.0, 1.0]
    assert m["updates_to_first_correct_median"] == 2.0


def test_rejection_bound_is_above_the_rate_and_shrinks_with_more_episodes():
    assert rejection_upper_bound(0.03, 100) > rejection_upper_bound(0.03, 10000) > 0.03
    assert rejection_upper_bound(0.0, 2500) > 0.0


def _clusters(rng, n_labels, per_label, d=32, nuisance=2.0, noise=0.3):
    """Unit vectors of labels that share a common direction, each with a label direction, plus a
    strong nuisance along the difference of two labels: the class means mistake the nuisance for
    evidence, a discriminative fit learns to ignore it."""
    q = np.linalg.qr(rng.standard_normal((d, n_labels + 2)))[0].T
    common, own = q[0], q[2:]
    u = own[0] - own[1] + 0.5 * q[1]
    u /= np.linalg.norm(u)
    X, y = [], []
    for k in range(n_labels):
        v = 3.0 * common + own[k] + nuisance * rng.standard_normal((per_label, 1)) * u \
            + noise * rng.standard_normal((per_label, d)) / np.sqrt(d)
        X.append(v / np.linalg.norm(v, axis=1, keepdims=True))
        y += [k] * per_label
    return np.concatenate(X), np.array(y)


def test_discriminative_facets_beat_class_means_on_a_hard_case():
    rng = np.random.default_rng(0)
    X, y = _clusters(rng, 6, 200)                          # even rows to fit, odd rows to test
    fit = fit_facets(X[::2], y[::2], 6)
    acc = np.mean((X[1::2] @ fit.facets.T).argmax(1) == y[1::2])
    means = class_centroids(X[::2], y[::2], 6)
    acc_means = np.mean((X[1::2] @ means.T).argmax(1) == y[1::2])
    assert acc >= 0.95 and acc > acc_means + 0.1, (acc, acc_means)
    assert np.allclose(np.linalg.norm(fit.facets, axis=1), 1.0)


def test_the_tuner_meets_the_budget_and_integration_beats_single_utterances():
    """Noisy utterances that a single one misroutes often, but five of them average out: the tuner
    must pick a design that integrates (eta < 1), stays within the rejection budget (by its upper
    bound), and fires no wrong facet on validation; a fresh stream then routes the same way."""
    rng = np.random.default_rng(3)
    X, y = _clusters(rng, 5, 400, nuisance=0.0, noise=2.5)
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    fit = fit_facets(X[:1000], y[:1000], 5)
    single = np.mean((X[1000:] @ fit.facets.T).argmax(1) == y[1000:])
    assert single < 0.9                                    # the per-utterance task is hard
    val = make_stream(X[1000:1500], y[1000:1500], 5, np.zeros((0, 32)), 600, seed=1)
    design = tune_pin(fit.facets, val)
    n_in = int(np.sum(val.truth >= 0))
    assert rejection_upper_bound(design.val["in_scope_rejection"], n_in) <= 0.05
    assert design.eta < 1.0 and design.val["false_fires_per_episode"] <= 0.01
    test = make_stream(X[1500:], y[1500:], 5, np.zeros((0, 32)), 300, seed=2)
    m = episode_metrics(test, replay_stream(design.config(fit.facets), test))
    assert m["episode_accuracy"] >= 0.97 > single + 0.1


def test_the_tuner_refuses_facets_that_cannot_separate():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((400, 16))
    y = rng.integers(0, 4, 400)                           # labels unrelated to the vectors
    val = make_stream(X, y, 4, np.zeros((0, 16)), 200, seed=1)
    with pytest.raises(ValueError, match="no threshold keeps the validation in-scope rejection within 5%"):
        tune_pin(class_centroids(X, y, 4), val, thresholds=(0.9, 0.95))


@needs_clinc
def test_route_bench_runs_every_method_and_fixed_agrees_with_float(tmp_path):
    out = tmp_path / "route"
    assert main(["route", "bench", "--data", str(CLINC), "--limit", "8", "--episodes", "120", "--out", str(out),
                 "--cache", str(tmp_path / "cache"), "--tasks", "domains,intents16", "--no-ablation"]) == 0
    res = json.loads((out / "route.json").read_text())
    for task in ("domains", "intents16"):
        t = res["tasks"][task]
        assert t["fixed_float_agreement"] >= 0.995
        assert len(t["methods"]) == 5
        for row in t["methods"].values():
            assert 0 <= row["in_scope_rejection"] <= 1 and row["episodes"] == 120
            assert len(row["answer_after_n"]) == 5 and len(row["best_guess_after_n"]) == 5
        assert (out / f"{task}-sweep.png").exists() and (out / f"{task}-after-n.png").exists()
    report = (out / "report.md").read_text()
    assert "semantic-router (top-5 sum)" in report and "After n utterances" in report


@needs_clinc
def test_the_pin_out_routes_every_baseline_on_clinc150_money_intents(tmp_path):
    """The hard fine-grained task on the full data: 16 banking and credit-card intents, 600 test
    conversations, thresholds from validation only. The fixed Pin's decision and episode accuracy
    are at least the best baseline's, with few false fires, at most 5 % in-scope rejection."""
    out = tmp_path / "route"
    assert main(["route", "bench", "--data", str(CLINC), "--tasks", "intents16", "--no-ablation", "--out", str(out),
                 "--cache", "build/cache"]) == 0
    t = json.loads((out / "route.json").read_text())["tasks"]["intents16"]
    pin = t["methods"]["Neural Pin (fixed, C host twin)"]
    baselines = {k: v for k, v in t["methods"].items() if not k.startswith("Neural Pin")}
    for key in ("decision_accuracy", "episode_accuracy"):
        best = max(v[key] for v in baselines.values())
        assert pin[key] >= best, (key, pin[key], best)
    assert pin["false_fires_per_episode"] <= 0.05 and pin["in_scope_rejection"] <= 0.05
    assert pin["oos_recall"] >= 0.90
    assert t["fixed_float_agreement"] >= 0.995


def test_the_committed_routing_pin_loads_with_this_layout_and_fits_one_slab():
    params, scale, names, tools = load_params(ROUTING_PIN)
    assert (params.dims, params.n_facets, params.facet_format) == (384, 150, "q7")
    assert len(names) == 150 and names == tools and scale.scale > 0
    receipt = json.loads(ROUTING_PIN.with_suffix(".receipt.json").read_text())
    assert receipt["command"].startswith("npin route train") and receipt["labels"] == 150


def test_route_train_writes_a_pin_and_its_receipt(tmp_path):
    rows = [(f"{w} please {i}", lab, "train") for lab, w in (("lights", "lamp light bulb"), ("music", "song play tune"),
                                                            ("door", "lock door key")) for i in range(12)]
    rows += [(f"{w} now", lab, "test") for lab, w in (("lights", "light"), ("music", "song"), ("door", "door"))]
    data = _csv(tmp_path / "home.csv", rows)
    out = tmp_path / "home.q15.json"
    assert main(["route", "train", "--data", str(data), "-o", str(out), "--cache", str(tmp_path / "cache")]) == 0
    params, _, names, _ = load_params(out)
    assert names == ["door", "lights", "music"] and params.n_facets == 3 and params.facet_format == "q15"
    receipt = json.loads(out.with_suffix(".receipt.json").read_text())
    assert receipt["task"] == "intents" and len(receipt["data_sha256"]) == 64
