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
PART_FRAME_OVERHEAD = P.OVERHEAD + 2 + 2  # header, CRC, offset, COBS code and delimiter


class PartsMissing(list):
    """wait_for's answer to a staged request whose payload has not arrived whole: the blocks,
    and the round of the request frame it answers."""

    def __init__(self, round_: int, blocks: list[int]):
        super().__init__(blocks)
        self.round = round_


MAX_REBOOTS_PER_REQUEST = 50
DAMAGED = (P.E_CRC, P.E_COBS, P.E_TRUNCATED, P.E_OVERSIZE)


class PinClient:
    def __init__(self, link, timeout: float = 5.0, retries: int = 2, where: str = "the device"):
        self.link, self.timeout, self.retries, self.where = link, timeout, retries, where
        self.seq = 1
        self.hello_info: P.Hello | None = None
        self.events: list[P.DeviceEvent] = []
        self.banners: list[P.Hello] = []
        self.errors: list[tuple[int, str, int]] = []  # unsolicited ERROR frames (boot, NO_SEQ)
        self.retries_used = 0
        self.resend_damaged = False   # a lossy link: resend what arrived damaged instead of failing,
        #                               at once when any frame arrives damaged, and time out adaptively
        self.min_timeout = 0.01
        self.part_blocks = 4          # PART size in 32-byte blocks, fitted to the loss seen
        self.parts_sent = self.parts_lost = 0
        self._rtt: dict[int, tuple[float, float]] = {}  # per message type: smoothed RTT, its variation
        self.damaged = 0              # requests the device reported damaged (CRC, COBS, length)
        self.timeouts = 0             # waits that ended with nothing (the request goes again)
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

    def wait_for(self, msg_type: int, seq: int, timeout: float, damage_ends: bool = True) -> P.Frame | str | None:
        """The response to (type, seq); ERROR for that seq raises; other frames are set aside.
        An ERROR about a frame that arrived damaged (CRC, COBS, TRUNCATED, OVERSIZE: no sequence
        number) raises too, unless `resend_damaged`: then None, and the request goes again. A boot
        banner means the device restarted: REBOOTED (resend; it kept or took back the request,
        docs/protocol.md §5), or ColdReboot if it came back without its state. `damage_ends=False`:
        damaged frames and the device's complaints about them do not end the wait (a burst of PARTs
        is answered only after its last frame)."""
        deadline = time.monotonic() + timeout
        lossy = self.resend_damaged and damage_ends
        while True:
            bad = len(self.link.bad_frames)
            f = self.link.read_frame(max(0.0, deadline - time.monotonic()), stop_on_damage=lossy)
            if f is None:
                if lossy and len(self.link.bad_frames) > bad:
                    self.damaged += 1  # our answer (or the device's complaint) arrived damaged
                else:
                    self.timeouts += 1
                return None
            banner = f.type == P.HELLO | P.RESPONSE and bool(P.Hello.parse(f.payload).flags & P.FLAG_BANNER)
            if f.seq == seq and f.type == msg_type | P.RESPONSE and not banner:
                return f
            if banner and msg_type != P.HELLO:
                self._aside(f)
                self.reboots_seen += 1
                if not self.banners[-1].flags & P.FLAG_WARM:
                    raise ColdReboot(f"the device restarted cold while {P.NAMES[msg_type]} seq {seq} was "
                                     "outstanding: its Pin was reloaded from flash",
                                     "check the parameter block and that retained RAM (.noinit) survives resets")
                return REBOOTED
            if f.type == P.ERROR:
                code, text = P.parse_error(f.payload)
                if code == P.E_PARTS and f.seq == seq:
                    return PartsMissing(*P.missing_blocks(f.payload))
                # Errors the device cannot pin to a sequence number (CRC, oversize ...) are about
                # the frame just sent; a parameter error without one is a boot message.
                if f.seq == P.NO_SEQ and code in DAMAGED and self.resend_damaged:
                    self.damaged += 1
                    if damage_ends:
                        return None
                    continue
                if f.seq == seq or (f.seq == P.NO_SEQ and code != P.E_PARAMS):
                    raise DeviceError(code, text, f.seq)
            self._aside(f)

    def _timeout_for(self, msg_type: int, backoff: int = 0) -> float:
        """On a lossy link: RFC 6298's srtt + 4 rttvar per message type, doubled for each timeout
        in a row up to 8 times as long (a serial line has no congestion to back off from, only an
        estimate that may be short), within [min_timeout, timeout]; otherwise the fixed timeout."""
        if not self.resend_damaged or msg_type not in self._rtt:
            return self.timeout
        srtt, var = self._rtt[msg_type]
        return min(self.timeout, max(self.min_timeout, srtt + 4 * var) * 2 ** min(backoff, 3))

    def _measured(self, msg_type: int, rtt: float) -> None:
        if msg_type not in self._rtt:
            self._rtt[msg_type] = (rtt, rtt / 2)
        else:
            srtt, var = self._rtt[msg_type]
            self._rtt[msg_type] = (0.875 * srtt + 0.125 * rtt, 0.75 * var + 0.25 * abs(srtt - rtt))

    def request(self, msg_type: int, payload: bytes = b"", *, seq: int | None = None,
                sequenced: bool = True) -> P.Frame:
        if seq is None:
            seq = self.seq if sequenced else 0
        data = P.frame(msg_type, seq, payload)
        attempt = sends = reboots = backoff = 0
        while attempt <= self.retries:
            # a retry is the same bytes: the device answers it from its cache (a leading 0x00 ends
            # whatever partial frame a damaged line left in the device's buffer)
            self.link.send(data if sends == 0 else b"\x00" + data)
            sends += 1
            t0, timeouts = time.monotonic(), self.timeouts
            f = self.wait_for(msg_type, seq, self._timeout_for(msg_type, backoff))
            backoff = backoff + 1 if self.timeouts > timeouts else 0  # damage is news, silence is not
            if isinstance(f, P.Frame):
                if sends == 1:  # Karn: only an unambiguous round trip is a sample
                    self._measured(msg_type, time.monotonic() - t0)
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
        raise LinkTimeout(f"no answer from {self.where} to {P.NAMES[msg_type]} seq {seq} after "
                          f"{self.retries + 1} tries",
                          "is the board running this firmware? ('npin hil run' checks HELLO first)")

    def _fit_part_size(self) -> None:
        """Pick the PART size that moves the most payload per byte sent at the byte error rate
        the losses so far imply (a frame of n bytes crosses whole with probability (1 - e)^n)."""
        if self.parts_sent < 16:
            return
        n = PART_FRAME_OVERHEAD + P.PART_BLOCK * self.part_blocks
        whole = max(1e-6, 1 - self.parts_lost / self.parts_sent)
        e = 1 - whole ** (1 / n)

        def goodput(k: int) -> float:
            m = PART_FRAME_OVERHEAD + P.PART_BLOCK * k
            return (1 - e) ** m * P.PART_BLOCK * k / m

        best = max((1, 2, 4, 8, 16), key=goodput)
        if best != self.part_blocks:
            self.part_blocks, self.parts_sent, self.parts_lost = best, 0, 0
        elif self.parts_sent > 256:  # forget slowly: the line may get better or worse
            self.parts_sent, self.parts_lost = self.parts_sent // 2, self.parts_lost // 2

    def request_staged(self, msg_type: int, payload: bytes) -> P.Frame:
        """Send a request's payload ahead in PART frames and then the request itself, twice, all in
        one burst; resend only the blocks the device says are missing (docs/protocol.md §3.2). The
        request frame is tiny: sending it twice saves a timeout whenever one copy, or one of its
        two answers, is lost; each answer names its round, so a late one is recognised."""
        seq = self.seq
        crc = P.crc32(payload)
        every = set(range(-(-len(payload) // P.PART_BLOCK)))
        pending = every
        attempt = rounds = backoff = 0
        while attempt <= self.retries and rounds < 64 * (self.retries + 1):
            rounds += 1
            runs = self._runs(sorted(pending), self.part_blocks)
            parts = [P.frame(P.PART, seq, struct.pack("<H", b * P.PART_BLOCK)
                             + payload[b * P.PART_BLOCK:(b + k) * P.PART_BLOCK]) for b, k in runs]
            commit = P.frame(msg_type | P.STAGED, seq, struct.pack("<HBxI", len(payload), rounds & 0xFF, crc))
            self.link.send(b"\x00" + b"".join(parts) + commit + commit)
            t0 = time.monotonic()
            deadline = t0 + self._timeout_for(msg_type | P.STAGED, backoff)
            while True:
                f = self.wait_for(msg_type, seq, max(0.0, deadline - time.monotonic()), damage_ends=False)
                if not (isinstance(f, PartsMissing) and f.round != rounds & 0xFF):
                    break  # an answer to an earlier round is old news
            if isinstance(f, (P.Frame, PartsMissing)) and attempt == 0:  # no earlier answer can be late
                self._measured(msg_type | P.STAGED, time.monotonic() - t0)
            if isinstance(f, P.Frame):
                self.parts_sent += len(runs)
                self._fit_part_size()
                self.seq = (self.seq + 1) & 0xFFFF
                return f
            if isinstance(f, PartsMissing):
                backoff = 0
                missing = set(f)
                self.parts_sent += len(runs)
                self.parts_lost += sum(any(b + i in missing for i in range(k)) for b, k in runs)
                self._fit_part_size()
                pending = missing & every or pending
                continue
            if f == REBOOTED:  # the device forgot the parts it had
                pending = every
                continue
            # nothing: ask again with the request alone; its answer says what is missing
            pending = set()
            self.retries_used += attempt < self.retries
            attempt += 1
            backoff += 1
        raise LinkTimeout(f"no answer from {self.where} to staged {P.NAMES[msg_type]} seq {seq} after {rounds} rounds",
                          "is the board running this firmware? ('npin hil run' checks HELLO first)")

    @staticmethod
    def _runs(blocks: list[int], most: int) -> list[tuple[int, int]]:
        """Consecutive blocks grouped into (first, count) runs of at most `most`."""
        runs: list[tuple[int, int]] = []
        for b in blocks:
            if runs and runs[-1][0] + runs[-1][1] == b and runs[-1][1] < most:
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                runs.append((b, 1))
        return runs

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
        staged = self.resend_damaged and self.hello_info is not None and self.hello_info.flags & P.FLAG_PARTS
        for i in range(0, len(xs), per):
            payload = struct.pack("<HH", len(xs[i:i + per]), 0) + xs[i:i + per].tobytes()
            f = self.request_staged(P.PUSH, payload) if staged else self.request(P.PUSH, payload)
        return struct.unpack("<HHI", f.payload)

    def step(self, count: int) -> list[P.StepRecord]:
        return P.parse_step_reply(self.request(P.STEP, struct.pack("<H", count)).payload)

    def read_state(self, total: int, chunk: int | None = None) -> bytes:
        if not chunk and self.resend_damaged:  # small answers cross a lossy link whole more often
            chunk = P.PART_BLOCK * self.part_blocks
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
