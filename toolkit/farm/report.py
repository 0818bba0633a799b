"""One JUnit file and one HTML page for a farm run: a test suite, and a table row, per place."""
from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from common.files import write_atomic


@dataclass
class SuiteCounts:
    tests: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (test, first line of its message)

    @property
    def passed(self) -> int:
        return self.tests - self.failed - self.errors - self.skipped


COUNTED_AS = {"failure": "failed", "error": "errors", "skipped": "skipped"}


def read_junit(path: Path) -> SuiteCounts:
    counts = SuiteCounts()
    for case in ET.parse(path).getroot().iter("testcase"):
        counts.tests += 1
        for kind in ("failure", "error", "skipped"):
            node = case.find(kind)
            if node is None:
                continue
            setattr(counts, COUNTED_AS[kind], getattr(counts, COUNTED_AS[kind]) + 1)
            if kind != "skipped":
                text = (node.get("message") or node.text or "").strip().splitlines()
                counts.failures.append((case.get("name", "?"), text[0] if text else kind))
            break
    return counts


def merge_junit(runs, path: Path) -> None:
    """Every place's suite in one <testsuites>, each named after its place and carrying the place's
    tags as properties; a place whose pytest wrote nothing gets one failed case saying why."""
    root = ET.Element("testsuites")
    for run in runs:
        if run.junit.exists():
            for suite in ET.parse(run.junit).getroot().iter("testsuite"):
                suite.set("name", f"{run.place.name}")
                for case in suite.iter("testcase"):
                    case.set("classname", f"{run.place.name}.{case.get('classname', '')}")
                _place_properties(suite, run)
                root.append(suite)
        else:
            suite = ET.SubElement(root, "testsuite", name=run.place.name, tests="1", failures="1", errors="0",
                                  skipped="0")
            _place_properties(suite, run)
            case = ET.SubElement(suite, "testcase", classname=run.place.name, name="place")
            ET.SubElement(case, "failure", message=run.problem or "no results")
    write_atomic(path, ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")


def _place_properties(suite, run) -> None:
    props = suite.find("properties")
    if props is None:
        props = ET.Element("properties")
        suite.insert(0, props)
    for key, value in [("place", run.place.name), *sorted(run.place.tags.items()),
                       ("released", str(run.released).lower())] + ([("vanished", run.vanished)] if run.vanished else []):
        ET.SubElement(props, "property", name=key, value=value)


def html_report(runs, path: Path, summary: list[str]) -> None:
    rows = []
    for run in runs:
        c = run.counts
        state = "passed" if run.ok else "failed"
        notes = [run.problem] if run.problem else []
        if run.vanished:
            notes.append(f"board vanished mid-run: {run.vanished}")
        notes += [f"{name}: {msg}" for name, msg in c.failures[:3]]
        rows.append(
            f"<tr class='{state}'><td>{html.escape(run.place.name)}</td><td>{html.escape(run.board)}</td>"
            f"<td>{html.escape(run.place.tags.get('core', ''))}</td><td>{c.passed}</td><td>{c.failed + c.errors}</td>"
            f"<td>{c.skipped}</td><td>{run.seconds:.1f}</td><td>{'yes' if run.released else 'NO'}</td>"
            f"<td>{'<br>'.join(html.escape(n) for n in notes)}</td></tr>")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>npin farm run</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse}} td,th{{border:1px solid #999;padding:4px 8px}}
tr.passed td:first-child{{background:#cfc}} tr.failed td:first-child{{background:#fcc}}</style></head>
<body><h1>npin farm run</h1>
{''.join(f'<p>{html.escape(line)}</p>' for line in summary)}
<table><tr><th>place</th><th>board</th><th>core</th><th>passed</th><th>failed</th><th>skipped</th><th>seconds</th>
<th>released</th><th>notes</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
    write_atomic(path, page)
