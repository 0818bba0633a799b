"""`npin gna probe`: run the envelope probes, write JSON and a Markdown table with receipts."""
from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

from common.files import write_atomic
from gna.probe import ACCEPTANCE, CRASH_PROBES, DIM_PROBES, bisect, crash_probe

from ..progress import progress_bar


def run_probes(backend, target: str, crashes: bool = True) -> dict:
    report = {"format": "npin-gna-envelope", "backend": backend.name, "library": backend.version(), "target": target,
              "date": datetime.date.today().isoformat(), "dimensions": [], "acceptance": [], "crashes": []}
    total = len(DIM_PROBES) + len(ACCEPTANCE) + (len(CRASH_PROBES) if crashes else 0)
    with progress_bar(f"probing GNA {target} ({backend.name})", total) as advance:
        for probe in DIM_PROBES:
            report["dimensions"].append(dataclasses.asdict(bisect(backend, probe, target)))
            advance()
        for name, pm in ACCEPTANCE:
            ok, status, message = backend.verdict(pm, target)
            report["acceptance"].append({"name": name, "accepted": ok, "status": status, "message": message,
                                         "input": {k: v for k, v in dataclasses.asdict(pm).items() if v is not None}})
            advance()
        if crashes:
            for name, pm in CRASH_PROBES:
                report["crashes"].append({"name": name, **crash_probe(pm),
                                          "input": {k: v for k, v in dataclasses.asdict(pm).items() if v is not None}})
                advance()
    return report


def _limit(d: dict) -> str:
    if d["measured"] is None:
        return "none accepted"
    return f"≥ {d['measured']} (probe end)" if d["capped"] else str(d["measured"])


def markdown(report: dict) -> str:
    lines = [f"# GNA {report['target']} envelope — {report['library']}, {report['date']}", "",
             "| limit | measured | documented | last accepted input | first refused input | status |",
             "|---|---|---|---|---|---|"]
    for d in report["dimensions"]:
        field = next(k for k in d["passing"] or d["failing"] if k not in ("input", "status", "message", "model_bytes")) \
            if (d["passing"] or d["failing"]) else ""
        ok = d["passing"].get(field, "") if d["passing"] else ""
        bad = d["failing"].get(field, "") if d["failing"] else ""
        if d["unit"] == "bytes":
            ok = f"{field}={ok} ({d['passing'].get('model_bytes', '?')} B)" if d["passing"] else ""
            bad = f"{field}={bad} ({d['failing'].get('model_bytes', '?')} B)" if d["failing"] else ""
            measured = f"{d['passing'].get('model_bytes', '?')} B" if d["passing"] else "none"
        else:
            ok, bad = (f"{field}={ok}" if ok != "" else ""), (f"{field}={bad}" if bad != "" else "")
            measured = _limit(d)
        status = d["failing"].get("status", "") if d["failing"] else ""
        msg = (d["failing"].get("message", "") if d["failing"] else "").replace("|", "/")[:90]
        lines.append(f"| {d['name']} | {measured} | {d['documented']} | {ok} | {bad} | {status} {msg} |")
    lines += ["", "| operation / types | accepted | status |", "|---|---|---|"]
    for a in report["acceptance"]:
        lines.append(f"| {a['name']} | {'yes' if a['accepted'] else 'no'} | {a['status']} "
                     f"{a['message'].replace('|', '/')[:100]} |")
    if report["crashes"]:
        lines += ["", "| input the library accepts at creation | at inference |", "|---|---|"]
        for c in report["crashes"]:
            lines.append(f"| {c['name']} | {c['outcome']}: {c['detail']} |")
    return "\n".join(lines) + "\n"


def write_report(report: dict, json_path: Path | None, md_path: Path | None) -> None:
    if json_path:
        write_atomic(json_path, json.dumps(report, indent=1) + "\n")
    if md_path:
        write_atomic(md_path, markdown(report))
