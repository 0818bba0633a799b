"""Driver: the Pin's commands over a FrameLink, with sequence numbers, retries and the device's
unsolicited frames (EVENT, boot banners) kept aside."""
from __future__ import annotations

import os
import struct
import time

import numpy as np

from common.errors import NpinError
from firmware import protocol as P


class DeviceError(NpinError):
    """The device answered ERROR."""

    def __init__(self, code: int, text: str, seq: int):
        super().__init__(f"device error {P.ERROR_NAMES.get(code, code)} (seq {seq}): {text}")
        self.code, self.text, self.seq = code, text, seq


class LinkTimeout(NpinError):
    pass


class ColdReboot(NpinError):
    """The device restarted and reloaded its Pin from flash while a request was outstanding."""


REBOOTED = "rebooted"  # wait_for's answer when a boot banner arrived instead of the response
MAX_REBOOTS_PER_REQUEST = 50
DAMAGED = (P.E_CRC, P.E_COBS, P.E_TRUNCATED, P.E_OVERSIZE)


class PinClient:
    def __init__(self, link, timeout: float = 5.0, retries: int = 2):
        self.link, self.timeout, self.retries = link, timeout, retries
        self.seq = 1
        self.hello_info: P.Hello | None = None
        self.events: list[P.DeviceEvent] = []
        self.banners: list[P.Hello] = []
        self.errors: list[tuple[int, str, int]] = []  # unsolicited ERROR frames (boot, NO_SEQ)
        self.retries_used = 0
        self.resend_damaged = False   # a lossy link: resend what arrived damaged instead of failing
        self.damaged = 0              # requests the device reported damaged (CRC, COBS, length)
        self.reboots_seen = 0         # boot banners that arrived while a request was outstanding
        self._event_seqs: dict[int, P.DeviceEvent] = {}

    # -- plumbing ---------------------------------------------------------------------------
    def _aside(self, f: P.Frame) -> None:
        if f.type == P.EVENT:
            ev = P.DeviceEvent.parse(f.payload)
            # a command cut short by a reset is applied again and sends its EVENTs again, same seq
            if self._event_seqs.get(f.seq) == ev:
                return
            self._event_seqs[f.seq] = ev
            if len(self._event_seqs) > 256:
                del self._event_seqs[next(iter(self._event_seqs))]
            self.events.append(ev)
        elif f.type == P.HELLO | P.RESPONSE:
            self.banners.append(P.Hello.parse(f.payload))
        elif f.type == P.ERROR:
            self.errors.append((*P.parse_error(f.payload), f.seq))

    def wait_for(self, msg_type: int, seq: int, timeout: float) -> P.Frame | str | None:
        """The response to (type, seq); ERROR for that seq raises; other frames are set aside.
        An ERROR about a frame that arrived damaged (CRC, COBS, TRUNCATED, OVERSIZE: no sequence
        number) raises too, unless `resend_damaged`: then None, and the request goes again. A boot
        banner means the device restarted: REBOOTED (resend; it kept or took back the request,
        docs/protocol.md §5), or ColdReboot if it came back without its state."""
        deadline = time.monotonic() + timeout
        while (f := self.link.read_frame(max(0.0, deadline - time.monotonic()))) is not None:
            if f.seq == seq and f.type == msg_type | P.RESPONSE and not (
                    msg_type == P.HELLO and P.Hello.parse(f.payload).flags & P.FLAG_BANNER):
                return f
            if f.type == P.HELLO | P.RESPONSE and P.Hello.parse(f.payload).flags & P.FLAG_BANNER \
                    and msg_type != P.HELLO:
                self._aside(f)
                self.reboots_seen += 1
                if not self.banners[-1].flags & P.FLAG_WARM:
                    raise ColdReboot(f"the device restarted cold while {P.NAMES[msg_type]} seq {seq} was "
                                     "outstanding: its Pin was reloaded from flash",
                                     "check the parameter block and that retained RAM (.noinit) survives resets")
                return REBOOTED
            if f.type == P.ERROR:
                code, text = P.parse_error(f.payload)
                # Errors the device cannot pin to a sequence number (CRC, oversize ...) are about
                # the frame just sent; a parameter error without one is a boot message.
                if f.seq == P.NO_SEQ and code in DAMAGED and self.resend_damaged:
                    self.damaged += 1
                    return None
                if f.seq == seq or (f.seq == P.NO_SEQ and code != P.E_PARAMS):
                    raise DeviceError(code, text, f.seq)
            self._aside(f)
        return None

    def request(self, msg_type: int, payload: bytes = b"", *, seq: int | None = None,
                sequenced: bool = True) -> P.Frame:
        if seq is None:
            seq = self.seq if sequenced else 0
        data = P.frame(msg_type, seq, payload)
        attempt = sends = reboots = 0
        while attempt <= self.retries:
            # a retry is the same bytes: the device answers it from its cache (a leading 0x00 ends
            # whatever partial frame a damaged line left in the device's buffer)
            self.link.send(data if sends == 0 else b"\x00" + data)
            sends += 1
            f = self.wait_for(msg_type, seq, self.timeout)
            if isinstance(f, P.Frame):
                if sequenced and seq == self.seq:
                    self.seq = (self.seq + 1) & 0xFFFF
                return f
            if f == REBOOTED:  # not the link's fault: resend at once, no retry spent
                reboots += 1
                if reboots > MAX_REBOOTS_PER_REQUEST:
                    raise LinkTimeout(f"the device restarted {reboots} times during {P.NAMES[msg_type]} seq {seq}",
                                      "is it in a reset loop? watch its banner's boot count")
                continue
            self.retries_used += attempt < self.retries
            attempt += 1
        raise LinkTimeout(f"no answer to {P.NAMES[msg_type]} seq {seq} after {self.retries + 1} tries",
                          "is the board running this firmware? ('npin hil run' checks HELLO first)")

    # -- commands ---------------------------------------------------------------------------
    def hello(self) -> P.Hello:
        self.hello_info = P.Hello.parse(self.request(P.HELLO, sequenced=False).payload)
        return self.hello_info

    def sync(self, nonce: int | None = None) -> P.SyncReply:
        nonce = int.from_bytes(os.urandom(4), "little") if nonce is None else nonce
        reply = P.SyncReply.parse(self.request(P.SYNC, struct.pack("<I", nonce), sequenced=False).payload)
        if reply.nonce != nonce:
            raise NpinError(f"SYNC answered nonce {reply.nonce:#x}, sent {nonce:#x}: a stale reply on the line")
        self.seq = ((reply.last_seq + 1) & 0xFFFF) if reply.has_last else 1
        return reply

    def push(self, xs: np.ndarray) -> tuple[int, int, int]:
        """PUSH the rows, as many frames as max_payload needs; returns the last (count, fill, overrun)."""
        xs = np.ascontiguousarray(xs, dtype="<i2")
        per = max(1, (self.hello_info.max_payload - 4) // (2 * xs.shape[1])) if self.hello_info else len(xs)
        for i in range(0, len(xs), per):
            f = self.request(P.PUSH, struct.pack("<HH", len(xs[i:i + per]), 0) + xs[i:i + per].tobytes())
        return struct.unpack("<HHI", f.payload)

    def step(self, count: int) -> list[P.StepRecord]:
        return P.parse_step_reply(self.request(P.STEP, struct.pack("<H", count)).payload)

    def read_state(self, total: int, chunk: int | None = None) -> bytes:
        chunk = chunk or (self.hello_info.max_payload - 8 if self.hello_info else 256)
        out = bytearray()
        while len(out) < total:
            n = min(chunk, total - len(out))
            f = self.request(P.READ_STATE, struct.pack("<IH", len(out), n))
            out += f.payload[8:8 + n]
        return bytes(out)

    def feedback(self, facet: int, sign: int) -> int:
        f = self.request(P.FEEDBACK, struct.pack("<Hh", facet, sign))
        return struct.unpack("<Hh", f.payload)[1]

    def bench(self, reps: int) -> tuple[int, int, int]:
        ticks, reps_done, source = struct.unpack_from("<IHB", self.request(P.BENCH, struct.pack("<H", reps)).payload)
        return ticks, reps_done, source

    def reset(self, kind: int) -> None:
        self.request(P.RESET, bytes([kind]))
