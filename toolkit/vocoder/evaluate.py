"""`npin vocoder eval`: float, GNA int16, GNA int8 and Griffin-Lim on held-out speech (docs/vocoder.md §4)."""
from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from . import corpus
from .chain import calibration_inputs, calibration_mels, compile_voice
from .export import MEAN_VOICE, config_of, for_speaker, metadata
from .features import MEL, log_mel
from .griffin_lim import N_ITER, griffin_lim
from .metrics import score
from .synth import FloatVocoder, GnaVocoder

SYSTEMS = ("float", "gna_i16", "gna_i8", "griffin_lim")
GNA_CLOCK_HZ = 400e6  # GNA on Core parts (docs/vocoder.md §5)


def eval_set(per_speaker: int, min_seconds: float = 1.0) -> list[corpus.Utterance]:
    """The first `per_speaker` held-out prompts (name order) of each voice at least min_seconds long."""
    by = defaultdict(list)
    for u in sorted(corpus.utterances(), key=lambda u: u.name):
        if u.split in ("test", "unseen") and len(by[u.speaker]) < per_speaker:
            if u.path.stat().st_size * 2 >= min_seconds * MEL.sample_rate:
                by[u.speaker].append(u)
    return [u for s in sorted(by) for u in by[s]]


def snr_db(ref: np.ndarray, got: np.ndarray) -> float:
    err = np.asarray(got, np.float64) - ref
    return float(10 * np.log10(np.sum(np.square(ref, dtype=np.float64)) / max(float(np.sum(err * err)), 1e-20)))


def macs_per_frame(cm) -> int:
    return int(sum(op.weights.size for op in cm.model.operations))


def evaluate(model, per_speaker: int = 24, log=print, wav_dir: Path | None = None) -> dict:
    from ..progress import progress_bar

    cfg = config_of(model)
    utts = eval_set(per_speaker)
    voices = sorted({u.speaker if u.speaker in cfg.speakers else MEAN_VOICE for u in utts})
    engines = {}
    for v in voices:
        fm = for_speaker(model, v)
        calib = calibration_inputs(FloatVocoder(fm), calibration_mels(v, cfg))
        cm16, _ = compile_voice(model, v, "i16", calib)
        cm8, _ = compile_voice(model, v, "i8", calib)
        engines[v] = {"float": FloatVocoder(fm), "gna_i16": GnaVocoder(cm16, cfg), "gna_i8": GnaVocoder(cm8, cfg)}
    rows = []
    with progress_bar("vocoder eval", len(utts)) as advance:
        for u, x in corpus.load(utts):
            voice = u.speaker if u.speaker in cfg.speakers else MEAN_VOICE
            mel = log_mel(x)
            seen: list = []
            outs = {"float": engines[voice]["float"](mel, len(x), record=seen)}
            outs.update({k: e(mel, len(x)) for k, e in engines[voice].items() if k != "float"})
            outs["griffin_lim"] = griffin_lim(mel)[:len(x)]
            row = {"name": u.name, "speaker": u.speaker, "split": u.split, "seconds": len(x) / MEL.sample_rate}
            for k, y in outs.items():
                row[k] = score(x, y)
            ref_blocks = np.stack([engines[voice]["float"].block(v) for v in seen])
            for k in ("gna_i16", "gna_i8"):
                row[k]["snr_vs_float_db"] = snr_db(outs["float"], outs[k])
                row[k]["block_snr_db"] = snr_db(ref_blocks, engines[voice][k].blocks(np.stack(seen)))
            rows.append(row)
            if wav_dir is not None and len([r for r in rows if r["speaker"] == u.speaker]) == 1:
                write_examples(wav_dir, u, x, outs)
            advance()
    res = {"model": metadata(model).get("speaker"), "per_speaker": per_speaker, "griffin_lim_iterations": N_ITER,
           "rows": rows, "summary": summarize(rows), "cost": cost(model, engines[voices[0]]["gna_i16"].cm, cfg)}
    res["speed"] = speed(engines[voices[0]], utts[0])
    res["verdict"] = verdict(res)
    return res


def summarize(rows) -> dict:
    out = {}
    for group, keep in (("held_out_prompts", ("test",)), ("unseen_speaker", ("unseen",))):
        rs = [r for r in rows if r["split"] in keep]
        if not rs:
            continue
        out[group] = {"files": len(rs), "seconds": round(sum(r["seconds"] for r in rs), 1)}
        for s in SYSTEMS:
            out[group][s] = {m: float(np.mean([r[s][m] for r in rs])) for m in rs[0][s]}
    by_speaker = defaultdict(dict)
    for spk in sorted({r["speaker"] for r in rows}):
        rs = [r for r in rows if r["speaker"] == spk]
        for s in SYSTEMS:
            by_speaker[spk][s] = float(np.mean([r[s]["pesq_wb"] for r in rs]))
    out["pesq_wb_by_speaker"] = dict(by_speaker)
    return out


def cost(model, cm, cfg) -> dict:
    from gna.ir import model_bytes

    macs = macs_per_frame(cm)
    frames_per_s = MEL.sample_rate / (MEL.hop)
    return {"macs_per_frame": macs, "ops_per_frame": 2 * macs, "gops_per_audio_second": 2 * macs * frames_per_s / 1e9,
            "gna_operations": len(cm.model.operations), "gna_model_bytes_i16": model_bytes(cm.model),
            "weight_bytes_i16": int(sum(op.weights.nbytes for op in cm.model.operations)),
            "parameters": int(sum(op.weights.size + op.bias.shape[0] for op in cm.model.operations)),
            "latency_estimate": latency_estimate(macs, int(sum(op.weights.nbytes for op in cm.model.operations)))}


def latency_estimate(macs: int, weight_bytes: int) -> dict:
    """Per 10 ms frame, under stated assumptions (no public GNA 2.0 throughput figure exists)."""
    out = {}
    for label, macs_per_cycle in (("1 GOPS design budget (1.25 MAC/cycle)", 1.25), ("4 MAC/cycle", 4.0),
                                  ("16 MAC/cycle", 16.0)):
        ms = macs / (macs_per_cycle * GNA_CLOCK_HZ) * 1e3
        out[label] = {"ms_per_frame": round(ms, 3), "real_time_factor": round(ms / 10.0, 3)}
    out["weight_traffic_MB_per_s_i16"] = round(weight_bytes * 100 / 1e6, 1)
    return out


def speed(engines, u) -> dict:
    x = corpus.load([u])[0][1]
    mel = log_mel(x)
    dur = len(x) / MEL.sample_rate
    res = {"utterance": u.name, "seconds": round(dur, 2)}
    for label, fn in (("float_onnxruntime", lambda: engines["float"](mel, len(x))),
                      ("gna_i16_emulator", lambda: engines["gna_i16"].pcm(mel, len(x))),
                      ("gna_i8_emulator", lambda: engines["gna_i8"].pcm(mel, len(x)))):
        best = min(_timed(fn) for _ in range(3))
        res[label] = {"seconds": round(best, 4), "rtf": round(best / dur, 4)}
    res["griffin_lim_32"] = {"seconds": round(_timed(lambda: griffin_lim(mel)), 4)}
    res["griffin_lim_32"]["rtf"] = round(res["griffin_lim_32"]["seconds"] / dur, 4)
    return res


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def verdict(res) -> dict:
    s = res["summary"]["held_out_prompts"]
    f = s["float"]["pesq_wb"]
    return {"i16_pesq_loss": round(f - s["gna_i16"]["pesq_wb"], 3),
            "i8_pesq_loss": round(f - s["gna_i8"]["pesq_wb"], 3),
            "float_minus_griffin_lim": round(f - s["griffin_lim"]["pesq_wb"], 3),
            "i16_within_0.1": f - s["gna_i16"]["pesq_wb"] <= 0.1, "i8_within_0.3": f - s["gna_i8"]["pesq_wb"] <= 0.3,
            "float_beats_griffin_lim": f > s["griffin_lim"]["pesq_wb"]}


def write_wav(path: Path, y: np.ndarray) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.wav")
    sf.write(tmp, np.clip(y, -1, 1 - 2 ** -15), MEL.sample_rate, subtype="PCM_16")
    tmp.replace(path)


def write_examples(folder: Path, u, x, outs) -> None:
    stem = u.speaker + "-" + Path(u.name).stem
    write_wav(folder / f"{stem}-original.wav", x)
    for k, y in outs.items():
        write_wav(folder / f"{stem}-{k}.wav", y)


def markdown(res) -> str:
    lines = ["# FiLM vocoder: evaluation", ""]
    names = {"float": "float (ONNX Runtime)", "gna_i16": "GNA i16 (emulator)", "gna_i8": "GNA i8 (emulator)",
             "griffin_lim": f"Griffin-Lim ({res['griffin_lim_iterations']} it.)"}
    for group, title in (("held_out_prompts", "Held-out prompts of the trained voices"),
                         ("unseen_speaker", "A voice never trained on (mean FiLM)")):
        s = res["summary"].get(group)
        if not s:
            continue
        lines += [f"## {title}: {s['files']} prompts, {s['seconds']} s", "",
                  "| system | PESQ-WB ↑ | STOI ↑ | MCD dB ↓ | log-mel L1 ↓ | SNR vs float: per block / free-running dB |",
                  "|---|---|---|---|---|---|"]
        for k in SYSTEMS:
            m = s[k]
            snr = f"{m['block_snr_db']:.1f} / {m['snr_vs_float_db']:.1f}" if "snr_vs_float_db" in m else "—"
            lines.append(f"| {names[k]} | {m['pesq_wb']:.3f} | {m['stoi']:.3f} | {m['mcd_db']:.2f} | {m['log_mel_l1']:.3f} | {snr} |")
        lines.append("")
    lines += ["## PESQ-WB by voice", "", "| voice | " + " | ".join(names[k] for k in SYSTEMS) + " |",
              "|---" * (len(SYSTEMS) + 1) + "|"]
    for spk, d in res["summary"]["pesq_wb_by_speaker"].items():
        lines.append(f"| {spk} | " + " | ".join(f"{d[k]:.3f}" for k in SYSTEMS) + " |")
    c = res["cost"]
    lines += ["", "## Cost", "", f"- {c['macs_per_frame']:,} MACs per 10 ms frame = {c['gops_per_audio_second']:.3f} GOPS "
              f"per second of audio; {c['gna_operations']} GNA operations; {c['parameters']:,} parameters; "
              f"GNA memory {c['gna_model_bytes_i16']:,} bytes (i16)",
              f"- weight traffic at 100 inferences/s: {c['latency_estimate']['weight_traffic_MB_per_s_i16']} MB/s (i16)"]
    for label, d in c["latency_estimate"].items():
        if isinstance(d, dict):
            lines.append(f"- estimated GNA 2.0 latency at 400 MHz, {label}: {d['ms_per_frame']} ms per frame "
                         f"(RTF {d['real_time_factor']})")
    sp = res["speed"]
    lines += ["", f"## Speed on this machine ({sp['utterance']}, {sp['seconds']} s)", "", "| path | seconds | RTF |", "|---|---|---|"]
    for k, d in sp.items():
        if isinstance(d, dict):
            lines.append(f"| {k} | {d['seconds']} | {d['rtf']} |")
    v = res["verdict"]
    lines += ["", "## Verdict", "",
              f"- i16 PESQ-WB loss vs float: {v['i16_pesq_loss']} ({'within' if v['i16_within_0.1'] else 'over'} 0.1)",
              f"- i8 PESQ-WB loss vs float: {v['i8_pesq_loss']} ({'within' if v['i8_within_0.3'] else 'over'} 0.3)",
              f"- float minus Griffin-Lim: {v['float_minus_griffin_lim']} "
              f"({'float wins' if v['float_beats_griffin_lim'] else 'Griffin-Lim wins'})", ""]
    return "\n".join(lines)


def plots(res, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    by = res["summary"]["pesq_wb_by_speaker"]
    spk = list(by)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.2
    for i, k in enumerate(SYSTEMS):
        ax.bar(np.arange(len(spk)) + (i - 1.5) * width, [by[s][k] for s in spk], width, label=k)
    ax.set_xticks(np.arange(len(spk)), spk)
    ax.set_ylabel("PESQ-WB")
    ax.set_ylim(1, 4.6)
    ax.legend(ncol=4, fontsize=8, loc="upper left")
    ax.set_title("PESQ-WB per voice (irina: never trained on)")
    fig.savefig(out / "vocoder-pesq.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return ["vocoder-pesq.png"]


def write_report(res, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(res, indent=1))
    pngs = plots(res, out)
    md = markdown(res) + "\n" + "\n".join(f"![{p}]({p})" for p in pngs) + "\n"
    (out / "report.md").write_text(md)

