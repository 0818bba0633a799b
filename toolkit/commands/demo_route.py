"""The demo's routing lane: real CLINC150 test conversations, embedded with MiniLM, streamed
through the board running the 150-intent Pin, each utterance printed beside what the board fired."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from common.errors import MismatchError
from firmware.host_twin import FASTEST, HostTwin
from quant.pin_fixed import FIRED, PinFixed

from ..hil.lockstep import run_lockstep
from ..hil.target import open_target
from ..pin.params_io import load_params
from ..route.data import OOS, load_intents
from ..route.minilm import cached_embeddings
from .route_cmd import DEFAULT_DATA

ROUTING_PIN = Path(__file__).resolve().parents[1] / "route" / "models" / "clinc150-intents.q15.json"
CONVERSATIONS = 4        # in-scope conversations, plus one out of scope in the middle
UTTERANCES = 4


def demo_conversations(seed: int) -> tuple[list[str], list[str]]:
    """(texts, intent per text, 'oos' for out of scope) drawn from CLINC150's test split."""
    data = load_intents(DEFAULT_DATA)
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[str]] = {}
    for text, label in data.splits["test"]:
        by_label.setdefault(label, []).append(text)
    intents = [str(i) for i in rng.choice(sorted(k for k in by_label if k != OOS), CONVERSATIONS, replace=False)]
    order = intents[:2] + [OOS] + intents[2:]
    texts, labels = [], []
    for label in order:
        pool = by_label[label]
        for i in rng.choice(len(pool), UTTERANCES, replace=False):
            texts.append(pool[int(i)])
            labels.append(label)
    return texts, labels


def route_conversations(out: Path, args, step: int, total: int) -> str:
    params, scale, facet_names, _ = load_params(ROUTING_PIN)
    if not (DEFAULT_DATA / "data_full.json").exists():
        print(f"[{step}/{total}] routing real utterances: skipped, CLINC150 is not at {DEFAULT_DATA}")
        return "routing skipped (no CLINC150)"
    texts, labels = demo_conversations(args.seed)
    emb = cached_embeddings(texts, Path("build/cache"))
    xs = scale.quantize(np.pad(emb, ((0, 0), (0, params.dims - emb.shape[1])))).astype(np.int16)
    intents = np.array([facet_names.index(lab) if lab in facet_names else -1 for lab in labels])
    on_board = not (args.host_only or args.port)
    where = f"{args.board} (QEMU)" if on_board else "the C core on the host"
    print(f"[{step}/{total}] routing {len(texts)} real CLINC150 utterances ({CONVERSATIONS} conversations and one "
          f"out of scope) through {where}: the {params.n_facets}-intent Pin, D={params.dims}, "
          f"{params.facet_format.upper()} facets, {params.slots} slots")
    if on_board:
        with open_target(args.board, params, out / "firmware-route") as target:
            report = run_lockstep(target.client, PinFixed(params), xs, intents)
            fired = {ev.step - 1: ev.facet for ev in target.client.events}
        verdict = f"{report.vectors} real utterances on {args.board} (QEMU)"
    else:
        twin, ref = HostTwin(params, FASTEST), PinFixed(params)
        fired = {}
        for i, x in enumerate(xs):
            twin.push(x)
            ref.push(x)
            got, want = twin.step(), ref.step()
            if got != want:
                raise MismatchError(f"utterance {i + 1}: reference {want} != C core {got}")
            if got[0] == FIRED:
                fired[i] = got[1].facet
                sign = 1 if got[1].facet == intents[i] else -1
                twin.feedback(got[1].facet, sign)
                ref.feedback(got[1].facet, sign)
        verdict = f"{len(xs)} real utterances on the host twin"
    for i, (text, label) in enumerate(zip(texts, labels)):
        if i % UTTERANCES == 0:
            print(f"  conversation about {label if label != OOS else 'nothing the Pin knows (out of scope)'}:")
        if i in fired:
            name = facet_names[fired[i]]
            mark = "ok " if name == label else "BAD"
            print(f"    {mark} {text!r:60.60} -> fired {name}")
        else:
            print(f"        {text!r:60.60} -> (listening)")
    return verdict
