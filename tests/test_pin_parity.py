"""Python reference vs the C core on the host, bit for bit, over D/K/slot variants and edges."""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import ALL_KERNELS, make_params
from firmware.host_twin import HostTwin
from firmware.slab import SLAB_MAX_BYTES, reference_state, slab_layout
from quant.pin_fixed import PinFixed
from toolkit.errors import MismatchError
from toolkit.pin_verify import random_params, verify

EDGE = st.sampled_from([-32768, -32767, -1, 0, 1, 32766, 32767])
shapes = st.tuples(st.sampled_from([8, 16, 24, 40, 64, 136, 512]),
                   st.integers(1, 16), st.sampled_from([2, 4, 8, 32, 64]))


@pytest.mark.parametrize("kernels", ALL_KERNELS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes, seed=st.integers(0, 2**32 - 1))
def test_random_streams_agree(kernels, shape, seed):
    d, k, r = shape
    assume(slab_layout(d, k, r).total_bytes <= SLAB_MAX_BYTES)
    params = random_params(d, k, r, np.random.default_rng(seed))
    res = verify(params, steps=150, seed=seed, kernels=kernels)
    assert res.steps == 150


@pytest.mark.parametrize("kernels", ALL_KERNELS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_edge_vectors_agree(kernels, data):
    d = data.draw(st.sampled_from([8, 32, 520]))
    k = data.draw(st.integers(1, 16))
    # Hypothesis draws 8-wide patterns (lists of D = 520 are past what it generates); a drawn
    # seed permutes each tiled row so edges land everywhere.
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    tile = st.lists(st.sampled_from([-32767, -1, 0, 1, 32767]), min_size=8, max_size=8)
    f = np.stack([rng.permutation(np.tile(data.draw(tile), d // 8)) for _ in range(k)])
    f[:, 0] = 32767                                    # no all-zero facet needed, but allowed
    p = make_params(dims=d, facets=k, facets_q15=f, thr_q15=np.full(k, 1),
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


def test_all_zero_facet_never_fires_and_matches():
    f = np.zeros((2, 8), np.int64)
    f[1] = 1000
    p = make_params(dims=8, facets=2, facets_q15=f, thr_q15=np.array([6000, 6000]))
    ref, twin = PinFixed(p), HostTwin(p)
    for x in (np.full(8, 500), np.zeros(8, np.int64), np.full(8, -32768)):
        ref.push(x)
        twin.push(x)
        sa, sb = ref.step(), twin.step()
        assert sa == sb
        assert sa[1] is None or sa[1].facet == 1


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
