"""`npin gna vad-eval`: Silero VAD compiled for GNA 2.0 (i16 and i8) against ONNX Runtime,
streaming over held-out speech with pauses and noise: per-chunk probability SNR, agreement of
speech/non-speech decisions at the model's threshold, and, with libGNA present, the i16 stream
run there in lockstep with the emulator, every buffer compared after every chunk."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from gna.graph import graph_bytes, run_graph
from gna.ops import model_macs
from quant.quantizers import snr_db

from . import speech, vad


def _libgna():
    try:
        from gna import libgna

        libgna.load()
        return libgna
    except Exception:  # noqa: BLE001 - any failure to load: report without it
        return None


def _lockstep(cm, audio, lib, advance) -> tuple[int, int]:
    """(chunks whose every buffer matched, chunks) with the emulator and libGNA streaming side by side."""
    carried = {i: np.zeros(next(s["shape"] for s in cm.inputs if s["name"] == i)) for i, _ in cm.state}
    same = 0
    xs = vad.windows(audio)
    with lib.GraphSession(cm.graph) as sess:
        for x in xs:
            bufs = cm.host_buffers({"input": x, **carried})
            mem, sat = run_graph(cm.graph, bufs)
            got, lsat = sess.run(bufs)
            same += all(np.array_equal(mem[k], got[k]) for k in mem) and sat == lsat
            outs = {o["name"]: cm.read(mem, o) for o in cm.outputs}
            carried = {i: outs[o] for i, o in cm.state}
            advance()
    return same, len(xs)


def evaluate(audio: np.ndarray, made_of: dict, progress_bar) -> dict:
    path = vad.model_path()
    n = len(audio) // vad.CHUNK
    with progress_bar("ONNX Runtime (float)", 1) as advance:
        ref, _, _ = vad.onnx_stream(path, audio)
        advance()
    rows, probs = [], {}
    lib = _libgna()
    for weights in ("i16", "i8"):
        cm = vad.cached_vad(weights)
        t0 = time.perf_counter()
        with progress_bar(f"GNA 2.0 emulator, {weights}", n) as advance:
            got = vad.gna_stream(cm, audio, None, advance)
        per_chunk_ms = (time.perf_counter() - t0) / n * 1e3
        probs[weights] = got
        row = {"weights": weights, "backend": "emulator", "chunks": n, "prob_snr_db": round(snr_db(ref, got), 2),
               "agreement": round(float(np.mean((got >= vad.THRESHOLD) == (ref >= vad.THRESHOLD))), 5),
               "speech_fraction_onnx": round(float(np.mean(ref >= vad.THRESHOLD)), 4),
               "speech_fraction_gna": round(float(np.mean(got >= vad.THRESHOLD)), 4),
               "max_abs_prob_diff": round(float(np.max(np.abs(got - ref))), 4),
               "operations": len(cm.graph.nodes), "macs_per_chunk": model_macs(cm.graph),
               "gna_memory_bytes": graph_bytes(cm.graph), "emulator_ms_per_chunk": round(per_chunk_ms, 3)}
        if lib is not None and weights == "i16":
            with progress_bar("libGNA in lockstep, i16", n) as advance:
                same, total = _lockstep(cm, audio, lib, advance)
            row["libgna_exact"] = f"{same}/{total} chunks"
            row["libgna_version"] = lib.library_version()
        rows.append(row)
    plot = _plot(ref, probs)
    return {"model": f"Silero VAD ({path.name}, silero-vad package)", "compiled_with": {
                "pwl_error": vad.PWL_ERROR, "calibration": speech.CALIB_RECIPE, "chunk_samples": vad.CHUNK,
                "context_samples": vad.CONTEXT, "threshold": vad.THRESHOLD},
            "audio": made_of, "libgna": lib is not None, "rows": rows, "plot": plot}


def _plot(ref: np.ndarray, probs: dict) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    out = Path("docs/gna/vad.png")
    n = min(len(ref), int(30 * vad.RATE / vad.CHUNK))   # the first 30 s
    t = np.arange(n) * vad.CHUNK / vad.RATE
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.plot(t, ref[:n], label="ONNX Runtime (float)", lw=1.6, color="black")
    for w, style in (("i16", "-"), ("i8", ":")):
        ax.plot(t, probs[w][:n], style, label=f"GNA 2.0 {w}", lw=1)
    ax.axhline(vad.THRESHOLD, color="grey", lw=0.5)
    ax.set_xlabel("seconds")
    ax.set_ylabel("speech probability")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return str(out)
