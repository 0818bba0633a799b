"""A reset at every instruction of one command, in turn (docs/protocol.md §5): the firmware runs in
unicorn from a snapshot taken just before the command's frame arrives, is stopped after exactly
n instructions, reset with its RAM as it was, boots, and the host resends the command as it would
after any reset. Every cut must end with the reply the Python reference gives and the whole slab
equal to the reference's, byte for byte."""
from __future__ import annotations

import copy
import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field

from firmware import protocol as P
from firmware.slab import slab_image, state_digest
from quant.pin_fixed import FIRED, PinFixed

from .client import PinClient
from .link import FrameLink
from .lockstep import run_lockstep
from .unicorn_board import UnicornBoard

COMMANDS = ("step", "push", "feedback", "reset")
SESSION = struct.Struct("<IIIHBBHHB3x16sI")  # npin_session_t (npin_service.h)
SESSION_MAGIC = 0x53534E4E
JOURNAL_UNDO, JOURNAL_RELOAD = 1, 2


@dataclass
class SweepResult:
    command: str
    instructions: int                 # the command's length, first byte in to idle again
    events: int = 0                   # EVENT frames the command sends (a STEP that fires: 1)
    cuts: int = 0
    recovered: int = 0
    outcomes: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def line(self, shape: str) -> str:
        o = self.outcomes
        return (f"reset sweep: {self.recovered}/{self.cuts} cuts of {self.command.upper()} recovered bit-exact "
                f"({self.instructions} instructions{', fires' if self.events else ''}, {shape}): "
                f"{o['untouched']} before the journal, {o['taken back']} taken back, "
                f"{o['committed']} answered from the cache")


def _current_record(board: UnicornBoard) -> tuple | None:
    if board.symbol_sizes.get("records") != 2 * SESSION.size:
        raise ValueError(f"the firmware's session records take {board.symbol_sizes.get('records')} bytes, "
                         f"this reader expects 2 x {SESSION.size}: npin_session_t changed")
    raw = board.read_memory(board.symbols["records"], 2 * SESSION.size)
    best = None
    for i in range(2):
        rec = raw[i * SESSION.size:(i + 1) * SESSION.size]
        f = SESSION.unpack(rec)
        if f[0] == SESSION_MAGIC and zlib.crc32(rec[:-4]) == f[-1]:
            if best is None or ((f[1] - best[1]) & 0xFFFFFFFF) < 0x80000000:
                best = f
    return best


def _request(command: str, ref: PinFixed, x) -> tuple[int, bytes]:
    if command == "step":
        return P.STEP, struct.pack("<H", 1)
    if command == "push":
        return P.PUSH, struct.pack("<HH", 1, 0) + x.astype("<i2").tobytes()
    if command == "feedback":
        return P.FEEDBACK, struct.pack("<Hh", ref.last_fired if ref.last_fired >= 0 else 0, -1)
    return P.RESET, bytes([P.RESET_STATE])


def _apply_reference(command: str, ref: PinFixed, x, payload: bytes) -> tuple[PinFixed, object, list]:
    """The reference after the command (`ref` is left as it was), what the reply must carry
    (STEP: its record, FEEDBACK: the new threshold), and the EVENTs it sends."""
    after = copy.deepcopy(ref)
    if command == "step":
        st, ev = after.step()
        rec = (st, ev.facet if ev else -1, ev.score_q15 if ev else 0, ev.tool if ev else 0, state_digest(after))
        return after, rec, [P.DeviceEvent(ev.step, ev.facet, ev.score_q15, ev.tool)] if st == FIRED else []
    if command == "push":
        after.push(x)
        return after, None, []
    if command == "feedback":
        facet, sign = struct.unpack("<Hh", payload)
        after.feedback(facet, sign)
        return after, int(after.thr_q15[facet]), []
    return PinFixed(ref.params), None, []


def vectors_before_a_fire(params, xs, least: int = 8) -> int:
    """How many of xs to stream first (at least `least`) so that the next one makes the Pin fire;
    `least` if none in xs does."""
    probe = PinFixed(params)
    for i, x in enumerate(xs[:-1]):
        probe.push(x)
        if probe.step()[0] == FIRED and i >= least:
            return i
    return least


def prepare_stream(board: UnicornBoard, ref: PinFixed, xs, intents, warmup: int) -> PinClient:
    """Boot, check in, and stream `warmup` vectors in lock step so the command meets a live state."""
    board.run()
    link = FrameLink(board)
    client = PinClient(link, timeout=0.05)
    for f in link.drain(0.0):
        client._aside(f)
    client.hello()
    client.sync()
    if warmup:
        run_lockstep(client, ref, xs[:warmup], intents[:warmup], batch=1)
    return client


class CommandSweep:
    """One command, ready to be cut: the snapshot just before its frame arrives, the reference's
    answer, and the command's length in instructions (from its first byte in to idle again)."""

    def __init__(self, board: UnicornBoard, client: PinClient, ref: PinFixed, command: str, x):
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}: one of {', '.join(COMMANDS)}")
        if command == "step":  # a STEP needs something to consume
            client.push(x[None, :])
            ref.push(x)
        self.board, self.client, self.command = board, client, command
        self.msg, self.payload = _request(command, ref, x)
        self.seq = client.seq
        self.frame = P.frame(self.msg, self.seq, self.payload)
        want_ref, self.want_reply, self.want_events = _apply_reference(command, ref, x, self.payload)
        self.want_slab = slab_image(want_ref)
        self.snap = board.snapshot()
        self.instructions = self._length()

    def _runs_to_idle(self, count: int) -> bool:
        self.board.restore(self.snap)
        self.board.write(self.frame)
        return bool(self.board.run(count=count))

    def _length(self) -> int:
        hi = 1 << 12
        while not self._runs_to_idle(hi):
            hi *= 2
        lo = 1
        while lo < hi:  # the fewest instructions that reach idle
            mid = (lo + hi) // 2
            if self._runs_to_idle(mid):
                hi = mid
            else:
                lo = mid + 1
        return lo

    def cut_points(self, every: int = 1) -> range:
        return range(1, self.instructions, every)

    def run(self, every: int = 1, advance=lambda n: None) -> SweepResult:
        """Cut after n = 1, 1 + every, … instructions (every = 1: at each one)."""
        board, result = self.board, SweepResult(self.command, self.instructions, len(self.want_events))
        for n in self.cut_points(every):
            self._runs_to_idle(n)
            rec = _current_record(board)
            if rec is not None and rec[3] == self.seq and rec[4]:
                outcome = "committed"
            elif rec is not None and rec[8] in (JOURNAL_UNDO, JOURNAL_RELOAD):
                outcome = "taken back"
            else:
                outcome = "untouched"
            board.reset()
            failure = self._resume()
            result.cuts += 1
            if failure:
                result.failures.append(f"cut after {n} instructions ({outcome}): {failure}")
            else:
                result.recovered += 1
                result.outcomes[outcome] += 1
            advance(1)
        board.restore(self.snap)
        return result

    def _resume(self) -> str | None:
        """Boot after the cut, resend as the host does, and say what differs (None: nothing)."""
        board, command, want_reply, want_events = self.board, self.command, self.want_reply, self.want_events
        link = FrameLink(board)
        host = PinClient(link, timeout=0.0, retries=3)
        host.hello_info, host.seq, host.resend_damaged = self.client.hello_info, self.seq, True
        try:
            board.run()  # the boot after the reset
            reply = host.request(self.msg, self.payload)
        except Exception as e:  # noqa: BLE001 - any failure to recover is the finding
            return f"{type(e).__name__}: {e}"
        if command == "step":
            recs = P.parse_step_reply(reply.payload)
            got = [(r.status, r.facet, r.score_q15, r.tool, r.digest) for r in recs]
            if got != [want_reply]:
                return f"STEP records {got}, reference {[want_reply]}"
            if host.events != want_events:
                return f"EVENT frames {host.events}, reference {want_events}"
        elif command == "feedback" and struct.unpack("<Hh", reply.payload)[1] != want_reply:
            return f"FEEDBACK threshold {struct.unpack('<Hh', reply.payload)[1]}, reference {want_reply}"
        slab = board.read_memory(board.symbols["slab"], len(self.want_slab))
        if slab != self.want_slab:
            i = next(i for i, (a, b) in enumerate(zip(slab, self.want_slab)) if a != b)
            return f"slab differs from the reference from byte {i}"
        return None
