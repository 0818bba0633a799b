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

    def read_frame(self, timeout: float) -> Frame | None:
        """The next well-formed frame, or None when `timeout` seconds pass without one."""
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
                    continue
            waiting = self.port.in_waiting  # pyserial's socket:// says 1 for "readable"
            if waiting:
                self._buf += self.port.read(waiting)
                continue
            if time.monotonic() >= deadline:
                return None
            self._buf += self.port.read(1)  # blocks up to the port's own timeout

    def drain(self, quiet: float = 0.2) -> list[Frame]:
        """Read until the line has been quiet for `quiet` seconds (labgrid's settle)."""
        frames = []
        while (f := self.read_frame(quiet)) is not None:
            frames.append(f)
        return frames
