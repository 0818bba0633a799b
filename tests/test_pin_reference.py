"""The Python reference against hand-worked cases from docs/pin-spec.md (numbers derived by hand,
not by running the code)."""
import numpy as np

from conftest import make_params
from quant.pin_fixed import EMPTY, ERR_ARG, FIRED, OK, PinFixed, update_q15


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


def test_fire_rearm_and_tie_break_to_lowest_index():
    f = np.zeros((3, 8), np.int64)
    f[0] = f[1] = [20000] * 8          # two identical facets: a tie every time
    f[2] = [-20000] * 8
    p = make_params(dims=8, facets=3, facets_q15=f, thr_q15=np.array([20000, 20000, 20000]),
                    eta_q15=32767, mu_q15=0, hysteresis_q15=4000)
    ref = PinFixed(p)
    ref.push(np.full(8, 10000))
    status, ev = ref.step()
    assert status == FIRED and ev.facet == 0 and ev.step == 1 and ev.tool == 100
    assert ev.score_q15 == 32767                    # m parallel to f: cos clamps at 32767
    ref.push(np.full(8, 10000))
    status, ev = ref.step()                          # facet 0 disarmed; facet 1 ties and fires
    assert status == FIRED and ev.facet == 1
    ref.push(np.full(8, 10000))
    assert ref.step() == (OK, None)                  # both disarmed, facet 2 is opposite
    # swing the Mind to the opposite side: facet 2 fires, 0 and 1 re-arm (score -32768 < 16000)
    ref.push(np.full(8, -10000))
    status, ev = ref.step()
    assert status == FIRED and ev.facet == 2
    assert ref.armed_mask == 0b011


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
