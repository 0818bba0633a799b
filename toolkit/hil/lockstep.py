"""Stream vectors through a board and the Python reference in lock step: every step's status,
event and state digest must be equal, or the run stops with a readable diff."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from common.errors import MismatchError
from firmware import protocol as P
from firmware.slab import layout_of, read_state, reference_state, state_digest
from quant.pin_fixed import FIRED, PinFixed


@dataclass
class LockstepReport:
    vectors: int = 0
    fires: int = 0
    feedbacks: int = 0
    device_events: int = 0
    retries: int = 0
    seconds: float = 0.0

    @property
    def vectors_per_s(self) -> float:
        return self.vectors / self.seconds if self.seconds else 0.0


def state_diff(device: bytes, ref: PinFixed) -> str:
    """Name the first field that differs between the device's slab and the reference's."""
    dev, want = read_state(device), reference_state(ref)
    for name, value in want.items():
        got = dev[name]
        if np.ndim(value) == 0:
            if got != value:
                return f"header field '{name}': device {got}, reference {value}"
        elif not np.array_equal(got, value):
            i = int(np.flatnonzero(got != value)[0])
            return f"'{name}'[{i}]: device {got[i]}, reference {value[i]} ({int(np.sum(got != value))} differ)"
    return "slabs are equal (the digest itself differs?)"


def _mismatch(client, ref: PinFixed, step: int, what: str) -> MismatchError:
    detail = ""
    try:
        total = layout_of(ref.params).total_bytes
        detail = "; first difference in the state: " + state_diff(client.read_state(total), ref)
    except Exception as e:  # noqa: BLE001 - the diff is a courtesy; the mismatch is the news
        detail = f"; the state could not be read back ({e})"
    return MismatchError(f"step {step}: {what}{detail} (after step {ref.step_count})")


def run_lockstep(client, ref: PinFixed, xs: np.ndarray, intents: np.ndarray | None = None, *,
                 batch: int | None = None, advance=lambda n: None, feedback: bool = True) -> LockstepReport:
    """Push xs in batches, step them, and compare each step with `ref`. When the Pin fires, send
    FEEDBACK (+1 if the fired facet is the intent, else -1) to both sides."""
    hello = client.hello_info
    batch = batch or max(1, min(ref.params.slots, (hello.max_payload - 4) // (2 * ref.params.dims)))
    report, t0 = LockstepReport(), time.perf_counter()
    events_seen = len(client.events)
    retries0 = client.retries_used
    for start in range(0, len(xs), batch):
        chunk = xs[start:start + batch]
        client.push(chunk)
        for x in chunk:
            ref.push(x)
        records = client.step(len(chunk))
        if len(records) != len(chunk):
            raise _mismatch(client, ref, ref.step_count + 1, f"device stepped {len(records)} of {len(chunk)} vectors")
        fired = []
        for j, rec in enumerate(records):
            st, ev = ref.step()
            want = (st, ev.facet if ev else -1, ev.score_q15 if ev else 0, ev.tool if ev else 0, state_digest(ref))
            got = (rec.status, rec.facet, rec.score_q15, rec.tool, rec.digest)
            if got != want:
                at = ref.step_count
                for _ in records[j + 1:]:  # bring the reference to where the device stopped
                    ref.step()
                raise _mismatch(client, ref, at,
                                f"device (status, facet, score, tool, digest) = {got}, reference {want}")
            if st == FIRED:
                fired.append((ev, start + j))
        new_events = client.events[events_seen:]
        events_seen = len(client.events)
        ref_events = [P.DeviceEvent(e.step, e.facet, e.score_q15, e.tool) for e, _ in fired]
        # the STEP records already carry every fire; on a lossy link an EVENT frame may be lost
        # (it is not part of the cached reply), so there only the ones that arrived must match
        lossy = getattr(client, "resend_damaged", False)
        if (new_events != ref_events) and not (lossy and all(e in ref_events for e in new_events)):
            raise _mismatch(client, ref, ref.step_count, f"EVENT frames {new_events} != reference {ref_events}")
        report.fires += len(fired)
        report.device_events += len(new_events)
        if feedback:
            for ev, index in fired:
                if intents is not None:
                    sign = 1 if ev.facet == int(intents[index]) else -1
                else:
                    sign = 1 if ev.step % 3 else -1  # no ground truth: a fixed mix of both signs
                thr_dev = client.feedback(ev.facet, sign)
                ref.feedback(ev.facet, sign)
                if thr_dev != int(ref.thr_q15[ev.facet]):
                    raise _mismatch(client, ref, ref.step_count,
                                    f"threshold after FEEDBACK({ev.facet}, {sign}): device {thr_dev}, "
                                    f"reference {int(ref.thr_q15[ev.facet])}")
                report.feedbacks += 1
        report.vectors += len(chunk)
        advance(len(chunk))
    report.seconds = time.perf_counter() - t0
    report.retries = client.retries_used - retries0
    return report
