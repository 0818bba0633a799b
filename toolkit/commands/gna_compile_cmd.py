"""`npin gna compile | check | fit | accuracy | accuracy-sweep | reference-net | vad | vad-eval`:
the ONNX -> GNA 2.0 compiler and what a user asks of its result."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from common.errors import ConfigError, NpinError
from common.files import write_run_file

from ..progress import progress_bar


def _model_args(p, calib_required=True) -> None:
    p.add_argument("--calib", required=calib_required,
                   help="float inputs for calibration: .npy [n, ...] (one input) or .npz (one array per input)")
    p.add_argument("--const", action="append", metavar="NAME=VALUE",
                   help="an input fixed at compile time (e.g. sr=16000); repeatable")
    p.add_argument("--input-shape", action="append", metavar="NAME=D,D,...",
                   help="a static shape for an input exported with dynamic ones (e.g. input=1,576); repeatable")
    p.add_argument("--weights", choices=("i16", "i8"), default="i16", help="i16 accuracy or i8 performance mode")
    p.add_argument("--pwl-error", type=float, default=0.01, help="PWL max error, fraction of full scale")


def register_compiler(g) -> None:
    p = g.add_parser("compile", help="quantize and compile an ONNX model for GNA 2.0")
    p.add_argument("model")
    _model_args(p)
    p.add_argument("--calibration", choices=("mse", "percentile", "maxabs"), default="mse")
    p.add_argument("--weight-scaling", choices=("row", "tensor"), default="row",
                   help="i8: a multiplier per row (compound bias) or one per tensor")
    p.add_argument("--state", action="append", metavar="IN=OUT",
                   help="an output fed back to an input between inferences (default: found by name, e.g. state=stateN)")
    p.add_argument("-o", "--output", required=True, help="compiled model (.npz)")
    p.set_defaults(func=cmd_compile)

    p = g.add_parser("check", help="compile a model and check it: every calibration input on the emulator and "
                                   "libGNA, bit for bit, and the output SNR against ONNX Runtime")
    p.add_argument("model")
    _model_args(p)
    p.add_argument("--backend", choices=("auto", "emulator", "libgna"), default="auto",
                   help="auto: libGNA too when it is installed")
    p.set_defaults(func=cmd_check)

    p = g.add_parser("fit", help="does an ONNX model fit GNA 2.0? each node's operations, MACs, memory")
    p.add_argument("model")
    _model_args(p, calib_required=False)
    p.set_defaults(func=cmd_fit)

    p = g.add_parser("accuracy-sweep", help="the reference FiLM network's output SNR under every weight width, "
                                            "weight scaling, calibration and PWL budget")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the figures as a run file (e.g. docs/gna/accuracy.json)")
    p.set_defaults(func=cmd_accuracy_sweep)

    p = g.add_parser("accuracy", help="int vs float SNR per layer and at the output (ONNX Runtime is the reference)")
    p.add_argument("compiled")
    p.add_argument("--data", required=True, help="float inputs: .npy [n, ...] or .npz (one array per input)")
    p.add_argument("--onnx", help="the float model (default: the one recorded at compile time)")
    p.add_argument("--const", action="append", metavar="NAME=VALUE", help="as given to compile")
    p.add_argument("--input-shape", action="append", metavar="NAME=D,D,...", help="as given to compile")
    p.set_defaults(func=cmd_accuracy)

    p = g.add_parser("reference-net", help="write the reference FiLM network (ONNX) and calibration/test data")
    p.add_argument("-o", "--output", required=True, help="folder")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_reference_net)

    p = g.add_parser("vad", help="speech segments of a 16 kHz WAV: Silero VAD compiled for GNA 2.0, streamed in "
                                 "32 ms chunks with its state carried")
    p.add_argument("wav")
    p.add_argument("--backend", choices=("emulator", "libgna"), default="emulator")
    p.add_argument("--weights", choices=("i16", "i8"), default="i16")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--variant", choices=("16k", "op15"), default="16k", help="which of the package's 16 kHz ONNX files")
    p.set_defaults(func=cmd_vad)

    p = g.add_parser("vad-eval", help="Silero VAD on GNA 2.0 against ONNX Runtime on held-out real speech with "
                                      "pauses and noise (i16 and i8; libGNA when present)")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--json", help="also write the figures as a run file (e.g. docs/gna/vad.json)")
    p.set_defaults(func=cmd_vad_eval)


def _fixed(args) -> tuple[dict, dict]:
    from ..gna.inspect import parse_pairs

    consts = parse_pairs(getattr(args, "const", None), "const", float)
    shapes = parse_pairs(getattr(args, "input_shape", None), "input-shape", lambda v: [int(d) for d in v.split(",")])
    return consts, shapes


def _compile(model, calib, args, **kw):
    from gna.onnx_compiler import compile_onnx

    consts, shapes = _fixed(args)
    return compile_onnx(model, calib, weights=args.weights, max_pwl_error=args.pwl_error, consts=consts,
                        shapes=shapes, **kw)


def _print_layers(rows, with_snr=False) -> None:
    print(f"{'#':>3} {'ONNX nodes':44s} {'GNA operations':34s} {'MACs':>9s} {'bytes':>8s}" + ("  SNR dB" if with_snr else ""))
    for r in rows:
        snr = "" if not with_snr else ("       -" if r.snr_db is None else f"{r.snr_db:8.2f}")
        print(f"{r.index:3d} {r.nodes[-44:]:44s} {r.operations[:34]:34s} {r.macs:9d} {r.bytes:8d}{snr}")


def cmd_compile(args) -> int:
    from ..gna.inspect import layer_rows, load_inputs

    cm = _compile(args.model, load_inputs(args.calib), args, calibration=args.calibration,
                  weight_scaling=args.weight_scaling, state=args.state)
    cm.source = str(Path(args.model).resolve())
    cm.save(args.output)
    print(f"compiled {args.model} -> {args.output}: {len(cm.graph.nodes)} GNA operations, weights {args.weights}, "
          f"calibration {args.calibration}" + (f", state fed back: {cm.state}" if cm.state else ""))
    _print_layers(layer_rows(cm))
    return 0


def _random_calib(model_path, args):
    from gna.onnx_compiler import data_inputs, load_float_model

    m = load_float_model(model_path)
    consts, shapes = _fixed(args)
    rng = np.random.default_rng(0)
    out = {}
    for name in data_inputs(m):
        if name in consts:
            continue
        vi = next(i for i in m.graph.input if i.name == name)
        dims = shapes.get(name) or [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if any(d <= 0 for d in dims):
            raise ConfigError(f"input '{name}' has a dynamic shape {dims}", f"give it: --input-shape {name}=1,...")
        out[name] = rng.normal(size=(16, *dims)).astype(np.float32)
    return out


def cmd_fit(args) -> int:
    from gna.graph import graph_bytes
    from gna.ir import MAX_MODEL_BYTES
    from gna.onnx_compiler import CompileError
    from gna.ops import model_macs

    from ..gna.inspect import layer_rows, load_inputs

    calib = load_inputs(args.calib) if args.calib else _random_calib(args.model, args)
    try:
        cm = _compile(args.model, calib, args)
    except CompileError as e:
        print(f"verdict: does not fit GNA 2.0 — {e}")
        return 1
    _print_layers(layer_rows(cm))
    total = graph_bytes(cm.graph)
    macs = model_macs(cm.graph)
    print(f"operations {len(cm.graph.nodes)} of 4096, GNA memory {total} of {MAX_MODEL_BYTES} bytes, "
          f"{macs} MACs per inference")
    print("verdict: fits GNA 2.0 (every layer within the 2.0 limits)")
    return 0


def cmd_check(args) -> int:
    from gna.onnx_compiler import CompileError

    from ..gna.inspect import check, load_inputs

    data = load_inputs(args.calib)
    try:
        cm = _compile(args.model, data, args)
    except CompileError as e:
        print(f"check: refused — {e}")
        return 1
    session = None
    if args.backend != "emulator":
        from gna import libgna

        try:
            libgna.load()
        except (libgna.LibGnaNotFound, OSError) as e:
            if args.backend == "libgna":
                raise NpinError(str(e), "build or install Intel's libGNA and set GNA_LIBRARY=/path/to/libgna.so") from e
        else:
            session = libgna.GraphSession(cm.graph)
    consts, shapes = _fixed(args)
    n = len(next(iter(data.values()))) if isinstance(data, dict) else len(data)
    try:
        with progress_bar("check", n) as advance:
            res = check(cm, args.model, data, consts, shapes, session, advance)
    finally:
        if session is not None:
            session.close()
    print(f"compiled: {len(cm.graph.nodes)} GNA operations, weights {args.weights}")
    if res.exact is None:
        print(f"check: emulator only, output SNR {res.snr_db:.2f} dB")
        return 0
    print(f"check: {res.exact}/{res.inputs} inputs bit-exact emulator = libGNA, output SNR {res.snr_db:.2f} dB")
    if res.exact != res.inputs:
        print(f"first difference: {res.first_difference}")
        return 1
    return 0


def cmd_accuracy(args) -> int:
    from gna.compiled import CompiledModel
    from gna.onnx_compiler import CompileError

    from ..gna.inspect import layer_snrs, load_inputs

    try:
        cm = CompiledModel.load(args.compiled)
    except NpinError:
        raise
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read compiled model {args.compiled}: {e}", "make one with npin gna compile") from e
    source = args.onnx or cm.source
    if not source or not Path(source).exists():
        raise ConfigError("the float ONNX model is not known", "pass --onnx MODEL.onnx")
    data = load_inputs(args.data)
    consts, shapes = _fixed(args)
    n = len(next(iter(data.values()))) if isinstance(data, dict) else len(data)
    try:
        with progress_bar("emulator", n) as advance:
            rows = layer_snrs(cm, source, data, consts, shapes, advance)
    except (CompileError, KeyError) as e:
        raise ConfigError(f"{source} does not match {args.compiled}: {e}",
                          "pass --onnx (and --const/--input-shape) as given to compile") from e
    _print_layers(rows, with_snr=True)
    print(f"output SNR: {rows[-1].snr_db:.2f} dB over {n} inputs")
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


def _session(backend: str, cm):
    if backend != "libgna":
        return None
    from .gna_cmd import _libgna

    return _libgna().GraphSession(cm.graph)


def cmd_vad(args) -> int:
    from ..gna import vad

    audio = vad.read_wav(args.wav)
    cm = vad.cached_vad(args.weights, args.variant)
    session = _session(args.backend, cm)
    try:
        with progress_bar(f"VAD on GNA 2.0 ({args.backend})", len(audio) // vad.CHUNK) as advance:
            probs = vad.gna_stream(cm, audio, session, advance)
    finally:
        if session is not None:
            session.close()
    segs = vad.segments(probs, args.threshold)
    for s in segs:
        print(f"speech {s.start:8.2f} s - {s.end:8.2f} s")
    speech = sum(s.end - s.start for s in segs)
    print(f"{len(segs)} segments, {speech:.1f} s of speech in {len(audio) / vad.RATE:.1f} s "
          f"({len(probs)} chunks of 32 ms, weights {args.weights}, {args.backend})")
    return 0


def cmd_vad_eval(args) -> int:
    from ..gna import speech, vad
    from ..gna.vad_eval import evaluate

    audio, made_of = speech.evaluation_audio(args.minutes)
    t0 = time.perf_counter()
    report = evaluate(audio, made_of, progress_bar)
    for row in report["rows"]:
        print(f"{row['weights']:4s} {row['backend']:8s} probability SNR {row['prob_snr_db']:6.2f} dB, decisions agree "
              f"{row['agreement']:.2%} of {row['chunks']} chunks at threshold {vad.THRESHOLD}"
              + (f", bit-exact emulator = libGNA on {row['libgna_exact']}" if row.get("libgna_exact") else ""))
    print(f"{made_of['seconds'] / 60:.1f} min of speech with pauses and noise, {time.perf_counter() - t0:.0f} s")
    if args.json:
        write_run_file(args.json, report)
        print(f"wrote {args.json}")
    return 0
