"""Real 16 kHz speech for the VAD (Debian's Asterisk prompts, toolkit/vocoder/corpus.py): prompts
joined by pauses of silence, with noise added, for calibration and for evaluation (different
prompts for each)."""
from __future__ import annotations

import numpy as np

from ..vocoder import corpus

CALIB_RECIPE = "train-split prompts 0..119, pauses 0.3-2 s, clean / 20 / 10 / 5 dB white noise in turn, seed 0"
NOISE_SNRS_DB = (None, 20.0, 10.0, 5.0)   # clean, then white noise at these SNRs, in turn per prompt


def _join(clips: list[np.ndarray], rng, snrs, gap=(0.3, 2.0)) -> np.ndarray:
    parts = []
    for k, x in enumerate(clips):
        x = 0.5 * x / max(float(np.max(np.abs(x))), 1e-6)    # prompts peak at half scale
        pause = np.zeros(int(rng.uniform(*gap) * corpus.SAMPLE_RATE), np.float32)
        seg = np.concatenate([pause, x]).astype(np.float64)
        snr = snrs[k % len(snrs)]
        if snr is not None:  # noise over the pause too: "silence" is never digital zero
            rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
            seg += rng.normal(0, rms / 10 ** (snr / 20), seg.shape)
        else:
            seg += rng.normal(0, 1e-4, seg.shape)   # a quiet room, not digital silence
        parts.append(seg)
    return np.clip(np.concatenate(parts), -1, 1).astype(np.float32)


def calibration_audio() -> np.ndarray:
    """Training prompts under the conditions the VAD will meet (the noise levels of evaluation):
    a recurrent state ranges as far as its inputs push it."""
    utts = [u for u in corpus.utterances() if u.split == "train"][:120]
    return _join([x for _, x in corpus.load(utts)], np.random.default_rng(0), NOISE_SNRS_DB)


def evaluation_audio(minutes: float = 10.0, seed: int = 1) -> tuple[np.ndarray, dict]:
    """At least `minutes` of held-out speech (the test split, then the unseen voice) with pauses and
    noise at the NOISE_SNRS_DB levels in turn; and what it is made of."""
    utts = [u for u in corpus.utterances() if u.split in ("test", "unseen")]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(utts))
    clips, total = [], 0.0
    for i in order:
        (_, x), = corpus.load([utts[i]])
        clips.append(x)
        total += len(x) / corpus.SAMPLE_RATE + 1.15
        if total >= minutes * 60:
            break
    audio = _join(clips, rng, NOISE_SNRS_DB)
    return audio, {"prompts": len(clips), "seconds": round(len(audio) / corpus.SAMPLE_RATE, 1),
                   "splits": "test + unseen (never calibrated on)", "pauses_s": [0.3, 2.0],
                   "noise_snr_db": [s if s is not None else "clean" for s in NOISE_SNRS_DB], "seed": seed}
