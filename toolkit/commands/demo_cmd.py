"""`npin demo`: the main job end to end.

Today: quantize a Pin config, stream scripted intents through the C core on the host, print the
pin events, the float-vs-fixed agreement and the bit-exact verdict against the Python reference.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from firmware.host_twin import FASTEST, HostTwin
from quant.pin_fixed import FIRED, PinFixed
from quant.pin_quantize import calibrate_input_scale, decision_disagreement, quantize_pin

from ..errors import MismatchError
from ..intent_stream import intent_episodes
from ..pin_config import example_config, load_pin_config, write_atomic
from ..pin_params_io import save_params


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main job, end to end")
    p.add_argument("--config", help="float Pin config (default: a synthetic 512-d, 8-facet one)")
    p.add_argument("--out", default="build/demo", help="output folder (default build/demo)")
    p.add_argument("--episodes", type=int, default=12)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    out = Path(args.out)
    config_path = Path(args.config) if args.config else out / "pin.json"
    if not args.config:
        write_atomic(config_path, json.dumps(example_config(512, 8, seed=args.seed), indent=1) + "\n")
    pc = load_pin_config(config_path)
    cfg = pc.cfg
    calib, _ = intent_episodes(cfg.facets, 20, 40, noise=0.8, seed=args.seed + 1)
    scale = calibrate_input_scale(calib)
    params = quantize_pin(cfg, scale)
    save_params(out / "pin.q15.json", params, scale, pc.facet_names, pc.tool_names)
    print(f"[1/3] quantized {config_path}: D={params.dims} K={params.n_facets} slots={params.slots} "
          f"-> {out / 'pin.q15.json'}")

    stream, intents = intent_episodes(cfg.facets, args.episodes, 30, noise=0.8, seed=args.seed)
    xs = scale.quantize(stream)
    twin, ref = HostTwin(params, FASTEST), PinFixed(params)
    status, events = twin.run(xs)
    print(f"[2/3] streamed {len(xs)} vectors through the C core on the host ({FASTEST} kernels):")
    for i, ev in enumerate(events):
        if ev is not None:
            ok = "ok " if ev.facet == intents[i] else "BAD"
            print(f"  {ok} step {ev.step:4d}  facet {pc.facet_names[ev.facet]:>8}  tool "
                  f"{pc.tool_names[ev.tool]:>8}  cos {ev.score_q15 / 32768:.3f}  (intent {pc.facet_names[intents[i]]})")
    for i, x in enumerate(xs):
        ref.push(x)
        st, ev = ref.step()
        if st != status[i] or ev != events[i]:
            raise MismatchError(f"step {i + 1}: reference {st} {ev} != C core {status[i]} {events[i]}")
    state = twin.state()
    for name, want in (("m", ref.m), ("v", ref.v), ("thr_q15", ref.thr_q15)):
        if not np.array_equal(state[name], want):
            raise MismatchError(f"final state '{name}' differs between the reference and the C core")

    report = decision_disagreement(cfg, params, scale, stream)
    print(f"[3/3] float vs fixed decisions: agreement {report.agreement:.2%} "
          f"(float fired {report.float_fires}, fixed {report.fixed_fires})")
    print(f"bit-exact: {len(xs)} steps")
    return 0
