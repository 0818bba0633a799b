"""`npin pin …`: quantize a Pin config, verify the C core against the reference, benchmark it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.arrays import read_npy
from common.errors import ConfigError, MismatchError
from common.files import write_atomic, write_run_file
from firmware.host_twin import KERNELS
from firmware.slab import SLAB_MAX_BYTES, facet_format_for, fit_message
from quant.pin_fixed import FACET_FORMATS, check_params
from quant.pin_quantize import calibrate_input_scale, decision_disagreement, quantize_pin

from ..pin.intent_stream import intent_episodes
from ..pin.config import example_config, load_pin_config
from ..pin.params_io import save_params
from ..progress import progress_bar


def register(sub) -> None:
    pin = sub.add_parser("pin", help="the fixed-point Neural Pin").add_subparsers(dest="pin_command", required=True)

    p = pin.add_parser("example-config", help="write a synthetic float Pin config")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--dims", type=int, default=512)
    p.add_argument("--facets", type=int, default=8)
    p.add_argument("--slots", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_example_config)

    p = pin.add_parser("quantize", help="float Pin config -> Q15 parameters, with a decision report")
    p.add_argument("config")
    p.add_argument("--facet-format", choices=["auto", *FACET_FORMATS], default="auto",
                   help="facet storage: Q15, Q7, or auto (Q15 when the slab fits 64 KiB, else Q7)")
    p.add_argument("-o", "--output", help="where to write the Q15 parameters (default CONFIG.q15.json)")
    p.add_argument("--stream", help=".npy (N, D) float stream for calibration and the report "
                                    "(default: a synthetic intent stream)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_quantize)

    p = pin.add_parser("verify", help="random hostile stream: Python reference vs host twin, bit for bit")
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dims", type=int, default=512)
    p.add_argument("--facets", type=int, default=16)
    p.add_argument("--slots", type=int, default=32)
    p.add_argument("--kernels", default="ref", choices=sorted(KERNELS) + ["all"])
    p.add_argument("--facet-format", choices=sorted(FACET_FORMATS), default="q15")
    p.set_defaults(func=cmd_verify)

    p = pin.add_parser("bench", help="host ns per step: C twin vs numpy float32 (Q15, Q7 and the largest routing shape)")
    p.add_argument("--dims", type=int, default=512)
    p.add_argument("--facets", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", help="also write the figures as a run file (e.g. docs/bench/pin-bench.json)")
    p.set_defaults(func=cmd_bench)


def check_fits(params) -> None:
    """The 64 KiB slab rule as a one-line error that says which shapes would fit."""
    msg = fit_message(params.dims, params.n_facets, params.slots, SLAB_MAX_BYTES, params.facet_format)
    if msg:
        raise ConfigError(f"D={params.dims} K={params.n_facets} slots={params.slots}: {msg}",
                          "reduce dims, facets or slots (docs/pin-spec.md §2)")


def cmd_example_config(args) -> int:
    doc = example_config(args.dims, args.facets, args.seed, args.slots)
    write_atomic(args.output, json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.output}: D={args.dims}, K={args.facets}, slots={args.slots}")
    return 0


def _load_stream(path: str, dims: int) -> np.ndarray:
    stream = read_npy(path, "stream (N, D)")
    if not np.issubdtype(stream.dtype, np.number):
        raise ConfigError(f"stream {path} holds {stream.dtype}, not numbers", "give a float .npy array of shape (N, D)")
    if stream.ndim != 2 or stream.shape[1] != dims or len(stream) == 0:
        raise ConfigError(f"stream {path} has shape {stream.shape}; the config needs (N, {dims})",
                          f"give a float .npy array of shape (N, {dims})")
    return stream.astype(np.float64)


def cmd_quantize(args) -> int:
    pc = load_pin_config(args.config)
    cfg = pc.cfg
    if args.stream:
        stream = _load_stream(args.stream, cfg.dims)
    else:
        stream, _ = intent_episodes(cfg.facets, episodes=20, length=40, noise=0.8, seed=args.seed)
    scale = calibrate_input_scale(stream)
    fmt = args.facet_format if args.facet_format != "auto" else facet_format_for(cfg.dims, cfg.n_facets, cfg.slots)
    try:
        params = quantize_pin(cfg, scale, fmt)
        check_params(params)
    except ValueError as e:  # PinSpecError included: name the file it came from
        raise ConfigError(f"{args.config}: {e}") from e
    check_fits(params)
    out = args.output or str(Path(args.config).with_suffix("")) + ".q15.json"
    save_params(out, params, scale, pc.facet_names, pc.tool_names)
    report = decision_disagreement(cfg, params, scale, stream)
    print(f"wrote {out}: D={params.dims} K={params.n_facets} slots={params.slots} {fmt} facets, "
          f"eta_q15={params.eta_q15} mu_q15={params.mu_q15}, input scale {scale.scale:.2f} ({scale.statistic})")
    print("float vs fixed: " + "\n".join(report.lines()))
    return 0


def cmd_verify(args) -> int:
    from ..pin.verify import random_params, verify

    rng = np.random.default_rng(args.seed)
    params = random_params(args.dims, args.facets, args.slots, rng, args.facet_format)
    check_params(params)
    check_fits(params)
    kernel_sets = sorted(KERNELS) if args.kernels == "all" else [args.kernels]
    for kernels in kernel_sets:
        with progress_bar(f"verify [{kernels}]", args.steps) as advance:
            try:
                res = verify(params, args.steps, args.seed, kernels, progress=advance)
            except MismatchError as e:
                print(f"MISMATCH [{kernels}] {e}")
                return 1
        print(f"[{kernels}] D={args.dims} K={args.facets} slots={args.slots} {args.facet_format} seed={args.seed}: "
              f"{res.fires} fires, {res.empty_steps} empty steps, {res.overruns} overruns, "
              f"{res.feedbacks} feedback events")
    print(f"bit-exact: {args.steps} steps")
    return 0


def cmd_bench(args) -> int:
    from ..pin.bench import bench_shapes

    results = bench_shapes(args.dims, args.facets, args.rounds)
    for res in results:
        print("\n".join(res.table()))
    main = results[0]
    if args.json:
        write_run_file(args.json, {"dims": main.dims, "facets": main.facets, "rounds": args.rounds,
                                   "c_twin_ns": main.c_ns, "numpy_float32_ns": main.numpy_ns,
                                   "shapes": [r.as_dict() for r in results]})
        print(f"wrote {args.json}")
    print(main.step_line())
    return 0
