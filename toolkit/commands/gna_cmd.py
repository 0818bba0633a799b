"""`npin gna run | conformance | golden | bench`: GNA 2.0 models on our emulator and on libGNA."""
from __future__ import annotations

import datetime
import time
from pathlib import Path

import numpy as np

from common.errors import ConfigError, MismatchError, NpinError
from common.files import write_run_file
from common.timing import best_of
from gna import emulator
from gna.golden import case_bytes, save_case
from gna.model_io import load_model
from gna.ops import model_macs, spec_of
from gna.random_models import KINDS, chunk_boundary_case, random_case

from ..progress import progress_bar


def register(sub) -> None:
    g = sub.add_parser("gna", help="GNA 2.0 models: emulator and libGNA").add_subparsers(dest="gna_command", required=True)

    p = g.add_parser("run", help="run a model file on a backend")
    p.add_argument("model")
    p.add_argument("--input", required=True, help=".npy int16 input in the first operation's layout")
    p.add_argument("--backend", choices=("emulator", "libgna"), default="emulator")
    p.add_argument("--acceleration", choices=("generic", "avx2", "sse4", "avx1", "auto"), default="generic",
                   help="libGNA's CPU path (generic is the exact one)")
    p.add_argument("-o", "--output", help="write the output (.npy)")
    p.set_defaults(func=cmd_run)

    p = g.add_parser("conformance", help="random models: emulator against libGNA, bit for bit")
    p.add_argument("--backend", choices=("libgna",), default="libgna")
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

    p = g.add_parser("bench", help="emulator vs libGNA (Generic and AVX2) per-inference time, as ratios")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", help="also write the figures as a run file (e.g. docs/gna/bench.json)")
    p.set_defaults(func=cmd_bench)
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
    try:
        x = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read input {args.input}: {e}", "save it with numpy.save (int16)") from e
    if x.dtype != np.int16 or x.size != int(np.prod(model.input_shape)):
        raise ConfigError(f"input is {x.dtype} {list(x.shape)}; the model takes int16 {list(model.input_shape)}",
                          "quantize the input to int16 in the first operation's layout")
    res = (_libgna().run(model, x, args.acceleration) if args.backend == "libgna" else emulator.run(model, x))
    if args.output:
        np.save(args.output, res.output)
    print(f"{args.backend}: output {res.output.dtype} {list(res.output.shape)}, saturated {res.saturated}, "
          f"checksum {int(np.sum(res.output.astype(np.int64)))}")
    return 0


def _compare(a, b) -> str | None:
    for i, (p, q) in enumerate(zip(a.outputs, b.outputs)):
        if p.shape != q.shape or not np.array_equal(p, q):
            idx = np.flatnonzero(p.reshape(-1) != q.reshape(-1)) if p.shape == q.shape else [0]
            j = int(idx[0])
            return (f"operation {i} output differs at {len(idx)} elements, first [{j}]: emulator "
                    f"{p.reshape(-1)[j]}, libGNA {q.reshape(-1)[j]}")
    if a.saturated != b.saturated:
        return f"saturation flag: emulator {a.saturated}, libGNA {b.saturated}"
    return None


def cmd_conformance(args) -> int:
    lib = _libgna()
    rng = np.random.default_rng(args.seed)
    bad, counts = [], {}
    with progress_bar("conformance", args.cases) as advance:
        for n in range(args.cases):
            kind, model, x = random_case(rng, args.kind)
            counts[kind] = counts.get(kind, 0) + 1
            why = _compare(emulator.run(model, x), lib.run(model, x, "generic"))
            if why:
                bad.append((n, kind, why))
            advance()
    print(f"libGNA {lib.library_version()}, 2.0 export device, Generic mode; seed {args.seed}")
    print("cases per kind: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for n, kind, why in bad[:20]:
        print(f"  case {n} ({kind}): {why}")
    print(f"conformance: {args.cases - len(bad)}/{args.cases} bit-exact")
    if args.json:
        write_run_file(args.json, {"library": f"libGNA {lib.library_version()}", "device": "export 2.0",
                               "acceleration": "generic", "seed": args.seed, "cases": args.cases,
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
    print(f"wrote {written} golden cases to {out} ({meta['library']})")
    return 0


def _bench_models():
    from gna.ir import Convolution, ElementWiseAffine, FullyConnectedAffine, GnaModel, Recurrent
    from gna.random_models import random_pwl

    rng = np.random.default_rng(1)

    def r(shape, dtype=np.int16, hi=2000):
        return rng.integers(-hi, hi, size=shape).astype(dtype)
    return {
        "affine 1024x1024 i16 N=8 +PWL": (GnaModel([FullyConnectedAffine(r((1024, 1024)), r(1024, np.int32), 8,
                                                                          pwl=random_pwl(rng, 16, "even"))]), r((1024, 8))),
        "affine 512x2048 i8 N=4": (GnaModel([FullyConnectedAffine(r((512, 2048), np.int8, 100), r(512, np.int32), 4,
                                                                   multiplier=rng.integers(0, 256, 512))]), r((2048, 4))),
        "diagonal 8192 N=8 +PWL": (GnaModel([ElementWiseAffine(r(8192), r(8192, np.int32), 8,
                                                                pwl=random_pwl(rng, 32, "even"))]), r((8192, 8))),
        "conv W=16384 C=64 F=32 maxpool": (GnaModel([Convolution(r((32, 64)), r(32, np.int32), 16384, 2, "max", 3, 3,
                                                                  pwl=random_pwl(rng, 16, "even"))]), r((1, 16384))),
        "recurrent K=256 M=256 N=8": (GnaModel([Recurrent(r((256, 512)), r(256, np.int32), random_pwl(rng, 16, "even"),
                                                          8, 1)]), r((8, 256))),
    }


def cmd_bench(args) -> int:
    lib = _libgna()
    print(f"per inference, best of {args.rounds}; libGNA {lib.library_version()} (model creation excluded)")
    print(f"{'model':34s} {'emulator':>10s} {'lib Generic':>12s} {'lib AVX2':>10s} {'vs Generic':>11s} {'vs AVX2':>8s}")
    rows = []
    for name, (model, x) in _bench_models().items():
        emu = best_of(lambda: emulator.run(model, x), args.rounds)
        per = {}
        for acc in ("generic", "avx2"):
            reps = 8
            one = best_of(lambda: lib.run(model, x, acc, 1), args.rounds)
            many = best_of(lambda: lib.run(model, x, acc, 1 + reps), args.rounds)
            per[acc] = max(many - one, 1e-9) / reps
        print(f"{name:34s} {emu * 1e3:9.3f}ms {per['generic'] * 1e3:11.3f}ms {per['avx2'] * 1e3:9.3f}ms "
              f"{per['generic'] / emu:10.2f}x {per['avx2'] / emu:7.2f}x")
        rows.append({"model": name, "emulator_s": emu, "libgna_generic_s": per["generic"], "libgna_avx2_s": per["avx2"]})
    if args.json:
        write_run_file(args.json, {"library": f"libGNA {lib.library_version()}", "rounds": args.rounds, "models": rows})
        print(f"wrote {args.json}")
    return 0


# -- ONNX compiler ---------------------------------------------------------------------------------

def register_compiler(g) -> None:
    p = g.add_parser("compile", help="quantize and compile an ONNX model for GNA 2.0")
    p.add_argument("model")
    p.add_argument("--calib", required=True, help=".npy float inputs [n, ...] for calibration")
    p.add_argument("--weights", choices=("i16", "i8"), default="i16", help="i16 accuracy or i8 performance mode")
    p.add_argument("--calibration", choices=("mse", "percentile", "maxabs"), default="mse")
    p.add_argument("--pwl-error", type=float, default=0.01, help="PWL max error, fraction of full scale")
    p.add_argument("--weight-scaling", choices=("row", "tensor"), default="row",
                   help="i8: a multiplier per row (compound bias) or one per tensor")
    p.add_argument("-o", "--output", required=True, help="compiled model (.npz)")
    p.set_defaults(func=cmd_compile)

    p = g.add_parser("fit", help="does an ONNX model fit GNA 2.0? per-layer operations, memory, limits")
    p.add_argument("model")
    p.add_argument("--calib", help=".npy inputs (default: 16 standard-normal inputs; shapes are what matter)")
    p.set_defaults(func=cmd_fit)

    p = g.add_parser("accuracy-sweep", help="the reference FiLM network's output SNR under every weight width, "
                                            "weight scaling, calibration and PWL budget")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the figures as a run file (e.g. docs/gna/accuracy.json)")
    p.set_defaults(func=cmd_accuracy_sweep)

    p = g.add_parser("accuracy", help="int vs float SNR per layer and at the output (ONNX Runtime is the reference)")
    p.add_argument("compiled")
    p.add_argument("--data", required=True, help=".npy float inputs [n, ...]")
    p.add_argument("--onnx", help="the float model (default: the one recorded at compile time)")
    p.set_defaults(func=cmd_accuracy)

    p = g.add_parser("reference-net", help="write the reference FiLM network (ONNX) and calibration/test data")
    p.add_argument("-o", "--output", required=True, help="folder")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_reference_net)


def _load_inputs(path) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {path}: {e}", "save float inputs [n, ...] with numpy.save") from e
    if not np.issubdtype(x.dtype, np.floating) or x.ndim < 2:
        raise ConfigError(f"{path}: {x.dtype} {list(x.shape)} is not a batch of float inputs", "shape [n, ...], float32")
    return x


def _compile(model, calib, **kw):
    from gna.onnx_compiler import compile_onnx

    return compile_onnx(model, calib, **kw)


def cmd_compile(args) -> int:
    cm = _compile(args.model, _load_inputs(args.calib), weights=args.weights, calibration=args.calibration,
                  max_pwl_error=args.pwl_error, weight_scaling=args.weight_scaling)
    cm.source = str(Path(args.model).resolve())
    cm.save(args.output)
    print(f"compiled {args.model} -> {args.output}: {len(cm.model.operations)} GNA operations, weights {args.weights}, "
          f"calibration {args.calibration}")
    for i, (op, layer) in enumerate(zip(cm.model.operations, cm.layers)):
        print(f"  {i}: {op.kind:22s} {'+'.join(layer['nodes']):40s} PWL {layer['pwl_segments']:3d} segments, "
              f"error {layer['pwl_error']:.2%}")
    return 0


def cmd_fit(args) -> int:
    from gna.ir import MAX_MODEL_BYTES, model_bytes
    from gna.onnx_compiler import CompileError, load_float_model

    try:
        m = load_float_model(args.model)
    except CompileError as e:
        raise ConfigError(f"cannot read {args.model}: {e}", "is it an ONNX file or an OpenVINO IR (.xml)?") from e
    if args.calib:
        calib = _load_inputs(args.calib)
    else:
        dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
        calib = np.random.default_rng(0).normal(size=(16, *dims)).astype(np.float32)
    from gna.onnx_compiler import compile_onnx

    try:
        cm = compile_onnx(m, calib)
    except CompileError as e:
        print(f"verdict: does not fit GNA 2.0 — {e}")
        return 1
    print(f"{'#':>2} {'GNA operation':22s} {'ONNX nodes':34s} {'input':>12s} {'output':>12s} {'MACs':>10s} {'bytes':>9s}")
    for i, (op, layer) in enumerate(zip(cm.model.operations, cm.layers)):
        nbytes = sum(getattr(op, n).nbytes for n in ("weights", "filters", "bias") if getattr(op, n, None) is not None)
        nbytes += 8 * op.pwl.segments if getattr(op, "pwl", None) is not None else 0
        print(f"{i:2d} {op.kind:22s} {'+'.join(layer['nodes'])[:34]:34s} {str(list(op.input_shape)):>12s} "
              f"{str(list(op.output_shape)):>12s} {spec_of(op).macs(op):10d} {nbytes:9d}")
    total = model_bytes(cm.model)
    macs = model_macs(cm.model)
    print(f"operations {len(cm.model.operations)} of 4096, GNA memory {total} of {MAX_MODEL_BYTES} bytes, "
          f"{macs} MACs per inference")
    print("verdict: fits GNA 2.0 (every layer within the 2.0 limits)")
    return 0


def cmd_accuracy(args) -> int:
    from gna.onnx_compiler import CompiledModel, calibration_tensors
    from quant.quantizers import snr_db

    try:
        cm = CompiledModel.load(args.compiled)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read compiled model {args.compiled}: {e}", "make one with npin gna compile") from e
    source = args.onnx or cm.source
    if not source or not Path(source).exists():
        raise ConfigError("the float ONNX model is not known", "pass --onnx MODEL.onnx")
    from gna.onnx_compiler import CompileError, load_float_model

    data = _load_inputs(args.data)
    try:
        ref = calibration_tensors(load_float_model(source), data)
    except CompileError as e:
        raise ConfigError(str(e), "pass --onnx with the model the compiled file came from") from e
    missing = [layer["onnx"] for layer in cm.layers if layer["onnx"] not in ref]
    if missing:
        raise ConfigError(f"{source} has no tensor {missing[0]!r}: not the model {args.compiled} was compiled from",
                          "pass --onnx with the model the compiled file came from")
    per_layer = [[] for _ in cm.layers]
    with progress_bar("emulator", len(data)) as advance:
        for x in data:
            res = emulator.run(cm.model, cm.quantize_input(x))
            for i, out in enumerate(res.outputs):
                per_layer[i].append(cm.dequantize(i, out))
            advance()
    print(f"{'#':>2} {'GNA operation':22s} {'ONNX tensor':16s} {'SNR dB':>8s}")
    snrs = []
    for i, (op, layer, outs) in enumerate(zip(cm.model.operations, cm.layers, per_layer)):
        snr = snr_db(ref[layer["onnx"]], np.stack(outs))
        snrs.append(snr)
        print(f"{i:2d} {op.kind:22s} {layer['onnx']:16s} {snr:8.2f}")
    print(f"output SNR: {snrs[-1]:.2f} dB over {len(data)} inputs")
    return 0


def cmd_accuracy_sweep(args) -> int:
    from gna.reference_net import build_reference_net, reference_inputs

    from ..gna.accuracy import CALIBRATIONS, PWL_ERRORS, WEIGHTS, sweep

    net = build_reference_net(args.seed)
    calib, test = reference_inputs(64, args.seed + 1), reference_inputs(64, args.seed + 2)
    with progress_bar("accuracy sweep", len(WEIGHTS) * len(CALIBRATIONS) * len(PWL_ERRORS)) as advance:
        rows = sweep(net, calib, test, advance)
    for r in rows:
        print(f"{r['weights']:4s} {r['scaling']:6s} {r['calibration']:10s} PWL {r['pwl_error']:.1%}: {r['snr_db']:6.2f} dB")
    if args.json:
        write_run_file(args.json, {"model": "reference FiLM network", "seed": args.seed, "calibration_inputs": len(calib),
                                   "test_inputs": len(test), "rows": rows})
        print(f"wrote {args.json}")
    return 0


def cmd_reference_net(args) -> int:
    import onnx

    from gna.reference_net import build_reference_net, reference_inputs

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(build_reference_net(args.seed), str(out / "film_reference.onnx"))
    np.save(out / "calib.npy", reference_inputs(64, args.seed + 1))
    np.save(out / "test.npy", reference_inputs(64, args.seed + 2))
    print(f"wrote {out / 'film_reference.onnx'}, calib.npy (64 inputs), test.npy (64 inputs)")
    return 0


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
