"""A synthetic Pin of a given shape, quantized, with an intent stream that exercises it: what the
demo and the HIL suite use when the user brings no config."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.errors import ConfigError
from quant.pin_fixed import FACET_FORMATS, PinParams
from quant.pin_quantize import InputScale, calibrate_input_scale, quantize_pin

from .intent_stream import intent_episodes
from .config import example_config, parse_pin_config


# The named Pin shapes the benchmarks measure, (D, K, slots, facet format): the mission Pin, and the
# largest routing Pin (every CLINC150 intent: 384-d MiniLM vectors, 150 Q7 facets, docs/pin-spec.md §2.2).
SHAPES = {"mission": (512, 16, 32, "q15"), "routing": (384, 150, 4, "q7")}


@dataclass(frozen=True)
class SyntheticPin:
    facets: np.ndarray  # float directions the intent streams are drawn around
    params: PinParams
    scale: InputScale

    @classmethod
    def from_params(cls, params: PinParams, scale: InputScale) -> "SyntheticPin":
        top = FACET_FORMATS[params.facet_format][0]
        return cls(np.asarray(params.facets, dtype=np.float64) / top, params, scale)

    def stream_q15(self, vectors: int, seed: int, episode: int = 30) -> tuple[np.ndarray, np.ndarray]:
        """`vectors` Q15 rows of intent episodes (switching every `episode` rows) and their intents."""
        episodes = -(-vectors // episode)
        xs, intents = intent_episodes(self.facets, episodes, episode, noise=0.8, seed=seed)
        return self.scale.quantize(xs[:vectors]).astype(np.int16), intents[:vectors]


def synthetic_pin(dims: int, facets: int, slots: int, seed: int = 0, facet_format: str = "q15") -> SyntheticPin:
    pc = parse_pin_config(example_config(dims, facets, seed=seed, slots=slots), "synthetic config")
    calib, _ = intent_episodes(pc.cfg.facets, 20, 40, noise=0.8, seed=seed + 1)
    scale = calibrate_input_scale(calib)
    return SyntheticPin(np.asarray(pc.cfg.facets), quantize_pin(pc.cfg, scale, facet_format), scale)


def pin_under_test(pin_path: str | None, shape: str | None, default: tuple[int, int, int]) -> SyntheticPin:
    """The Pin a HIL run or a reset sweep streams: a quantized Pin file, else a synthetic Pin of
    `shape` ("D,K,slots[,q15|q7]") or of `default`."""
    if pin_path:
        from .params_io import load_params

        params, scale, _, _ = load_params(pin_path)
        return SyntheticPin.from_params(params, scale)
    dims_facets_slots, facet_format = default, "q15"
    if shape:
        fields = shape.split(",")
        try:
            dims, facets, slots = (int(v) for v in fields[:3])
        except ValueError:
            raise ConfigError(f"--shape {shape!r} is not D,K,slots", "e.g. --shape 512,16,32") from None
        dims_facets_slots, facet_format = (dims, facets, slots), (fields[3] if len(fields) > 3 else "q15")
    return synthetic_pin(*dims_facets_slots, seed=11, facet_format=facet_format)


def hostile_q15(vectors: int, dims: int, seed: int) -> np.ndarray:
    """Full-scale and extreme rows: saturation paths on the target (the reference is the judge)."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(-32768, 32768, size=(vectors, dims))
    rows[::3] = np.where(rng.random((len(rows[::3]), dims)) < 0.5, -32768, 32767)
    return rows.astype(np.int16)
