"""The Pin quantizer: formats, rounding, and float-vs-fixed decisions on intent streams."""
import numpy as np
import pytest

from quant.pin_float import PinConfigFloat
from quant.pin_quantize import calibrate_input_scale, decision_disagreement, quantize_pin
from quant.q15 import q15_from_float, q15_scalar
from toolkit.pin.intent_stream import intent_episodes


def _cfg(dims=128, k=6, seed=0):
    rng = np.random.default_rng(seed)
    return PinConfigFloat(facets=rng.standard_normal((k, dims)), thresholds=np.full(k, 0.6),
                          tool=np.arange(k), eta=0.25, mu=0.5, threshold_gain=0.125,
                          threshold_min=0.35, threshold_max=0.95, hysteresis=0.15, margin=0.05)


def test_q15_rounding_is_half_away_from_zero_and_symmetric():
    assert q15_from_float([0.5 / 32768, -0.5 / 32768, 1.5 / 32768]).tolist() == [1, -1, 2]
    assert q15_from_float([-1.0], symmetric=True).tolist() == [-32767]
    assert q15_from_float([-1.0]).tolist() == [-32768]
    assert q15_scalar(0.25) == 8192 and q15_scalar(1.0) == 32767


@pytest.mark.parametrize("fmt,top", [("q15", 32767), ("q7", 127)])
def test_facets_use_full_scale_and_thresholds_round(fmt, top):
    cfg = _cfg()
    scale = calibrate_input_scale(np.ones((4, 128)))
    p = quantize_pin(cfg, scale, fmt)
    assert p.facet_format == fmt
    assert np.all(np.abs(p.facets).max(axis=1) == top)
    assert p.facets.min() >= -top
    assert p.thr_q15.tolist() == [19661] * 6          # round(0.6 * 32768) = 19660.8 -> 19661
    assert (p.eta_q15, p.mu_q15, p.thr_gain_q15) == (8192, 16384, 4096)
    assert p.margin_q15 == 1638                       # round(0.05 * 32768) = 1638.4 -> 1638


def test_q7_rounds_half_away_from_zero():
    # a row whose largest component is 1: components 0.5/127 and -0.5/127 sit exactly half way
    f = np.zeros((1, 8))
    f[0, :3] = [1.0, 0.5 / 127, -0.5 / 127]
    p = quantize_pin(PinConfigFloat(facets=f, thresholds=np.full(1, 0.6), tool=np.arange(1), eta=0.25, mu=0.5,
                                    threshold_gain=0.1, threshold_min=0.3, threshold_max=0.9, hysteresis=0.1),
                     calibrate_input_scale(np.ones((2, 8))), "q7")
    assert p.facets[0, :3].tolist() == [127, 1, -1]


@pytest.mark.parametrize("fmt", ["q15", "q7"])
def test_fixed_point_decisions_agree_with_float(fmt):
    cfg = _cfg()
    stream, _ = intent_episodes(cfg.facets, 30, 30, noise=0.8, seed=1)
    scale = calibrate_input_scale(stream)
    report = decision_disagreement(cfg, quantize_pin(cfg, scale, fmt), scale, stream,
                                   feedback={i: (i % 6, 1 if i % 3 else -1) for i in range(5, 900, 7)})
    assert report.float_fires > 20
    assert report.agreement >= 0.995, report.lines()


def test_calibration_rejects_zero_data():
    with pytest.raises(ValueError, match="all zero"):
        calibrate_input_scale(np.zeros((3, 8)))
