import os
import re

import numpy as np
import pytest
from hypothesis import settings

from firmware.host_twin import KERNELS
from parts import required
from quant.pin_fixed import FACET_FORMATS, PinParams

ALL_KERNELS = sorted(KERNELS)

# CI draws the same hypothesis examples on every run (a red run can be rerun and stays red);
# locally each run explores new ones. .ci/run sets HYPOTHESIS_PROFILE=ci.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skip for a part listed in NPIN_REQUIRE is a failure (see parts.py)."""
    outcome = yield
    rep = outcome.get_result()
    if not rep.skipped:
        return
    reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
    hit = sorted(set(re.findall(r"\[(\w+)\]", reason)) & required())
    if hit:
        rep.outcome = "failed"
        rep.longrepr = f"NPIN_REQUIRE lists {', '.join(hit)}, but the test would skip: {reason}"


def pytest_configure(config):
    required()  # an unknown part in NPIN_REQUIRE stops the run before any test
