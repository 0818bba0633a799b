"""The FiLM vocoder network (torch; training only — inference runs the exported ONNX on GNA).

Per 10 ms frame t the network reads the log-mel frames t-frames_before .. t+frames_after and
predicts frame t's log-magnitude spectrum (bins 0 .. bins-1 of §1's 1024-point STFT; the host
copies the last into the Nyquist bin). Phase is the host's job (`phase.py`). Every hidden layer is
affine -> FiLM (per-speaker gamma, beta) -> LeakyReLU; the output layer is affine. FiLM is static
per speaker and folds into the affine on GNA; the input normalisation folds into the first layer,
and training runs the first layer in that folded form so that quantization-aware fine-tuning
rounds the weights GNA will hold.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class VocoderConfig:
    n_mels: int = 80
    frames_before: int = 8     # mel frames before frame t in its window
    frames_after: int = 2      # look-ahead, in mel frames
    hidden: int = 512
    layers: int = 3            # hidden affine+FiLM+LeakyReLU layers
    bins: int = 512            # predicted STFT bins (0 .. 7,984 Hz); Nyquist copies the last
    slope: float = 0.2         # LeakyReLU negative slope (an exact 2-segment PWL on GNA)
    log_floor: float = 1e-5    # the target's floor: log|STFT| >= log(1e-5)
    speakers: tuple[str, ...] = ("allison", "june", "carlo")

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def window(self) -> int:
        return self.frames_before + 1 + self.frames_after

    @property
    def inputs(self) -> int:
        return self.n_mels * self.window

    @property
    def macs_per_frame(self) -> int:
        return self.inputs * self.hidden + (self.layers - 1) * self.hidden ** 2 + self.hidden * self.bins


def build(cfg: VocoderConfig, mel_mean: np.ndarray, mel_std: np.ndarray):
    """mel_mean, mel_std: per band [n_mels] (the normalisation repeats over the window's frames)."""
    import torch
    from torch import nn

    class FiLMVocoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.cfg = cfg
            self.register_buffer("mel_mean", torch.tensor(np.tile(mel_mean, cfg.window), dtype=torch.float32))
            self.register_buffer("mel_std", torch.tensor(np.tile(mel_std, cfg.window), dtype=torch.float32))
            self.inp = nn.Linear(cfg.inputs, cfg.hidden)
            self.mid = nn.ModuleList(nn.Linear(cfg.hidden, cfg.hidden) for _ in range(cfg.layers - 1))
            self.out = nn.Linear(cfg.hidden, cfg.bins)
            self.film = nn.Parameter(torch.zeros(len(cfg.speakers), cfg.layers, 2, cfg.hidden))
            self.fake_quant = None  # set by QAT: callable(layer, tensor, kind) -> tensor

        def folded_input_layer(self):
            """(W, b) acting on the raw log-mel window: normalisation folded in, as exported."""
            w = self.inp.weight / self.mel_std[None, :]
            return w, self.inp.bias - w @ self.mel_mean

        def forward(self, x, speaker):
            """x [B, inputs] raw log-mel windows (frame-major), speaker LongTensor [B] -> [B, bins]."""
            fq = self.fake_quant or (lambda i, t, kind: t)
            film = self.film[speaker]  # [B, layers, 2, hidden]
            w0, b0 = self.folded_input_layer()
            h = nn.functional.linear(fq(-1, x, "input"), fq(0, w0, "weight"), b0)
            for i, lin in enumerate([*self.mid, self.out], start=1):
                h = fq(i - 1, nn.functional.leaky_relu(h * (1 + film[:, i - 1, 0]) + film[:, i - 1, 1], cfg.slope), "act")
                h = nn.functional.linear(h, fq(i, lin.weight, "weight"), lin.bias)
            return fq(cfg.layers, h, "act")

    return FiLMVocoder()
