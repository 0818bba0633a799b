"""docs/bad-inputs.md, executed: every bad input a user can hand npin, the one-line error it gets
(exit 1, `error: ...` then a `hint:` line), and no half-written output left behind. Each row of
the document names a case here; a row without a case, or a case without a row, fails."""
import os
import re
import wave
from pathlib import Path

import numpy as np
import onnx
import pytest
import serial
from onnx import helper

from gna.lowering_cases import model_of
from toolkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "gna_golden" / "affine_00.npz"
DOC = ROOT / "docs" / "bad-inputs.md"


def _npy(tmp, name, arr, **kw):
    np.save(tmp / name, arr, **kw)
    return str(tmp / name)


def _bytes(tmp, name, data: bytes):
    (tmp / name).write_bytes(data)
    return str(tmp / name)


def _onnx(tmp, model, name="m.onnx"):
    onnx.save(model, str(tmp / name))
    return str(tmp / name)


def _calib(tmp, shape=(4, 1, 16)):
    return _npy(tmp, "calib.npy", np.random.default_rng(0).normal(size=shape).astype(np.float32))


def _softmax():
    return model_of([helper.make_node("Softmax", ["x"], ["y"], name="sm")], {"x": (1, 16)}, {"y": (1, 16)}, {})


def _gemm(k=16, m=8):
    return model_of([helper.make_node("Gemm", ["x", "w"], ["y"])], {"x": (1, k)}, {"y": (1, m)},
                    {"w": np.ones((k, m))})


def _dynamic():
    from onnx import TensorProto

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "t",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _wav(tmp, rate):
    with wave.open(str(tmp / "a.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.zeros(1600, "<i2").tobytes())
    return str(tmp / "a.wav")


def _pin_config(tmp, dims=64, facets=4):
    cfg = tmp / "pin.json"
    assert main(["pin", "example-config", "-o", str(cfg), "--dims", str(dims), "--facets", str(facets)]) == 0
    return str(cfg)


def _params(tmp, dims=64, facets=4):
    cfg = tmp / "pin.json"
    assert main(["pin", "example-config", "-o", str(cfg), "--dims", str(dims), "--facets", str(facets)]) == 0
    assert main(["pin", "quantize", str(cfg), "-o", str(tmp / "p.q15.json")]) == 0
    return str(tmp / "p.q15.json")


def _truncated(tmp):
    return _bytes(tmp, "t.npz", GOLDEN.read_bytes()[:3000])


def _csv(tmp, text: bytes):
    return _bytes(tmp, "d.csv", text)


def _busy_port(tmp):
    master, slave = os.openpty()
    name = os.ttyname(slave)
    holder = serial.Serial(name, exclusive=True)
    _busy_port.keep = (master, slave, holder)   # held for the case's duration
    return name


def _gna_model_json(tmp, text: str):
    d = dict(np.load(GOLDEN))
    d["model.json"] = np.frombuffer(text.encode(), np.uint8)
    np.savez(tmp / "m.npz", **d)
    return str(tmp / "m.npz")


# id: (argv builder(tmp) -> list, the error line's text (a regex), outputs that must not exist)
CASES = {
    "npy-random-bytes": (lambda t: ["pin", "quantize", _pin_config(t), "--stream",
                                    _bytes(t, "s.npy", os.urandom(300))], r"is not a NumPy \.npy file", []),
    "npy-pickled": (lambda t: ["pin", "quantize", _pin_config(t), "--stream",
                               _npy(t, "s.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)],
                    r"holds Python objects \(pickled data\)", []),
    "npy-wrong-shape": (lambda t: ["pin", "quantize", _pin_config(t), "--stream", _npy(t, "s.npy", np.zeros((5, 3)))],
                        r"stream .* has shape \(5, 3\); the config needs \(N, 64\)", []),
    "npz-random-bytes": (lambda t: ["gna", "run", _bytes(t, "m.npz", os.urandom(300)), "--input",
                                    _npy(t, "x.npy", np.zeros(8, np.int16))], r"is not a NumPy \.npz archive", []),
    "npz-truncated": (lambda t: ["gna", "run", _truncated(t), "--input", _npy(t, "x.npy", np.zeros(8, np.int16))],
                      r"is truncated or damaged", []),
    "npz-given-an-npy": (lambda t: ["gna", "accuracy", _npy(t, "m.npy", np.zeros(3)), "--data", _calib(t)],
                         r"is one \.npy array, not an \.npz archive", []),
    "gna-model-unknown-op": (lambda t: ["gna", "run", _gna_model_json(t, '{"format": "npin-gna-model", "version": 1, '
                                        '"target": "2.0", "operations": [{"type": "Softmax"}]}'),
                                        "--input", _npy(t, "x.npy", np.zeros(8, np.int16))],
                             r"layer 0 \(Softmax\): unknown operation type", []),
    "gna-input-wrong-dtype": (lambda t: ["gna", "run", str(GOLDEN), "--input", _npy(t, "x.npy", np.zeros(16, np.int32))],
                              r"input is int32 \[16\]; the model takes int16", []),
    "compiled-model-expected": (lambda t: ["gna", "accuracy", str(GOLDEN), "--data", _calib(t)],
                                r"not a compiled model", []),
    "onnx-malformed": (lambda t: ["gna", "compile", _bytes(t, "m.onnx", b"\x08\x07garbage"), "--calib", _calib(t),
                                  "-o", str(t / "out.npz")], r"not a valid ONNX model", ["out.npz"]),
    "onnx-unsupported-op": (lambda t: ["gna", "compile", _onnx(t, _softmax()), "--calib", _calib(t), "-o",
                                       str(t / "out.npz")], r"node 'sm' \(Softmax\): op Softmax has no GNA 2\.0 mapping",
                            ["out.npz"]),
    "onnx-over-the-2.0-envelope": (lambda t: ["gna", "compile", _onnx(t, _gemm(65600, 2)), "--calib",
                                              _calib(t, (2, 1, 65600)), "-o", str(t / "out.npz")],
                                   r"breaks a GNA 2\.0 rule: layer 0 \(FullyConnectedAffine\): inputs K is 65600",
                                   ["out.npz"]),
    "onnx-dynamic-shape": (lambda t: ["gna", "compile", _onnx(t, _dynamic()), "--calib", _calib(t), "-o",
                                      str(t / "out.npz")], r"input 'x' needs a static shape", ["out.npz"]),
    "calibration-wrong-shape": (lambda t: ["gna", "compile", _onnx(t, _gemm()), "--calib", _calib(t, (4, 1, 3, 5)),
                                           "-o", str(t / "out.npz")],
                                r"calibration inputs for 'x' are \[4, 1, 3, 5\]", ["out.npz"]),
    "compile-const-without-value": (lambda t: ["gna", "compile", _onnx(t, _gemm()), "--calib", _calib(t), "--const",
                                               "sr16000", "-o", str(t / "out.npz")], r"--const 'sr16000'", ["out.npz"]),
    "compile-const-unknown-input": (lambda t: ["gna", "compile", _onnx(t, _gemm()), "--calib", _calib(t), "--const",
                                               "sr=16000", "-o", str(t / "out.npz")], r"the model has no input 'sr'",
                                    ["out.npz"]),
    "probe-3.0-on-the-emulator": (lambda t: ["gna", "probe", "--backend", "emulator", "--target", "3.0"],
                                  r"the emulator implements GNA 2\.0 only", []),
    "wav-wrong-rate": (lambda t: ["gna", "vad", _wav(t, 8000)], r"is 8000 Hz, 1 channel\(s\), 16-bit", []),
    "wav-not-a-wav": (lambda t: ["gna", "vad", _bytes(t, "a.wav", os.urandom(200))], r"cannot read .* as WAV", []),
    "board-unknown": (lambda t: ["firmware", "gen", "--board", "nosuch", "--pin", _params(t), "-o", str(t / "fw")],
                      r"unknown board 'nosuch'", ["fw"]),
    "pin-too-big-for-the-board": (lambda t: ["firmware", "gen", "--board", "microbit", "--pin", _params(t, 512, 16),
                                             "-o", str(t / "fw")], r"does not fit", ["fw"]),
    "pin-slab-over-64-KiB": (lambda t: ["pin", "quantize", _pin_config(t, 1024, 32), "-o", str(t / "p.q15.json")],
                             r"slab needs 104960 bytes, 39424 over the 65536-byte budget", ["p.q15.json"]),
    "params-not-json": (lambda t: ["firmware", "gen", "--board", "mps2-an386", "--pin",
                                   _bytes(t, "p.q15.json", b"{x"), "-o", str(t / "fw")],
                        r"cannot read quantized Pin parameters", ["fw"]),
    "pin-config-missing": (lambda t: ["pin", "quantize", str(t / "nope.json")], r"cannot read Pin config", []),
    "pin-config-typo": (lambda t: ["pin", "quantize", _bytes(t, "c.json", b'{"dims": 8, "facetz": []}')],
                        r"facetz", []),
    "csv-without-columns": (lambda t: ["route", "bench", "--data", _csv(t, b"a,b\n1,2\n"), "--out", str(t / "rb")],
                            r"need the columns text,label,split", ["rb"]),
    "csv-not-text": (lambda t: ["route", "bench", "--data", _csv(t, b"\xff\xfe\x00garbage\x80"), "--out", str(t / "rb")],
                     r"not UTF-8 text", ["rb"]),
    "serial-port-missing": (lambda t: ["hil", "run", "--board", "mps2-an386", "--port", "/dev/ttyNPINNONE"],
                            r"serial port /dev/ttyNPINNONE does not exist", []),
    "serial-port-busy": (lambda t: ["hil", "run", "--board", "mps2-an386", "--port", _busy_port(t)],
                         r"serial port .* is busy: another program has it open", []),
    "fault-rate-out-of-range": (lambda t: ["hil", "run", "--faults", "1.5", "--workdir", str(t / "hil")],
                                r"--faults 1.5 is not a rate in \[0, 1\)", ["hil"]),
    "resets-on-a-real-port": (lambda t: ["hil", "run", "--resets", "10", "--port", "/dev/ttyNPINNONE",
                                         "--workdir", str(t / "hil")],
                              r"--resets needs N >= 1 and an emulated board", ["hil"]),
    "reset-sweep-unmodelled-uart": (lambda t: ["hil", "reset-sweep", "--board", "lm3s6965evb",
                                               "--workdir", str(t / "sweep")],
                                    r"models the CMSDK UART only; lm3s6965evb has pl011", ["sweep"]),
    "reset-sweep-shape-malformed": (lambda t: ["hil", "reset-sweep", "--shape", "64,eight,8",
                                               "--workdir", str(t / "sweep")],
                                    r"--shape '64,eight,8' is not D,K,slots", ["sweep"]),
    "farm-board-without-emulator": (lambda t: ["farm", "up", "--boards", "mps2-an386,nucleo_f446re",
                                                "--dir", str(t / "farm")],
                                    r"--boards: nucleo_f446re has no emulator", ["farm"]),
    "farm-board-count-zero": (lambda t: ["farm", "up", "--boards", "mps2-an386:0", "--dir", str(t / "farm")],
                              r"--boards: 'mps2-an386:0' has no count of 1 or more", ["farm"]),
    "farm-bind-not-an-address": (lambda t: ["farm", "up", "--bind", "lab.example:80", "--dir", str(t / "farm")],
                                 r"--bind lab.example:80 is not an IP address", ["farm"]),
    "farm-not-up": (lambda t: ["farm", "run", "--dir", str(t / "farm"), "--out", str(t / "run")],
                    r"no farm is up in .*farm", ["farm", "run"]),
    "farm-tag-malformed": (lambda t: ["farm", "run", "--tag", "cortex-m4", "--dir", str(t / "farm"),
                                      "--out", str(t / "run")],
                           r"--tag cortex-m4 is not KEY=VALUE", ["run"]),
    "hil-two-boards-named": (lambda t: ["hil", "run", "--port", "/dev/ttyNPINNONE", "--place", "rack-1",
                                        "--workdir", str(t / "hil")],
                             r"--port and --place each name the board; give one", ["hil"]),
    "lg-env-missing": (lambda t: ["hil", "run", "--lg-env", str(t / "none.yaml"), "--workdir", str(t / "hil")],
                       r"no labgrid environment at .*none.yaml", ["hil"]),
    "lg-env-real-board-without-port": (lambda t: ["boards", "lg-env", "nucleo_f446re", "-o", str(t / "env.yaml")],
                                       r"board nucleo_f446re has no emulator", ["env.yaml"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line(case, tmp_path, capsys):
    build, message, outputs = CASES[case]
    argv = build(tmp_path)
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1, (case, err)
    assert len(err) == 2 and err[0].startswith("error: ") and err[1].startswith("hint: "), (case, err)
    assert re.search(message, err[0]), (case, err[0])
    for name in outputs:
        assert not (tmp_path / name).exists(), f"{case}: {name} was left behind"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and ".tmp" in p.name]
    assert not leftovers, (case, leftovers)


def test_the_document_lists_exactly_the_tested_cases():
    rows = re.findall(r"^\| `([A-Za-z0-9.\-]+)` \|", DOC.read_text(), flags=re.M)
    assert sorted(rows) == sorted(CASES) and len(rows) >= 25
