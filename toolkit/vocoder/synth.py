"""Log-mel -> waveform: the network (float in ONNX Runtime, or compiled for GNA 2.0 on the emulator)
predicts each frame's log-magnitude spectrum, the host reconstructs the phase (`phase.py`).

Two modes (docs/vocoder.md §3): offline (fast Griffin-Lim over the whole utterance) and streaming
(`StreamingVocoder`: one mel frame in, at most one 10 ms hop out, bounded look-ahead).
"""
from __future__ import annotations

import numpy as np

from . import phase
from .features import MEL
from .model import VocoderConfig

SILENCE = float(np.log(MEL.log_floor))
OFFLINE_ITERATIONS = 100
STREAM_LOOKAHEAD = 1          # phase look-ahead frames (RTISI-LA)
STREAM_ITERATIONS = 16        # refinement rounds per arriving frame


def windows(logmel: np.ndarray, cfg: VocoderConfig) -> np.ndarray:
    """[frames, inputs], frame-major: frame t reads frames t-frames_before .. t+frames_after
    (silence beyond the ends)."""
    n = logmel.shape[1]
    m = np.pad(logmel, ((0, 0), (cfg.frames_before, cfg.frames_after)), constant_values=SILENCE)
    idx = np.arange(n)[:, None] + np.arange(cfg.window)[None, :]
    return np.ascontiguousarray(m[:, idx].transpose(1, 2, 0).reshape(n, -1), dtype=np.float32)


def magnitude(log_mag: np.ndarray) -> np.ndarray:
    """[frames, bins] log-magnitude -> [frames, 513] linear; bins beyond the network's copy its last."""
    mag = np.exp(np.asarray(log_mag, np.float64))
    extra = phase.BINS - mag.shape[1]
    return np.concatenate([mag, np.repeat(mag[:, -1:], extra, axis=1)], axis=1) if extra > 0 else mag


def latency_ms(cfg: VocoderConfig, lookahead: int = STREAM_LOOKAHEAD) -> float:
    """Algorithmic latency of streaming mode: output sample n is final once the mel frame centred at
    n + this has arrived (half the 40 ms window, then the network's and the phase's look-ahead)."""
    hop_ms = 1000 * MEL.hop / MEL.sample_rate
    return 1000 * MEL.win_length / 2 / MEL.sample_rate + hop_ms * (cfg.frames_after + lookahead)


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

    def log_magnitude(self, wins: np.ndarray) -> np.ndarray:
        wins = np.asarray(wins, np.float32).reshape(-1, self.cfg.inputs)
        return np.concatenate([self.sess.run(None, {"mel_window": w[None]})[0] for w in wins])


class GnaVocoder:
    """A compiled vocoder on the bit-exact GNA 2.0 emulator (or any `run(model, x) -> output`)."""

    def __init__(self, compiled, cfg: VocoderConfig, run=None, backend: str | None = None, jobs: int | None = None):
        """`run(model, x) -> output` replaces the emulator (libGNA); otherwise the emulator's
        `backend`, frames spread over `jobs` threads (every core by default)."""
        self.cm, self.cfg = compiled, cfg
        self.out_scale = compiled.layers[-1]["scale"]
        self.run, self.backend, self.jobs = run, backend, jobs

    def int16(self, wins: np.ndarray) -> np.ndarray:
        """One inference per frame: the host quantizes the window, GNA returns int16 log-magnitudes."""
        from gna import emulator

        wins = np.asarray(wins).reshape(-1, self.cfg.inputs)
        xs = [self.cm.quantize_input(w[None]) for w in wins]
        if self.run is not None:
            outs = [np.asarray(self.run(self.cm.model, x)) for x in xs]
        else:
            outs = [r.output for r in emulator.run_many(self.cm.model, xs, self.backend, self.jobs)]
        return np.stack([o.reshape(-1) for o in outs]).astype(np.int16)

    def log_magnitude(self, wins: np.ndarray) -> np.ndarray:
        return self.int16(wins) / self.out_scale


def synthesize(engine, logmel: np.ndarray, n_samples: int, mode: str = "offline",
               iterations: int | None = None, lookahead: int = STREAM_LOOKAHEAD) -> np.ndarray:
    """The waveform for a log-mel [n_mels, frames]; streaming mode gives exactly what
    StreamingVocoder gives when fed frame by frame."""
    mag = magnitude(engine.log_magnitude(windows(logmel, engine.cfg)))
    return reconstruct(mag, n_samples, mode, iterations, lookahead)


def reconstruct(mag: np.ndarray, n_samples: int, mode: str = "offline", iterations: int | None = None,
                lookahead: int = STREAM_LOOKAHEAD) -> np.ndarray:
    if mode == "offline":
        return phase.fgla(mag, n_samples, iterations or OFFLINE_ITERATIONS)
    if mode == "streaming":
        return phase.rtisi_la(mag, n_samples, lookahead, iterations or STREAM_ITERATIONS)
    raise ValueError(f"phase mode '{mode}': use offline or streaming")


class StreamingVocoder:
    """push(one log-mel frame [n_mels]) -> the samples that became final (0 or 160);
    finish(n_samples) -> the rest, the whole output trimmed to n_samples."""

    def __init__(self, engine, lookahead: int = STREAM_LOOKAHEAD, iterations: int = STREAM_ITERATIONS):
        self.engine, self.cfg = engine, engine.cfg
        self.phase = phase.RtisiLa(lookahead, iterations)
        self.mels = [np.full(self.cfg.n_mels, SILENCE, np.float32)] * self.cfg.frames_before
        self.pushed = self.stepped = 0
        self.skip = MEL.win_length // 2            # the first window starts half a window early
        self.emitted = 0

    def _emit(self, y: np.ndarray) -> np.ndarray:
        drop = min(self.skip, len(y))
        self.skip -= drop
        y = y[drop:]
        self.emitted += len(y)
        return y.astype(np.float32)

    def _step(self) -> np.ndarray:
        """Frame `stepped` once its last look-ahead frame is in."""
        if len(self.mels) < self.cfg.window:
            return np.zeros(0, np.float32)
        win = np.concatenate(self.mels)
        self.mels = self.mels[1:]
        self.stepped += 1
        return self._emit(self.phase.push(magnitude(self.engine.log_magnitude(win[None]))[0]))

    def push(self, mel_frame: np.ndarray) -> np.ndarray:
        self.mels.append(np.asarray(mel_frame, np.float32).reshape(self.cfg.n_mels))
        self.pushed += 1
        return self._step()

    def finish(self, n_samples: int) -> np.ndarray:
        out = []
        while self.stepped < self.pushed:
            self.mels.append(np.full(self.cfg.n_mels, SILENCE, np.float32))
            out.append(self._step())
        out.append(self._emit(self.phase.flush()))
        y = np.concatenate(out)
        return y[:max(0, len(y) - (self.emitted - n_samples))]
