"""Sequence numbers make retries idempotent, and a reset mid-stream loses nothing: the host resyncs
with SYNC and resumes; a command retried after the reset is answered, not applied again."""
import struct

import pytest

from firmware import protocol as P
from firmware.slab import state_digest
from toolkit.hil.lockstep import run_lockstep


def test_retried_frames_are_answered_from_the_cache(fresh, hil_pin):
    client, ref = fresh
    xs, _ = hil_pin.stream_q15(2, seed=3)
    push = P.frame(P.PUSH, client.seq, struct.pack("<HH", 2, 0) + xs.astype("<i2").tobytes())
    client.link.send(push)
    first = client.wait_for(P.PUSH, client.seq, 5)
    client.link.send(push)  # the same frame again: a host that missed the answer
    again = client.wait_for(P.PUSH, client.seq, 5)
    assert first == again
    client.seq += 1
    step = P.frame(P.STEP, client.seq, struct.pack("<H", 8))
    client.link.send(step)
    a = client.wait_for(P.STEP, client.seq, 5)
    client.link.send(step)
    b = client.wait_for(P.STEP, client.seq, 5)
    client.seq += 1
    assert a == b
    for x in xs:
        ref.push(x)
    assert len(P.parse_step_reply(a.payload)) == 2  # pushed once, stepped once
    ref.step(), ref.step()
    assert client.sync().digest == state_digest(ref)


def _resync_after(client, ref, reset):
    boots = client.sync().boot_count
    reset()
    banner = client.link.read_frame(10)
    assert banner is not None and banner.type == P.HELLO | P.RESPONSE
    hello = P.Hello.parse(banner.payload)
    assert hello.flags & P.FLAG_BANNER and hello.flags & P.FLAG_WARM, "state must survive a warm reset"
    reply = client.sync()
    assert reply.boot_count == boots + 1
    assert (reply.step, reply.digest) == (ref.step_count, state_digest(ref))


def test_reboot_mid_stream_resumes_bit_exact(fresh, hil_pin):
    client, ref = fresh
    xs, intents = hil_pin.stream_q15(300, seed=4)
    run_lockstep(client, ref, xs[:150], intents[:150])
    seq = client.seq
    _resync_after(client, ref, lambda: client.reset(P.RESET_REBOOT))
    assert client.seq == seq + 1  # the RESET itself was the last command applied
    # retrying the RESET after the reboot is answered from the retained cache, not applied again
    boots = client.sync().boot_count
    client.link.send(P.frame(P.RESET, seq, bytes([P.RESET_REBOOT])))
    assert client.wait_for(P.RESET, seq, 5) is not None
    assert client.link.read_frame(0.5) is None and client.sync().boot_count == boots
    run_lockstep(client, ref, xs[150:], intents[150:])


def test_reset_button_mid_stream_resumes_bit_exact(fresh, hil_pin, board):
    if board.reset_button is None:
        pytest.skip(f"pressing reset needs a reset line ({board.where} has none: an emulator's monitor, or a "
                    "labgrid ResetProtocol driver); on a board without one, RESET is tested above")
    client, ref = fresh
    xs, intents = hil_pin.stream_q15(200, seed=8)
    run_lockstep(client, ref, xs[:77], intents[:77])
    _resync_after(client, ref, board.reset_button)
    run_lockstep(client, ref, xs[77:], intents[77:])


def test_reset_state_reloads_the_parameter_block(fresh, hil_pin):
    client, ref = fresh
    xs, _ = hil_pin.stream_q15(5, seed=1)
    from quant.pin_fixed import PinFixed

    cold = state_digest(PinFixed(ref.params))
    client.push(xs)
    client.step(5)
    assert client.sync().digest != cold  # the stream really moved the state
    client.reset(P.RESET_STATE)
    assert client.sync().digest == cold
