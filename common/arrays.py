"""Reading NumPy files a user hands us: plain arrays only, and a one-line error for anything else
(a missing file, random bytes, pickled objects, a truncated archive)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import ConfigError

NPY_MAGIC, ZIP_MAGIC = b"\x93NUMPY", b"PK\x03\x04"


def _opened(path: Path, want: str) -> bytes:
    if not path.is_file():
        raise ConfigError(f"{path} does not exist", f"give the path of a {want} file")
    with open(path, "rb") as fh:
        head = fh.read(6)
    return head


def read_npy(path, what: str = "array") -> np.ndarray:
    """One array from a .npy file."""
    path = Path(path)
    head = _opened(path, ".npy")
    if head.startswith(ZIP_MAGIC[:4]):
        raise ConfigError(f"{path} is an .npz archive, not one .npy array", f"save the {what} with numpy.save")
    if head != NPY_MAGIC:
        raise ConfigError(f"{path} is not a NumPy .npy file (it starts with {head!r})", f"save the {what} with numpy.save")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        if "pickled" in str(e) or "Object arrays" in str(e):
            raise ConfigError(f"{path} holds Python objects (pickled data); npin reads plain numeric arrays only",
                              f"save the {what} as a numeric array with numpy.save") from e
        raise ConfigError(f"{path} is truncated or damaged: {e}", f"save the {what} again with numpy.save") from e
    except Exception as e:  # noqa: BLE001 - numpy's header parser raises many types on damaged bytes
        raise ConfigError(f"{path} is truncated or damaged: {type(e).__name__}: {e}",
                          f"save the {what} again with numpy.save") from e


def read_npz(path, what: str = "arrays") -> dict[str, np.ndarray]:
    """Every array of an .npz archive, read in full (so a truncated member fails here, not later)."""
    path = Path(path)
    head = _opened(path, ".npz")
    if head == NPY_MAGIC:
        raise ConfigError(f"{path} is one .npy array, not an .npz archive", f"save the {what} with numpy.savez")
    if not head.startswith(ZIP_MAGIC):
        raise ConfigError(f"{path} is not a NumPy .npz archive (it starts with {head!r})",
                          f"save the {what} with numpy.savez")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as e:
        if "pickled" in str(e) or "Object arrays" in str(e):
            raise ConfigError(f"{path} holds Python objects (pickled data); npin reads plain numeric arrays only",
                              f"save the {what} as numeric arrays with numpy.savez") from e
        raise ConfigError(f"{path} is truncated or damaged: {e}", f"save the {what} again with numpy.savez") from e
    except Exception as e:  # noqa: BLE001 - zip, zlib and numpy raise many types on damaged bytes
        raise ConfigError(f"{path} is truncated or damaged: {type(e).__name__}: {e}",
                          f"save the {what} again with numpy.savez") from e


def read_arrays(path, what: str = "inputs") -> np.ndarray | dict[str, np.ndarray]:
    """A .npy array or an .npz archive's arrays, by the file's own magic, not its name."""
    path = Path(path)
    head = _opened(path, ".npy or .npz")
    return read_npz(path, what) if head.startswith(ZIP_MAGIC) else read_npy(path, what)
