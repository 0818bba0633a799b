"""The optional parts some tests need, one skip marker for all of them.

A skip names its part in brackets ("[qemu] qemu-system-arm is not installed"). With
NPIN_REQUIRE=part,part,... in the environment (`.ci/run` lists what CI has), conftest.py turns a
skip for a listed part into a failure, so a CI machine that lost a part cannot pass by skipping.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import shutil
from pathlib import Path

import pytest

CLINC = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "clinc150"


def _libgna() -> str | None:
    try:
        from gna import libgna

        libgna.library_version()
    except Exception as e:  # noqa: BLE001 - any failure to load means: no library here
        return f"libGNA not available: {e}"
    return None


def _native() -> str | None:
    from gna import native

    return native.unavailable()


def _speech() -> str | None:
    from toolkit.vocoder import corpus

    missing = corpus.missing_packages()
    return f"speech packages not installed: {missing} (./run installs them)" if missing else None


PROBES = {
    "arm": lambda: None if shutil.which("arm-none-eabi-gcc") else "arm-none-eabi-gcc is not installed (./run test installs it)",
    "qemu": lambda: None if shutil.which("qemu-system-arm") else "qemu-system-arm is not installed (./run test installs it)",
    "ser2net": lambda: None if shutil.which("ser2net") or Path("/usr/sbin/ser2net").exists()
    else "ser2net is not installed (labgrid's exporter serves serial ports with it; ./run test installs it)",
    "libgna": _libgna,
    "native": _native,
    "clinc": lambda: None if (CLINC / "data_full.json").exists() else f"CLINC150 is not at {CLINC} (the shared datasets)",
    "speech": _speech,
    "torch": lambda: None if importlib.util.find_spec("torch") else "torch (the [train] extra) is not installed",
    "clang": lambda: None if shutil.which("clang") and list(Path("/usr/lib").glob("llvm-*/lib/clang/*/lib/linux/"
                                                                                    "libclang_rt.fuzzer-x86_64.a"))
    else "clang with libFuzzer (clang, libclang-rt-dev) is not installed (./run test installs it)",
    "atheris": lambda: None if importlib.util.find_spec("atheris") else "atheris is not installed (./run test installs it)",
    "silero": lambda: None if importlib.util.find_spec("silero_vad") else "silero-vad (Silero VAD's ONNX files) is not "
                                                                         "installed (./run test installs it)",
}


@functools.cache
def missing(part: str) -> str | None:
    """Why `part` is unavailable here, or None."""
    return PROBES[part]()


def why_missing(*parts: str) -> str:
    return "; ".join(f"[{p}] {missing(p)}" for p in parts if missing(p))


def needs(*parts: str) -> pytest.MarkDecorator:
    why = why_missing(*parts)
    return pytest.mark.skipif(bool(why), reason=why or "all parts present")


def skip_unless(*parts: str) -> None:
    """Inside a test or fixture: skip (or, when required, fail) if a part is missing."""
    why = why_missing(*parts)
    if why:
        pytest.skip(why)


def required() -> set[str]:
    want = {p.strip() for p in os.environ.get("NPIN_REQUIRE", "").split(",") if p.strip()}
    unknown = want - set(PROBES)
    if unknown:
        raise pytest.UsageError(f"NPIN_REQUIRE names unknown parts {sorted(unknown)}; known: {sorted(PROBES)}")
    return want
