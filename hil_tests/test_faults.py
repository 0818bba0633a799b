"""A lossy link: the stream runs through a seeded fault injector (bit flips, dropped, duplicated
and inserted bytes, stalls) between the host and the board. The CRC must catch every damaged
frame, the host must resend and resynchronise, and the state must stay bit-exact."""
from firmware.slab import layout_of
from toolkit.hil.faults import FaultyPort
from toolkit.hil.lockstep import run_lockstep, state_diff


def test_stream_through_a_fault_injecting_link_stays_bit_exact(fresh, hil_pin, board, request, record_property):
    client, ref = fresh
    opt = request.config.getoption
    rate, seed = opt("--faults"), opt("--fault-seed")
    # one vector per PUSH: a frame of n bytes crosses intact with probability (1 - rate)^n, and a
    # 4 KiB frame (D = 512, four vectors) would almost never get through at 0.1 %
    n = min(opt("--vectors"), opt("--fault-vectors"), max(50, 25_600 // ref.params.dims))
    xs, intents = hil_pin.stream_q15(n, seed=21)
    link = board.link
    clean, saved = link.port, (client.timeout, client.retries, client.resend_damaged)
    faulty = FaultyPort(clean, rate, seed)
    link.port = faulty
    client.timeout, client.retries, client.resend_damaged = (0.5 if board.emulated else 1.0), 200, True
    damaged0, bad0 = client.damaged, len(link.bad_frames)
    try:
        report = run_lockstep(client, ref, xs, intents, batch=1)
    finally:
        link.port = clean
        client.timeout, client.retries, client.resend_damaged = saved
    device = client.read_state(layout_of(ref.params).total_bytes)
    diff = state_diff(device, ref)
    caught = (client.damaged - damaged0) + (len(link.bad_frames) - bad0)
    undetected = 0 if diff.startswith("slabs are equal") else 1
    line = (f"fault link: {faulty.counts.frames} frames, {faulty.counts.corrupted} corrupted, {undetected} undetected, "
            f"state {'bit-exact' if not undetected else 'DIFFERS'}")
    print(f"\n{n} vectors at {rate:.2%} byte faults (seed {seed}): {report.retries} resends, {caught} damaged frames "
          f"caught by CRC/COBS/length, {report.fires} fires; faults by kind {faulty.counts.by_kind}; "
          f"{report.vectors_per_s:.0f} vectors/s\n{line}")
    for key, value in (("fault_frames", faulty.counts.frames), ("fault_corrupted", faulty.counts.corrupted),
                       ("fault_undetected", undetected), ("fault_resends", report.retries),
                       ("fault_caught", caught), ("fault_rate", rate), ("fault_vectors_per_s", report.vectors_per_s)):
        record_property(key, value)
    assert client.sync().step == ref.step_count
    assert not undetected, diff
