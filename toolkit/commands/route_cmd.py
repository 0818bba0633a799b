"""`npin route bench`: the Neural Pin against baselines on a real intent dataset."""
from __future__ import annotations

from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "clinc150"


def register(sub) -> None:
    r = sub.add_parser("route", help="routing on real intents").add_subparsers(dest="route_command", required=True)
    p = r.add_parser("bench", help="Pin (float and fixed) vs nearest centroid, semantic-router, logistic regression")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="CLINC150 folder/JSON, or a text,label,split CSV")
    p.add_argument("--embedder", choices=("minilm",), default="minilm")
    p.add_argument("--tasks", default="domains,intents16", help="comma list: domains, intents16, intents")
    p.add_argument("--episodes", type=int, default=600)
    p.add_argument("--limit", type=int, help="use only the first N utterances per label and split (quick runs)")
    p.add_argument("--out", default="build/route")
    p.add_argument("--cache", default="build/cache", help="where embeddings are cached")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from ..route.minilm import EmbedderMissing
    from ..route.report import markdown, run_route_bench
    from ..errors import NpinError

    try:
        res = run_route_bench(args.data, Path(args.out), tuple(args.tasks.split(",")), args.episodes,
                              Path(args.cache), args.limit)
    except EmbedderMissing as e:
        raise NpinError(str(e), "./run installs the embedder's weights") from e
    print(markdown(res))
    print(f"wrote {Path(args.out) / 'report.md'}")
    return 0
