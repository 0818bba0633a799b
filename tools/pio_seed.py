"""Offline PlatformIO: put PyPI's SCons where PlatformIO Core looks for its `tool-scons` package,
so `pio run` builds without the registry. Idempotent; run by tools/bootstrap.sh."""
import json
import os
import sys
from pathlib import Path

import SCons
from platformio.dependencies import get_core_dependencies
from platformio.package.meta import PackageSpec


def main() -> int:
    core = Path(os.environ.get("PLATFORMIO_CORE_DIR", Path.home() / ".platformio"))
    required = get_core_dependencies()["tool-scons"].lstrip("~^=")  # e.g. 4.41101.0 for SCons 4.11.1
    packed = required.split(".")[1]  # SCons X.YY.ZZ packed as XYYZZ
    want = f"{packed[0]}.{int(packed[1:3])}.{int(packed[3:5])}"
    if SCons.__version__ != want:
        print(f"PlatformIO {required} wants SCons {want}, the venv has {SCons.__version__}: "
              f"pin scons=={want} in pyproject.toml", file=sys.stderr)
        return 1
    pkg = core / "packages" / "tool-scons"
    meta = {"type": "tool", "name": "tool-scons", "version": required,
            "spec": PackageSpec(owner="platformio", name="tool-scons").as_dict()}
    manifest = {"name": "tool-scons", "version": required,
                "description": f"SCons {SCons.__version__} from PyPI, seeded by npin for offline builds"}
    launcher = "# Seeded by npin: run the SCons installed in PlatformIO's own Python environment.\n" \
               "from SCons.Script import main\n\nmain()\n"
    files = {".piopm": json.dumps(meta), "package.json": json.dumps(manifest), "scons.py": launcher}
    if all((pkg / n).exists() and (pkg / n).read_text() == t for n, t in files.items()):
        return 0
    pkg.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (pkg / name).write_text(text)
    print(f"[setup] seeded PlatformIO tool-scons {required} (SCons {SCons.__version__}) in {pkg}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
