"""Compile C sources for this machine with cffi (API mode), cached by a hash of everything that
goes into the build, and import the result. Shared by the host twins (emlearn's practice: the
firmware's C, built for the host, driven from Python) and the native GNA emulator."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

from common.errors import NpinError

ROOT = Path(__file__).resolve().parents[1]
_loaded: dict[str, tuple] = {}


class TwinBuildError(NpinError, RuntimeError):
    """The host C compiler could not build a twin; the message carries its last words."""

    hint = "the twin needs gcc and the Python headers (./run installs gcc and python3-dev)"


def build_dir() -> Path:
    env = os.environ.get("NPIN_BUILD_DIR")
    base = Path(env) if env else ROOT / "build"
    return base / "host_twin"


def cffi_module(prefix: str, cdef: str, preamble: str, sources: list[Path], include_dirs: list[Path],
                flags: list[str], libraries: list[str] = (), salt: str = "", what: str = "the host twin"):
    """(ffi, lib) of the sources built with `flags`; rebuilt only when an input changes."""
    digest = hashlib.sha256()
    headers = sorted(h for d in include_dirs for h in Path(d).glob("*.h"))
    for path in sorted(sources) + headers:
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(" ".join(flags).encode() + cdef.encode() + preamble.encode() + sys.version.encode() + salt.encode())
    name = f"{prefix}_{digest.hexdigest()[:12]}"
    if name in _loaded:
        return _loaded[name]
    out = build_dir()
    found = list(out.glob(name + ".*.so")) + list(out.glob(name + ".so"))
    if not found:
        from cffi import FFI

        ffi = FFI()
        ffi.cdef(cdef)
        ffi.set_source(name, preamble, sources=[str(p) for p in sources],
                       include_dirs=[str(d) for d in include_dirs], extra_compile_args=flags,
                       libraries=list(libraries))
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            try:
                built = Path(ffi.compile(tmpdir=tmp, verbose=False))
            except Exception as e:  # cffi wraps compiler failures in several types
                last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
                raise TwinBuildError(f"building {what} failed: {last}") from e
            final = out / built.name
            shutil.move(str(built), final)  # atomic within one filesystem
        found = [final]
    spec = importlib.util.spec_from_file_location(name, found[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _loaded[name] = (module.ffi, module.lib)
    return _loaded[name]
