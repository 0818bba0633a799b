"""`npin demo`: the main job end to end.

Quantize a Pin config; stream scripted intents through the C core on the host; generate, build
and boot the firmware on the default board (QEMU mps2-an386, Cortex-M4) and stream the same
vectors over its serial port; route real CLINC150 conversations through the board with the
150-intent Pin; print the pin events, the float-vs-fixed agreement and the bit-exact verdicts
against the Python reference.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.errors import MismatchError
from common.files import write_atomic
from firmware.host_twin import FASTEST, HostTwin
from quant.pin_fixed import PinFixed
from quant.pin_quantize import calibrate_input_scale, decision_disagreement, quantize_pin

from ..boards import DEFAULT_BOARD
from ..hil.lockstep import run_lockstep
from ..hil.target import open_target
from ..pin.intent_stream import intent_episodes
from ..pin.config import example_config, load_pin_config
from ..pin.params_io import save_params
from ..progress import progress_bar


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main job, end to end")
    p.add_argument("--config", help="float Pin config (default: a synthetic 512-d, 8-facet one)")
    p.add_argument("--out", default="build/demo", help="output folder (default build/demo)")
    p.add_argument("--episodes", type=int, default=12)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--board", default=DEFAULT_BOARD, help="board to run the firmware on (default %(default)s)")
    p.add_argument("--port", help="a real board's serial port (default: the board's QEMU emulator)")
    p.add_argument("--host-only", action="store_true", help="skip the firmware part")
    p.add_argument("--no-gna", action="store_true", help="skip the GNA parts (reference network and vocoder)")
    p.add_argument("--no-route", action="store_true", help="skip routing real utterances")
    p.set_defaults(func=cmd_demo)


def _print_event(step, facet, tool, score_q15, intent, pc) -> None:
    ok = "ok " if facet == intent else "BAD"
    print(f"  {ok} step {step:4d}  facet {pc.facet_names[facet]:>8}  tool {pc.tool_names[tool]:>8}  "
          f"cos {score_q15 / 32768:.3f}  (intent {pc.facet_names[intent]})")


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
    total = (3 if args.host_only else 4) + (0 if args.no_route else 1) + (0 if args.no_gna else 3)
    print(f"[1/{total}] quantized {config_path}: D={params.dims} K={params.n_facets} slots={params.slots} "
          f"-> {out / 'pin.q15.json'}")

    stream, intents = intent_episodes(cfg.facets, args.episodes, 30, noise=0.8, seed=args.seed)
    xs = scale.quantize(stream)
    twin, ref = HostTwin(params, FASTEST), PinFixed(params)
    status, events = twin.run(xs)
    print(f"[2/{total}] streamed {len(xs)} vectors through the C core on the host ({FASTEST} kernels):")
    for i, ev in enumerate(events):
        if ev is not None:
            _print_event(ev.step, ev.facet, ev.tool, ev.score_q15, intents[i], pc)
    for i, x in enumerate(xs):
        ref.push(x)
        st, ev = ref.step()
        if st != status[i] or ev != events[i]:
            raise MismatchError(f"step {i + 1}: reference {st} {ev} != C core {status[i]} {events[i]}")
    state = twin.state()
    for name, want in (("m", ref.m), ("v", ref.v), ("thr_q15", ref.thr_q15)):
        if not np.array_equal(state[name], want):
            raise MismatchError(f"final state '{name}' differs between the reference and the C core")
    verdicts = [f"{len(xs)} steps on the host twin"]

    if not args.host_only:
        where = f"port {args.port}" if args.port else "QEMU"
        print(f"[3/{total}] firmware for {args.board}: generate, build offline with PlatformIO, boot ({where})")
        with open_target(args.board, params, out / "firmware", port=args.port) as target:
            print(target.build.size_table())
            hello = target.client.hello_info
            print(f"  HELLO: {hello.board}, build {hello.build_id.hex()[:16]}, D={hello.dims} K={hello.facets} "
                  f"slots={hello.slots}; streaming {len(xs)} vectors over serial, lock step with the reference")
            with progress_bar("serial", len(xs)) as advance:
                report = run_lockstep(target.client, PinFixed(params), xs.astype(np.int16), intents,
                                      feedback=False, advance=advance)
            for ev in target.client.events:
                _print_event(ev.step, ev.facet, ev.tool, ev.score_q15, intents[ev.step - 1], pc)
            print(f"  {report.vectors} vectors in {report.seconds:.1f} s ({report.vectors_per_s:.0f} vectors/s), "
                  f"{report.device_events} EVENT frames, every step's status and state digest equal")
        verdicts.append(f"{report.vectors} steps on {args.board}" + ("" if args.port else " (QEMU)"))

    report = decision_disagreement(cfg, params, scale, stream)
    step = total - (0 if args.no_gna else 3) - (0 if args.no_route else 1)
    print(f"[{step}/{total}] float vs fixed decisions: agreement {report.agreement:.2%} "
          f"(float fired {report.float_fires}, fixed {report.fixed_fires})")
    if not args.no_route:
        from .demo_route import route_conversations

        verdicts.append(route_conversations(out, args, step + 1, total))
    if not args.no_gna:
        _gna_part(out, total - 2, total)
        _vad_part(out, total - 1, total)
        _vocoder_part(out, total)
    print("bit-exact: " + ", ".join(verdicts))
    return 0


def _gna_part(out: Path, step: int, total: int) -> None:
    """Compile the reference FiLM network for GNA 2.0 (i16 and i8) and run it on the emulator."""
    import onnx

    from gna.onnx_compiler import calibration_tensors, compile_onnx
    from gna.reference_net import build_reference_net, reference_inputs

    from ..gna.accuracy import output_snr_db

    net = build_reference_net()
    onnx.save(net, str(out / "film_reference.onnx"))
    calib, test = reference_inputs(64, 1), reference_inputs(32, 2)
    ref = calibration_tensors(net, test)["y"]
    print(f"[{step}/{total}] GNA 2.0: reference FiLM network ({out / 'film_reference.onnx'}) compiled, "
          "run on the emulator, SNR against ONNX Runtime:")
    for weights in ("i16", "i8"):
        cm = compile_onnx(net, calib, weights=weights)
        cm.source = str(out / "film_reference.onnx")
        cm.save(out / f"film_reference.{weights}.npz")
        ops = ", ".join(type(o).__name__ for o in cm.model.operations)
        print(f"  {weights}: {len(cm.model.operations)} operations ({ops}); output SNR "
              f"{output_snr_db(cm, net, test, ref):.1f} dB")


def _vad_part(out: Path, step: int, total: int) -> None:
    """Silero VAD compiled for GNA 2.0, streamed over 30 s of held-out speech with pauses and noise,
    against the same model in ONNX Runtime."""
    from ..gna import speech, vad
    from ..vocoder.evaluate import write_wav

    audio, made_of = speech.evaluation_audio(0.5)
    write_wav(out / "vad-input.wav", audio)
    cm = vad.cached_vad("i16")
    ref, _, _ = vad.onnx_stream(vad.model_path(), audio)
    with progress_bar("VAD on GNA 2.0", len(audio) // vad.CHUNK) as advance:
        got = vad.gna_stream(cm, audio, None, advance)
    agree = float(np.mean((got >= vad.THRESHOLD) == (ref >= vad.THRESHOLD)))
    segs = vad.segments(got)
    print(f"[{step}/{total}] Silero VAD on GNA 2.0 ({len(cm.graph.nodes)} operations, i16, emulator, state carried "
          f"between 32 ms chunks): {made_of['seconds']:.0f} s of held-out speech ({out / 'vad-input.wav'}) -> "
          f"{len(segs)} speech segments; decisions agree with ONNX Runtime on {agree:.1%} of {len(got)} chunks")
    for sg in segs[:3]:
        print(f"  speech {sg.start:6.2f} s - {sg.end:6.2f} s")


def _vocoder_part(out: Path, total: int) -> None:
    """A held-out prompt -> log-mel, streamed frame by frame -> the FiLM network compiled for GNA 2.0
    (i16) on the emulator -> streaming phase reconstruction -> WAV."""
    import time

    from ..vocoder import corpus
    from ..vocoder.chain import compile_voice, load_model
    from ..vocoder.evaluate import eval_set, write_wav
    from ..vocoder.export import config_of
    from ..vocoder.features import MEL, log_mel
    from ..vocoder.griffin_lim import N_ITER, griffin_lim
    from ..vocoder.metrics import pesq_wb
    from ..vocoder.synth import GnaVocoder, StreamingVocoder, latency_ms

    corpus.install()
    model = load_model()
    cfg = config_of(model)
    u, x = corpus.load([v for v in eval_set(1) if v.speaker == "allison"])[0]
    mel = log_mel(x)
    cm, _ = compile_voice(model, u.speaker, "i16")
    stream = StreamingVocoder(GnaVocoder(cm, cfg))
    t0 = time.perf_counter()
    y = np.concatenate([stream.push(frame) for frame in mel.T] + [stream.finish(len(x))])
    rtf = (time.perf_counter() - t0) / (len(x) / MEL.sample_rate)
    write_wav(out / "vocoder.wav", y)
    write_wav(out / "vocoder-original.wav", x)
    gl = griffin_lim(mel)[:len(x)]
    print(f"[{total}/{total}] GNA 2.0 vocoder, streaming: held-out prompt {u.name} ({len(x) / MEL.sample_rate:.2f} s) -> "
          f"log-mel frame by frame -> {len(cm.model.operations)} GNA operations per 10 ms frame (i16, emulator) -> "
          f"RTISI-LA phase -> {out / 'vocoder.wav'}; {latency_ms(cfg):g} ms algorithmic latency, real-time factor "
          f"{rtf:.2f} here")
    print(f"  PESQ-WB against the original: GNA i16 streaming {pesq_wb(x, y):.2f}, Griffin-Lim ({N_ITER} it., "
          f"offline) {pesq_wb(x, gl):.2f}")