"""The baseline: Griffin-Lim from the same log-mel (librosa: NNLS mel inversion, then fast GLA)."""
from __future__ import annotations

import numpy as np

from .features import MEL, MelConfig, mel_basis

N_ITER = 32  # librosa's default, and the usual baseline figure in vocoder papers


def griffin_lim(logmel: np.ndarray, n_iter: int = N_ITER, cfg: MelConfig = MEL, seed: int = 0) -> np.ndarray:
    import librosa

    mag = librosa.util.nnls(mel_basis(cfg), np.exp(logmel).astype(np.float32))
    y = librosa.griffinlim(mag, n_iter=n_iter, hop_length=cfg.hop, win_length=cfg.win_length, n_fft=cfg.n_fft,
                           window="hann", center=True, pad_mode="constant", random_state=seed)
    return y.astype(np.float32)
