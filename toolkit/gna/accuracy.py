"""Output SNR of a compiled network against ONNX Runtime, and the sweep the README's accuracy table
comes from: the reference FiLM network under every weight width, weight scaling, calibration
statistic and PWL error budget (`npin gna accuracy-sweep`)."""
from __future__ import annotations

import numpy as np

from gna import emulator
from gna.onnx_compiler import calibration_tensors, compile_onnx
from quant.quantizers import snr_db

WEIGHTS = (("i16", "row"), ("i8", "row"), ("i8", "tensor"))   # i16 ignores the scaling
CALIBRATIONS = ("maxabs", "percentile", "mse")
PWL_ERRORS = (0.01, 0.001)


def output_snr_db(cm, model, test: np.ndarray, ref: np.ndarray | None = None) -> float:
    """The compiled model on the emulator against the float model in ONNX Runtime, at the output."""
    if ref is None:
        ref = calibration_tensors(model, test)[cm.layers[-1]["onnx"]]
    got = np.stack([cm.dequantize(len(cm.layers) - 1, emulator.run(cm.model, cm.quantize_input(x)).output)
                    for x in test]).reshape(ref.shape)
    return snr_db(ref, got)


def sweep(model, calib: np.ndarray, test: np.ndarray, progress=lambda: None) -> list[dict]:
    rows = []
    ref = calibration_tensors(model, test)[model.graph.output[0].name]   # ONNX Runtime, once for all configurations
    for pwl_error in PWL_ERRORS:
        for weights, scaling in WEIGHTS:
            for calibration in CALIBRATIONS:
                cm = compile_onnx(model, calib, weights=weights, calibration=calibration, max_pwl_error=pwl_error,
                                  weight_scaling=scaling)
                rows.append({"weights": weights, "scaling": scaling, "calibration": calibration,
                             "pwl_error": pwl_error, "snr_db": output_snr_db(cm, model, test, ref)})
                progress()
    return rows
