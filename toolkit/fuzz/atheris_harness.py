"""`python -m toolkit.fuzz.atheris_harness LOADER [libFuzzer flags] [corpus]`: one loader under
atheris; an exception other than the project's one-line error (NpinError) is a crash."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import common.arrays  # noqa: F401 - instrumented for coverage
    import gna.compiled  # noqa: F401
    import gna.model_io  # noqa: F401
    import gna.onnx_compiler  # noqa: F401
    import toolkit.boards  # noqa: F401
    import toolkit.gna.vad  # noqa: F401
    import toolkit.pin.config  # noqa: F401
    import toolkit.pin.params_io  # noqa: F401
    import toolkit.route.data  # noqa: F401
    from common.errors import NpinError
    from toolkit.fuzz.loaders import LOADERS


def main() -> None:
    name = sys.argv[1]
    _, load, suffix = LOADERS[name]
    work = Path(tempfile.mkdtemp(prefix="npin-fuzz-"))
    path = work / f"input{suffix}"

    def one(data: bytes) -> None:
        path.write_bytes(data)
        try:
            load(path)
        except NpinError:
            pass

    atheris.Setup([sys.argv[0]] + sys.argv[2:], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
