"""docs/pin-spec.md §7 made executable: every bound with unbounded Python ints at the extremes,
then the extremes driven through the C core."""
import itertools
import math

import numpy as np
import pytest

from conftest import ALL_KERNELS, make_params
from firmware.host_twin import HostTwin
from firmware.slab import reference_state
from quant.pin_fixed import FACET_FORMATS, MAX_DIMS, PinFixed

I16 = (-32768, -32767, -1, 0, 1, 32767)
Q15_RATE = (0, 1, 32767)          # eta, mu, gamma lie in [0, 32767]
INT32_MAX, INT64_MAX, U64_MAX = 2**31 - 1, 2**63 - 1, 2**64 - 1


def test_update_accumulator_fits_int32_for_every_extreme():
    worst = 0
    for x, m, v, eta, mu in itertools.product(I16, I16, I16, Q15_RATE, Q15_RATE):
        delta = max(-32768, min(32767, x - m))
        a = mu * v + eta * delta
        worst = max(worst, abs(a + 2**14), abs(a))
    assert worst <= INT32_MAX
    # and it is tight enough to matter: an unsaturated delta would not fit
    assert 32767 * 32768 + 32767 * (32767 + 32768) > INT32_MAX


@pytest.mark.parametrize("fmt", sorted(FACET_FORMATS))
def test_pin_intermediates_fit_their_types_at_max_dims(fmt):
    d, top = MAX_DIMS, FACET_FORMATS[fmt][0]
    nm = d * 32768**2
    dot = d * 32768 * top                                    # |dot_k|
    rm, fn = math.isqrt(nm), math.isqrt(d * top**2)
    assert nm < 2**41 + 1 and rm < 2**32 and fn < 2**32
    assert dot * 2**15 <= INT64_MAX and 32767 * rm * fn <= INT64_MAX        # at_least
    assert dot * fn <= INT64_MAX                                            # argmax cross products
    assert 2 * dot * fn <= INT64_MAX                                        # P = dot_b fn_r - dot_r fn_b
    # the lead test: with Q15 facets both sides pass 64 bits (so the C core multiplies in 128 bits);
    # their factors never do
    if fmt == "q15":
        assert (2 * dot * fn) << 15 > U64_MAX and 32767 * rm * fn * fn > U64_MAX
    assert 32767 * rm <= U64_MAX and fn * fn <= U64_MAX and (2 * dot * fn) << 15 < 2**128
    assert (32767 - 1) * 32767 + 2**14 <= INT32_MAX                         # threshold feedback


def test_pairwise_products_for_simd_stay_in_range():
    # symmetric facets keep every m*f pair sum inside int32 (what vpmaddwd/SMLAD rely on)
    assert 2 * 32768 * 32767 <= INT32_MAX
    # the byte split of m: 64 blocks of 2^24-bounded pair sums stay inside int32
    assert 64 * 2 * 255 * 32767 <= INT32_MAX and 128 * 2 * 128 * 32767 <= INT32_MAX
    # Q7: an int32 lane holds every pair sum of a D = 2048 row (AVX2: 128 per lane, VNNI: 64)
    assert MAX_DIMS // 16 * 2 * 32768 * 127 <= INT32_MAX


@pytest.mark.parametrize("kernels", ALL_KERNELS)
@pytest.mark.parametrize("dims,fmt", [(8, "q15"), (8, "q7"), (2048, "q15"), (2048, "q7")])
def test_extreme_streams_through_the_c_core(kernels, dims, fmt):
    top = FACET_FORMATS[fmt][0]
    k = 2 if dims == 2048 else 4   # D=2048 with K=2 and 2 slots fits 64 KiB
    f = np.tile(np.array([top, -top]), (k, dims // 2))
    f[0, :] = top
    p = make_params(dims=dims, facets=k, slots=2, facet_format=fmt, rows=f, thr_q15=np.full(k, 1), thr_min_q15=1,
                    thr_max_q15=32767, eta_q15=32767, mu_q15=32767, thr_gain_q15=32767,
                    hysteresis_q15=32767, margin_q15=1)
    ref, twin = PinFixed(p), HostTwin(p, kernels)
    fired = 0
    for value in (32767, -32768, 32767, 0, -32768, -32767, 32767, 32767):
        x = np.full(dims, value)
        ref.push(x)
        twin.push(x)
        st = ref.step()
        assert st == twin.step()
        fired += st[0] == 1
        for sign in (1, -1):
            assert ref.feedback(0, sign) == twin.feedback(0, sign)
    assert fired > 0
    a, b = reference_state(ref), twin.state()
    for key in a:
        assert np.array_equal(a[key], b[key]), key
