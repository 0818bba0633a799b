import numpy as np
import pytest

from firmware.host_twin import KERNELS
from quant.pin_fixed import FACET_FORMATS, PinParams

ALL_KERNELS = sorted(KERNELS)


def make_params(dims=64, facets=4, slots=8, seed=0, facet_format="q15", rows=None, **over) -> PinParams:
    """A Pin of `facets` random facets (or the given `rows`), parameters overridable by name."""
    rng = np.random.default_rng(seed)
    top = FACET_FORMATS[facet_format][0]
    rows = rng.integers(-top, top + 1, (facets, dims)) if rows is None else np.asarray(rows)
    kw = dict(facets=rows, facet_format=facet_format,
              thr_q15=np.full(facets, 16000), tool=np.arange(100, 100 + facets), eta_q15=8192,
              mu_q15=16384, thr_gain_q15=4096, thr_min_q15=6000, thr_max_q15=30000, hysteresis_q15=3000,
              margin_q15=0, min_norm=0, slots=slots)
    kw.update(over)
    return PinParams(**kw)


@pytest.fixture
def params():
    return make_params()
