"""A lossy link: the stream runs through a seeded fault injector (bit flips, dropped, duplicated
and inserted bytes, stalls) between the host and the board. The CRC must catch every damaged
frame, the host must resend and resynchronise, and the state must stay bit-exact.

Throughput is compared within the run: the stream alternates blocks over the clean link (the
host in its plain mode) and blocks through the injector (the host in its lossy mode: PART frames,
adaptive timeouts), so both see the same machine at the same moment."""
import time

from firmware.slab import layout_of
from toolkit.hil.faults import FaultyPort, default_vectors
from toolkit.hil.lockstep import run_lockstep, state_diff

BLOCK = 25  # vectors per block; blocks alternate clean, faulty, clean, …


def test_stream_through_a_fault_injecting_link_stays_bit_exact(fresh, hil_pin, board, request, record_property):
    client, ref = fresh
    opt = request.config.getoption
    rate, seed, batch = opt("--faults"), opt("--fault-seed"), opt("--fault-batch")
    n = min(opt("--vectors"), default_vectors(opt("--fault-vectors"), ref.params.dims))
    xs, intents = hil_pin.stream_q15(2 * n, seed=21)
    link = board.link
    clean, saved = link.port, (client.timeout, client.retries, client.resend_damaged)
    faulty = FaultyPort(clean, rate, seed, stall_s=opt("--stall-ms") / 1000)
    damaged0, bad0, retries0 = client.damaged, len(link.bad_frames), client.retries_used
    seconds, vectors, fires = {"clean": 0.0, "faulty": 0.0}, {"clean": 0, "faulty": 0}, 0
    try:
        for i, start in enumerate(range(0, 2 * n, BLOCK)):
            mode = "faulty" if i % 2 else "clean"
            if mode == "faulty":
                link.port = faulty
                client.timeout, client.retries, client.resend_damaged = (0.5 if board.emulated else 1.0), 200, True
            elif i:
                # bytes the faulty block sent may still queue ahead of the board: a SYNC, answered
                # after them, tells when they are through (still tolerant of what they provoke)
                link.port = clean
                client.sync()
                client.timeout, client.retries, client.resend_damaged = saved
            t0 = time.perf_counter()
            report = run_lockstep(client, ref, xs[start:start + BLOCK], intents[start:start + BLOCK], batch=batch)
            seconds[mode] += time.perf_counter() - t0
            vectors[mode] += report.vectors
            fires += report.fires
    finally:
        link.port = clean
        client.timeout, client.retries, client.resend_damaged = saved
    device = client.read_state(layout_of(ref.params).total_bytes)
    diff = state_diff(device, ref)
    caught = (client.damaged - damaged0) + (len(link.bad_frames) - bad0)
    undetected = 0 if diff.startswith("slabs are equal") else 1
    speed = {m: vectors[m] / seconds[m] if seconds[m] else 0.0 for m in seconds}
    share = speed["faulty"] / speed["clean"] if speed["clean"] else 0.0
    c = faulty.counts
    line = (f"fault link: {c.frames} frames, {c.corrupted} corrupted, {undetected} undetected, "
            f"state {'bit-exact' if not undetected else 'DIFFERS'}")
    print(f"\n{vectors['faulty']} vectors at {rate:.2%} byte faults (seed {seed}, batch {batch}, stalls of "
          f"{opt('--stall-ms'):g} ms): {client.retries_used - retries0} resends, {caught} damaged frames caught by "
          f"CRC/COBS/length, {client.timeouts} timeouts, {fires} fires; faults by kind {c.by_kind}; "
          f"{c.bytes_tx / max(vectors['faulty'], 1):.0f} B/vector to the board, "
          f"{c.bytes_rx / max(vectors['faulty'], 1):.0f} back; PART size {client.part_blocks * 32} B\n"
          f"throughput: {speed['faulty']:.0f} vectors/s through the faults, {speed['clean']:.0f} clean in the same "
          f"run: {share:.0%}\n{line}")
    for key, value in (("fault_frames", c.frames), ("fault_corrupted", c.corrupted),
                       ("fault_undetected", undetected), ("fault_caught", caught), ("fault_rate", rate),
                       ("fault_vectors", vectors["faulty"]), ("fault_vectors_per_s", round(speed["faulty"], 1)),
                       ("clean_vectors_per_s", round(speed["clean"], 1)), ("fault_throughput_share", round(share, 3)),
                       ("stall_ms", opt("--stall-ms"))):
        record_property(key, value)
    assert client.sync().step == ref.step_count
    assert not undetected, diff
