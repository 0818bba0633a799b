"""The committed vocoder -> a GNA 2.0 model for one voice (our compiler, calibrated on training speech)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import corpus
from .export import MEAN_VOICE, config_of, for_speaker
from .features import log_mel
from .synth import SILENCE, windows

MODEL_PATH = Path(__file__).resolve().parents[2] / "gna" / "models" / "film_vocoder.onnx"
RECEIPT_PATH = MODEL_PATH.with_suffix(".receipt.json")
CALIB_FILES = 12      # training prompts per voice
CALIB_INPUTS = 512    # mel windows drawn from them
CALIB_SILENCE = 8     # and windows of digital silence, which every stream meets at its ends


def load_model(path=MODEL_PATH):
    import onnx

    from common.errors import ConfigError

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"no vocoder model at {path}", "train one with `npin vocoder train` or pass --model")
    try:
        return onnx.load(str(path))
    except Exception as e:  # noqa: BLE001 - onnx raises many types for a broken file
        raise ConfigError(f"{path} is not an ONNX model: {e}", "pass the film_vocoder.onnx that `npin vocoder train` wrote") from e


def calibration_inputs(voice: str, cfg, n: int = CALIB_INPUTS, seed: int = 0) -> np.ndarray:
    """[n + CALIB_SILENCE, 1, inputs] mel windows of training prompts of the voice (of every training
    voice for the mean voice), sampled, then windows of pure silence. Without those the output
    layer's range is set by the quietest training frames and clips deeper silence (one voice's
    held-out int16 log-magnitude fell from 55 to 34 dB SNR against float that way)."""
    speakers = cfg.speakers if voice == MEAN_VOICE else (voice,)
    utts = [u for u in corpus.utterances() if u.split == "train" and u.speaker in speakers]
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(utts), min(len(utts), CALIB_FILES * len(speakers)), replace=False)
    wins = np.concatenate([windows(log_mel(x), cfg) for _, x in corpus.load([utts[i] for i in sorted(pick)])])
    picked = wins[np.sort(rng.choice(len(wins), min(len(wins), n), replace=False))]
    silence = windows(np.full((cfg.n_mels, CALIB_SILENCE), SILENCE, np.float32), cfg)
    return np.concatenate([picked, silence])[:, None, :]


def compile_voice(model, voice: str, weights: str = "i16", calib: np.ndarray | None = None):
    """(compiled model, float model for that voice); calibrated on training speech unless `calib` is given."""
    from gna.onnx_compiler import compile_onnx

    m = for_speaker(model, voice)
    if calib is None:
        calib = calibration_inputs(voice, config_of(model))
    return compile_onnx(m, calib, weights=weights), m
