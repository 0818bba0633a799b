"""A fault-injecting link: wraps the host's serial port (QEMU's TCP serial or a real one) and,
seeded, flips bits in, drops, duplicates and inserts bytes and stalls the line, in both
directions, at a given rate per byte. It counts what it did per frame (frames end at 0x00 in the
clean stream), so the report can say how many frames were hit and the host how many it caught."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

KINDS = ("flip", "drop", "dup", "insert", "stall")


@dataclass
class FaultCounts:
    frames: int = 0              # frames that crossed the link, both directions
    corrupted: int = 0           # frames the injector changed (a stall alone does not count)
    bytes_tx: int = 0            # host to board, before faults
    bytes_rx: int = 0            # board to host, before faults
    by_kind: dict = field(default_factory=lambda: {k: 0 for k in KINDS})


class FaultyPort:
    """pyserial-like: write/read/in_waiting pass through the corrupter; everything else is the
    wrapped port's."""

    def __init__(self, port, rate: float, seed: int, kinds=KINDS, stall_s: float = 0.002):
        if not 0 <= rate < 1:
            raise ValueError(f"fault rate {rate} is not in [0, 1)")
        self.port, self.rate, self.kinds, self.stall_s = port, rate, tuple(kinds), stall_s
        self.rng = np.random.default_rng(seed)
        self.counts = FaultCounts()
        self._hit = {"tx": False, "rx": False}

    def _corrupt(self, data: bytes, way: str) -> bytes:
        if not data:
            return data
        out = bytearray()
        hits = self.rng.random(len(data)) < self.rate
        for b, hit in zip(data, hits):
            if hit:
                kind = self.kinds[int(self.rng.integers(len(self.kinds)))]
                self.counts.by_kind[kind] += 1
                self._hit[way] |= kind != "stall"  # a stall delays the frame, it does not change it
                if kind == "flip":
                    out.append(b ^ (1 << int(self.rng.integers(8))))
                elif kind == "drop":
                    pass
                elif kind == "dup":
                    out += bytes((b, b))
                elif kind == "insert":
                    out += bytes((b, int(self.rng.integers(256))))
                else:  # stall: the byte arrives late
                    time.sleep(self.stall_s)
                    out.append(b)
            else:
                out.append(b)
            if b == 0:   # a frame ended in the clean stream
                self.counts.frames += 1
                if self._hit[way]:
                    self.counts.corrupted += 1
                    self._hit[way] = False
        return bytes(out)

    def write(self, data: bytes) -> int:
        self.counts.bytes_tx += len(data)
        self.port.write(self._corrupt(bytes(data), "tx"))
        return len(data)

    def read(self, n: int = 1) -> bytes:
        data = self.port.read(n)
        self.counts.bytes_rx += len(data)
        return self._corrupt(data, "rx")

    @property
    def in_waiting(self) -> int:
        return self.port.in_waiting

    @property
    def timeout(self):
        return self.port.timeout

    @timeout.setter
    def timeout(self, value):
        self.port.timeout = value

    def __getattr__(self, name):
        return getattr(self.port, name)


def default_vectors(asked: int | None, dims: int) -> int:
    """What a robustness test streams unless told: 400 vectors, fewer for wide Pins (QEMU moves host
    bytes into a one-byte UART register one main-loop turn at a time)."""
    return asked if asked is not None else min(400, max(50, 25_600 // dims))
