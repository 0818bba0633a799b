"""Phase reconstruction on the host (docs/vocoder.md §3): magnitude frames -> waveform.

The STFT is §1's: Hann 640 (periodic) inside a 1024-point FFT, hop 160, frame t centred on sample
160·t. Only the window's 640 non-zero samples matter, so a frame is a 640-sample segment starting at
160·t − 320 and the FFT zero-pads it at the end; that differs from librosa's centred placement by a
fixed linear phase per bin, which no magnitude constraint sees. A 640-sample window at hop 160 spans
exactly four hops, so overlap-add is four shifted adds.

- `fgla`: offline fast Griffin-Lim (Perraudin, Balazs, Søndergaard 2013), momentum 0.99, from
  zero phase.
- `RtisiLa`: streaming, frame by frame (Zhu, Beauregard, Wyse 2007): the newest `lookahead`+1
  frames stay open and are refined together for `iterations` rounds each time a frame arrives; the
  oldest is then committed, and one hop of output becomes final.
"""
from __future__ import annotations

import numpy as np
from scipy.fft import irfft, rfft

N_FFT, WIN, HOP = 1024, 640, 160
OVERLAP = WIN // HOP                     # 4 frames touch every sample
BINS = N_FFT // 2 + 1
WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)).astype(np.float64)
MOMENTUM = 0.99
TINY = 1e-12


def _with_magnitude(mag: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """mag · e^{i∠spec} without computing angles (a zero bin keeps zero phase information)."""
    return mag * spec / (np.abs(spec) + TINY)


def _frames(x: np.ndarray, n_frames: int) -> np.ndarray:
    """Windowed 640-sample segments [n_frames, 640] of x (zero outside it)."""
    pad = np.zeros(HOP * (n_frames + OVERLAP - 1))
    seg = x[:len(pad) - WIN // 2]
    pad[WIN // 2:WIN // 2 + len(seg)] = seg
    hops = pad.reshape(-1, HOP)
    idx = np.arange(n_frames)[:, None] + np.arange(OVERLAP)[None, :]
    return hops[idx].reshape(n_frames, WIN) * WINDOW


def _overlap_add(segs: np.ndarray) -> np.ndarray:
    """Σ_t segs[t] placed at 160·t (segment coordinates: frame 0 starts at sample 0)."""
    n = len(segs)
    parts = segs.reshape(n, OVERLAP, HOP)
    out = np.zeros((n + OVERLAP - 1, HOP))
    for k in range(OVERLAP):
        out[k:k + n] += parts[:, k]
    return out.reshape(-1)


def _window_sum(n_frames: int) -> np.ndarray:
    return _overlap_add(np.tile(WINDOW * WINDOW, (n_frames, 1)))


def stft(x: np.ndarray, n_frames: int | None = None) -> np.ndarray:
    """[n_frames, 513] complex; n_frames defaults to len(x) // 160 + 1 as in §1."""
    n_frames = len(x) // HOP + 1 if n_frames is None else n_frames
    return rfft(_frames(np.asarray(x, np.float64), n_frames), N_FFT, axis=1)


def istft(spec: np.ndarray, length: int) -> np.ndarray:
    """Least-squares inverse of `stft` (window-sum-square normalised)."""
    segs = irfft(spec, N_FFT, axis=1)[:, :WIN] * WINDOW
    y = _overlap_add(segs) / np.maximum(_window_sum(len(spec)), 1e-8)
    return y[WIN // 2:WIN // 2 + length]


def fgla(mag: np.ndarray, length: int, iterations: int = 100) -> np.ndarray:
    """Offline fast Griffin-Lim from zero phase. mag: [frames, 513] linear magnitudes.

    Zero phase, not random or a phase advancing at each bin's centre frequency: on the unseen
    voice's held-out prompts it scored best (PESQ-WB 3.90 against 3.80 random and 3.87 advancing)
    and, above all, it is stable — int16 and float magnitudes 61 dB apart gave PESQ-WB within 0.01
    of each other, where the advancing start let them drift 0.1 apart on average (0.45 on one
    prompt) and so turned a negligible quantization error into a large score difference."""
    mag = np.asarray(mag, np.float64)
    c = mag.astype(np.complex128)
    t_prev = c
    for _ in range(iterations):
        c_new = _with_magnitude(mag, stft(istft(c, length), len(mag)))
        t_prev, c = c_new, c_new + MOMENTUM * (c_new - t_prev)
    return istft(_with_magnitude(mag, c), length).astype(np.float32)


def _padded(committed: np.ndarray, n_open: int) -> np.ndarray:
    """The committed frames' sum, extended with zeros over the support of n_open open frames."""
    out = np.zeros((n_open + OVERLAP - 1) * HOP)
    out[:len(committed)] = committed
    return out


class RtisiLa:
    """Streaming phase reconstruction. push(magnitude frame) returns the hop that became final
    (160 samples) once `lookahead` frames are open, else nothing; flush() ends the stream.

    Latency: the output around frame t is final after frame t + lookahead + 2 has arrived (the
    window reaches two hops either side of its centre)."""

    def __init__(self, lookahead: int = 1, iterations: int = 8):
        self.la, self.iters = lookahead, iterations
        self.open_mag: list[np.ndarray] = []
        self.open_spec: list[np.ndarray] = []
        self.acc = np.zeros((OVERLAP - 1) * HOP)      # committed frames' sum over the region still open
        self.wss_acc = np.zeros((OVERLAP - 1) * HOP)

    def _refine(self) -> None:
        n = len(self.open_mag)
        mag = np.stack(self.open_mag)
        spec = np.stack(self.open_spec)
        inv_wss = 1 / np.maximum(_padded(self.wss_acc, n) + _window_sum(n), 1e-8)
        acc = _padded(self.acc, n)
        idx = np.arange(n)[:, None] + np.arange(OVERLAP)[None, :]
        for _ in range(self.iters):
            y = (acc + _overlap_add(irfft(spec, N_FFT, axis=1)[:, :WIN] * WINDOW)) * inv_wss
            proj = rfft(y.reshape(-1, HOP)[idx].reshape(n, WIN) * WINDOW, N_FFT, axis=1)
            spec = _with_magnitude(mag, proj)
        self.open_spec = list(spec)

    def _commit(self) -> np.ndarray:
        spec = self.open_spec.pop(0)
        self.open_mag.pop(0)
        seg = irfft(spec, N_FFT)[:WIN] * WINDOW
        acc = np.concatenate([self.acc, np.zeros(HOP)]) + seg
        wss = np.concatenate([self.wss_acc, np.zeros(HOP)]) + WINDOW * WINDOW
        out = acc[:HOP] / np.maximum(wss[:HOP], 1e-8)
        self.acc, self.wss_acc = acc[HOP:], wss[HOP:]
        return out

    def push(self, mag: np.ndarray) -> np.ndarray:
        mag = np.asarray(mag, np.float64)
        n = len(self.open_mag)
        if n:   # start from the phase the partial reconstruction already implies
            acc = _padded(self.acc, n + 1)
            prev = _overlap_add(irfft(np.stack(self.open_spec), N_FFT, axis=1)[:, :WIN] * WINDOW)
            acc[:len(prev)] += prev
            wss = _padded(self.wss_acc, n + 1) + _window_sum(n + 1)
            y = acc / np.maximum(wss, 1e-8)
            spec = _with_magnitude(mag, rfft(y[-WIN:] * WINDOW, N_FFT))
        else:
            spec = mag.astype(np.complex128)
        self.open_mag.append(mag)
        self.open_spec.append(spec)
        self._refine()
        if len(self.open_mag) > self.la:
            return self._commit()
        return np.zeros(0)

    def flush(self) -> np.ndarray:
        out = [self._commit() for _ in range(len(self.open_mag))]
        tail = self.acc / np.maximum(self.wss_acc, 1e-8)
        return np.concatenate(out + [tail])


def rtisi_la(mag: np.ndarray, length: int, lookahead: int = 1, iterations: int = 8) -> np.ndarray:
    """The streaming reconstruction run over a whole utterance (same result as pushing frame by frame)."""
    r = RtisiLa(lookahead, iterations)
    y = np.concatenate([r.push(m) for m in np.asarray(mag, np.float64)] + [r.flush()])
    return y[WIN // 2:WIN // 2 + length].astype(np.float32)
