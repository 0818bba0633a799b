"""The commands a user runs on their own model (npin gna check, fit, accuracy, compile) and on
speech (npin gna vad): their last lines, exit codes and one-line errors."""
import wave

import numpy as np
import onnx

from gna.lowering_cases import CASES, feeds
from toolkit.cli import main
from tests.parts import needs

RNG = np.random.default_rng(7)


def _lstm_files(tmp_path):
    model, ins = CASES["lstm"](RNG)
    onnx.save(model, str(tmp_path / "m.onnx"))
    np.savez(tmp_path / "calib.npz", **feeds(RNG, ins, 12))
    return tmp_path / "m.onnx", tmp_path / "calib.npz"


def test_check_ends_with_the_verdict_line(tmp_path, capsys):
    model, calib = _lstm_files(tmp_path)
    assert main(["gna", "check", str(model), "--calib", str(calib), "--backend", "emulator"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("check: emulator only, output SNR ")
    assert float(last.split()[-2]) > 25


@needs("libgna")
def test_check_on_libgna_counts_bit_exact_inputs(tmp_path, capsys):
    model, calib = _lstm_files(tmp_path)
    assert main(["gna", "check", str(model), "--calib", str(calib), "--weights", "i8", "--backend", "libgna"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("check: 12/12 inputs bit-exact emulator = libGNA, output SNR ")


def test_check_refuses_a_node_with_exit_1(tmp_path, capsys):
    from onnx import helper

    from gna.lowering_cases import model_of

    m = model_of([helper.make_node("Softmax", ["x"], ["y"], name="sm")], {"x": (1, 16)}, {"y": (1, 16)}, {})
    onnx.save(m, str(tmp_path / "s.onnx"))
    np.save(tmp_path / "c.npy", RNG.normal(size=(4, 1, 16)).astype(np.float32))
    assert main(["gna", "check", str(tmp_path / "s.onnx"), "--calib", str(tmp_path / "c.npy")]) == 1
    assert "check: refused — node 'sm' (Softmax): op Softmax has no GNA 2.0 mapping" in capsys.readouterr().out


def test_fit_lists_each_node_and_what_it_became(tmp_path, capsys):
    model, calib = _lstm_files(tmp_path)
    assert main(["gna", "fit", str(model), "--calib", str(calib)]) == 0
    out = capsys.readouterr().out
    assert "LSTM c = f*c + i*g" in out and "Diagonal + Diagonal" in out and "Affine + Affine" in out
    assert out.strip().splitlines()[-1] == "verdict: fits GNA 2.0 (every layer within the 2.0 limits)"


def test_compile_then_accuracy_per_stage(tmp_path, capsys):
    model, calib = _lstm_files(tmp_path)
    out = tmp_path / "c.npz"
    assert main(["gna", "compile", str(model), "--calib", str(calib), "-o", str(out)]) == 0
    assert main(["gna", "accuracy", str(out), "--data", str(calib)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("output SNR: ") and float(lines[-1].split()[2]) > 25
    assert any("LSTM h = o*tanh(c)" in line for line in lines)


def test_a_bad_const_is_one_line(tmp_path, capsys):
    model, calib = _lstm_files(tmp_path)
    assert main(["gna", "compile", str(model), "--calib", str(calib), "--const", "sr16000", "-o",
                 str(tmp_path / "x.npz")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 2 and "NAME=VALUE" in " ".join(err)


def test_segments_follow_silero_hysteresis():
    from toolkit.gna.vad import segments

    p = np.array([0.1] * 10 + [0.9] * 20 + [0.4] * 5 + [0.9] * 10 + [0.1] * 10 + [0.8] * 3 + [0.1] * 10)
    segs = segments(p)
    step = 512 / 16000
    assert [(round(s.start / step), round(s.end / step)) for s in segs] == [(10, 45)]  # 0.4 is not below 0.35;
    # the 3-chunk blip (96 ms) is shorter than 250 ms


def test_a_wav_at_the_wrong_rate_is_one_line(tmp_path, capsys):
    with wave.open(str(tmp_path / "a.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros(800, "<i2").tobytes())
    assert main(["gna", "vad", str(tmp_path / "a.wav")]) == 1
    assert "8000 Hz" in capsys.readouterr().err


@needs("speech", "silero")
def test_vad_prints_the_speech_segments_of_a_wav(tmp_path, capsys):
    from toolkit.gna import speech

    audio, _ = speech.evaluation_audio(0.5)
    with wave.open(str(tmp_path / "s.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((audio * 32767).astype("<i2").tobytes())
    assert main(["gna", "vad", str(tmp_path / "s.wav")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    segs = [line for line in out if line.startswith("speech ")]
    assert len(segs) >= 3 and out[-1].split()[0] == str(len(segs))
