"""Writes that never leave half a file behind."""
from __future__ import annotations

import datetime
import json
import os
import platform
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write through a temporary file in the same folder, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the result is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_run_file(path: str | Path, doc: dict) -> None:
    """A command's figures as JSON, stamped with when and on what machine they were measured."""
    stamp = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
             "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count()}
    write_atomic(path, json.dumps({**stamp, **doc}, indent=1) + "\n")
