"""One error root at the bottom (common.errors): every package's errors derive from it, and the CLI
prints any of them as one line plus its hint, without translating per command."""
import importlib
import inspect
import pkgutil

import pytest

from common.errors import NpinError
from toolkit.cli import main

PACKAGES = ("common", "quant", "gna", "firmware", "toolkit")


def _modules():
    for name in PACKAGES:
        pkg = importlib.import_module(name)
        yield pkg
        for info in pkgutil.walk_packages(pkg.__path__, f"{name}."):
            yield importlib.import_module(info.name)


def test_every_error_class_in_the_project_derives_from_the_root():
    found = {}
    for mod in _modules():
        for cls_name, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ == mod.__name__ and issubclass(cls, Exception):
                found[f"{mod.__name__}.{cls_name}"] = cls
    assert len(found) >= 15, sorted(found)  # the walk really reached the lower layers
    strays = sorted(name for name, cls in found.items() if not issubclass(cls, NpinError))
    assert not strays, f"errors outside the root: {strays}"


def test_a_lower_layer_error_reaches_the_user_as_one_line_and_its_hint(capsys):
    rc = main(["pin", "verify", "--dims", "3", "--facets", "4", "--steps", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert err[0].startswith("error: ") and "internal error" not in err[0]
    assert err[1] == "hint: see docs/pin-spec.md §2 for the allowed parameters"


def test_a_class_hint_is_a_default_that_a_raise_site_can_override():
    from gna.onnx_compiler import CompileError

    assert CompileError("x").hint.startswith("see docs/gna-quant.md")
    assert CompileError("x", "do this").hint == "do this"
    with pytest.raises(ValueError):  # still a ValueError for callers that catch that
        raise CompileError("x")
