"""Trained weights -> the per-frame ONNX model GNA runs (docs/vocoder.md §2).

Graph: mel_window [1, window*n_mels] (element j*n_mels + m is mel band m of the window's frame j)
-> Gemm -> Mul(gamma) -> Add(beta) -> LeakyRelu -> ... -> Gemm -> log_magnitude [1, bins].
The input normalisation is folded into the first Gemm. The FiLM constants in the graph
(film.gamma.L / film.beta.L) belong to one speaker; every speaker's, and their mean ("mean", for
voices never trained on), ride along as extra initializers film.<speaker>.gamma.L, so one file
serves all voices: `for_speaker` copies a speaker's set into the graph's.
"""
from __future__ import annotations

import json

import numpy as np

from .features import MEL
from .model import VocoderConfig

MEAN_VOICE = "mean"


def _film_table(w: dict, cfg: VocoderConfig) -> dict[str, np.ndarray]:
    film = w["film"]  # [speakers, layers, 2, hidden]
    table = {s: film[i] for i, s in enumerate(cfg.speakers)}
    table[MEAN_VOICE] = film.mean(axis=0)
    return table


def to_onnx(weights: dict, cfg: VocoderConfig, speaker: str, receipt: dict | None = None):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
    w0 = w["inp.weight"] / w["mel_std"][None, :]     # the normalisation folded in, as model.py trains it
    gemms = [(w0, w["inp.bias"] - w0 @ w["mel_mean"])]
    for i in range(cfg.layers - 1):
        gemms.append((w[f"mid.{i}.weight"], w[f"mid.{i}.bias"]))
    gemms.append((w["out.weight"], w["out.bias"]))
    table = _film_table(w, cfg)
    if speaker not in table:
        raise ValueError(f"speaker '{speaker}' is not one of {sorted(table)}")

    inits, nodes = [], []
    x = "mel_window"
    for i, (wm, b) in enumerate(gemms):
        inits += [numpy_helper.from_array(wm.astype(np.float32), f"fc{i}.weight"),
                  numpy_helper.from_array(b.astype(np.float32), f"fc{i}.bias")]
        y = f"fc{i}" if i < len(gemms) - 1 else "log_magnitude"
        nodes.append(helper.make_node("Gemm", [x, f"fc{i}.weight", f"fc{i}.bias"], [y], name=f"fc{i}", transB=1))
        x = y
        if i < cfg.layers:
            g, bt = table[speaker][i]
            inits += [numpy_helper.from_array((1 + g).astype(np.float32).reshape(1, -1), f"film.gamma.{i}"),
                      numpy_helper.from_array(bt.astype(np.float32).reshape(1, -1), f"film.beta.{i}")]
            nodes += [helper.make_node("Mul", [x, f"film.gamma.{i}"], [f"film{i}.scaled"], name=f"film{i}.gamma"),
                      helper.make_node("Add", [f"film{i}.scaled", f"film.beta.{i}"], [f"film{i}"], name=f"film{i}.beta"),
                      helper.make_node("LeakyRelu", [f"film{i}"], [f"act{i}"], name=f"act{i}", alpha=cfg.slope)]
            x = f"act{i}"
    for s, film in table.items():
        for i in range(cfg.layers):
            inits += [numpy_helper.from_array((1 + film[i, 0]).astype(np.float32).reshape(1, -1), f"film.{s}.gamma.{i}"),
                      numpy_helper.from_array(film[i, 1].astype(np.float32).reshape(1, -1), f"film.{s}.beta.{i}")]
    graph = helper.make_graph(
        nodes, "film_vocoder",
        [helper.make_tensor_value_info("mel_window", TensorProto.FLOAT, [1, cfg.inputs])],
        [helper.make_tensor_value_info("log_magnitude", TensorProto.FLOAT, [1, cfg.bins])], inits)
    model = helper.make_model(graph, producer_name="npin", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"vocoder": json.dumps(cfg.as_dict()), "mel": json.dumps(MEL.as_dict()), "hop": str(MEL.hop),
            "speaker": speaker, "voices": json.dumps(sorted(table))}
    if receipt is not None:
        meta["receipt"] = json.dumps(receipt, sort_keys=True)
    for k, v in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(model)
    return model


def metadata(model) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def config_of(model) -> VocoderConfig:
    d = json.loads(metadata(model)["vocoder"])
    d["speakers"] = tuple(d["speakers"])
    return VocoderConfig(**d)


def voices(model) -> list[str]:
    return json.loads(metadata(model)["voices"])


def for_speaker(model, speaker: str):
    """A copy of the model whose FiLM constants are `speaker`'s."""
    import onnx
    from onnx import numpy_helper

    if speaker not in voices(model):
        raise ValueError(f"voice '{speaker}' is not in this model (it has {', '.join(voices(model))})")
    m = onnx.ModelProto()
    m.CopyFrom(model)
    by_name = {t.name: t for t in m.graph.initializer}
    for name, t in list(by_name.items()):
        prefix = f"film.{speaker}."
        if name.startswith(prefix):
            target = by_name["film." + name[len(prefix):]]
            target.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t), target.name))
    for p in m.metadata_props:
        if p.key == "speaker":
            p.value = speaker
    return m
