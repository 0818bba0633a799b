"""Malformed frames get an ERROR frame and leave the slab untouched, byte for byte."""
import struct

import pytest

from firmware import protocol as P
from firmware.slab import layout_of


def _raw(msg_type, seq, payload=b"", version=P.VERSION):
    return P.HEADER.pack(version, msg_type, seq, len(payload)) + payload


def _with_crc(raw):
    return raw + struct.pack("<I", P.crc32(raw))


def _bad_crc(client):
    wire = bytearray(_with_crc(_raw(P.STEP, client.seq, struct.pack("<H", 1))))
    wire[-1] ^= 0x55
    return P.cobs_encode(bytes(wire)) + b"\0", P.E_CRC


def _truncated(client):
    raw = _raw(P.PUSH, client.seq, struct.pack("<HH", 1, 0) + bytes(2 * client.hello_info.dims))
    cut = raw[:len(raw) // 2]  # the header promises more payload than arrives; the CRC is over what came
    return P.cobs_encode(_with_crc(cut)) + b"\0", P.E_TRUNCATED


def _runt(client):
    return P.cobs_encode(b"\x01\x04\x00") + b"\0", P.E_TRUNCATED


def _oversized(client):
    return bytes([0x55]) * (client.hello_info.max_payload * 2 + 64) + b"\0", P.E_OVERSIZE


def _unknown_type(client):
    return P.frame(0x3C, client.seq), P.E_TYPE


def _wrong_version(client):
    return P.cobs_encode(_with_crc(_raw(P.STEP, client.seq, struct.pack("<H", 1), version=9))) + b"\0", P.E_VERSION


def _bad_cobs(client):
    return bytes([0x09, 0x11, 0x22]) + b"\0", P.E_COBS  # the code byte points past the frame's end


def _stale_seq(client):
    return P.frame(P.STEP, (client.seq - 2) & 0xFFFF, struct.pack("<H", 1)), P.E_STALE


def _bad_args(client):
    return P.frame(P.FEEDBACK, client.seq, struct.pack("<Hh", 999, 1)), P.E_ARG


CASES = [_bad_crc, _truncated, _runt, _oversized, _unknown_type, _wrong_version, _bad_cobs, _stale_seq, _bad_args]


@pytest.mark.parametrize("make", CASES, ids=[c.__name__.strip("_") for c in CASES])
def test_malformed_frame_gets_error_and_changes_nothing(fresh, hil_pin, make):
    client, ref = fresh
    xs, _ = hil_pin.stream_q15(3, seed=2)  # some state that is not the initial one
    client.push(xs)
    client.step(3)
    total = layout_of(ref.params).total_bytes
    before = client.read_state(total)
    wire, code = make(client)
    client.link.send(b"\0" + wire)  # a leading 0x00 ends any partial frame, as a host resync would
    # the answer comes once the whole frame has crossed the link: wait for it at a pessimistic
    # 2 kB/s (an emulated one-byte UART on a loaded host), then for anything else it sends
    first = client.link.read_frame(2.0 + len(wire) / 2000)
    errors = [f for f in [first, *client.link.drain(0.5)] if f is not None and f.type == P.ERROR]
    assert len(errors) == 1, errors
    assert P.parse_error(errors[0].payload)[0] == code, P.parse_error(errors[0].payload)
    assert client.read_state(total) == before
    # and the link still works for the next well-formed command
    client.push(xs[:1])
    assert len(client.step(1)) == 1
