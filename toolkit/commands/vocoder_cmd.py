"""`npin vocoder data | train | eval | synth`: the FiLM vocoder on natural speech (docs/vocoder.md)."""
from __future__ import annotations

from pathlib import Path

from common.errors import ConfigError



def register(sub) -> None:
    v = sub.add_parser("vocoder", help="FiLM vocoder: speech data, training, GNA evaluation, synthesis") \
        .add_subparsers(dest="vocoder_command", required=True)
    p = v.add_parser("data", help="install the speech packages (apt) and print the splits and their hashes")
    p.set_defaults(func=cmd_data)

    p = v.add_parser("train", help="train (CPU, or CUDA when present), fine-tune with simulated GNA quantization, export ONNX")
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--qat-steps", type=int, default=600)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (cosine schedule)")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--init", help="start from these weights (a weights.npz a previous run wrote)")
    p.add_argument("--work", default="build/vocoder/train", help="checkpoint and log folder")
    p.add_argument("--out", default=None, help="ONNX to write (default: the committed gna/models/film_vocoder.onnx)")
    p.add_argument("--eval-per-speaker", type=int, default=24, help="held-out prompts per voice for the receipt's metrics")
    p.set_defaults(func=cmd_train)

    p = v.add_parser("eval", help="PESQ-WB, STOI, MCD, log-mel L1: float, GNA i16, GNA i8, Griffin-Lim; speed and cost")
    p.add_argument("--model", default=None, help="vocoder ONNX (default: the committed one)")
    p.add_argument("--per-speaker", type=int, default=24, help="held-out prompts per voice")
    p.add_argument("--out", default="build/vocoder/eval")
    p.set_defaults(func=cmd_eval)

    p = v.add_parser("synth", help="speech -> log-mel -> GNA (emulator) -> WAV")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--wav", help="16 kHz mono WAV to take the mel from")
    src.add_argument("--prompt", help="a held-out prompt by name, e.g. fr_CA_f_June/auth-incorrect.g722 "
                                      "(default: the first held-out prompt of at least 1 s)")
    p.add_argument("--voice", default=None, help="FiLM voice (default: the prompt's speaker, else the mean voice)")
    p.add_argument("--weights", choices=("i16", "i8"), default="i16")
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
    from ..vocoder.train import TrainConfig, train
    from ..vocoder.model import VocoderConfig

    corpus.install()
    cfg = VocoderConfig(hidden=args.hidden)
    tc = TrainConfig(steps=args.steps, qat_steps=args.qat_steps, batch=args.batch, lr=args.lr, seed=args.seed,
                     init=args.init)
    work = Path(args.work)
    meta = train(cfg, tc, work, Path("build/cache"))
    out = finish_training(work, cfg, [meta], Path(args.out) if args.out else None, args.eval_per_speaker)
    print(f"wrote {out} and its receipt")
    return 0


def cmd_eval(args) -> int:
    from ..vocoder import corpus
    from ..vocoder.evaluate import evaluate, markdown, write_report

    corpus.install()
    out = Path(args.out)
    res = evaluate(_model(args.model), args.per_speaker, wav_dir=out / "wav")
    write_report(res, out)
    print(markdown(res))
    print(f"wrote {out / 'report.md'} (JSON, plot, example WAVs beside it)")
    return 0 if all(res["verdict"][k] for k in ("i16_within_0.1", "i8_within_0.3")) else 1


def cmd_synth(args) -> int:
    from ..vocoder import corpus
    from ..vocoder.chain import compile_voice
    from ..vocoder.evaluate import write_wav
    from ..vocoder.export import MEAN_VOICE, config_of, voices
    from ..vocoder.features import MEL, log_mel
    from ..vocoder.metrics import pesq_wb
    from ..vocoder.synth import GnaVocoder

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
    cm, _ = compile_voice(model, voice, args.weights)
    y = GnaVocoder(cm, config_of(model))(log_mel(x), len(x))
    write_wav(Path(args.output), y)
    print(f"wrote {args.output}: {len(y) / MEL.sample_rate:.2f} s through GNA 2.0 ({args.weights}, voice {voice}, "
          f"{len(cm.model.operations)} operations per 10 ms frame); PESQ-WB vs the original {pesq_wb(x, y):.2f}")
    return 0
