"""Staged requests (docs/protocol.md §3.2): a payload sent ahead in PART frames, then the request
with its length, round and CRC-32. The firmware's own service (host build) on one end, the Python
codec and client on the other; and the whole lossy-link host path against it through the fault
injector, without QEMU."""
import struct

import numpy as np
import pytest

from firmware import protocol as P
from firmware.service_twin import ServiceTwinPort
from firmware.slab import layout_of
from quant.pin_fixed import PinFixed
from toolkit.hil.client import PinClient
from toolkit.hil.faults import FaultyPort
from toolkit.hil.link import FrameLink
from toolkit.hil.lockstep import run_lockstep, state_diff
from toolkit.pin.synth import synthetic_pin

PIN = synthetic_pin(64, 8, 8, seed=3)


def _frames(port) -> list[P.Frame]:
    link = FrameLink(port)
    return link.drain(0.0)


def _push_payload(xs) -> bytes:
    return struct.pack("<HH", len(xs), 0) + np.asarray(xs, "<i2").tobytes()


def _stage(port, seq, payload, blocks=None, round_=1, crc=None):
    """PART frames for `blocks` (default all), then the staged PUSH; the answers."""
    n = -(-len(payload) // 32)
    for b in range(n) if blocks is None else blocks:
        port.write(P.frame(P.PART, seq, struct.pack("<H", 32 * b) + payload[32 * b:32 * b + 32]))
    crc = P.crc32(payload) if crc is None else crc
    port.write(P.frame(P.PUSH | P.STAGED, seq, struct.pack("<HBxI", len(payload), round_, crc)))
    return _frames(port)


@pytest.fixture
def port():
    p = ServiceTwinPort(PIN.params)
    _frames(p)  # the banner
    return p


def test_hello_says_the_service_takes_parts(port):
    port.write(P.frame(P.HELLO, 0))
    (hello,) = _frames(port)
    assert P.Hello.parse(hello.payload).flags & P.FLAG_PARTS


def test_a_staged_push_changes_the_slab_exactly_as_the_plain_push(port):
    xs, _ = PIN.stream_q15(4, seed=1)
    plain = ServiceTwinPort(PIN.params)
    plain.write(P.frame(P.PUSH, 1, _push_payload(xs)))
    (want,) = [f for f in _frames(plain) if f.type == P.PUSH | P.RESPONSE]
    answers = _stage(port, 1, _push_payload(xs))
    assert [(f.type, f.seq, f.payload) for f in answers] == [(want.type, 1, want.payload)]
    assert port.slab() == plain.slab()


def test_missing_blocks_are_named_with_the_round_and_resent_ones_complete_it(port):
    xs, _ = PIN.stream_q15(4, seed=2)
    payload = _push_payload(xs)  # 4 + 4 * 128 bytes: 17 blocks
    (err,) = _stage(port, 1, payload, blocks=[b for b in range(17) if b not in (3, 16)], round_=7)
    assert err.type == P.ERROR and err.seq == 1
    assert struct.unpack_from("<H", err.payload)[0] == P.E_PARTS
    assert P.missing_blocks(err.payload) == (7, [3, 16])
    before = port.slab()
    (ok,) = _stage(port, 1, payload, blocks=[3, 16], round_=8)
    assert ok.type == P.PUSH | P.RESPONSE and port.slab() != before
    # the same staged request again is a retry: the cached answer, the slab unchanged
    after = port.slab()
    (again,) = _stage(port, 1, payload, blocks=[], round_=9)
    assert again == ok and port.slab() == after


def test_pieces_that_do_not_add_up_are_all_asked_for_again(port):
    payload = _push_payload(PIN.stream_q15(1, seed=4)[0])
    (err,) = _stage(port, 1, payload, crc=P.crc32(payload) ^ 1)
    assert P.missing_blocks(err.payload)[1] == [0, 1, 2, 3, 4]  # 132 bytes: blocks 0-4, all of them
    assert port.slab() == ServiceTwinPort(PIN.params).slab()


def test_a_reset_forgets_the_pieces(port):
    payload = _push_payload(PIN.stream_q15(1, seed=5)[0])
    for b in range(5):
        port.write(P.frame(P.PART, 1, struct.pack("<H", 32 * b) + payload[32 * b:32 * b + 32]))
    port.boot()  # warm reset: the slab is kept, the staging buffer is not retained
    _frames(port)
    (err,) = _stage(port, 1, payload, blocks=[])
    assert P.missing_blocks(err.payload)[1] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("offset, body", [(16, b"x"), (0, b""), (512, b"y" * 64)])
def test_a_part_outside_the_rules_is_refused(port, offset, body):
    port.write(P.frame(P.PART, 1, struct.pack("<H", offset) + body))
    (err,) = _frames(port)
    assert err.type == P.ERROR and P.parse_error(err.payload)[0] == P.E_ARG and "PART" in P.parse_error(err.payload)[1]


def test_runs_group_consecutive_blocks():
    assert PinClient._runs([0, 1, 2, 3, 4, 7, 8, 10], 2) == [(0, 2), (2, 2), (4, 1), (7, 2), (10, 1)]


@pytest.mark.parametrize("rate, seed", [(0.01, 1), (0.01, 2), (0.03, 3)])
def test_a_lossy_stream_through_the_injector_stays_bit_exact(rate, seed):
    twin = ServiceTwinPort(PIN.params)
    faulty = FaultyPort(twin, rate, seed, stall_s=0.0)
    link = FrameLink(faulty)
    client = PinClient(link, timeout=0.05, retries=500)
    client.resend_damaged, client.min_timeout = True, 0.0005
    for f in link.drain(0.0):
        client._aside(f)
    client.hello()
    client.sync()
    ref = PinFixed(PIN.params)
    xs, intents = PIN.stream_q15(60, seed=seed)
    run_lockstep(client, ref, xs, intents, batch=4)
    assert client.parts_sent > 0 and faulty.counts.corrupted > 0
    faulty.rate = 0.0
    diff = state_diff(client.read_state(layout_of(PIN.params).total_bytes), ref)
    assert diff.startswith("slabs are equal"), diff
