"""Results store (one JSON per run), JUnit XML of the baseline checks, and an HTML report with
plots: instructions against D for each K and kernel set, and the step count across stored runs."""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from xml.etree import ElementTree as ET

from common.files import write_atomic

from .compare import Verdict


def store_run(result: dict, out: Path) -> Path:
    meta = result["meta"]
    name = f"{meta['date'].replace(':', '')}-{meta['board']}-{meta['git']}.json"
    path = out / "runs" / name
    write_atomic(path, json.dumps(result, indent=1, default=str) + "\n")
    return path


def history(out: Path, board: str) -> list[dict]:
    runs = []
    for p in sorted((out / "runs").glob(f"*-{board}-*.json")):
        try:
            runs.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    return runs


def junit(verdicts: list[Verdict], board: str, path: Path) -> None:
    suite = ET.Element("testsuite", name=f"npin-bench-{board}", tests=str(len(verdicts)),
                       failures=str(sum(not v.ok for v in verdicts)), errors="0")
    for v in verdicts:
        case = ET.SubElement(suite, "testcase", classname=f"bench.{board}", name=v.metric)
        if not v.ok:
            ET.SubElement(case, "failure", message=f"regression: {v.why}").text = v.why
        ET.SubElement(case, "system-out").text = v.why
    root = ET.Element("testsuites")
    root.append(suite)
    write_atomic(path, ET.tostring(root, encoding="unicode") + "\n")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def html_report(result: dict, verdicts: list[Verdict], runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m, meta = result["metrics"], result["meta"]
    dims, facets = meta["grid"]["dims"], meta["grid"]["facets"]
    kernels = sorted({k.split(".")[1] for k in m if k.startswith("insn.")})
    fig, axes = plt.subplots(1, len(kernels), figsize=(5.5 * len(kernels), 4), squeeze=False)
    for ax, kern in zip(axes[0], kernels):
        for k in facets:
            ax.plot(dims, [m[f"insn.{kern}.step.D{d}.K{k}"] for d in dims], marker="o", label=f"step, K={k}")
        ax.plot(dims, [m[f"insn.{kern}.update.D{d}"] for d in dims], marker="s", ls="--", label="update")
        a, b = result["fits"][kern]["step"]
        ax.set_title(f"{kern}: step ≈ {a:.0f} + {b:.2f}·D·K instructions")
        ax.set_xlabel("D")
        ax.set_ylabel("instructions")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    cost_png = _png(fig)
    plt.close(fig)
    key = "insn.{}.step.D512.K16"
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for kern in kernels:
        pts = [(i, r["metrics"].get(key.format(kern))) for i, r in enumerate(runs)]
        pts = [(i, v) for i, v in pts if v is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=kern)
    ax.set_xticks(range(len(runs)), [r["meta"]["git"][:10] for r in runs], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("instructions per step, D=512 K=16")
    ax.grid(True, alpha=0.3)
    ax.legend()
    hist_png = _png(fig)
    plt.close(fig)
    rows = "".join(
        f"<tr class={'ok' if v.ok else 'bad'}><td>{html.escape(v.metric)}</td><td>{v.kind}</td>"
        f"<td>{'' if v.baseline is None else f'{v.baseline:g}'}</td><td>{v.value:g}</td>"
        f"<td>{'ok' if v.ok else 'REGRESSION'}</td><td>{html.escape(v.why)}</td></tr>" for v in verdicts)
    doc = f"""<!doctype html><meta charset=utf-8><title>npin bench {html.escape(meta['board'])}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:2px 8px;font-size:13px}}
tr.bad{{background:#fdd}} tr.ok td:nth-child(5){{color:#080}}</style>
<h1>npin bench — {html.escape(meta['board'])}</h1>
<p>{html.escape(meta['date'])} · git {html.escape(meta['git'])} · {html.escape(meta['compiler'])} ·
{html.escape(meta['cflags'])}</p>
<h2>Instructions per call (exact, under unicorn)</h2><img src="data:image/png;base64,{cost_png}">
<h2>History</h2><img src="data:image/png;base64,{hist_png}">
<h2>Against the baseline</h2>
<table><tr><th>metric</th><th>kind</th><th>baseline</th><th>now</th><th>verdict</th><th>detail</th></tr>{rows}</table>
"""
    write_atomic(path, doc)
