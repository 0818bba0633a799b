"""The HIL suite (hil_tests/) on every emulated board, as CI runs it: `npin hil run` builds the
firmware offline, boots it in QEMU, streams 10,000 vectors with feedback in lock step with the
Python reference, and checks malformed frames, retries and resets. Two boards run at a time."""
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.etree import ElementTree

import pytest
from parts import needs

pytestmark = needs("qemu", "arm")

# (run name, npin hil run arguments): each board's [hil] shape with 10,000 vectors, the mission's
# full shape (D=512, K=16, 32 slots: a 52,608-byte slab) on the default M4 board, the M4 DSP
# kernels (hand-scheduled assembly) on the same board, and the largest routing shape (every
# CLINC150 intent: D=384, 150 Q7 facets, a 64,336-byte slab) with the M4 kernels, and Q7 facets
# through the portable kernel on the Cortex-M3.
RUNS = {
    "mps2-an386": ["--board", "mps2-an386"],
    "netduinoplus2": ["--board", "netduinoplus2"],
    "lm3s6965evb": ["--board", "lm3s6965evb"],
    "microbit": ["--board", "microbit"],
    "mps2-an386-512x16x32": ["--board", "mps2-an386", "--shape", "512,16,32", "--vectors", "500"],
    "mps2-an386-m4-kernels": ["--board", "mps2-an386", "--kernels", "m4", "--vectors", "3000"],
    "mps2-an386-routing-q7-m4": ["--board", "mps2-an386", "--shape", "384,150,4,q7", "--kernels", "m4",
                                 "--vectors", "400"],
    "lm3s6965evb-q7": ["--board", "lm3s6965evb", "--shape", "128,40,8,q7", "--vectors", "3000"],
}


@pytest.fixture(scope="module")
def hil_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("hil")

    def run(name):
        junit = out / f"{name}.xml"
        proc = subprocess.run([sys.executable, "-m", "toolkit.cli", "hil", "run", *RUNS[name], "--junit", str(junit),
                               "--json", str(out / f"{name}.json"), "--workdir", str(out / name)],
                              capture_output=True, text=True)
        return name, (proc, junit)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, RUNS))


@pytest.mark.parametrize("name", list(RUNS))
def test_hil_suite_passes(hil_runs, name):
    proc, junit = hil_runs[name]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert int(suite.get("tests")) >= 17
    assert int(suite.get("failures")) == int(suite.get("errors")) == 0
    skipped = [c.get("name") for c in suite.iter("testcase") if c.find("skipped") is not None]
    assert skipped == [], skipped  # on QEMU nothing may be skipped, the reset button included
    stream = next(c for c in suite.iter("testcase") if c.get("name") == "test_intent_stream_with_feedback_is_bit_exact")
    assert stream.find("failure") is None
    run = json.loads(Path(junit).with_suffix(".json").read_text())  # the run file agrees with the JUnit
    assert (run["passed"], run["failed"]) == (int(suite.get("tests")), 0)
    assert run["vectors"] > 0 and run["vectors_per_s"] > 0
