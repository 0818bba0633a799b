"""The Neural Pin as a router for a task: facets trained on the training split (utterances and Mind
states along training conversations), dynamics, threshold and margin chosen on validation,
quantized to the fixed-point Pin of docs/pin-spec.md and run by the C core (docs/routing.md)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.errors import ConfigError
from firmware.host_twin import FASTEST, HostTwin
from firmware.slab import SLAB_MAX_BYTES, slab_layout
from quant.episodes import Stream
from quant.facet_fit import FacetFit, fit_facets
from quant.pin_fixed import FIRED, PinParams
from quant.pin_float import cosine_scores, mind_trajectory, unit_rows
from quant.pin_quantize import InputScale, calibrate_input_scale, quantize_pin
from quant.pin_tune import PinDesign, replay_stream, tune_pin, tune_steps

from .baselines import Method
from .tasks import Task

TRAIN_EPISODES = 2000      # training conversations whose Mind states the facets also learn from
SLOT_CHOICES = (8, 4, 2)   # vectors arrive one utterance at a time: a few slots are plenty


def pin_dims(width: int) -> int:
    return (width + 7) // 8 * 8


def pin_shape(dims: int, facets: int) -> tuple[str, int]:
    """(facet format, slots) for a routing Pin: Q15 facets when they fit one 64 KiB slab, else Q7;
    the most slots that fit."""
    for fmt in ("q15", "q7"):
        for slots in SLOT_CHOICES:
            if slab_layout(dims, facets, slots, fmt).total_bytes <= SLAB_MAX_BYTES:
                return fmt, slots
    most = max(k for k in range(1, 1025) if slab_layout(dims, k, 2, "q7").total_bytes <= SLAB_MAX_BYTES)
    raise ConfigError(f"{facets} labels do not fit one Pin: at D={dims} a 64 KiB slab holds at most {most} "
                      f"facets (Q7, 2 slots)", "route fewer labels (a subset, or the domains task)")


def pad(x: np.ndarray, dims: int) -> np.ndarray:
    return x if x.shape[1] == dims else np.concatenate([x, np.zeros((len(x), dims - x.shape[1]), x.dtype)], axis=1)


@dataclass
class RoutingPin:
    task: Task
    fit: FacetFit
    design: PinDesign
    scale: InputScale
    params: PinParams

    @property
    def dims(self) -> int:
        return self.params.dims

    def float_config(self):
        return self.design.config(pad(self.fit.facets, self.dims), slots=self.params.slots)


def train_routing_pin(task: Task, val: Stream, seed: int = 0, progress=lambda n: None,
                      trajectories: bool = True, facets: np.ndarray | None = None, **tune) -> RoutingPin:
    """Facets (unless given), design and quantized parameters for `task`, tuned on `val`."""
    dims = pin_dims(task.X["train"].shape[1])
    fmt, slots = pin_shape(dims, task.n_labels)
    if facets is None:
        streams = [task.stream("train", TRAIN_EPISODES, seed + 7)] if trajectories else []
        fit = fit_facets(task.X["train"], task.y["train"], task.n_labels, streams=streams)
    else:
        fit = FacetFit(unit_rows(facets), len(task.X["train"]), 0, float("nan"))
    progress(1)
    design = tune_pin(fit.facets, val, progress=progress, **tune)
    scale = calibrate_input_scale(pad(task.X["train"], dims))
    cfg = design.config(pad(fit.facets, dims), slots=slots)
    return RoutingPin(task, fit, design, scale, quantize_pin(cfg, scale, fmt))


def fit_steps(**tune) -> int:
    return 1 + tune_steps(**tune)


class NeuralPin(Method):
    """The Pin over the stream, float (the design) or fixed (the C core on the host); after each
    fire the tool's result says whether it was right (feedback +1 / -1)."""

    def __init__(self, pin: RoutingPin, fixed: bool):
        self.pin, self.fixed = pin, fixed
        self.name = "Neural Pin (fixed, C host twin)" if fixed else "Neural Pin (float)"

    def fit(self, task):  # trained by train_routing_pin
        pass

    def best_guess(self, stream):
        d = self.pin.design
        scores, _ = cosine_scores(mind_trajectory(stream.x, d.eta, d.mu), unit_rows(self.pin.fit.facets))
        return scores.argmax(axis=1)

    def decide(self, stream, offset=0.0):
        if not self.fixed:
            return replay_stream(self.pin.float_config(), stream)
        twin = HostTwin(self.pin.params, FASTEST)
        xq = self.pin.scale.quantize(pad(stream.x, self.pin.dims)).astype(np.int16)
        truth = stream.step_truth
        out = np.full(len(xq), -1)
        for i, x in enumerate(xq):
            twin.push(x)
            status, ev = twin.step()
            if status == FIRED:
                out[i] = ev.facet
                twin.feedback(ev.facet, 1 if truth[i] == ev.facet else -1)
        return out
