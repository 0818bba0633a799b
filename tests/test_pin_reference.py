"""Hand-worked cases from docs/pin-spec.md (numbers derived by hand in the comments, not by running
the code), each run through the Python reference and the C core on the host with every kernel set:
the rounding of the update, the argmax and its ties, a disarmed argmax blocking, the lead over the
runner-up at its exact boundary (in and beyond 64 bits), re-arming, min_norm and K = 1."""
import math

import numpy as np
import pytest

from conftest import ALL_KERNELS, make_params
from firmware.host_twin import HostTwin
from quant.pin_fixed import EMPTY, ERR_ARG, FIRED, OK, PinEvent, PinFixed, update_q15

# eta = 32767 and mu = 0 make the Mind equal the input for |x| <= 16384:
# rshr15(32767 x) = floor(x - x/32768 + 1/2) = x.
FOLLOW = dict(eta_q15=32767, mu_q15=0)


def run_both(params, xs, kernels):
    """Push and step each row through the reference and the twin; both must agree step by step."""
    ref, twin = PinFixed(params), HostTwin(params, kernels)
    out = []
    for x in xs:
        ref.push(np.asarray(x))
        twin.push(np.asarray(x))
        a, b = ref.step(), twin.step()
        assert a == b, (a, b)
        assert twin.state()["armed"].tolist() == ref.armed_words().tolist()
        out.append(a)
    return out, ref


def test_update_rounds_half_up_and_saturates_delta():
    m = np.array([0, -30000, 30000, 0, 0, 0, 0, 0])
    v = np.array([0, 0, 0, 100, -100, 0, 0, 0])
    x = np.array([1000, 30000, -30000, 0, 0, 1, -1, 3])
    # eta = 0.5 (16384), mu = 0.25 (8192)
    m2, v2 = update_q15(m, v, x, 16384, 8192)
    # [0]: a = 16384*1000 = 16384000; (16384000 + 16384) >> 15 = floor(500.5) = 500
    # [1]: delta = sat16(60000) = 32767; a = 16384*32767 = 536854528 -> (a+16384)>>15 = 16384
    #      m = -30000 + 16384 = -13616
    # [2]: delta = sat16(-60000) = -32768; a = -536870912 -> floor((-536870912+16384)/32768) = -16384
    #      m = 30000 - 16384 = 13616
    # [3]: a = 8192*100 = 819200 -> floor(835584/32768) = 25
    # [4]: a = -819200 -> floor(-802816/32768) = floor(-24.5) = -25
    # [5]: a = 16384 -> floor(32768/32768) = 1 (0.5 rounds up);  [6]: a = -16384 -> floor(0) = 0
    # [7]: a = 49152 -> floor(65536/32768) = 2 (1.5 rounds up)
    assert v2.tolist() == [500, 16384, -16384, 25, -25, 1, 0, 2]
    assert m2.tolist() == [500, -13616, 13616, 25, -25, 1, 0, 2]


def test_mind_saturates_at_int16_edges():
    m = np.full(8, 32000)
    v = np.full(8, 32767)
    x = np.full(8, 32767)
    m2, v2 = update_q15(m, v, x, 32767, 32767)
    # a = 32767*32767 + 32767*767 = 32767*33534 -> v' = sat16(33533.x) = 32767, m' = sat16(64767)
    assert v2.tolist() == [32767] * 8 and m2.tolist() == [32767] * 8


def test_empty_ring_changes_nothing():
    ref = PinFixed(make_params())
    assert ref.step() == (EMPTY, None)
    assert ref.step_count == 0 and ref.ring_tail == 0


@pytest.mark.parametrize("kernels", ALL_KERNELS)
@pytest.mark.parametrize("fmt,amp", [("q15", 20000), ("q7", 100)])
def test_tie_goes_to_the_lowest_index_and_a_disarmed_argmax_blocks(kernels, fmt, amp):
    f = np.zeros((3, 8), np.int64)
    f[0] = f[1] = amp                  # two identical facets: a tie every time
    f[2] = -amp
    p = make_params(dims=8, facets=3, facet_format=fmt, rows=f, thr_q15=np.full(3, 20000),
                    hysteresis_q15=4000, margin_q15=0, **FOLLOW)
    out, ref = run_both(p, [np.full(8, 10000)] * 3 + [np.full(8, -10000)], kernels)
    # step 1: m = 10000 everywhere; c0 = c1 = 1, c2 = -1. b = 0 (tie, lowest index), r = 1, lead 0 >= M = 0.
    # reported score: floor(dot * 2^15 / (rm * fn)) with rm = isqrt(8e8) = 28284 is a hair above 1: clamped.
    assert out[0] == (FIRED, PinEvent(1, 0, 32767, 100))
    # steps 2, 3: m unchanged; facet 0 stays disarmed (c0 = 1 >= (20000 - 4000) / 2^15) and, being the
    # argmax, blocks facet 1 although 1 is armed and ties it (version 1 fired facet 1 here).
    assert out[1] == (OK, None) and out[2] == (OK, None)
    # step 4: delta = sat16(-20000) ... m = 10000 + rshr15(32767 * -20000) = 10000 - 19999 = -9999:
    # c2 = 1 fires; facet 0 (c0 = -1 < 16000 / 2^15) re-arms; facet 1 was never disarmed.
    assert out[3] == (FIRED, PinEvent(4, 2, 32767, 102))
    assert ref.armed == 0b011 and ref.last_fired == 2 and ref.fires == 2


def _lead_case(margin, thr=26000):
    # m = (3000, 4000, 0, ...): rm = 5000 exactly; c0 = 0.6, c1 = 0.8, lead of 1 over 0 = 0.2.
    # Lead test: 2^15 (dot1 fn0 - dot0 fn1) = 32768 * (8e7 - 6e7) * 2e4 = 1.31072e16 >= M * 5000 * 4e8
    #            <=> M <= 6553.6.   Threshold: 8e7 * 32768 >= T * 5000 * 20000 <=> T <= 26214.4.
    f = np.zeros((2, 8), np.int64)
    f[0, 0] = f[1, 1] = 20000
    return make_params(dims=8, facets=2, rows=f, thr_q15=np.full(2, thr), thr_max_q15=32767,
                       margin_q15=margin, **FOLLOW)


@pytest.mark.parametrize("kernels", ALL_KERNELS)
def test_lead_over_the_runner_up_at_its_exact_boundary(kernels):
    x = np.array([3000, 4000, 0, 0, 0, 0, 0, 0])
    out, _ = run_both(_lead_case(6553), [x], kernels)
    # score = floor(8e7 * 32768 / 1e8) = floor(26214.4) = 26214
    assert out == [(FIRED, PinEvent(1, 1, 26214, 101))]
    assert run_both(_lead_case(6554), [x], kernels)[0] == [(OK, None)]
    assert run_both(_lead_case(0, thr=26214), [x], kernels)[0][0][0] == FIRED
    assert run_both(_lead_case(0, thr=26215), [x], kernels)[0] == [(OK, None)]


@pytest.mark.parametrize("kernels", ALL_KERNELS)
def test_lead_test_beyond_64_bits(kernels):
    """D = 2048 at full scale: 2^15 (dot_b fn_r - dot_r fn_b) is about 2^76, past int64. The
    boundary M* is computed here from the definition with Python's unbounded integers."""
    d = 2048
    f = np.zeros((2, d), np.int64)
    f[0] = 32767                       # c0 about 1
    f[1, : d // 2] = 32767             # c1 about 1/sqrt(2)
    m = 16384                          # rshr15(32767 * 16384) = 16384
    rm = math.isqrt(d * m * m)
    fn0, fn1 = math.isqrt(d * 32767**2), math.isqrt(d // 2 * 32767**2)
    dot0, dot1 = d * m * 32767, d // 2 * m * 32767
    lhs = (dot0 * fn1 - dot1 * fn0) << 15
    assert lhs > 2**64                                       # the case needs the wide comparison
    m_star = lhs // (rm * fn0 * fn1)                         # the largest M that still fires
    for margin, fires in ((m_star, True), (m_star + 1, False)):
        p = make_params(dims=d, facets=2, slots=2, rows=f, thr_q15=np.full(2, 6000), margin_q15=margin, **FOLLOW)
        out, _ = run_both(p, [np.full(d, m)], kernels)
        assert (out[0][0] == FIRED) == fires, (margin, out)


@pytest.mark.parametrize("kernels", ALL_KERNELS)
def test_rearm_needs_the_score_below_threshold_minus_hysteresis(kernels):
    f = np.zeros((2, 8), np.int64)
    f[0, 0] = f[1, 1] = 20000
    p = make_params(dims=8, facets=2, rows=f, thr_q15=np.full(2, 16384), hysteresis_q15=8192, **FOLLOW)
    xs = [np.array([10000, 0, 0, 0, 0, 0, 0, 0]),   # m = x. c0 = 1: fires 0
          np.array([10000, 10000, 0, 0, 0, 0, 0, 0]),  # c0 = c1 = 0.707: tie, b = 0 is disarmed and blocks 1
          np.array([10000, 20000, 0, 0, 0, 0, 0, 0]),  # c1 = 0.894 fires 1; c0 = 0.447 >= 0.25 = thr - H:
                                                       # 0 stays disarmed
          np.array([2000, 20000, 0, 0, 0, 0, 0, 0]),   # m0 = 10000 + rshr15(32767 * -8000) = 2000:
                                                       # c0 = 0.0995 < 0.25 re-arms 0; b = 1 is disarmed
          np.array([10000, 0, 0, 0, 0, 0, 0, 0])]      # m = (10000, 20000 - 19999 = 1): c0 fires 0 again
    out, ref = run_both(p, xs, kernels)
    assert [(s, e.facet if e else None) for s, e in out] == [(FIRED, 0), (OK, None), (FIRED, 1), (OK, None),
                                                            (FIRED, 0)]
    assert ref.armed == 0b10                           # c1 = 1/10000 < 0.25 re-armed 1 at the last step


@pytest.mark.parametrize("kernels", ALL_KERNELS)
def test_min_norm_and_a_single_facet(kernels):
    f = np.full((1, 8), 20000)
    # rm = isqrt(8 * 1000^2) = 2828: below min_norm 2829 nothing fires, at 2828 it does; K = 1 has no
    # runner-up, so the (huge) margin does not apply.
    for min_norm, status in ((2829, OK), (2828, FIRED)):
        p = make_params(dims=8, facets=1, rows=f, thr_q15=np.full(1, 16000), margin_q15=32767,
                        min_norm=min_norm, **FOLLOW)
        assert run_both(p, [np.full(8, 1000)], kernels)[0][0][0] == status


def test_feedback_moves_a_fraction_towards_the_bounds():
    p = make_params(facets=2, thr_q15=np.array([20000, 20000]), thr_gain_q15=8192,
                    thr_min_q15=4000, thr_max_q15=30000)
    ref = PinFixed(p)
    assert ref.feedback(0, +1) == OK
    # 20000 - rshr15((20000-4000)*8192) = 20000 - 4000
    assert ref.thr_q15[0] == 16000
    assert ref.feedback(1, -1) == OK
    # 20000 + rshr15((30000-20000)*8192) = 20000 + 2500
    assert ref.thr_q15[1] == 22500
    assert ref.feedback(2, 1) == ERR_ARG and ref.feedback(0, 0) == ERR_ARG


def test_overrun_counts_only_lost_vectors():
    p = make_params(slots=4)
    ref = PinFixed(p)
    for i in range(7):                               # 7 pushes into 4 slots: 3 lost
        ref.push(np.full(p.dims, i))
    statuses = [ref.step()[0] for _ in range(5)]
    assert all(s in (OK, FIRED) for s in statuses[:4]) and statuses[4] == EMPTY
    assert ref.overrun == 3 and ref.ring_tail == 7
    assert ref.x_last.tolist() == [6] * p.dims       # the newest survived, in order
