"""Mel -> waveform through the per-block vocoder: float (ONNX Runtime) or GNA (compiled, emulated).

One inference per 10 ms block. The host assembles each input vector — the block's mel window, then
the last `feedback` samples the vocoder produced — and, on GNA, quantizes it with the model's input
scale; the block's 160 output samples are int16 at the compiled output scale.
"""
from __future__ import annotations

import numpy as np

from .features import MEL
from .model import HOP, VocoderConfig

SILENCE = float(np.log(MEL.log_floor))


def windows(logmel: np.ndarray, cfg: VocoderConfig, n_samples: int) -> np.ndarray:
    """[blocks, window*n_mels], frame-major: block b reads frames b-frames_before .. (silence beyond the ends)."""
    blocks = -(-n_samples // HOP)
    first = -cfg.frames_before
    last = blocks - 1 + cfg.window - 1 + first
    pad_l, pad_r = -first, max(0, last - (logmel.shape[1] - 1))
    m = np.pad(logmel, ((0, 0), (pad_l, pad_r)), constant_values=SILENCE)
    idx = np.arange(blocks)[:, None] + np.arange(cfg.window)[None, :]
    return np.ascontiguousarray(m[:, idx].transpose(1, 2, 0).reshape(blocks, -1))


def feedback_loop(cfg: VocoderConfig, wins: np.ndarray, step) -> list:
    """step(input vector) -> (block as produced, block as float); the float block is fed back."""
    past = np.zeros(cfg.feedback, dtype=np.float64)
    outs = []
    for w in wins:
        y, y_float = step(np.concatenate([w, past]))
        outs.append(y)
        past = np.concatenate([past, y_float])[-cfg.feedback:]
    return outs


class FloatVocoder:
    """The exported ONNX model in ONNX Runtime."""

    def __init__(self, model):
        import onnxruntime as ort

        from .export import config_of

        self.cfg = config_of(model)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = 1
        self.sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def block(self, x: np.ndarray) -> np.ndarray:
        return self.sess.run(None, {"mel_window": x.reshape(1, -1).astype(np.float32)})[0].reshape(-1)

    def __call__(self, logmel: np.ndarray, n_samples: int, record: list | None = None) -> np.ndarray:
        """The waveform; `record` collects every input vector (calibration data for the compiler)."""
        def step(x):
            if record is not None:
                record.append(x.astype(np.float32))
            y = self.block(x)
            return y, y
        return np.concatenate(feedback_loop(self.cfg, windows(logmel, self.cfg, n_samples), step))[:n_samples]


class GnaVocoder:
    """A compiled vocoder on the bit-exact GNA 2.0 emulator (or any `run(model, x) -> output`)."""

    def __init__(self, compiled, cfg: VocoderConfig, run=None):
        from gna import emulator

        self.cm, self.cfg = compiled, cfg
        self.out_scale = compiled.layers[-1]["scale"]
        self.run = run or (lambda model, x: emulator.run(model, x).output)

    def _block(self, v: np.ndarray) -> np.ndarray:
        """One inference: a float input vector, quantized by the host -> int16 block."""
        return np.asarray(self.run(self.cm.model, self.cm.quantize_input(v[None]))).reshape(-1)

    def blocks(self, inputs: np.ndarray) -> np.ndarray:
        """Given input vectors [n, inputs] (no feedback loop): each block in float units."""
        return np.stack([self._block(v) for v in inputs]) / self.out_scale

    def pcm(self, logmel: np.ndarray, n_samples: int) -> np.ndarray:
        """int16 samples at the compiled output scale (out_scale per unit)."""
        def step(v):
            y = self._block(v)
            return y, y / self.out_scale
        wins = windows(logmel, self.cfg, n_samples)
        return np.concatenate(feedback_loop(self.cfg, wins, step))[:n_samples].astype(np.int16)

    def __call__(self, logmel: np.ndarray, n_samples: int) -> np.ndarray:
        return self.pcm(logmel, n_samples).astype(np.float32) / np.float32(self.out_scale)
