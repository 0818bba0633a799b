"""Training: multi-resolution STFT + log-mel loss, then fine-tuning with simulated GNA quantization.

CPU by default (a small configuration that finishes in tens of minutes on two cores); CUDA when
torch sees a GPU. Deterministic for a seed on one device. Writes a checkpoint (torch) and the
float weights (npz) that `export.py` turns into the committed ONNX.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import corpus
from .features import MEL, log_mel, mel_basis
from .model import HOP, VocoderConfig, build

STFT_RESOLUTIONS = ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048), (256, 64, 256))


@dataclass
class TrainConfig:
    steps: int = 6000
    qat_steps: int = 800
    batch: int = 16
    frames: int = 100           # output frames per segment (1 s)
    lr: float = 1e-3
    qat_lr: float = 1e-4
    seed: int = 2026
    qat_weights: str = "i8"     # simulate int8 per-row weights (int16 is then covered a fortiori)
    feedback_noise: float = 0.003  # added to the true past samples of the first pass
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


class Segments:
    """Random 1 s training segments: the mel context, the target blocks and the blocks before them."""

    def __init__(self, data: dict, cfg: VocoderConfig, frames: int, rng: np.random.Generator):
        self.d, self.cfg, self.t, self.rng = data, cfg, frames, rng
        self.a_off = np.concatenate([[0], np.cumsum(data["lens"])])
        self.m_off = np.concatenate([[0], np.cumsum(data["frames"])])
        self.before, self.after = cfg.frames_before, cfg.window - 1 - cfg.frames_before
        self.past_blocks = cfg.feedback // HOP
        ok = data["lens"] // HOP - frames - max(self.before, self.past_blocks) - self.after - 1 > 0
        self.usable = np.flatnonzero(ok)
        self.spk_index = np.array([cfg.speakers.index(s) for s in data["speaker"]])

    def batch(self, n: int):
        idx = self.rng.choice(self.usable, n)
        mels, auds, pasts = [], [], []
        for i in idx:
            hi = self.d["lens"][i] // HOP - self.t - self.after
            s = int(self.rng.integers(max(self.before, self.past_blocks), hi))
            m0 = self.m_off[i]
            mels.append(self.d["mel"][:, m0 + s - self.before: m0 + s + self.t + self.after])
            a0 = self.a_off[i]
            auds.append(self.d["audio"][a0 + s * HOP: a0 + (s + self.t) * HOP])
            p = self.d["audio"][a0 + (s - self.past_blocks) * HOP: a0 + (s + self.t - 1) * HOP]
            pasts.append(p.reshape(-1, HOP).T)
        return np.stack(mels), np.stack(auds), self.spk_index[idx], np.stack(pasts)


class Losses:
    def __init__(self, device):
        import torch

        self.torch = torch
        self.windows = {w: torch.hann_window(w, device=device) for _, _, w in STFT_RESOLUTIONS}
        self.mel = torch.tensor(mel_basis(MEL), device=device)
        self.mel_window = torch.hann_window(MEL.win_length, device=device)

    def _mag(self, x, n_fft, hop, win, window):
        s = self.torch.stft(x, n_fft, hop, win, window, center=True, pad_mode="constant", return_complex=True)
        return s.abs().clamp_min(1e-7)

    def __call__(self, y, x):
        torch = self.torch
        total, parts = 0.0, {}
        for n_fft, hop, win in STFT_RESOLUTIONS:
            sy, sx = self._mag(y, n_fft, hop, win, self.windows[win]), self._mag(x, n_fft, hop, win, self.windows[win])
            sc = torch.linalg.norm(sx - sy) / torch.linalg.norm(sx)
            lm = (sx.log() - sy.log()).abs().mean()
            total = total + (sc + lm) / len(STFT_RESOLUTIONS)
        my = (self.mel @ self._mag(y, MEL.n_fft, MEL.hop, MEL.win_length, self.mel_window)).clamp_min(MEL.log_floor).log()
        mx = (self.mel @ self._mag(x, MEL.n_fft, MEL.hop, MEL.win_length, self.mel_window)).clamp_min(MEL.log_floor).log()
        mel_l1 = (mx - my).abs().mean()
        parts["mel_l1"] = float(mel_l1.detach())
        return total + mel_l1, parts


class FakeQuant:
    """Straight-through rounding as the compiler will do it: weights int16 per tensor or int8 per row,
    activations int16 against a running max-abs range."""

    def __init__(self, weights: str):
        self.weights = weights
        self.peaks: dict[int, float] = {}

    def __call__(self, i, t, kind):
        import torch

        if kind == "weight":
            if self.weights == "i8":
                peak = t.detach().abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
                step = peak / 127
            else:
                step = t.detach().abs().max().clamp_min(1e-12) / 32767
        else:  # "act" per layer; "input": mel and past share one scale
            p = float(t.detach().abs().max())
            self.peaks[i] = max(p, 0.99 * self.peaks.get(i, p))
            step = torch.tensor(self.peaks[i] / 32767, device=t.device)
        return t + (torch.round(t / step) * step - t).detach()


def train(cfg: VocoderConfig, tc: TrainConfig, out: Path, cache: Path, log=print) -> dict:
    import torch

    from ..progress import progress_bar

    torch.manual_seed(tc.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    utts = corpus.utterances()
    train_utts = [u for u in utts if u.split == "train"]
    data = prepare(train_utts, cache)
    mel_mean = data["mel"].mean(axis=1)
    mel_std = data["mel"].std(axis=1) + 1e-3
    net = build(cfg, mel_mean, mel_std).to(device)
    if tc.init:
        net.load_state_dict({k: torch.tensor(v) for k, v in np.load(tc.init).items()})
    segs = Segments(data, cfg, tc.frames, np.random.default_rng(tc.seed))
    losses = Losses(device)
    history = []
    t0 = time.monotonic()

    def run(steps, lr, label):
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
        with progress_bar(label, steps) as advance:
            for step in range(steps):
                for gparam in opt.param_groups:
                    gparam["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps)) if steps > 1 else lr
                mel, aud, spk, past = segs.batch(tc.batch)
                mel_t = torch.tensor(mel, device=device)
                aud_t = torch.tensor(aud, device=device)
                spk_t = torch.tensor(spk, device=device)
                past_t = torch.tensor(past, device=device)
                past_t = past_t + tc.feedback_noise * torch.randn_like(past_t)
                wave = net(mel_t, spk_t, past_t).transpose(1, 2).reshape(len(mel), -1)
                loss, parts = losses(wave, aud_t)
                # second pass: the past is the first pass's own output, as at inference
                own = wave.detach().reshape(len(mel), -1, HOP).transpose(1, 2)
                past2 = torch.cat([past_t[:, :, :segs.past_blocks], own[:, :, :-1]], dim=2)
                loss2, _ = losses(net(mel_t, spk_t, past2).transpose(1, 2).reshape(len(mel), -1), aud_t)
                loss = 0.5 * (loss + loss2)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                if step % 100 == 0 or step == steps - 1:
                    history.append({"phase": label, "step": step, "loss": float(loss.detach()), **parts,
                                    "seconds": round(time.monotonic() - t0, 1)})
                    log(f"{label} {step}/{steps} loss {float(loss.detach()):.4f} mel_l1 {parts['mel_l1']:.4f} "
                        f"({time.monotonic() - t0:.0f} s)")
                advance()
                if step and step % 1000 == 0:
                    save(net)

    def save(model):
        out.mkdir(parents=True, exist_ok=True)
        weights = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        tmp = out / ".weights.tmp.npz"
        np.savez(tmp, **weights)
        tmp.replace(out / "weights.npz")

    run(tc.steps, tc.lr, "train")
    net.fake_quant = FakeQuant(tc.qat_weights)
    run(tc.qat_steps, tc.qat_lr, "qat")
    net.fake_quant = None
    save(net)
    meta = {"model": cfg.as_dict(), "train": asdict(tc), "device": device, "torch": torch.__version__,
            "seconds": round(time.monotonic() - t0, 1), "history": history,
            "data": corpus.digest(utts), "mel": MEL.as_dict()}
    (out / "train.json").write_text(json.dumps(meta, indent=1))
    return meta
