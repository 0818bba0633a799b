"""Resets at any instant: a thread presses the emulator's reset button (QMP system_reset) at random
times while the host streams in lock step. Whatever the firmware was doing — receiving, applying a
PUSH/STEP/FEEDBACK/RESET, answering — it boots warm with every command either applied once or taken
back, and the host's resend finishes the run bit-exact (docs/protocol.md §5)."""
import threading

import numpy as np
import pytest

from firmware.slab import layout_of
from toolkit.hil.faults import default_vectors
from toolkit.hil.lockstep import run_lockstep, state_diff


class _ResetPresser(threading.Thread):
    """Presses reset once the stream has passed each of `count` random points, after a random
    0–3 ms more: the press lands wherever board and host happen to be by then."""

    def __init__(self, press, count: int, vectors: int, seed: int):
        super().__init__(daemon=True)
        self.press = press
        self.rng = np.random.default_rng(seed)
        self.targets = sorted(self.rng.integers(0, max(vectors - 1, 1), count).tolist())
        self.progress = 0
        self.done = 0
        self.halt = threading.Event()

    def advance(self, n: int) -> None:
        self.progress += n

    def run(self):
        for target in self.targets:
            while self.progress < target:
                if self.halt.wait(0.0005):
                    return
            if self.halt.wait(self.rng.uniform(0, 0.003)):
                return
            self.press()
            self.done += 1


def test_random_resets_during_a_stream_lose_nothing(fresh, hil_pin, board, request, record_property):
    if board.reset_button is None:
        pytest.skip(f"pressing reset at random instants needs a reset line ({board.where} has none: "
                    "an emulator's monitor, or a labgrid ResetProtocol driver)")
    client, ref = fresh
    opt = request.config.getoption
    n, resets = min(opt("--vectors"), default_vectors(opt("--reset-vectors"), ref.params.dims)), opt("--resets")
    xs, intents = hil_pin.stream_q15(n + 20, seed=31)
    run_lockstep(client, ref, xs[:20], intents[:20], batch=1)
    saved = client.resend_damaged, client.timeout, client.retries
    client.resend_damaged, client.timeout, client.retries = True, 0.5, 50  # bytes cut by a reset arrive damaged
    reboots0 = client.reboots_seen
    presser = _ResetPresser(board.reset_button, resets, n, opt("--fault-seed"))
    presser.start()
    try:
        report = run_lockstep(client, ref, xs[20:], intents[20:], batch=1, advance=presser.advance)
        presser.join(timeout=10)  # the last presses, a few ms behind the stream
    finally:
        presser.halt.set()
        presser.join()
        client.resend_damaged, client.timeout, client.retries = saved
    boots = client.sync()
    diff = state_diff(client.read_state(layout_of(ref.params).total_bytes), ref)
    exact = diff.startswith("slabs are equal")
    print(f"\nresets: {presser.done} during {n} vectors ({client.reboots_seen - reboots0} seen mid-request, "
          f"boot count {boots.boot_count}, {report.vectors_per_s:.0f} vectors/s), state "
          f"{'bit-exact' if exact else 'DIFFERS'}")
    record_property("resets", presser.done)
    record_property("reset_vectors", n)
    record_property("reset_state_exact", int(exact))
    assert boots.step == ref.step_count
    assert exact, diff
    assert presser.done == resets, f"only {presser.done} of {resets} resets were pressed"
