"""Silero VAD on GNA 2.0: the packaged 16 kHz ONNX compiled by our compiler, streamed over 32 ms
chunks with its LSTM state carried between them, against the same model in ONNX Runtime.

The model comes from PyPI's `silero-vad` (MIT), installed without its dependencies by set-up; we
read its ONNX files in place. Streaming follows the model's own wrapper: each inference sees the
last 64 samples of the previous chunk before its 512 new ones.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import ConfigError

RATE = 16000
CHUNK = 512          # samples per inference (32 ms)
CONTEXT = 64         # samples of the previous chunk each inference also sees
THRESHOLD = 0.5      # the model's default speech threshold
PWL_ERROR = 2e-4     # the PWL budget the VAD compiles with (docs/gna-vad.md: what looser budgets cost)
VARIANTS = {
    # name: (file in the package, compile-time inputs, input shapes)
    "16k": ("silero_vad_openvino_16k.onnx", {}, {}),
    "op15": ("silero_vad_16k_op15.onnx", {"sr": 16000}, {"input": [1, CHUNK + CONTEXT], "state": [2, 1, 128]}),
}


def model_path(variant: str = "16k") -> Path:
    """The ONNX file shipped in the silero-vad package (found without importing it: its
    __init__ imports torch)."""
    if variant not in VARIANTS:
        raise ConfigError(f"Silero variant '{variant}'", f"use one of {sorted(VARIANTS)}")
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the silero-vad package is not installed", "./run demo installs it (pip install --no-deps silero-vad)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / VARIANTS[variant][0]
    if not path.is_file():
        raise ConfigError(f"{path} is missing from the silero-vad package", "reinstall silero-vad")
    return path


def windows(audio: np.ndarray) -> np.ndarray:
    """[n, 1, 576] model inputs: each 512-sample chunk after the previous chunk's last 64 samples."""
    n = len(audio) // CHUNK
    padded = np.concatenate([np.zeros(CONTEXT, np.float32), np.asarray(audio[:n * CHUNK], np.float32)])
    idx = np.arange(n)[:, None] * CHUNK + np.arange(CHUNK + CONTEXT)[None, :]
    return padded[idx][:, None, :]


def onnx_stream(path, audio: np.ndarray, variant: str = "16k") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities [n], inputs [n, 1, 576], states before each chunk [n, 2, 1, 128]) in ONNX Runtime."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    extra = {k: np.asarray(v, np.int64) for k, v in VARIANTS[variant][1].items()}
    xs = windows(audio)
    state = np.zeros((2, 1, 128), np.float32)
    probs, states = np.empty(len(xs)), np.empty((len(xs), 2, 1, 128), np.float32)
    for i, x in enumerate(xs):
        states[i] = state
        out, state = sess.run(None, {"input": x, "state": state, **extra})
        probs[i] = float(np.asarray(out).ravel()[0])
    return probs, xs, states


def gna_stream(cm, audio: np.ndarray, backend=None, progress=lambda: None) -> np.ndarray:
    """Probabilities per chunk from the compiled model, the state fed back between chunks."""
    s = cm.stream(backend)
    out = cm.outputs[0]["name"]
    probs = []
    for x in windows(audio):
        probs.append(float(s.step({"input": x})[out].ravel()[0]))
        progress()
    return np.array(probs)


def calibration_set(path, audio: np.ndarray, n: int = 400, seed: int = 0, variant: str = "16k") -> dict:
    """n chunks of real streaming (inputs with the states ONNX Runtime carried into them)."""
    _, xs, states = onnx_stream(path, audio, variant)
    pick = np.sort(np.random.default_rng(seed).choice(len(xs), size=min(n, len(xs)), replace=False))
    return {"input": xs[pick], "state": states[pick]}


def compile_vad(audio: np.ndarray, weights: str = "i16", variant: str = "16k", pwl_error: float = PWL_ERROR,
                seed: int = 0):
    from gna.onnx_compiler import compile_onnx

    path = model_path(variant)
    _, consts, shapes = VARIANTS[variant]
    cm = compile_onnx(path, calibration_set(path, audio, seed=seed, variant=variant), weights=weights,
                      max_pwl_error=pwl_error, consts=consts, shapes=shapes)
    cm.source = str(path)
    return cm


def cached_vad(weights: str = "i16", variant: str = "16k"):
    """The compiled VAD, compiled once (calibrated on training speech) and kept in ~/.cache/npin."""
    from gna.compiled import CompiledModel

    from . import speech

    path = model_path(variant)
    key = hashlib.sha256(path.read_bytes() + f"{weights}/{PWL_ERROR}/{speech.CALIB_RECIPE}".encode()
                         + _compiler_fingerprint()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "npin" / "gna"
    target = cache / f"silero_{variant}_{weights}_{key}.npz"
    if target.is_file():
        return CompiledModel.load(target)
    cm = compile_vad(speech.calibration_audio(), weights, variant)
    cm.save(target)
    return cm


def _compiler_fingerprint() -> bytes:
    """The compiler's own source: a cached compile is redone when the compiler changes."""
    import gna
    import quant

    files = sorted(Path(gna.__file__).parent.glob("*.py")) + sorted(Path(quant.__file__).parent.glob("*.py"))
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).digest()


@dataclass(frozen=True)
class Segment:
    start: float   # seconds
    end: float


def segments(probs: np.ndarray, threshold: float = THRESHOLD, min_speech_s: float = 0.25,
             min_silence_s: float = 0.1) -> list[Segment]:
    """Speech segments from per-chunk probabilities, as Silero's own helper draws them: speech
    starts at `threshold`, ends once the probability stays below threshold - 0.15 for
    min_silence_s; segments shorter than min_speech_s are dropped."""
    step = CHUNK / RATE
    low = threshold - 0.15
    out, start, quiet = [], None, 0
    for i, p in enumerate(probs):
        if start is None:
            if p >= threshold:
                start, quiet = i, 0
        elif p < low:
            quiet += 1
            if quiet * step >= min_silence_s:
                end = i - quiet + 1
                if (end - start) * step >= min_speech_s:
                    out.append(Segment(start * step, end * step))
                start = None
        else:
            quiet = 0
    if start is not None and (len(probs) - start) * step >= min_speech_s:
        out.append(Segment(start * step, len(probs) * step))
    return out


def read_wav(path) -> np.ndarray:
    """16 kHz mono 16-bit PCM WAV -> float in [-1, 1)."""
    import wave

    try:
        with wave.open(str(path), "rb") as w:
            rate, channels, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            data = w.readframes(n)
    except Exception as e:  # noqa: BLE001 - the wave module raises many types on damaged headers
        raise ConfigError(f"cannot read {path} as WAV: {e}", "give a 16 kHz mono 16-bit PCM .wav file") from e
    if rate != RATE or channels != 1 or width != 2:
        raise ConfigError(f"{path} is {rate} Hz, {channels} channel(s), {8 * width}-bit",
                          f"convert it: sox {path} -r 16000 -c 1 -b 16 out.wav")
    if len(data) % 2:
        raise ConfigError(f"{path} is truncated: its last sample is half missing", "give a complete 16-bit PCM .wav file")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
