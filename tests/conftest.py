import numpy as np
import pytest

from firmware.host_twin import KERNELS
from quant.pin_fixed import PinParamsQ15

ALL_KERNELS = sorted(KERNELS)


def make_params(dims=64, facets=4, slots=8, seed=0, **over) -> PinParamsQ15:
    rng = np.random.default_rng(seed)
    kw = dict(facets_q15=rng.integers(-32767, 32768, (facets, dims)), thr_q15=np.full(facets, 16000),
              tool=np.arange(100, 100 + facets), eta_q15=8192, mu_q15=16384, thr_gain_q15=4096,
              thr_min_q15=6000, thr_max_q15=30000, hysteresis_q15=3000, min_norm=0, slots=slots)
    kw.update(over)
    return PinParamsQ15(**kw)


@pytest.fixture
def params():
    return make_params()
