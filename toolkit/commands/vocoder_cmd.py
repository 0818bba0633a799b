"""`npin vocoder data | train | eval | synth`: the FiLM vocoder on natural speech (docs/vocoder.md)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from common.errors import ConfigError, MismatchError

from ..vocoder.model import VocoderConfig
from ..vocoder.train import TrainConfig


def register(sub) -> None:
    v = sub.add_parser("vocoder", help="FiLM vocoder: speech data, training, GNA evaluation, synthesis") \
        .add_subparsers(dest="vocoder_command", required=True)
    p = v.add_parser("data", help="install the speech packages (apt) and print the splits and their hashes")
    p.set_defaults(func=cmd_data)

    p = v.add_parser("train", help="train (CPU, or CUDA when present), fine-tune with simulated GNA quantization, export ONNX")
    p.add_argument("--steps", type=int, default=TrainConfig.steps)
    p.add_argument("--qat-steps", type=int, default=TrainConfig.qat_steps)
    p.add_argument("--batch", type=int, default=TrainConfig.batch, help="frames per step")
    p.add_argument("--lr", type=float, default=TrainConfig.lr, help="peak learning rate (cosine schedule)")
    p.add_argument("--hidden", type=int, default=VocoderConfig.hidden)
    p.add_argument("--frames-before", type=int, default=VocoderConfig.frames_before, help="mel context before the frame")
    p.add_argument("--frames-after", type=int, default=VocoderConfig.frames_after,
                   help="mel look-ahead (each frame adds 10 ms to streaming latency)")
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--init", help="start from these weights (a weights.npz a previous run wrote)")
    p.add_argument("--work", default="build/vocoder/train", help="checkpoint and log folder")
    p.add_argument("--out", default=None, help="ONNX to write (default: the committed gna/models/film_vocoder.onnx)")
    p.add_argument("--eval-per-speaker", type=int, default=6, help="held-out prompts per voice for the receipt's metrics")
    p.set_defaults(func=cmd_train)

    p = v.add_parser("eval", help="PESQ-WB, STOI, MCD, log-mel L1: float, GNA i16 and i8, offline and streaming "
                                  "phase, Griffin-Lim, the true-magnitude ceiling; speed and cost")
    p.add_argument("--model", default=None, help="vocoder ONNX (default: the committed one)")
    p.add_argument("--per-speaker", type=int, default=6, help="held-out prompts per voice")
    p.add_argument("--out", default="build/vocoder/eval")
    p.add_argument("--no-wavs", action="store_true", help="do not write the example WAVs (e.g. when --out is docs/)")
    p.set_defaults(func=cmd_eval)

    p = v.add_parser("synth", help="speech -> log-mel -> GNA (emulator) -> phase on the host -> WAV")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--wav", help="16 kHz mono WAV to take the mel from")
    src.add_argument("--prompt", help="a held-out prompt by name, e.g. fr_CA_f_June/auth-incorrect.g722 "
                                      "(default: the first held-out prompt of at least 1 s)")
    p.add_argument("--voice", default=None, help="FiLM voice (default: the prompt's speaker, else the mean voice)")
    p.add_argument("--weights", choices=("i16", "i8"), default="i16")
    p.add_argument("--phase", choices=("offline", "streaming"), default="offline",
                   help="offline: fast Griffin-Lim over the utterance; streaming: frame by frame, RTISI-LA")
    p.add_argument("--model", default=None)
    p.add_argument("-o", "--output", default="build/vocoder/synth.wav")
    p.set_defaults(func=cmd_synth)


def _model(path):
    from ..vocoder.chain import MODEL_PATH, load_model

    return load_model(path or MODEL_PATH)


def cmd_data(args) -> int:
    from ..vocoder import corpus

    corpus.install()
    utts = corpus.utterances()
    for split, d in corpus.digest(utts).items():
        print(f"{split:7s} {d['files']:5d} files {d['seconds']:8.1f} s  sha256 {d['sha256']}")
    for v in corpus.VOICES:
        print(f"  {v.folder:22s} voice {v.speaker:8s} {v.license}")
    return 0


def cmd_train(args) -> int:
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise ConfigError("training needs PyTorch, which the default set-up leaves out",
                          "install the CPU build: .venv/bin/pip install -e '.[train]'") from e
    from ..vocoder import corpus
    from ..vocoder.receipt import finish_training
    from ..vocoder.train import train

    corpus.install()
    cfg = VocoderConfig(hidden=args.hidden, frames_before=args.frames_before, frames_after=args.frames_after)
    tc = TrainConfig(steps=args.steps, qat_steps=args.qat_steps, batch=args.batch, lr=args.lr, seed=args.seed,
                     init=args.init)
    work = Path(args.work)
    meta = train(cfg, tc, work, Path("build/cache"))
    command = "npin vocoder train " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in (
        ("steps", tc.steps), ("qat_steps", tc.qat_steps), ("batch", tc.batch), ("lr", tc.lr), ("seed", tc.seed),
        ("hidden", cfg.hidden), ("frames_before", cfg.frames_before), ("frames_after", cfg.frames_after)))
    out = finish_training(work, cfg, [meta], Path(args.out) if args.out else None, args.eval_per_speaker, command)
    print(f"wrote {out} and its receipt")
    return 0


def cmd_eval(args) -> int:
    from ..vocoder import corpus
    from ..vocoder.evaluate import evaluate, markdown, write_report

    corpus.install()
    out = Path(args.out)
    res = evaluate(_model(args.model), args.per_speaker, wav_dir=None if args.no_wavs else out / "wav")
    write_report(res, out)
    print(markdown(res))
    print(f"wrote {out / 'report.md'} (JSON, plot{'' if args.no_wavs else ', example WAVs'} beside it)")
    missed = [k for k, ok in res["verdict"]["checks"].items() if not ok]
    if missed:
        raise MismatchError(f"the vocoder misses {len(missed)} target(s): {', '.join(missed)}",
                            f"see {out / 'report.md'}")
    return 0


def cmd_synth(args) -> int:
    from ..vocoder import corpus
    from ..vocoder.chain import compile_voice
    from ..vocoder.evaluate import write_wav
    from ..vocoder.export import MEAN_VOICE, config_of, voices
    from ..vocoder.features import MEL, log_mel
    from ..vocoder.metrics import pesq_wb
    from ..vocoder.evaluate import griffin_lim
    from ..vocoder.synth import GnaVocoder, StreamingVocoder, latency_ms, synthesize

    model = _model(args.model)
    voice = args.voice
    if args.wav:
        import soundfile as sf

        try:
            x, sr = sf.read(args.wav, dtype="float32", always_2d=True)
        except Exception as e:  # noqa: BLE001 - soundfile raises several types
            raise ConfigError(f"cannot read {args.wav}: {e}", "pass a WAV file") from e
        if sr != MEL.sample_rate:
            raise ConfigError(f"{args.wav} is {sr} Hz; the vocoder runs at {MEL.sample_rate} Hz",
                              f"resample it first, e.g. sox in.wav -r {MEL.sample_rate} out.wav")
        x = x.mean(axis=1)
        voice = voice or MEAN_VOICE
    else:
        from ..vocoder.evaluate import eval_set

        utts = [u for u in corpus.utterances() if u.split in ("test", "unseen")]
        pick = [u for u in utts if u.name == args.prompt] if args.prompt else eval_set(1)[:1]
        if not pick:
            raise ConfigError(f"no held-out prompt named {args.prompt}", "see `npin vocoder eval` for names")
        u, x = corpus.load(pick)[0]
        voice = voice or (u.speaker if u.speaker in config_of(model).speakers else MEAN_VOICE)
    if voice not in voices(model):
        raise ConfigError(f"voice '{voice}' is not in the model", f"use one of {', '.join(voices(model))}")
    cfg = config_of(model)
    cm, _ = compile_voice(model, voice, args.weights)
    gna = GnaVocoder(cm, cfg)
    mel = log_mel(x)
    if args.phase == "streaming":
        s = StreamingVocoder(gna)
        y = np.concatenate([s.push(frame) for frame in mel.T] + [s.finish(len(x))])
        how = f"streaming, {latency_ms(cfg):g} ms algorithmic latency"
    else:
        y = synthesize(gna, mel, len(x), "offline")
        how = "offline phase"
    write_wav(Path(args.output), y)
    print(f"wrote {args.output}: {len(y) / MEL.sample_rate:.2f} s through GNA 2.0 ({args.weights}, voice {voice}, "
          f"{len(cm.model.operations)} operations per 10 ms frame, {how}); PESQ-WB vs the original "
          f"{pesq_wb(x, y):.2f}, Griffin-Lim's {pesq_wb(x, griffin_lim(mel)[:len(x)]):.2f}")
    return 0
