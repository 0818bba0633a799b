"""The FiLM vocoder lane: features, windows, export parity (torch = ONNX Runtime), voice swapping,
the GNA chain (fits 2.0, bit-exact against libGNA where present, close to float), metrics, CLI errors."""
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest

from toolkit.vocoder import corpus
from toolkit.vocoder.chain import MODEL_PATH, RECEIPT_PATH, calibration_inputs, compile_voice, load_model
from toolkit.vocoder.export import MEAN_VOICE, config_of, for_speaker, to_onnx, voices
from toolkit.vocoder.features import MEL, log_mel
from toolkit.vocoder.metrics import log_mel_l1, mcd_db, pesq_wb, stoi
from toolkit.vocoder.model import HOP, VocoderConfig
from toolkit.vocoder.synth import FloatVocoder, GnaVocoder, feedback_loop, windows

try:
    from gna import libgna

    LIB_VERSION, WHY = libgna.library_version(), ""
except Exception as e:  # noqa: BLE001 - any failure to load means: no library here
    LIB_VERSION, WHY = None, str(e)

SMALL = VocoderConfig(hidden=32, layers=2)
needs_speech = pytest.mark.skipif(bool(corpus.missing_packages()),
                                  reason=f"speech packages not installed: {corpus.missing_packages()} (./run installs them)")


def _random_weights(cfg: VocoderConfig, seed=0):
    rng = np.random.default_rng(seed)
    h = cfg.hidden
    w = {"mel_mean": rng.normal(-5, 1, (1, cfg.n_mels, 1)), "mel_std": rng.uniform(1, 3, (1, cfg.n_mels, 1)),
         "inp.weight": rng.normal(0, 0.05, (h, cfg.n_mels, cfg.window)), "inp.bias": rng.normal(0, 0.1, h),
         "past.weight": rng.normal(0, 0.1, (h, HOP, cfg.feedback // HOP)),
         "out.weight": rng.normal(0, 0.05, (HOP, h, 1)), "out.bias": rng.normal(0, 0.01, HOP),
         "film": rng.normal(0, 0.2, (len(cfg.speakers), cfg.layers, 2, h))}
    for i in range(cfg.layers - 1):
        w[f"mid.{i}.weight"] = rng.normal(0, 1 / np.sqrt(h), (h, h, 1))
        w[f"mid.{i}.bias"] = rng.normal(0, 0.1, h)
    return {k: v.astype(np.float32) for k, v in w.items()}


def test_windows_read_frames_b_minus_4_to_b_plus_5_with_silence_beyond_the_ends():
    frames = 7
    logmel = np.tile(np.arange(frames, dtype=np.float32), (MEL.n_mels, 1))  # every band holds its frame index
    w = windows(logmel, VocoderConfig(), 5 * HOP + 1).reshape(-1, 10, MEL.n_mels)
    assert w.shape[0] == 6  # ceil(801 / 160) blocks
    silence = np.log(MEL.log_floor)
    for b in range(6):
        want = [f if 0 <= f < frames else silence for f in range(b - 4, b + 6)]
        assert np.array_equal(w[b, :, 0], np.float32(want))


def test_feedback_loop_feeds_the_last_samples_back_oldest_first():
    cfg = VocoderConfig(feedback=2 * HOP)
    seen = []

    def step(x):
        seen.append(x[-cfg.feedback:].copy())
        y = np.full(HOP, len(seen), dtype=np.float64)
        return y, y
    feedback_loop(cfg, np.zeros((4, 3)), step)
    assert not seen[0].any()
    assert np.array_equal(seen[2], np.r_[np.full(HOP, 1.0), np.full(HOP, 2.0)])
    assert np.array_equal(seen[3], np.r_[np.full(HOP, 2.0), np.full(HOP, 3.0)])


def test_exported_onnx_equals_the_torch_network_for_every_voice():
    torch = pytest.importorskip("torch", reason="torch (the [train] extra) is not installed")
    from toolkit.vocoder.model import build

    w = _random_weights(SMALL)
    net = build(SMALL, w["mel_mean"].reshape(-1), w["mel_std"].reshape(-1))
    net.load_state_dict({k: torch.tensor(v) for k, v in w.items()})
    rng = np.random.default_rng(1)
    mel = rng.normal(-5, 2, (1, MEL.n_mels, SMALL.window)).astype(np.float32)
    past = rng.normal(0, 0.3, (1, HOP, 2)).astype(np.float32)
    x = np.r_[mel[0].T.reshape(-1), past[0].T.reshape(-1)]      # frame-major mel, then blocks oldest first
    model = to_onnx(w, SMALL, "june")
    assert voices(model) == sorted([*SMALL.speakers, MEAN_VOICE])
    outs = {}
    for s, name in enumerate(SMALL.speakers):
        want = net(torch.tensor(mel), torch.tensor([s]), torch.tensor(past)).detach().numpy().reshape(-1)
        outs[name] = FloatVocoder(for_speaker(model, name)).block(x)
        np.testing.assert_allclose(outs[name], want, rtol=1e-4, atol=1e-5)
    assert not np.allclose(outs["allison"], outs["june"])  # FiLM makes the voices differ


def test_mean_voice_is_the_mean_film_and_unknown_voices_are_refused():
    w = _random_weights(SMALL)
    model = to_onnx(w, SMALL, "allison")
    m = for_speaker(model, MEAN_VOICE)
    g = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    np.testing.assert_allclose(g["film.gamma.0"].reshape(-1), 1 + w["film"][:, 0, 0].mean(0), rtol=1e-6)
    with pytest.raises(ValueError, match="not in this model"):
        for_speaker(model, "nobody")


def test_gna_chain_of_a_random_vocoder_tracks_float_and_folds_film():
    w = _random_weights(SMALL)
    model = to_onnx(w, SMALL, "carlo")
    rng = np.random.default_rng(2)
    fm = for_speaker(model, "carlo")
    mels = [(rng.normal(-5, 2, (MEL.n_mels, 30)).astype(np.float32), 29 * HOP) for _ in range(4)]
    cm, _ = compile_voice(model, "carlo", "i16", calibration_inputs(FloatVocoder(fm), mels))
    assert [op.kind for op in cm.model.operations] == ["FullyConnectedAffine"] * (SMALL.layers + 1)
    logmel = rng.normal(-5, 2, (MEL.n_mels, 12)).astype(np.float32)
    f = FloatVocoder(fm)(logmel, 10 * HOP)
    g = GnaVocoder(cm, SMALL)(logmel, 10 * HOP)
    snr = 10 * np.log10(np.sum(f ** 2) / np.sum((f - g) ** 2))
    assert snr > 40, snr


def test_metrics_rank_identity_above_noise():
    rng = np.random.default_rng(3)
    t = np.arange(MEL.sample_rate * 2) / MEL.sample_rate
    x = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    x += 0.01 * rng.standard_normal(len(x)).astype(np.float32)
    noisy = x + 0.05 * rng.standard_normal(len(x)).astype(np.float32)
    assert pesq_wb(x, x) > 4.5 and pesq_wb(x, noisy) < pesq_wb(x, x) - 1
    assert stoi(x, x) > 0.99
    assert mcd_db(x, x) == 0.0 and mcd_db(x, noisy) > 1
    assert log_mel_l1(x, x) == 0.0 and log_mel_l1(x, noisy) > 0.1


def test_log_mel_has_one_frame_per_hop_plus_one():
    x = np.zeros(MEL.hop * 25 + 3, dtype=np.float32)
    m = log_mel(x)
    assert m.shape == (MEL.n_mels, 26) and np.all(m == np.float32(np.log(MEL.log_floor)))


# --- the committed model --------------------------------------------------------------------------

def test_committed_model_has_a_receipt_that_matches_it():
    import hashlib

    receipt = json.loads(RECEIPT_PATH.read_text())
    assert receipt["onnx_sha256"] == hashlib.sha256(MODEL_PATH.read_bytes()).hexdigest()
    assert set(receipt["data"]) == {"train", "test", "unseen"}
    assert receipt["model"] == {**config_of(load_model()).as_dict(), "speakers": list(config_of(load_model()).speakers)}
    assert receipt["cost"]["gops_per_audio_second"] <= 0.3


def test_committed_model_fits_gna_2_0_by_npin_gna_fit():
    r = subprocess.run([sys.executable, "-m", "toolkit.cli", "gna", "fit", str(MODEL_PATH)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verdict: fits GNA 2.0" in r.stdout


@needs_speech
def test_split_holds_out_prompts_and_a_whole_voice():
    utts = corpus.utterances()
    train = {u.name for u in utts if u.split == "train"}
    held = {u.name for u in utts if u.split != "train"}
    assert train and held and not train & held
    assert {u.speaker for u in utts if u.split == "unseen"} == set(corpus.UNSEEN_SPEAKERS)
    assert not set(corpus.UNSEEN_SPEAKERS) & set(corpus.TRAIN_SPEAKERS)
    assert all(u.speaker in corpus.TRAIN_SPEAKERS for u in utts if u.split == "test")


@needs_speech
def test_committed_model_on_gna_i16_and_i8_meets_the_pesq_budget_on_held_out_speech():
    from toolkit.vocoder.evaluate import eval_set, snr_db

    model = load_model()
    cfg = config_of(model)
    u, x = corpus.load([v for v in eval_set(1) if v.speaker == "june"])[0]
    mel = log_mel(x)
    fv = FloatVocoder(for_speaker(model, "june"))
    seen = []
    f = fv(mel, len(x), record=seen)
    ref_blocks = np.stack([fv.block(v) for v in seen])
    for weights, block_floor_db, pesq_budget in (("i16", 40, 0.1), ("i8", 24, 0.3)):
        gna = GnaVocoder(compile_voice(model, "june", weights)[0], cfg)
        assert snr_db(ref_blocks, gna.blocks(np.stack(seen))) > block_floor_db, weights  # same inputs: quantization only
        assert pesq_wb(x, gna(mel, len(x))) >= pesq_wb(x, f) - pesq_budget, weights


@needs_speech
@pytest.mark.skipif(LIB_VERSION is None, reason=f"libGNA not available: {WHY}")
@pytest.mark.parametrize("weights", ["i16", "i8"])
def test_committed_model_is_bit_exact_on_libgna(weights):
    model = load_model()
    cm, _ = compile_voice(model, "allison", weights)
    x = corpus.load([u for u in corpus.utterances() if u.split == "test"][:1])[0][1][:HOP * 12]
    mel = log_mel(x)
    emu = GnaVocoder(cm, config_of(model)).pcm(mel, len(x))
    lib = GnaVocoder(cm, config_of(model), run=lambda m, v: libgna.run(m, v, "generic").output).pcm(mel, len(x))
    assert np.array_equal(emu, lib)


@needs_speech
def test_synth_cli_writes_a_wav_and_refuses_a_wrong_rate(tmp_path):
    import soundfile as sf

    out = tmp_path / "y.wav"
    r = subprocess.run([sys.executable, "-m", "toolkit.cli", "vocoder", "synth", "-o", str(out)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    y, sr = sf.read(out)
    assert sr == 16000 and len(y) > 16000 and np.max(np.abs(y)) > 0.01
    bad = tmp_path / "8k.wav"
    sf.write(bad, np.zeros(8000, dtype=np.float32), 8000)
    r = subprocess.run([sys.executable, "-m", "toolkit.cli", "vocoder", "synth", "--wav", str(bad), "-o",
                        str(tmp_path / "z.wav")], capture_output=True, text=True)
    assert r.returncode != 0 and "8000 Hz" in r.stderr and len(r.stderr.strip().splitlines()) <= 2
    assert not (tmp_path / "z.wav").exists()


@needs_speech
def test_a_few_training_steps_write_weights_that_export(tmp_path):
    pytest.importorskip("torch", reason="torch (the [train] extra) is not installed")
    from toolkit.vocoder.train import TrainConfig, train

    cfg = VocoderConfig(hidden=16, layers=2)
    meta = train(cfg, TrainConfig(steps=3, qat_steps=2, batch=2, frames=20), tmp_path, tmp_path / "cache",
                 log=lambda m: None)
    losses = [h["loss"] for h in meta["history"]]
    assert len(losses) == 4 and all(np.isfinite(losses))
    w = dict(np.load(tmp_path / "weights.npz"))
    model = to_onnx(w, cfg, "allison")
    assert config_of(model) == cfg
    y = FloatVocoder(model)(np.full((MEL.n_mels, 5), -5.0, np.float32), 4 * HOP)
    assert y.shape == (4 * HOP,) and np.all(np.isfinite(y))


@needs_speech
def test_eval_cli_scores_four_systems_per_voice_and_writes_the_report(tmp_path):
    r = subprocess.run([sys.executable, "-m", "toolkit.cli", "vocoder", "eval", "--per-speaker", "1", "--out",
                        str(tmp_path)], capture_output=True, text=True)
    res = json.loads((tmp_path / "report.json").read_text())
    assert r.returncode == (0 if res["verdict"]["i16_within_0.1"] and res["verdict"]["i8_within_0.3"] else 1)
    assert sorted(row["speaker"] for row in res["rows"]) == ["allison", "carlo", "irina", "june"]
    for row in res["rows"]:
        for system in ("float", "gna_i16", "gna_i8", "griffin_lim"):
            assert set(row[system]) >= {"pesq_wb", "stoi", "mcd_db", "log_mel_l1"}
        assert row["gna_i16"]["snr_vs_float_db"] > 30
    assert (tmp_path / "vocoder-pesq.png").stat().st_size > 1000 and "PESQ-WB" in (tmp_path / "report.md").read_text()
    assert res["cost"]["macs_per_frame"] == config_of(load_model()).macs_per_frame
