"""Python reference vs the C core on the host, bit for bit, over D/K/slot variants and edges."""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import ALL_KERNELS, make_params
from firmware.host_twin import HostTwin
from firmware.slab import SLAB_MAX_BYTES, reference_state, slab_layout
from quant.pin_fixed import ERR_FACET, PinFixed, PinSpecError
from common.errors import MismatchError
from toolkit.pin.verify import random_params, verify

EDGE = st.sampled_from([-32768, -32767, -1, 0, 1, 32766, 32767])
shapes = st.tuples(st.sampled_from([8, 16, 24, 40, 64, 136, 384, 512]),
                   st.sampled_from([1, 2, 3, 16, 17, 31, 32, 33, 64, 150]), st.sampled_from([2, 4, 8, 32, 64]),
                   st.sampled_from(["q15", "q7"]))


@pytest.mark.parametrize("kernels", ALL_KERNELS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes, seed=st.integers(0, 2**32 - 1))
def test_random_streams_agree(kernels, shape, seed):
    d, k, r, fmt = shape
    assume(slab_layout(d, k, r, fmt).total_bytes <= SLAB_MAX_BYTES)
    params = random_params(d, k, r, np.random.default_rng(seed), fmt)
    verify(params, steps=150, seed=seed, kernels=kernels)     # raises MismatchError at the first difference


@pytest.mark.parametrize("shape", [(64, 4, 8, "q15"), (384, 150, 4, "q7"), (512, 16, 32, "q15")])
def test_verify_streams_reach_every_path(shape):
    """The hostile stream is only a parity test if it makes the Pin fire, overrun its ring and take
    feedback, valid and invalid."""
    d, k, r, fmt = shape
    res = verify(random_params(d, k, r, np.random.default_rng(7), fmt), steps=600, seed=7)
    assert res.fires > 0 and res.overruns > 0 and res.feedbacks > 0 and res.empty_steps > 0, res


@pytest.mark.parametrize("kernels", ALL_KERNELS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_edge_vectors_agree(kernels, data):
    d = data.draw(st.sampled_from([8, 32, 520]))
    k = data.draw(st.integers(1, 40))
    fmt = data.draw(st.sampled_from(["q15", "q7"]))
    top = 32767 if fmt == "q15" else 127
    # Hypothesis draws 8-wide patterns (lists of D = 520 are past what it generates); a drawn
    # seed permutes each tiled row so edges land everywhere.
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    tile = st.lists(st.sampled_from([-top, -1, 0, 1, top]), min_size=8, max_size=8)
    f = np.stack([rng.permutation(np.tile(data.draw(tile), d // 8)) for _ in range(k)])
    f[:, 0] = top                                      # a zero facet is refused at prepare
    p = make_params(dims=d, facets=k, facet_format=fmt, rows=f, thr_q15=np.full(k, 1),
                    margin_q15=data.draw(st.sampled_from([0, 1, 300, 32767])),
                    eta_q15=data.draw(st.sampled_from([0, 1, 16384, 32767])),
                    mu_q15=data.draw(st.sampled_from([0, 1, 16384, 32767])),
                    thr_min_q15=1, thr_max_q15=32767, hysteresis_q15=data.draw(st.sampled_from([0, 32767])))
    ref, twin = PinFixed(p), HostTwin(p, kernels)
    for _ in range(data.draw(st.integers(1, 12))):
        x = rng.permutation(np.tile(data.draw(st.lists(EDGE, min_size=8, max_size=8)), d // 8))
        ref.push(x)
        twin.push(x)
        assert ref.step() == twin.step()
        a, b = reference_state(ref), twin.state()
        for key in a:
            assert np.array_equal(a[key], b[key]), key


def test_a_zero_facet_is_refused_by_both():
    f = np.zeros((2, 8), np.int64)
    f[1] = 1000
    p = make_params(dims=8, facets=2, rows=f, thr_q15=np.array([6000, 6000]))
    with pytest.raises(PinSpecError, match="facet 0 is all zeros") as e:
        PinFixed(p)
    assert e.value.code == ERR_FACET


def test_verify_catches_a_one_lsb_difference(monkeypatch):
    """The comparison can fail: perturb the reference's rounding by one LSB."""
    import quant.pin_fixed as pf

    real = pf.update_q15

    def off_by_one(m, v, x, eta, mu):
        m2, v2 = real(m, v, x, eta, mu)
        v2 = v2.copy()
        v2[0] = min(v2[0] + 1, 32767) if v2[0] < 32767 else v2[0] - 1
        return m2, v2

    monkeypatch.setattr(pf, "update_q15", off_by_one)
    params = random_params(64, 4, 8, np.random.default_rng(1))
    with pytest.raises(MismatchError, match="'v\\[0\\]'"):
        verify(params, steps=50, seed=1)
