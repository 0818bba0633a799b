"""The main HIL check: a long stream with feedback through the ARM ELF, every step's status, event
and state digest equal to the Python fixed-point reference, and the whole slab equal at the end."""
from firmware.slab import HEADER_BYTES, layout_of, read_header, state_digest
from quant.pin_fixed import EMPTY
from toolkit.hil.lockstep import run_lockstep, state_diff
from toolkit.pin.synth import hostile_q15


def test_intent_stream_with_feedback_is_bit_exact(fresh, hil_pin, request, record_property):
    client, ref = fresh
    n = request.config.getoption("--vectors")
    hostile = min(256, n // 10)
    xs, intents = hil_pin.stream_q15(n - hostile, seed=5)
    report = run_lockstep(client, ref, xs, intents)
    report2 = run_lockstep(client, ref, hostile_q15(hostile, ref.params.dims, seed=6), feedback=False)
    total = report.vectors + report2.vectors
    print(f"\n{total} vectors, {report.fires + report2.fires} fires, {report.feedbacks} feedbacks, "
          f"{report.vectors_per_s:.0f} vectors/s over the link")
    record_property("vectors", total)  # npin hil run --json reports these
    record_property("vectors_per_s", report.vectors_per_s)
    assert client.sync().step == ref.step_count  # the device consumed every vector the reference did
    assert report.fires > 0 and report.feedbacks > 0, "the stream must exercise firing and feedback"
    assert report.device_events == report.fires
    lay = layout_of(ref.params)
    device = client.read_state(lay.total_bytes)
    diff = state_diff(device, ref)
    assert diff.startswith("slabs are equal"), diff


def test_ring_overrun_is_counted_like_the_reference(fresh, hil_pin):
    """Push more vectors than slots before stepping: the oldest are overwritten on both sides."""
    client, ref = fresh
    slots = ref.params.slots
    xs, _ = hil_pin.stream_q15(slots + 3, seed=9)
    per_push = max(1, (client.hello_info.max_payload - 4) // (2 * ref.params.dims))
    for i in range(0, len(xs), per_push):
        client.push(xs[i:i + per_push])
    for x in xs:
        ref.push(x)
    records = client.step(slots + 3)
    ref_steps = 0
    while ref.step()[0] != EMPTY:
        ref_steps += 1
    assert len(records) == ref_steps
    assert ref.overrun > 0
    header = read_header(client.read_state(HEADER_BYTES))
    assert (header["overrun"], header["ring_head"], header["ring_tail"]) == (ref.overrun, ref.ring_head, ref.ring_tail)
    assert client.sync().digest == state_digest(ref)
