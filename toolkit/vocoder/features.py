"""The vocoder's input: an 80-band log-mel spectrogram at 100 frames/s (docs/vocoder.md §1).

One definition, used by training (the torch twin in `train.py` is checked against it), evaluation and
the Griffin-Lim baseline: 16 kHz, Hann window 640 (40 ms) zero-padded to a 1024-point FFT, hop 160,
centred frames (zero padding), magnitude (not power) through librosa's Slaney mel filterbank
0-8 kHz, natural log floored at 1e-5.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = 16000
    n_fft: int = 1024
    win_length: int = 640
    hop: int = 160
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    log_floor: float = 1e-5

    def as_dict(self) -> dict:
        return asdict(self)


MEL = MelConfig()


@lru_cache(maxsize=4)
def mel_basis(cfg: MelConfig = MEL) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin,
                               fmax=cfg.fmax).astype(np.float32)


def stft_magnitude(x: np.ndarray, cfg: MelConfig = MEL) -> np.ndarray:
    import librosa

    return np.abs(librosa.stft(np.asarray(x, dtype=np.float32), n_fft=cfg.n_fft, hop_length=cfg.hop,
                               win_length=cfg.win_length, window="hann", center=True, pad_mode="constant"))


def log_mel(x: np.ndarray, cfg: MelConfig = MEL) -> np.ndarray:
    """[n_mels, frames] with frames = len(x) // hop + 1."""
    m = mel_basis(cfg) @ stft_magnitude(x, cfg)
    return np.log(np.maximum(m, cfg.log_floor)).astype(np.float32)
