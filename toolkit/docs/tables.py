"""One generator per README table: a run file in, Markdown out.

A table in the README sits between `<!-- generated: NAME -->` and `<!-- end generated -->`;
`npin docs refresh` rewrites every such block from its run file, `npin docs check` fails when one
differs (a test runs it), so no figure in those tables is typed by hand.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

from common.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def _load(rel: str | Path) -> dict:
    path = ROOT / rel
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the run file {path.relative_to(ROOT)}: {e}",
                          "run the command that writes it (see README)") from e


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def routing() -> str:
    """From `npin route bench --out docs/routing`."""
    r = _load("docs/routing/route.json")
    titles = {"domains": "10 domains", "intents16": "16 money intents", "intents": "150 intents"}
    lines = ["| task | method | decision acc. | episode acc. | OOS recall | in-scope rejection | false fires / episode |",
             "|---|---|---|---|---|---|---|"]
    for task, t in r["tasks"].items():
        first = True
        for name, m in t["methods"].items():
            if name == "Neural Pin (float)":
                continue
            label = f"**{name}**" if name.startswith("Neural Pin") else name
            lines.append(f"| {titles.get(task, task) if first else ''} | {label} | {_pct(m['decision_accuracy'])} | "
                         f"{_pct(m['episode_accuracy'])} | {_pct(m['oos_recall'])} | {_pct(m['in_scope_rejection'])} | "
                         f"{m['false_fires_per_episode']:.3f} |")
            first = False
    agree = ", ".join(f"{titles.get(k, k)} {100 * t['fixed_float_agreement']:.2f} %" for k, t in r["tasks"].items())
    return "\n".join(lines) + f"\n\nFixed-point Pin = float Pin on the steps of: {agree}.\n"


def vocoder() -> str:
    """From `npin vocoder eval --out docs/vocoder --no-wavs`."""
    r = _load("docs/vocoder/report.json")
    s = r["summary"]
    rows = (("float network + fast Griffin-Lim 100 (offline)", "float"),
            ("GNA 2.0 i16 (emulator) + offline phase", "gna_i16"), ("GNA 2.0 i8 (emulator) + offline phase", "gna_i8"),
            (f"GNA 2.0 i16 + streaming phase (RTISI-LA, {r['phase']['streaming']['latency_ms']:g} ms latency)",
             "gna_i16_streaming"),
            ("GNA 2.0 i8 + streaming phase", "gna_i8_streaming"),
            ("Griffin-Lim 32 from NNLS mel inversion (the baseline)", "griffin_lim"),
            ("true \\|STFT\\| + offline phase (the ceiling)", "true_magnitude"))
    t, u = s["held_out_prompts"], s["unseen_speaker"]
    lines = [f"| PESQ-WB | trained voices ({t['files']} prompts, {t['seconds']:.0f} s) | unseen voice, mean FiLM "
             f"({u['files']} prompts, {u['seconds']:.0f} s) |", "|---|---|---|"]
    lines += [f"| {label} | {t[key]['pesq_wb']:.3f} | {u[key]['pesq_wb']:.3f} |" for label, key in rows]
    sp, v, c = r["speed"], r["verdict"], r["cost"]
    groups = [g for g in ("trained", "unseen") if g in v]
    i16 = [row["gna_i16"]["log_magnitude_snr_db"] for row in r["rows"]]
    i8 = [row["gna_i8"]["log_magnitude_snr_db"] for row in r["rows"]]

    def per_group(key):
        return " / ".join(f"{v[g][key]:.3f}" for g in groups)

    worst_gna = min(v[g]["worst_gna_minus_griffin_lim"] for g in groups)
    worst_stream = min(v[g]["worst_streaming_minus_griffin_lim"] for g in groups)
    lines += ["",
              f"- Every GNA row is at least {worst_gna:.2f} above Griffin-Lim, every streaming row at least "
              f"{worst_stream:.2f}; int16 costs {per_group('i16_pesq_loss')} PESQ-WB against float, int8 "
              f"{per_group('i8_pesq_loss')} ({' / '.join(groups)}); log-magnitude SNR against float "
              f"{min(i16):.0f}–{max(i16):.0f} dB (i16), {min(i8):.0f}–{max(i8):.0f} dB (i8).",
              f"- {c['gna_operations']} GNA operations, {c['macs_per_frame']:,} MACs per 10 ms frame "
              f"({c['gops_per_audio_second']:.3f} GOPS per second of audio), {c['gna_model_bytes_i16'] / 1e6:.1f} MB of "
              f"GNA memory (i16); streaming latency {r['phase']['streaming']['latency_ms']:g} ms.",
              f"- Real-time factor on the machine that ran it (one {sp['seconds']} s prompt): streaming end to end "
              f"{sp['end_to_end_streaming_gna_i16']['rtf']:.2f}, the GNA part on the emulator "
              f"{sp['gna_i16_emulator']['rtf']:.3f}."]
    return "\n".join(lines) + "\n"


def bench_m4() -> str:
    """From `npin bench --board mps2-an386` (its run file in docs/bench/)."""
    b = _load("docs/bench/mps2-an386.json")
    m, fits, builds = b["metrics"], b["fits"], b["meta"]["builds"]
    names = {"portable": "portable C", "m4": "Cortex-M4 DSP (SMLALD, SMLAD, SXTB16, QADD16, LDM)"}
    lines = ["| kernel set | step D=512 K=16 (Q15, mission) | update | 16-facet check | fit (step) | "
             "step D=384 K=150 (Q7, every CLINC150 intent) | .text |", "|---|---|---|---|---|---|---|"]
    for k, label in names.items():
        a, slope = fits[k]["step"]
        lines.append(f"| {label} | {m[f'insn.{k}.step.D512.K16']:,} | {m[f'insn.{k}.update.D512']:,} | "
                     f"{m[f'insn.{k}.dots.D512.K16']:,} | {a:.0f} + {slope:.2f}·D·K | {m[f'insn.{k}.step.routing']:,} | "
                     f"{builds[k]['sections']['.text']:,} B |")
    lines.append("")
    lines.append(f"- Serial round trip {m['link.rtt_ms']:.1f} ms and {m['link.vectors_per_s']:.0f} vectors/s at D = "
                 f"{b['meta']['hil_shape'][0]} over the board's UART; the scripted intents pin after "
                 f"{m['pin.updates_to_first_pin.median']:.0f} updates (median, p90 {m['pin.updates_to_first_pin.p90']:.0f}).")
    for k, e in b.get("energy", {}).items():
        lo, hi = e["decision_uj"]
        lines.append(f"- Energy per routing decision, {names[k].split(' (')[0]}: {lo:,.0f}–{hi:,.0f} µJ on an {e['part']} "
                     f"({e['steps_per_decision']} steps, CPI {e['cpi'][0]}–{e['cpi'][1]}, {e['volts']} V).")
    return "\n".join(lines) + "\n"


def pin_bench() -> str:
    """From `npin pin bench --json docs/bench/pin-bench.json`: one row per kernel set, one column per shape."""
    r = _load("docs/bench/pin-bench.json")
    names = {"ref": "C twin, reference kernels", "avx2": "C twin, AVX2 kernels",
             "native": "C twin, native kernels (the fastest set this CPU runs)"}
    shapes = r.get("shapes") or [{"dims": r["dims"], "facets": r["facets"], "facet_format": "q15",
                                  "label": "mission shape", "c_twin_ns": r["c_twin_ns"],
                                  "numpy_float32_ns": r["numpy_float32_ns"]}]
    head = " | ".join(f"D = {s['dims']}, K = {s['facets']}, {s['facet_format'].upper()} ({s['label']})" for s in shapes)
    lines = [f"| ns per step, best of {r['rounds']} rounds, {r['cpus']} CPUs | {head} |",
             "|---|" + "---|" * len(shapes)]
    for k in shapes[0]["c_twin_ns"]:
        cells = []
        for s in shapes:
            ns, ref = s["c_twin_ns"][k], s["c_twin_ns"].get("ref")
            vs = f" ({ref / ns:.1f}× ref)" if ref and k != "ref" else ""
            cells.append(f"{ns:,.0f}{vs}")
        lines.append(f"| {names.get(k, 'C twin, ' + k + ' kernels')} | " + " | ".join(cells) + " |")
    lines.append("| numpy float32, same step | " + " | ".join(f"{s['numpy_float32_ns']:,.0f}" for s in shapes) + " |")
    return "\n".join(lines) + "\n"


def gna_conformance() -> str:
    """From `npin gna conformance --json docs/gna/conformance.json` (needs libGNA)."""
    r = _load("docs/gna/conformance.json")
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["cases_per_kind"].items()))
    native = (f" — the numpy emulator and the native one on {', '.join(r['native_isas'])}, each against the library"
              if r.get("native_isas") else "")
    return (f"`npin gna conformance --cases {r['cases']} --seed {r['seed']}` against {r['library']} (export device "
            f"{r['device'].split()[-1]}, {r['acceleration'].capitalize()}), {r['date'][:10]}{native}: "
            f"**{r['bit_exact']}/{r['cases']} bit-exact** ({kinds}).\n")


def gna_bench() -> str:
    """From `npin gna bench --json docs/gna/bench.json` (needs libGNA)."""
    r = _load("docs/gna/bench.json")
    lines = [f"| model (per inference, best of {r['rounds']}, one core, {r['library']}) | numpy emulator | native "
             f"({r['native_isa']}) | libGNA Generic | libGNA AVX2 | native vs Generic | vs AVX2 | native GMAC/s | "
             "bit-exact |", "|---|---|---|---|---|---|---|---|---|"]
    for m in r["models"]:
        e, n, g, a = m["numpy_s"], m["native_s"], m["libgna_generic_s"], m["libgna_avx2_s"]
        lines.append(f"| {m['model']} | {e * 1e3:.3f} ms | {n * 1e3:.3f} ms | {g * 1e3:.3f} ms | {a * 1e3:.3f} ms | "
                     f"{g / n:.2f}× | {a / n:.2f}× | {m['native_gmacs']:.1f} | {'yes' if m['bit_exact'] else 'NO'} |")
    sc = r["scaling"]["seconds_by_cores"]
    one = sc["1"]
    lines += ["", f"- Peak of the native kernels' multiply-add ({r['native_isa']}) alone on one core: "
                  f"{r['peak_gmacs']:.0f} GMAC/s (int16 inputs cost two per MAC: the split into bytes that keeps "
                  "32-bit sums exact).",
              f"- {r['scaling']['workload']} as independent inferences on 1..{len(sc)} cores: "
              + ", ".join(f"{j} → {one / t:.2f}×" for j, t in sc.items()) + "."]
    ms = r["models"]
    behind = [m for m in ms if m["libgna_avx2_s"] < m["native_s"]]
    under3 = [m for m in ms if m["libgna_generic_s"] < 3 * m["native_s"]]

    def names(group, key):
        return "; ".join(f"{m['model']} {m[key] / m['native_s']:.2f}×" for m in group)
    lines.append(f"- In this run the native emulator is at least libGNA's AVX2 speed on {len(ms) - len(behind)} of "
                 f"{len(ms)} models" + (f" (behind: {names(behind, 'libgna_avx2_s')})" if behind else "")
                 + f", and at least 3× its Generic path on {len(ms) - len(under3)}"
                 + (f" (under: {names(under3, 'libgna_generic_s')})" if under3 else "") + ".")
    return "\n".join(lines) + "\n"


def hil() -> str:
    """From `npin hil run --board B ... --json docs/hil/NAME.json`, one file per run (name order)."""
    runs = sorted((ROOT / "docs" / "hil").glob("*.json"))
    if not runs:
        raise ConfigError("no run files in docs/hil/", "npin hil run --board B --json docs/hil/B.json")
    lines = ["| board | core | Pin (D, K, slots[, facets]) | kernels | vectors | link throughput | tests passed | suite |",
             "|---|---|---|---|---|---|---|---|"]
    for path in runs:
        r = _load(path)
        tests = f"{r['passed']}/{r['passed'] + r['failed']}" + (f" ({r['skipped']} skipped)" if r["skipped"] else "")
        rate = f"{r['vectors_per_s']:.0f} vectors/s" if "vectors_per_s" in r else "—"
        lines.append(f"| {r['board']} ({r['target']}) | {r['cpu']} | {r['pin'].replace(',', ', ')} | {r['kernels']} | "
                     f"{r.get('vectors', '—'):,} | {rate} | {tests} | {r['seconds']:.0f} s |")
    return "\n".join(lines) + "\n"


def robustness() -> str:
    """From the run files in docs/robustness/: `npin hil run --faults R --json …`, `npin hil run
    --resets N --json …` and `npin hil reset-sweep --json …`."""
    runs = {p.stem: _load(p) for p in sorted((ROOT / "docs" / "robustness").glob("*.json"))}
    lines = ["| fault | where | how much | result | throughput |", "|---|---|---|---|---|"]
    faults = sorted((r for r in runs.values() if "fault_rate" in r), key=lambda r: r["fault_rate"])
    for r in faults:
        lines.append(f"| {r['fault_rate']:.1%} of bytes flipped, dropped, duplicated, inserted or stalled "
                     f"({r.get('stall_ms', 2):g} ms) | {r['board']} ({r['target']}), D, K, slots = "
                     f"{r['pin'].replace(',', ', ')} | {r['fault_vectors']:,} vectors, {r['fault_frames']:,} frames, "
                     f"{r['fault_corrupted']:,} corrupted | {r['fault_undetected']} undetected, state "
                     f"{'bit-exact' if not r['fault_undetected'] and not r['failed'] else 'DIFFERS'} | "
                     f"{r['fault_throughput_share']:.{0 if r['fault_throughput_share'] >= 0.01 else 1}%} of clean "
                     f"({r['fault_vectors_per_s']:g} vs "
                     f"{r['clean_vectors_per_s']:g} vectors/s) |")
    for r in (r for r in runs.values() if "resets" in r):
        lines.append(f"| reset button (QMP `system_reset`) at random instants | {r['board']} ({r['target']}), "
                     f"{r['pin'].replace(',', ', ')} | {r['resets']:,} resets in {r['reset_vectors']:,} vectors | "
                     f"state {'bit-exact' if r['reset_state_exact'] and not r['failed'] else 'DIFFERS'} | — |")
    for r in (r for r in runs.values() if "cuts" in r):
        o = r["outcomes"]
        lines.append(f"| reset at every instruction of one {r['command'].upper()}{' that fires' if r.get('fires') else ''} "
                     f"(unicorn) | {r['board']}, {r['shape']} | {r['cuts']:,} cuts of {r['instructions']:,} "
                     f"instructions | {r['recovered']:,} recovered bit-exact ({o.get('untouched', 0):,} before the "
                     f"journal, {o.get('taken back', 0):,} taken back, {o.get('committed', 0):,} from the cache) | — |")
    return "\n".join(lines) + "\n"


def gna_accuracy() -> str:
    """From `npin gna accuracy-sweep --json docs/gna/accuracy.json`."""
    r = _load("docs/gna/accuracy.json")
    snr = {(x["weights"], x["scaling"], x["calibration"], x["pwl_error"]): x["snr_db"] for x in r["rows"]}
    names = {("i16", "row"): "i16", ("i8", "row"): "i8, a multiplier per row (default)",
             ("i8", "tensor"): "i8, one multiplier per tensor"}
    lines = [f"| weights ({r['calibration_inputs']} calibration, {r['test_inputs']} test inputs) | max-abs | 99.99th "
             "percentile | MSE-optimal (default) | MSE-optimal, 0.1 % PWL |", "|---|---|---|---|---|"]
    for (w, sc), label in names.items():
        cells = [f"{snr[(w, sc, c, 0.01)]:.2f} dB" for c in ("maxabs", "percentile", "mse")]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {snr[(w, sc, 'mse', 0.001)]:.2f} dB |")
    return "\n".join(lines) + "\n"


def gna_envelope() -> str:
    """From `npin gna probe --json docs/gna-envelope-2.0.json` (needs libGNA; receipts in the .md)."""
    r = _load("docs/gna-envelope-2.0.json")
    lines = [f"| limit ({r['library']}, {r['date'][:10]}) | measured | documented |", "|---|---|---|"]
    for d in r["dimensions"]:
        # a byte limit is bisected over a shape; what it measures is the accepted model's size
        measured = d["passing"]["model_bytes"] if d.get("unit") == "bytes" and d.get("passing") else d["measured"]
        unit = " B" if d.get("unit") == "bytes" else ""
        mark = "" if measured == d["documented"] else " ◀"
        lines.append(f"| {d['name']} | {measured:,}{unit}{mark} | {d['documented']:,}{unit} |")
    refused = [a["name"] for a in r["acceptance"] if not a["accepted"]]
    accepted = [a["name"] for a in r["acceptance"] if a["accepted"]]
    lines += ["", f"Operation and type combinations accepted: {len(accepted)}; refused: {len(refused)} "
                  f"({'; '.join(refused)})."]
    for c in r["crashes"]:
        lines.append(f"Accepted at creation but {c['outcome']} at inference ({c['detail']}): {c['name']}.")
    return "\n".join(lines) + "\n"


def gna_vad() -> str:
    """From `npin gna vad-eval --json docs/gna/vad.json`."""
    r = _load("docs/gna/vad.json")
    a = r["audio"]
    lines = [f"| Silero VAD on GNA 2.0, {a['seconds'] / 60:.1f} min held-out speech, {a['prompts']} prompts, pauses, "
             "noise | probability SNR vs ONNX Runtime | decisions agree (p ≥ 0.5) | speech chunks ONNX / GNA | "
             "libGNA (2.0 export device, Generic) |", "|---|---|---|---|---|"]
    for row in r["rows"]:
        lib = row.get("libgna_exact", "not run") if row["weights"] == "i16" else "—"
        lines.append(f"| {row['weights']} ({row['chunks']} chunks of 32 ms) | {row['prob_snr_db']:.2f} dB | "
                     f"{_pct(row['agreement'])} | {_pct(row['speech_fraction_onnx'])} / {_pct(row['speech_fraction_gna'])} "
                     f"| {'bit-exact on ' + lib if lib not in ('—', 'not run') else lib} |")
    row = r["rows"][0]
    lines += ["", f"- {row['operations']} GNA operations, {row['macs_per_chunk']:,} MACs and "
                  f"{row['gna_memory_bytes'] / 1e6:.1f} MB of GNA memory per 32 ms chunk; the emulator takes "
                  f"{row['emulator_ms_per_chunk']:.2f} ms per chunk on the machine that ran it.",
              f"- Noise {', '.join(str(x) for x in a['noise_snr_db'])} dB SNR in turn per prompt; compiled with PWL "
              f"budget {r['compiled_with']['pwl_error']}, calibrated on {r['compiled_with']['calibration']}."]
    return "\n".join(lines) + "\n"


def farm() -> str:
    """From `npin farm run --json docs/farm/run-5-places.json` on the default local farm."""
    r = _load("docs/farm/run-5-places.json")
    lines = ["| place | board | core | tests passed | suite, all places at once | released |", "|---|---|---|---|---|---|"]
    for p in r["places"]:
        lines.append(f"| {p['place']} | {p['board']} | {p['core']} | {p['passed']}/{p['passed'] + p['failed']} | "
                     f"{p['seconds']:.0f} s | {'yes' if p['released'] else 'NO'} |")
    lines += ["", f"{len(r['places'])} places, {r['jobs']} at a time, {r['vectors']:,} vectors each, on {r['cpus']} "
                  f"cores: {r['wall_s']:.0f} s wall; the same suite on {r['one_place']} alone {r['one_place_s']:.0f} s "
                  f"in the same run — {r['throughput_ratio']:.2f}× the throughput of one place."]
    return "\n".join(lines) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {"farm": farm, "gna-vad": gna_vad, "hil": hil, "robustness": robustness, "gna-accuracy": gna_accuracy, "gna-envelope": gna_envelope, "routing": routing, "vocoder": vocoder, "bench-m4": bench_m4,
                                            "pin-bench": pin_bench, "gna-conformance": gna_conformance,
                                            "gna-bench": gna_bench}


def refresh(text: str) -> tuple[str, list[str]]:
    """The text with every generated block rewritten, and the names of the blocks that changed."""
    changed: list[str] = []

    def sub(mo):
        name = mo.group("name")
        if name not in GENERATORS:
            raise ConfigError(f"README block 'generated: {name}' has no generator",
                              f"use one of {', '.join(GENERATORS)}")
        body = GENERATORS[name]()
        if body != mo.group("body"):
            changed.append(name)
        return mo.group(1) + body + mo.group(4)

    return BLOCK.sub(sub, text), changed
