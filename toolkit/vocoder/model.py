"""The FiLM vocoder network (torch; training only — inference runs the exported ONNX on GNA).

Per 10 ms block b the network reads WINDOW log-mel frames around it (b-4 .. b+5) and the last
FEEDBACK samples it produced itself (blocks b-2, b-1), and emits the block's 160 samples. The
feedback is what lets a frame-rate network keep its waveform continuous across blocks: without it a
stationary mel gives the same block every 10 ms. Trained as convolutions over whole segments (the
mel through a kernel of WINDOW frames, the past blocks through a kernel of 2), so one block's
computation is exactly a chain of affine layers: GNA runs one block per inference.

Every hidden layer is affine -> FiLM (per-speaker gamma, beta) -> LeakyReLU. FiLM is static per
speaker and folds into the affine on GNA; the input normalisation folds into the first layer.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

HOP = 160


@dataclass(frozen=True)
class VocoderConfig:
    n_mels: int = 80
    window: int = 10           # mel frames per inference: b-4 .. b+5
    feedback: int = 320        # own past samples per inference (two blocks)
    hidden: int = 512
    layers: int = 3            # hidden affine+FiLM+LeakyReLU layers
    slope: float = 0.2         # LeakyReLU negative slope (an exact 2-segment PWL on GNA)
    speakers: tuple[str, ...] = ("allison", "june", "carlo")

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def inputs(self) -> int:
        return self.n_mels * self.window + self.feedback

    @property
    def frames_before(self) -> int:
        """Mel frames before block b's own frame in its window (the rest are ahead of it)."""
        return self.window // 2 - 1

    @property
    def macs_per_frame(self) -> int:
        return self.inputs * self.hidden + (self.layers - 1) * self.hidden ** 2 + self.hidden * HOP


def build(cfg: VocoderConfig, mel_mean: np.ndarray, mel_std: np.ndarray):
    import torch
    from torch import nn

    class FiLMVocoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.cfg = cfg
            self.register_buffer("mel_mean", torch.tensor(mel_mean, dtype=torch.float32).view(1, -1, 1))
            self.register_buffer("mel_std", torch.tensor(mel_std, dtype=torch.float32).view(1, -1, 1))
            self.inp = nn.Conv1d(cfg.n_mels, cfg.hidden, cfg.window)
            self.past = nn.Conv1d(HOP, cfg.hidden, cfg.feedback // HOP, bias=False)
            self.mid = nn.ModuleList(nn.Conv1d(cfg.hidden, cfg.hidden, 1) for _ in range(cfg.layers - 1))
            self.out = nn.Conv1d(cfg.hidden, HOP, 1)
            # FiLM: gamma = 1 + dgamma, per speaker and layer
            self.film = nn.Parameter(torch.zeros(len(cfg.speakers), cfg.layers, 2, cfg.hidden))
            with torch.no_grad():
                self.out.weight.mul_(0.1)
            self.fake_quant = None  # set by QAT: callable(layer, tensor, kind) -> tensor

        def forward(self, mel, speaker, past):
            """mel [B, n_mels, T + window - 1], speaker LongTensor [B], past [B, HOP, T + feedback/HOP - 1]
            (the blocks before each output block) -> blocks [B, HOP, T]."""
            fq = self.fake_quant or (lambda i, t, kind: t)
            film = self.film[speaker]  # [B, layers, 2, hidden]
            mel, past = fq(-1, mel, "input"), fq(-1, past, "input")  # one int16 scale for the whole input
            x = (mel - self.mel_mean) / self.mel_std
            x = (nn.functional.conv1d(x, fq(0, self.inp.weight, "weight"), self.inp.bias)
                 + nn.functional.conv1d(past, fq(0, self.past.weight, "weight")))
            for i, conv in enumerate([*self.mid, self.out], start=1):
                g, b = film[:, i - 1, 0, :, None], film[:, i - 1, 1, :, None]
                x = fq(i - 1, nn.functional.leaky_relu(x * (1 + g) + b, cfg.slope), "act")
                x = nn.functional.conv1d(x, fq(i, conv.weight, "weight"), conv.bias)
            return fq(cfg.layers, x, "act")

    return FiLMVocoder()
