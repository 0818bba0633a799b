"""`npin gna run | conformance | golden | bench`: GNA 2.0 models on our emulator and on libGNA."""
from __future__ import annotations

import contextlib
import datetime
import time
from pathlib import Path

import numpy as np

from common.arrays import read_npy
from common.errors import ConfigError, MismatchError, NpinError
from common.files import write_run_file
from common.timing import timed
from gna import emulator
from gna.golden import case_bytes, save_case
from gna.model_io import load_model
from gna.random_models import KINDS, chunk_boundary_case, random_case

from ..progress import progress_bar


def register(sub) -> None:
    g = sub.add_parser("gna", help="GNA 2.0 models: emulator and libGNA").add_subparsers(dest="gna_command", required=True)

    p = g.add_parser("run", help="run a model file on a backend")
    p.add_argument("model")
    p.add_argument("--input", required=True, help=".npy int16 input in the first operation's layout, or a batch "
                                                  "of them [B, ...] (independent inferences)")
    p.add_argument("--jobs", type=int, help="a batch's inferences run this many at a time (default: every core; "
                                            "emulator backends)")
    p.add_argument("--backend", choices=("emulator", "native", "libgna"), default="emulator",
                   help="emulator: the numpy reference; native: the same in C (SIMD); libgna: Intel's library")
    p.add_argument("--acceleration", choices=("generic", "avx2", "sse4", "avx1", "auto"), default="generic",
                   help="libGNA's CPU path (generic is the exact one)")
    p.add_argument("-o", "--output", help="write the output (.npy)")
    p.set_defaults(func=cmd_run)

    p = g.add_parser("conformance", help="random models: emulator against libGNA (and the native emulator), bit for bit")
    p.add_argument("--backend", choices=("libgna", "native"), default="libgna",
                   help="libgna: numpy and native emulators against the library; native: the native emulator "
                        "against the numpy one on every instruction set this CPU has (no library needed)")
    p.add_argument("--cases", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kind", choices=KINDS, help="only this kind of model")
    p.add_argument("--json", help="also write the result as a run file (e.g. docs/gna/conformance.json)")
    p.set_defaults(func=cmd_conformance)

    p = g.add_parser("golden", help="write golden vectors (models, inputs, outputs) made by libGNA")
    p.add_argument("-o", "--output", required=True, help="folder (replaced files only)")
    p.add_argument("--per-kind", type=int, default=6)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--max-bytes", type=int, default=48_000, help="skip cases bigger than this (keeps the data small)")
    p.set_defaults(func=cmd_golden)

    p = g.add_parser("bench", help="numpy and native emulators vs libGNA (Generic and AVX2) per-inference time, "
                                   "as ratios; native GMAC/s against its instruction's peak")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--without-libgna", action="store_true", help="run without the library (emulators only)")
    p.add_argument("--no-networks", action="store_true", help="only the single-operation models")
    p.add_argument("--json", help="also write the figures as a run file (e.g. docs/gna/bench.json)")
    p.set_defaults(func=cmd_bench)
    from .gna_compile_cmd import register_compiler

    register_compiler(g)

    p = g.add_parser("probe", help="measure the envelope a GNA generation accepts (bisection, with receipts)")
    p.add_argument("--target", choices=("2.0", "3.0"), default="2.0")
    p.add_argument("--backend", choices=("libgna", "emulator"), default="libgna")
    p.add_argument("--json", help="write the report as JSON here")
    p.add_argument("--markdown", help="write the Markdown table here (default: next to --json)")
    p.add_argument("--no-crash-probes", action="store_true", help="skip inputs known to crash the library")
    p.set_defaults(func=cmd_probe)


def _libgna():
    from gna import libgna

    try:
        libgna.load()
    except (libgna.LibGnaNotFound, OSError) as e:
        raise NpinError(str(e), "build or install Intel's libGNA and set GNA_LIBRARY=/path/to/libgna.so") from e
    return libgna


def cmd_run(args) -> int:
    model = load_model(args.model)
    x = read_npy(args.input, "int16 input")
    one = int(np.prod(model.input_shape))
    batch = x.ndim >= 2 and x.shape[0] > 1 and x.size == x.shape[0] * one and x[0].size == one
    if x.dtype != np.int16 or (x.size != one and not batch):
        raise ConfigError(f"input is {x.dtype} {list(x.shape)}; the model takes int16 {list(model.input_shape)}",
                          "quantize the input to int16 in the first operation's layout (or stack a batch [B, ...])")
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs} is below 1", "--jobs 1 runs the batch on one core")
    backend = "native" if args.backend == "native" else "numpy"
    t0 = time.perf_counter()
    if not batch:
        results = [_libgna().run(model, x, args.acceleration) if args.backend == "libgna" else emulator.run(model, x, backend)]
    elif args.backend == "libgna":
        results = [_libgna().run(model, xi, args.acceleration) for xi in x]
    else:
        results = emulator.run_many(model, list(x), backend, args.jobs)
    seconds = time.perf_counter() - t0
    out = results[0].output if not batch else np.stack([r.output for r in results])
    if args.output:
        np.save(args.output, out)
    sat = any(r.saturated for r in results)
    print(f"{args.backend}: output {out.dtype} {list(out.shape)}, saturated {sat}, "
          f"checksum {int(np.sum(out.astype(np.int64)))}"
          + (f"; {len(results)} inferences in {seconds:.3f} s" if batch else ""))
    return 0


def _compare(a, b, names=("emulator", "libGNA")) -> str | None:
    for i, (p, q) in enumerate(zip(a.outputs, b.outputs)):
        if p.shape != q.shape or p.dtype != q.dtype or not np.array_equal(p, q):
            idx = np.flatnonzero(p.reshape(-1) != q.reshape(-1)) if p.shape == q.shape else [0]
            j = int(idx[0]) if len(idx) else 0
            return (f"operation {i} output differs at {len(idx)} elements, first [{j}]: {names[0]} "
                    f"{p.reshape(-1)[j]}, {names[1]} {q.reshape(-1)[j]}")
    if a.saturated != b.saturated:
        return f"saturation flag: {names[0]} {a.saturated}, {names[1]} {b.saturated}"
    return None


def _native_isas() -> list[str] | None:
    """The instruction sets the native emulator runs here, or None if it cannot be built."""
    from gna import native

    try:
        return native.available_isas()
    except native.NativeUnavailable as e:
        print(f"native emulator not available: {e}")
        return None


def _check_case(model, x, ref, ref_name: str, numpy_too: bool, isas) -> str | None:
    """The numpy emulator (if `numpy_too`) and the native one on each ISA against `ref`."""
    from gna import native

    why = _compare(emulator.run(model, x), ref, ("numpy emulator", ref_name)) if numpy_too else None
    try:
        for isa in isas or ():
            if why:
                break
            native.set_isa(isa)
            why = _compare(emulator.run(model, x, backend="native"), ref, (f"native [{isa}]", ref_name))
    finally:
        if isas:
            native.set_isa(None)
    return why


def cmd_conformance(args) -> int:
    isas = _native_isas()
    if args.backend == "native":
        if not isas:
            raise NpinError("the native emulator cannot be built here", "./run installs gcc and the Python headers")
        lib, ref_name = None, "the numpy emulator"
    else:
        lib, ref_name = _libgna(), "libGNA"
    rng = np.random.default_rng(args.seed)
    bad, counts = [], {}
    with progress_bar("conformance", args.cases) as advance:
        for n in range(args.cases):
            kind, model, x = random_case(rng, args.kind)
            counts[kind] = counts.get(kind, 0) + 1
            ref = lib.run(model, x, "generic") if lib else emulator.run(model, x)
            why = _check_case(model, x, ref, ref_name, lib is not None, isas)
            if why:
                bad.append((n, kind, why))
            advance()
    checked = (["numpy emulator"] if lib else []) + ([f"native emulator [{', '.join(isas)}]"] if isas else [])
    print(f"{'libGNA ' + lib.library_version() + ', 2.0 export device, Generic mode' if lib else 'no library'}; "
          f"seed {args.seed}; {' and '.join(checked)} against {ref_name}")
    print("cases per kind: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for n, kind, why in bad[:20]:
        print(f"  case {n} ({kind}): {why}")
    print(f"conformance: {args.cases - len(bad)}/{args.cases} bit-exact")
    if args.json:
        write_run_file(args.json, {"library": f"libGNA {lib.library_version()}" if lib else None,
                                   "reference": ref_name, "device": "export 2.0" if lib else None,
                                   "acceleration": "generic" if lib else None, "native_isas": isas or [],
                                   "seed": args.seed, "cases": args.cases,
                                   "bit_exact": args.cases - len(bad), "cases_per_kind": counts})
        print(f"wrote {args.json}")
    if bad:
        raise MismatchError(f"{len(bad)} of {args.cases} cases differ", "the first ones are listed above")
    return 0


def cmd_golden(args) -> int:
    lib = _libgna()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    meta = {"library": f"libGNA {lib.library_version()}", "device": "export 2.0", "acceleration": "generic",
            "date": datetime.date.today().isoformat(), "seed": args.seed}
    written = 0
    for kind in KINDS:
        made, tries = 0, 0
        while made < args.per_kind and tries < 200:
            tries += 1
            _, model, x = random_case(rng, kind)
            if case_bytes(model, x) > args.max_bytes and kind != "chunk_edge":
                continue
            res = lib.run(model, x, "generic")
            save_case(out / f"{kind}_{made:02d}.npz", kind, model, x, res, meta)
            made += 1
            written += 1
    for batch in range(1, 9):  # one case per batch size that pins its accumulator chunk length
        model, x = chunk_boundary_case(batch)
        save_case(out / f"chunk_boundary_b{batch}.npz", "chunk_boundary", model, x, lib.run(model, x, "generic"),
                  meta)
        written += 1
    written += _golden_graphs(lib, out, rng, meta)
    print(f"wrote {written} golden cases to {out} ({meta['library']})")
    return 0


def _golden_graphs(lib, out: Path, rng, meta: dict) -> int:
    """Compiled graphs (every lowering, both weight widths, and Silero VAD streaming three chunks)
    with libGNA's buffers after each inference."""
    from gna.golden import save_graph_case
    from gna.lowering_cases import CASES, feeds
    from gna.onnx_compiler import compile_onnx

    def record(name, cm, inputs_per_step):
        steps = []
        with lib.GraphSession(cm.graph) as sess:
            for bufs in inputs_per_step:
                mem, sat = sess.run(bufs)
                steps.append((bufs, mem, sat))
        save_graph_case(out / f"graph_{name}.npz", f"graph_{name.split('_')[0]}", cm.graph, steps, meta)

    n = 0
    for name, build in CASES.items():
        for weights in ("i16", "i8"):
            model, ins = build(rng)
            cm = compile_onnx(model, feeds(rng, ins, 32, 1.5), weights=weights)
            record(f"{name}_{weights}", cm, [cm.host_buffers({k: v[0] for k, v in feeds(rng, ins, 1).items()})
                                             for _ in range(3)])
            n += 1
    try:
        from ..gna import speech, vad

        cm = vad.cached_vad("i16")
        audio, _ = speech.evaluation_audio(0.2)
        s = cm.stream()
        steps = []
        xs = vad.windows(audio)
        for x in xs[:40]:   # carry a state in from the chunks before
            s.step({"input": x})
        for x in xs[40:43]:
            steps.append(cm.host_buffers({"input": x, **s.carried}))
            s.step({"input": x})
        record("silero_i16", cm, steps)
        n += 1
    except ConfigError as e:
        print(f"no Silero golden case: {e}")
    return n


def cmd_bench(args) -> int:
    from gna import native

    from ..gna.bench import chain_models, network_models

    try:
        lib = _libgna()
    except NpinError as e:
        if not args.without_libgna:
            raise
        lib = None
        print(f"libGNA not measured: {e}")
    isa = native.isa()
    peak = native.peak_gmacs()
    print(f"per inference, best of {args.rounds}, one core; "
          f"{'libGNA ' + lib.library_version() + ' (model creation excluded)' if lib else 'no libGNA'}; "
          f"native emulator on {isa}, its multiply-add alone peaks at "
          f"{'%.1f GMAC/s' % peak if peak else 'n/a (portable C)'}")
    print(f"{'model':40s} {'numpy':>9s} {'native':>9s} {'lib Gen.':>9s} {'lib AVX2':>9s} {'vs Gen.':>8s} {'vs AVX2':>8s} "
          f"{'GMAC/s':>7s}  exact")
    rows = []
    models = chain_models(lib) + ([] if args.no_networks else network_models(lib))
    with progress_bar("gna bench", len(models)) as advance:
        for bm in models:
            # the four in turn, round after round: a slow spell of this shared machine hits all of them
            with contextlib.ExitStack() as stack:
                runs = {"numpy": lambda: timed(bm.run_numpy), "native": lambda: timed(bm.run_native)}
                if bm.libgna is not None:
                    runs["generic"] = stack.enter_context(bm.libgna("generic"))
                    runs["avx2"] = stack.enter_context(bm.libgna("avx2"))
                best = {k: float("inf") for k in runs}
                # a sample averages enough inferences to last ~3 ms: single fast inferences on this
                # shared machine scatter more than the differences measured
                reps = max(1, min(64, int(0.003 / max(min(runs["native"]() for _ in range(3)), 1e-6))))
                for _ in range(args.rounds):
                    for k, run in runs.items():
                        run()  # each path timed warm, as a loop of inferences runs: the others evict its data
                        best[k] = min(best[k], sum(run() for _ in range(reps)) / reps)
            t_np, t_nat, gen, avx2 = best["numpy"], best["native"], best.get("generic"), best.get("avx2")
            exact = bool(bm.same())
            gmacs = bm.macs / t_nat / 1e9
            row = {"model": bm.name, "macs": bm.macs, "numpy_s": t_np, "native_s": t_nat, "libgna_generic_s": gen,
                   "libgna_avx2_s": avx2, "native_gmacs": gmacs, "bit_exact": exact}
            rows.append(row)
            fmt = (lambda t: f"{t * 1e3:8.3f}ms" if t is not None else f"{'—':>10s}")
            print(f"{bm.name:40s} {fmt(t_np)} {fmt(t_nat)} {fmt(gen)} {fmt(avx2)} "
                  f"{(f'{gen / t_nat:7.2f}x' if gen else '—'):>8s} {(f'{avx2 / t_nat:7.2f}x' if avx2 else '—'):>8s} "
                  f"{gmacs:7.1f}  {'yes' if exact else 'NO'}")
            advance()
    all_exact = all(r["bit_exact"] for r in rows)
    import os

    from ..gna.bench import scaling, vocoder_batch

    cores = os.cpu_count() or 1
    model, xs = vocoder_batch()
    scale = scaling(model, xs, args.rounds, cores)
    one = scale[0][1]
    print(f"cores (native, {len(xs)} vocoder frames as independent inferences): " + ", ".join(
        f"{j} → {len(xs) / t:,.0f} frames/s ({one / t:.2f}x)" for j, t in scale))
    if args.json:
        write_run_file(args.json, {"library": f"libGNA {lib.library_version()}" if lib else None, "rounds": args.rounds,
                                   "native_isa": isa, "peak_gmacs": peak, "models": rows,
                                   "scaling": {"workload": f"{len(xs)} vocoder frames", "seconds_by_cores":
                                               {str(j): t for j, t in scale}}})
        print(f"wrote {args.json}")
    measured = [r for r in rows if r["libgna_avx2_s"]]
    if measured:
        worst = min(measured, key=lambda r: r["libgna_avx2_s"] / r["native_s"])
        worst_gen = min(measured, key=lambda r: r["libgna_generic_s"] / r["native_s"])
        print(f"native vs libGNA Generic: worst {worst_gen['libgna_generic_s'] / worst_gen['native_s']:.2f}x "
              f"({worst_gen['model']})")
        print(f"native vs libGNA AVX2: worst {worst['libgna_avx2_s'] / worst['native_s']:.2f}x ({worst['model']}), "
              f"{'bit-exact' if all_exact else 'NOT bit-exact'}")
    else:
        worst = min(rows, key=lambda r: r["numpy_s"] / r["native_s"])
        print(f"native vs libGNA AVX2: not measured (no libGNA); native vs numpy worst "
              f"{worst['numpy_s'] / worst['native_s']:.2f}x ({worst['model']}), {'bit-exact' if all_exact else 'NOT bit-exact'}")
    return 0 if all_exact else 1


def cmd_probe(args) -> int:
    from gna.probe import EmulatorBackend, LibGnaBackend

    from ..gna.probe_report import markdown, run_probes, write_report

    if args.backend == "emulator":
        if args.target != "2.0":
            raise ConfigError("the emulator implements GNA 2.0 only", "probe 3.0 with --backend libgna")
        backend = EmulatorBackend()
    else:
        _libgna()
        backend = LibGnaBackend()
    t0 = time.perf_counter()
    report = run_probes(backend, args.target, crashes=args.backend == "libgna" and not args.no_crash_probes)
    md_path = Path(args.markdown) if args.markdown else (Path(args.json).with_suffix(".md") if args.json else None)
    write_report(report, Path(args.json) if args.json else None, md_path)
    print(markdown(report))
    print(f"probed GNA {args.target} on {report['library']} in {time.perf_counter() - t0:.1f} s")
    return 0
