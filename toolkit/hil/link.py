"""Driver, lowest layer: frames over any pyserial port (a QEMU TCP socket, /dev/ttyACM0, or
pyserial's loop:// and spy:// URLs)."""
from __future__ import annotations

import time

from firmware.protocol import Frame, FrameError, parse_frame


class FrameLink:
    def __init__(self, port):
        self.port = port
        self._buf = bytearray()
        self.bad_frames: list[str] = []  # device-side garbage we skipped, for the report

    def send(self, data: bytes) -> None:
        self.port.write(data)

    def read_frame(self, timeout: float, stop_on_damage: bool = False) -> Frame | None:
        """The next well-formed frame, or None when `timeout` seconds pass without one (or, with
        `stop_on_damage`, as soon as a damaged frame has been skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            end = self._buf.find(0)
            if end >= 0:
                chunk = bytes(self._buf[:end])
                del self._buf[:end + 1]
                if not chunk:
                    continue
                try:
                    return parse_frame(chunk)
                except (FrameError, ValueError) as e:
                    self.bad_frames.append(str(e))
                    if stop_on_damage:
                        return None
                    continue
            waiting = self.port.in_waiting  # pyserial's socket:// says 1 for "readable"
            if waiting:
                self._buf += self.port.read(waiting)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._buf += self._read_within(remaining)

    def _read_within(self, seconds: float) -> bytes:
        """One byte, waiting no longer than `seconds` or the port's own timeout, whichever is less."""
        base = getattr(self.port, "timeout", None)
        if base is None or seconds >= base:
            return self.port.read(1)
        self.port.timeout = seconds
        try:
            return self.port.read(1)
        finally:
            self.port.timeout = base

    def drain(self, quiet: float = 0.2) -> list[Frame]:
        """Read until the line has been quiet for `quiet` seconds (labgrid's settle)."""
        frames = []
        while (f := self.read_frame(quiet)) is not None:
            frames.append(f)
        return frames
