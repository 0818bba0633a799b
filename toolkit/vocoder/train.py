"""Training: L1 on the log-magnitude spectrum, then fine-tuning with simulated GNA quantization.

CPU by default (about 8 minutes of float training and 1 of quantization-aware fine-tuning on two
cores); CUDA when torch sees a GPU. Seeded (initialisation and batch order), but multithreaded CPU
kernels differ from run to run in the last bits, so two runs give different weights of the same
quality. Writes the float weights (npz) that `export.py` turns into the committed ONNX.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import corpus
from .features import MEL, log_mel
from .model import VocoderConfig, build
from .phase import stft


@dataclass
class TrainConfig:
    steps: int = 20000
    qat_steps: int = 1500
    batch: int = 256            # frames per step
    lr: float = 1e-3
    qat_lr: float = 1e-4
    sc_weight: float = 0.0      # spectral convergence in the loss (0: L1 on log-magnitude alone sounded best)
    seed: int = 2026
    qat_weights: str = "i8"     # simulate int8 per-row weights (int16 is then covered a fortiori)
    init: str | None = None     # start from these weights (npz) instead of a fresh network


def prepare(utts, cache: Path) -> dict:
    """Decoded audio and log-mel of every utterance, cached as one npz."""
    cache.mkdir(parents=True, exist_ok=True)
    key = corpus.digest(utts)
    f = cache / f"corpus-{next(iter(key.values()))['sha256'][:12]}-{len(utts)}.npz"
    if f.exists():
        d = np.load(f, allow_pickle=False)
        return {k: d[k] for k in d.files}
    audio, mels, spk, names = [], [], [], []
    for u, x in corpus.load(utts):
        audio.append(x)
        mels.append(log_mel(x))
        spk.append(u.speaker)
        names.append(u.name)
    lens = np.array([len(a) for a in audio])
    frames = np.array([m.shape[1] for m in mels])
    d = {"audio": np.concatenate(audio), "mel": np.concatenate(mels, axis=1), "lens": lens, "frames": frames,
         "speaker": np.array(spk), "name": np.array(names)}
    tmp = f.with_name(f".{f.name}.tmp.npz")
    np.savez(tmp, **d)
    tmp.replace(f)
    return d


class Frames:
    """Every training frame: its log-mel window (gathered per batch), target and speaker."""

    def __init__(self, data: dict, cfg: VocoderConfig, rng: np.random.Generator):
        self.cfg, self.rng = cfg, rng
        silence = np.float32(np.log(MEL.log_floor))
        pads, targets, centres = [], [], []
        a_off = np.concatenate([[0], np.cumsum(data["lens"])])
        m_off = np.concatenate([[0], np.cumsum(data["frames"])])
        at = 0
        for i, n in enumerate(data["frames"]):
            mel = data["mel"][:, m_off[i]:m_off[i + 1]].T
            pads.append(np.concatenate([np.full((cfg.frames_before, cfg.n_mels), silence), mel,
                                        np.full((cfg.frames_after, cfg.n_mels), silence)]))
            centres.append(at + cfg.frames_before + np.arange(n))
            at += n + cfg.frames_before + cfg.frames_after
            mag = np.abs(stft(data["audio"][a_off[i]:a_off[i + 1]], n))[:, :cfg.bins]
            targets.append(np.log(np.maximum(mag, cfg.log_floor)).astype(np.float32))
        self.mel = np.concatenate(pads).astype(np.float32)
        self.centre = np.concatenate(centres)
        self.target = np.concatenate(targets)
        self.speaker = np.repeat([cfg.speakers.index(s) for s in data["speaker"]], data["frames"])
        self.offsets = np.arange(-cfg.frames_before, cfg.frames_after + 1)

    def __len__(self) -> int:
        return len(self.centre)

    def windows(self, rows: np.ndarray) -> np.ndarray:
        return self.mel[self.centre[rows][:, None] + self.offsets[None, :]].reshape(len(rows), -1)

    def batch(self, n: int):
        rows = self.rng.integers(0, len(self), n)
        return self.windows(rows), self.target[rows], self.speaker[rows]


class FakeQuant:
    """Straight-through rounding as the compiler will do it: weights int16 per tensor or int8 per row,
    activations int16 against a running max-abs range, one int16 scale for the input vector."""

    def __init__(self, weights: str):
        self.weights = weights
        self.peaks: dict[int, float] = {}

    def __call__(self, i, t, kind):
        import torch

        if kind == "weight":
            if self.weights == "i8":
                step = t.detach().abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127
            else:
                step = t.detach().abs().max().clamp_min(1e-12) / 32767
        else:
            p = float(t.detach().abs().max())
            self.peaks[i] = max(p, 0.99 * self.peaks.get(i, p))
            step = torch.tensor(self.peaks[i] / 32767, device=t.device)
        return t + (torch.round(t / step) * step - t).detach()


def train(cfg: VocoderConfig, tc: TrainConfig, out: Path, cache: Path, log=print) -> dict:
    import torch

    from ..progress import progress_bar

    torch.manual_seed(tc.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.monotonic()
    utts = corpus.utterances()
    data = prepare([u for u in utts if u.split == "train"], cache)
    frames = Frames(data, cfg, np.random.default_rng(tc.seed))
    log(f"{len(frames):,} training frames ({time.monotonic() - t0:.0f} s to prepare)")
    net = build(cfg, data["mel"].mean(axis=1), data["mel"].std(axis=1) + 1e-3).to(device)
    if tc.init:
        net.load_state_dict({k: torch.tensor(v) for k, v in np.load(tc.init).items()})
    history = []

    def run(steps, lr, label):
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
        with progress_bar(label, steps) as advance:
            for step in range(steps):
                for g in opt.param_groups:
                    g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
                x, y, spk = (torch.tensor(a, device=device) for a in frames.batch(tc.batch))
                pred = net(x, spk)
                l1 = (pred - y).abs().mean()
                sc = torch.linalg.norm(pred.exp() - y.exp()) / torch.linalg.norm(y.exp())
                loss = l1 + tc.sc_weight * sc
                opt.zero_grad()
                loss.backward()
                opt.step()
                if step % 250 == 0 or step == steps - 1:
                    history.append({"phase": label, "step": step, "loss": float(loss.detach()), "l1": float(l1.detach()),
                                    "sc": float(sc.detach()), "seconds": round(time.monotonic() - t0, 1)})
                    if step % 1000 == 0 or step == steps - 1:
                        log(f"{label} {step}/{steps} L1 {float(l1.detach()):.4f} SC {float(sc.detach()):.4f} "
                            f"({time.monotonic() - t0:.0f} s)")
                advance()

    run(tc.steps, tc.lr, "train")
    net.fake_quant = FakeQuant(tc.qat_weights)
    run(tc.qat_steps, tc.qat_lr, "qat")
    net.fake_quant = None
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".weights.tmp.npz"
    np.savez(tmp, **{k: v.detach().cpu().numpy() for k, v in net.state_dict().items()})
    tmp.replace(out / "weights.npz")
    meta = {"model": cfg.as_dict(), "train": asdict(tc), "device": device, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "seconds": round(time.monotonic() - t0, 1), "history": history,
            "frames": len(frames), "data": corpus.digest(utts), "mel": MEL.as_dict()}
    (out / "train.json").write_text(json.dumps(meta, indent=1))
    return meta
