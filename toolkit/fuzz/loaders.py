"""The Python loaders of files a user hands npin, under atheris (coverage-guided, libFuzzer's
engine): each one fed mutated files from a valid seed; the only outcomes allowed are a result or
the project's one-line error (NpinError). Anything else is a crash, kept as a regression input
in tests/data/fuzz/<loader>/."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
KEPT = ROOT / "tests" / "data" / "fuzz"


def _seed_pin_config() -> bytes:
    from ..pin.synth import example_config

    return json.dumps(example_config(16, 4, seed=1, slots=4)).encode()


def _seed_params() -> bytes:
    from ..pin.params_io import save_params
    from ..pin.synth import synthetic_pin

    pin = synthetic_pin(16, 4, 4, seed=1)
    with tempfile.TemporaryDirectory() as d:
        save_params(Path(d) / "p.q15.json", pin.params, pin.scale, ["a", "b", "c", "d"], ["t0", "t1", "t2", "t3"])
        return (Path(d) / "p.q15.json").read_bytes()


def _seed_gna_model() -> bytes:
    return (ROOT / "tests" / "data" / "gna_golden" / "diagonal_00.npz").read_bytes()


def _seed_onnx() -> bytes:
    from gna.lowering_cases import CASES

    model, _ = CASES["concat"](np.random.default_rng(0))
    return model.SerializeToString()


def _seed_compiled() -> bytes:
    from gna.lowering_cases import CASES, feeds
    from gna.onnx_compiler import compile_onnx

    rng = np.random.default_rng(0)
    model, ins = CASES["mul"](rng)
    cm = compile_onnx(model, feeds(rng, ins, 8))
    with tempfile.TemporaryDirectory() as d:
        cm.save(Path(d) / "c.npz")
        return (Path(d) / "c.npz").read_bytes()


def _seed_npy() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(12, dtype=np.float32).reshape(3, 4))
    return buf.getvalue()


def _seed_wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.zeros(64, "<i2").tobytes())
    return buf.getvalue()


def _load_pin_config(p):
    from ..pin.config import load_pin_config

    load_pin_config(p)


def _load_params(p):
    from ..pin.params_io import load_params

    load_params(p)


def _load_gna_model(p):
    from gna.model_io import load_model

    load_model(p)


def _load_onnx(p):
    from gna.onnx_compiler import load_float_model

    load_float_model(p)


def _load_compiled(p):
    from gna.compiled import CompiledModel

    CompiledModel.load(p)


def _load_arrays(p):
    from common.arrays import read_arrays

    read_arrays(p)


def _load_wav(p):
    from ..gna.vad import read_wav

    read_wav(p)


def _load_board(p):
    from ..boards import read_board_file

    read_board_file(p)


def _load_csv(p):
    from ..route.data import _read_csv

    _read_csv(Path(p))


# name: (seed, loader(path), file suffix)
LOADERS = {
    "pin-config": (_seed_pin_config, _load_pin_config, ".json"),
    "q15-params": (_seed_params, _load_params, ".q15.json"),
    "gna-model": (_seed_gna_model, _load_gna_model, ".npz"),
    "compiled-model": (_seed_compiled, _load_compiled, ".npz"),
    "onnx": (_seed_onnx, _load_onnx, ".onnx"),
    "arrays": (_seed_npy, _load_arrays, ".npy"),
    "wav": (_seed_wav, _load_wav, ".wav"),
    "board-toml": (lambda: (ROOT / "boards" / "mps2-an386.toml").read_bytes(), _load_board, ".toml"),
    "dataset-csv": (lambda: b"text,label,split\nbook a table,restaurant,train\nwhat is the weather,weather,test\n",
                    _load_csv, ".csv"),
}


def fuzz_one(name: str, runs: int, seconds: int | None = None) -> tuple[int, list[str]]:
    """(executions, what escaped) for one loader, run in its own process under atheris."""
    kept = KEPT / name
    kept.mkdir(parents=True, exist_ok=True)
    seed = kept / "seed"
    if not seed.exists():
        seed.write_bytes(LOADERS[name][0]())
    corpus = ROOT / "build" / "fuzz" / f"corpus-{name}"   # what the fuzzer grows; the kept inputs stay as they are
    corpus.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        args = [sys.executable, "-m", "toolkit.fuzz.atheris_harness", name, f"-runs={runs}", "-print_final_stats=1",
                f"-artifact_prefix={work}/", "-max_len=65536", str(corpus), str(kept)]
        if seconds:
            args.insert(5, f"-max_total_time={seconds}")
        r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
        done = re.search(r"stat::number_of_executed_units:\s*(\d+)", r.stderr)
        escaped = []
        for crash in Path(work).glob("crash-*"):
            target = kept / crash.name
            target.write_bytes(crash.read_bytes())
            escaped.append(str(target.relative_to(ROOT)))
        if r.returncode != 0 and not escaped:
            escaped.append(f"exit {r.returncode}: {r.stderr.strip().splitlines()[-1:] if r.stderr.strip() else ''}")
        if escaped:
            tail = [ln for ln in r.stderr.splitlines() if "Error" in ln or "Exception" in ln][-1:]
            escaped[0] += f" ({tail[0].strip() if tail else 'see the crash input'})"
    return int(done.group(1)) if done else 0, escaped


def fuzz_all(runs: int, seconds: int | None = None) -> list[tuple[str, int, list[str]]]:
    return [(name, *fuzz_one(name, runs, seconds)) for name in LOADERS]


def replay(name: str) -> list[str]:
    """Every kept input of a loader (seed and past crashes) through it, here: what escapes."""
    from common.errors import NpinError

    _, load, suffix = LOADERS[name]
    bad = []
    for f in sorted((KEPT / name).glob("*")):
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / f"input{suffix}"
            p.write_bytes(f.read_bytes())
            try:
                load(p)
            except NpinError:
                pass
            except Exception as e:  # noqa: BLE001 - exactly what the replay looks for
                bad.append(f"{f.name}: {type(e).__name__}: {e}")
    return bad
