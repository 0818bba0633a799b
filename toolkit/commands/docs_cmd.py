"""`npin docs refresh | check`: the README's measured tables from the committed run files."""
from __future__ import annotations

from pathlib import Path

from common.errors import MismatchError
from common.files import write_atomic

from ..docs.tables import GENERATORS, ROOT, refresh


def register(sub) -> None:
    d = sub.add_parser("docs", help="the README's measured tables, generated from run files") \
        .add_subparsers(dest="docs_command", required=True)
    for name, func, text in (("refresh", cmd_refresh, "rewrite every generated table from its run file"),
                             ("check", cmd_check, "fail if a generated table differs from its run file")):
        p = d.add_parser(name, help=text)
        p.add_argument("--readme", default=str(ROOT / "README.md"))
        p.set_defaults(func=func)


def cmd_refresh(args) -> int:
    path = Path(args.readme)
    text, changed = refresh(path.read_text())
    if changed:
        write_atomic(path, text)
    print(f"{path}: {len(changed)} of {len(GENERATORS)} generated tables rewritten" + (f" ({', '.join(changed)})" if changed else ""))
    return 0


def cmd_check(args) -> int:
    path = Path(args.readme)
    _, changed = refresh(path.read_text())
    if changed:
        raise MismatchError(f"{path}: tables differ from their run files: {', '.join(changed)}", "npin docs refresh")
    print(f"{path}: every generated table matches its run file")
    return 0
