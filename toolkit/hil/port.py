"""A serial port the user named, checked before anything starts: one line if it is not there or
another program holds it (instead of every HIL test failing its set-up)."""
from __future__ import annotations

import errno

from common.errors import ConfigError


def check_port(port: str) -> None:
    import serial

    try:
        s = serial.serial_for_url(port, do_not_open=True, timeout=0)
        if hasattr(s, "exclusive"):
            s.exclusive = True   # a lock another program holds fails here, not mid-stream
        s.open()
        s.close()
    except (serial.SerialException, ValueError, OSError) as e:
        code = getattr(e, "errno", None)
        text = str(e)
        if code == errno.ENOENT or "No such file" in text:
            raise ConfigError(f"serial port {port} does not exist",
                              "plug the board in and give its port (ls /dev/ttyACM* /dev/ttyUSB*)") from e
        if code in (errno.EBUSY, errno.EAGAIN) or "busy" in text.lower() or "lock" in text.lower():
            raise ConfigError(f"serial port {port} is busy: another program has it open",
                              f"close it (fuser -v {port} shows which)") from e
        if code == errno.EACCES or "Permission denied" in text:
            raise ConfigError(f"serial port {port}: permission denied", "add yourself to the dialout group") from e
        raise ConfigError(f"serial port {port} cannot be opened: {text}", "check the port name or URL") from e
