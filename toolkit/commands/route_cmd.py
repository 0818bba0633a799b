"""`npin route bench|train`: the Neural Pin against baselines on a real intent data set, and a
deployable routing Pin trained on one."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "clinc150"


def register(sub) -> None:
    r = sub.add_parser("route", help="routing on real intents").add_subparsers(dest="route_command", required=True)
    p = r.add_parser("bench", help="Pin (float and fixed) vs nearest centroid, semantic-router, logistic regression")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="CLINC150 folder/JSON, or a text,label,split CSV")
    p.add_argument("--embedder", choices=("minilm",), default="minilm")
    p.add_argument("--tasks", help="comma list of domains, intents16, intents (default: every task the data "
                                   "supports: all three for CLINC150, intents for a CSV)")
    p.add_argument("--episodes", type=int, default=600, help="test conversations per task")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="use only the first N utterances per label and split (quick runs)")
    p.add_argument("--no-ablation", action="store_true", help="skip the ablation of the Pin's design")
    p.add_argument("--out", default="build/route")
    p.add_argument("--cache", default="build/cache", help="where embeddings are cached")
    p.set_defaults(func=cmd_bench)

    p = r.add_parser("train", help="train, tune and quantize a routing Pin; write its parameter file")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="CLINC150 folder/JSON, or a text,label,split CSV")
    p.add_argument("--task", default="intents", help="domains, intents16 or intents (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default="build/cache", help="where embeddings are cached")
    p.add_argument("-o", "--output", required=True, help="the Pin parameter file (*.q15.json)")
    p.set_defaults(func=cmd_train)


def _embedded(data_path, cache, task: str, seed: int):
    from common.errors import NpinError
    from ..progress import progress_bar
    from ..route.data import load_intents
    from ..route.minilm import EmbedderMissing, cached_embeddings
    from ..route.tasks import task_texts

    data = load_intents(data_path)
    texts = sorted(task_texts(data, task, seed))
    try:
        with progress_bar("MiniLM embeddings", len(texts)) as advance:
            vecs = cached_embeddings(texts, Path(cache), advance)
    except EmbedderMissing as e:
        raise NpinError(str(e), "./run installs the embedder's weights") from e
    return data, dict(zip(texts, vecs))


def cmd_bench(args) -> int:
    from common.errors import NpinError
    from ..route.minilm import EmbedderMissing
    from ..route.report import markdown, run_route_bench, verdict

    tasks = tuple(t for t in args.tasks.split(",") if t) if args.tasks else None
    try:
        res = run_route_bench(args.data, Path(args.out), tasks, args.episodes, Path(args.cache), args.limit,
                              args.seed, ablation=not args.no_ablation)
    except EmbedderMissing as e:
        raise NpinError(str(e), "./run installs the embedder's weights") from e
    print(markdown(res))
    print(f"wrote {Path(args.out) / 'report.md'}")
    for name, t in res["tasks"].items():
        v = verdict(t)
        print(f"{name}: fixed Pin decision accuracy {v['decision_accuracy']['pin']:.1%} "
              f"(best baseline {v['decision_accuracy']['baseline']:.1%}), episode accuracy "
              f"{v['episode_accuracy']['pin']:.1%} (best baseline {v['episode_accuracy']['baseline']:.1%})")
    return 0


def cmd_train(args) -> int:
    from ..route.report import shown_path
    from ..pin.params_io import save_params
    from common.files import write_atomic
    from ..progress import progress_bar
    from ..route.bench import VAL_EPISODES
    from ..route.pin_router import fit_steps, train_routing_pin
    from ..route.tasks import make_task

    data, emb = _embedded(args.data, args.cache, args.task, args.seed)
    task = make_task(data, emb, args.task, args.seed)
    val = task.stream("val", VAL_EPISODES, args.seed + 1)
    with progress_bar(f"train {task.name}", fit_steps()) as advance:
        pin = train_routing_pin(task, val, args.seed, advance)
    out = Path(args.output)
    save_params(out, pin.params, pin.scale, task.labels, task.labels)
    d = pin.design
    source = Path(data.source)
    receipt = {"command": f"npin route train --data {shown_path(args.data)} --task {args.task} --seed {args.seed}",
               "data": shown_path(source), "data_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
               "task": task.name, "labels": task.n_labels,
               "design": {"eta": d.eta, "mu": d.mu, "threshold": d.threshold, "margin": d.margin},
               "validation": {k: v for k, v in d.val.items() if k != "answer_after_n"}}
    write_atomic(out.with_suffix(".receipt.json"), json.dumps(receipt, indent=1, default=float) + "\n")
    p = pin.params
    print(f"wrote {out}: D={p.dims} K={p.n_facets} ({p.facet_format}) slots={p.slots}; eta {d.eta}, mu {d.mu}, "
          f"threshold {d.threshold}, margin {d.margin}; validation decision accuracy "
          f"{d.val['decision_accuracy']:.1%}, in-scope rejection {d.val['in_scope_rejection']:.1%}")
    return 0
