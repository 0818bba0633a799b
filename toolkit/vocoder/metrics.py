"""Objective quality of a vocoded signal against the original (docs/vocoder.md §4).

PESQ-WB (ITU-T P.862.2, the `pesq` package), STOI (`pystoi`), mel-cepstral distortion and log-mel
L1 distance. MCD here: c1..c24 of the DCT-II (orthonormal) of the natural-log 80-band mel spectrum,
10/ln10 * sqrt(2 * sum dc^2), averaged over frames where the original is within 40 dB of its
loudest frame; the signals are time-aligned, so no DTW.
"""
from __future__ import annotations

import numpy as np

from .features import MEL, log_mel

MCD_ORDER = 24


def pesq_wb(ref: np.ndarray, deg: np.ndarray) -> float:
    from pesq import pesq

    return float(pesq(MEL.sample_rate, ref, deg, "wb"))


def stoi(ref: np.ndarray, deg: np.ndarray) -> float:
    from pystoi import stoi as _stoi

    return float(_stoi(ref, deg, MEL.sample_rate, extended=False))


def _cepstrum(logmel: np.ndarray) -> np.ndarray:
    from scipy.fft import dct

    return dct(logmel, type=2, norm="ortho", axis=0)[1:MCD_ORDER + 1]


def mcd_db(ref: np.ndarray, deg: np.ndarray) -> float:
    a, b = log_mel(ref), log_mel(deg)
    energy = a.max(axis=0)
    keep = energy > energy.max() - 40 / (20 / np.log(10))  # 40 dB in natural-log magnitude
    d = _cepstrum(a[:, keep]) - _cepstrum(b[:, keep])
    return float(np.mean(10 / np.log(10) * np.sqrt(2 * np.sum(d * d, axis=0))))


def log_mel_l1(ref: np.ndarray, deg: np.ndarray) -> float:
    return float(np.mean(np.abs(log_mel(ref) - log_mel(deg))))


METRICS = {"pesq_wb": pesq_wb, "stoi": stoi, "mcd_db": mcd_db, "log_mel_l1": log_mel_l1}


def score(ref: np.ndarray, deg: np.ndarray) -> dict[str, float]:
    n = min(len(ref), len(deg))
    ref, deg = np.asarray(ref[:n], dtype=np.float64), np.asarray(deg[:n], dtype=np.float64)
    return {k: f(ref, deg) for k, f in METRICS.items()}
