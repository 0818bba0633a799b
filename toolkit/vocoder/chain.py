"""The committed vocoder -> a GNA 2.0 model for one voice (our compiler, calibrated on training speech)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import corpus
from .export import MEAN_VOICE, config_of, for_speaker
from .features import log_mel
from .synth import FloatVocoder

MODEL_PATH = Path(__file__).resolve().parents[2] / "gna" / "models" / "film_vocoder.onnx"
RECEIPT_PATH = MODEL_PATH.with_suffix(".receipt.json")
CALIB_FILES = 12      # training prompts per voice
CALIB_INPUTS = 384    # input vectors drawn from running them


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


def calibration_inputs(float_vocoder, mels: list[tuple[np.ndarray, int]], n: int = CALIB_INPUTS,
                       seed: int = 0) -> np.ndarray:
    """Input vectors as the float vocoder meets them (mel window + its own past output), sampled."""
    seen: list = []
    for logmel, n_samples in mels:
        float_vocoder(logmel, n_samples, record=seen)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(seen), min(len(seen), n), replace=False))
    return np.stack([seen[i] for i in pick])[:, None, :]


def calibration_mels(voice: str, cfg, seed: int = 0) -> list[tuple[np.ndarray, int]]:
    """Log-mels of training prompts of the voice (of every training voice for the mean voice)."""
    speakers = cfg.speakers if voice == MEAN_VOICE else (voice,)
    utts = [u for u in corpus.utterances() if u.split == "train" and u.speaker in speakers]
    pick = np.random.default_rng(seed).choice(len(utts), min(len(utts), CALIB_FILES * len(speakers)), replace=False)
    return [(log_mel(x), len(x)) for _, x in corpus.load([utts[i] for i in sorted(pick)])]


def compile_voice(model, voice: str, weights: str = "i16", calib: np.ndarray | None = None):
    """(compiled model, float model for that voice); calibrated on training speech unless `calib` is given."""
    from gna.onnx_compiler import compile_onnx

    m = for_speaker(model, voice)
    if calib is None:
        calib = calibration_inputs(FloatVocoder(m), calibration_mels(voice, config_of(model)))
    return compile_onnx(m, calib, weights=weights), m
