"""npin's parts for labgrid (https://labgrid.readthedocs.io): an environment file names them under
`imports:` and labgrid builds them from YAML like its own.

- `NpinQemuMonitor` (resource): an emulated board's QMP monitor on host:port, exported by a farm's
  exporter beside the board's serial port.
- `NpinQemuResetDriver` (ResetProtocol): presses reset through that monitor, RAM kept — what a
  reset line does on a real board.
- `NpinFrameDriver`: npin's framed protocol on top of any labgrid console (SerialDriver over a local
  or network serial port, QEMUDriver).
- `NpinStrategy`: brings the target to `ready` — firmware built for its board, powered on (an
  emulator), HELLO checked, in sync — and hands the HIL suite a `HilTarget`.
"""
from __future__ import annotations

import contextlib
import enum
from pathlib import Path

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.protocol import ResetProtocol
from labgrid.resource.common import NetworkResource
from labgrid.strategy.common import Strategy, StrategyError, never_retry
from pexpect import TIMEOUT

from common.errors import ConfigError, NpinError


class BoardGone(NpinError):
    """The connection to the board broke: its emulator or exporter stopped, its cable came out."""


@target_factory.reg_resource
@attr.s(eq=False)
class NpinQemuMonitor(NetworkResource):
    """QEMU's QMP monitor of an emulated board, listening on host:port."""

    port = attr.ib(validator=attr.validators.instance_of(int))


@target_factory.reg_driver
@attr.s(eq=False)
class NpinQemuResetDriver(Driver, ResetProtocol):
    bindings = {"monitor": "NpinQemuMonitor"}

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self._qmp = None

    def on_activate(self):
        from .qemu import QmpClient

        self._qmp = QmpClient(self.monitor.host, self.monitor.port)

    def on_deactivate(self):
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None

    @Driver.check_active
    def reset(self):
        self._qmp.execute("system_reset")


class ConsolePort:
    """A pyserial-shaped view of a labgrid ConsoleProtocol, so FrameLink (and the fault injector
    wrapped around it) runs on any labgrid console."""

    def __init__(self, console, where: str, timeout: float = 0.05):
        self.console, self.where, self.timeout = console, where, timeout
        self.gone: BoardGone | None = None

    @property
    def in_waiting(self) -> int:
        return 0  # consoles offer no count; read() returns whatever has arrived

    def _broken(self, e: Exception) -> BoardGone:
        """Once the connection breaks every later call fails at once, naming the board."""
        if self.gone is None:
            self.gone = BoardGone(f"{self.where} is gone: its serial connection broke ({type(e).__name__}: {e})",
                                  "is its board still running and exported? labgrid-client -p PLACE show")
        return self.gone

    def read(self, n: int = 1) -> bytes:
        import serial

        if self.gone is not None:
            raise self.gone
        try:
            return self.console.read(size=1, timeout=self.timeout, max_size=max(n, 4096))
        except TIMEOUT:
            return b""
        except (serial.SerialException, OSError, EOFError) as e:
            raise self._broken(e) from e

    def write(self, data: bytes) -> int:
        import serial

        if self.gone is not None:
            raise self.gone
        try:
            self.console.write(bytes(data))
        except (serial.SerialException, OSError, EOFError) as e:
            raise self._broken(e) from e
        return len(data)

    def close(self) -> None:
        pass


@target_factory.reg_driver
@attr.s(eq=False)
class NpinFrameDriver(Driver):
    """npin frames over the target's console."""

    bindings = {"console": "ConsoleProtocol"}

    @Driver.check_active
    def port(self, where: str) -> ConsolePort:
        return ConsolePort(self.console, where)


class Status(enum.Enum):
    unknown = 0
    off = 1
    ready = 2


@target_factory.reg_driver
@attr.s(eq=False)
class NpinStrategy(Strategy):
    """States: off (emulator stopped / nothing open) and ready (built, flashed where the target has a
    flasher, running, HELLO checked)."""

    bindings = {
        "frames": "NpinFrameDriver",
        "power": {"PowerProtocol", None},          # QEMUDriver; a lab's power switch
        # a reset that keeps RAM (the reset tests expect a warm boot): not a power cycle, which
        # labgrid's power drivers also offer as ResetProtocol
        "reset": {"NpinQemuResetDriver", "DigitalOutputResetDriver", None},
        "bootstrap": {"BootstrapProtocol", None},  # a flasher (OpenOCDDriver, …): loads the ELF built here
    }
    board = attr.ib(validator=attr.validators.instance_of(str))
    workdir = attr.ib(default="build/hil", validator=attr.validators.instance_of(str))
    image = attr.ib(default=None, validator=attr.validators.optional(attr.validators.instance_of(str)))
    status = attr.ib(default=Status.unknown)
    build = attr.ib(default=None, init=False)  # the BuildResult of the last transition to ready

    @property
    def place(self) -> str | None:
        from labgrid.exceptions import NoResourceFoundError
        from labgrid.resource.remote import RemotePlace

        try:
            return self.target.get_resource(RemotePlace, wait_avail=False).name
        except NoResourceFoundError:  # a target on this machine
            return None

    @property
    def _emulated(self) -> bool:
        from labgrid.driver import QEMUDriver

        return isinstance(self.reset, NpinQemuResetDriver) or isinstance(self.power, QEMUDriver)

    @property
    def where(self) -> str:
        place = self.place
        return f"place {place}" if place else f"labgrid target {self.target.name} ({self.board})"

    def _check_image(self, elf: Path) -> None:
        """An emulator target loads the env's image: it must be the ELF this run built."""
        if self.image is None:
            return
        loads = Path(self.target.env.config.get_image_path(self.image)).resolve()
        if loads != elf.resolve():
            raise ConfigError(f"the labgrid environment loads {loads}, this run built {elf}",
                              f"regenerate it: npin boards lg-env {self.board} --workdir {self.workdir}")

    @never_retry
    def transition(self, status, *, params=None, kernels: str = "portable"):
        if not isinstance(status, Status):
            status = Status[status]
        if status == Status.unknown:
            raise StrategyError(f"can not transition to {status}")
        if status == Status.off:
            self.target.deactivate(self.frames)
            if self.power is not None:
                self.target.activate(self.power)
                self.power.off()
            self.build = None
        elif status == Status.ready:
            self.transition(Status.off)
            self._bring_up(params, kernels, power_and_flash=True)
        self.status = status

    @never_retry
    def force(self, status):
        """labgrid's --lg-initial-state: take the board as being in `status` already. `ready`: it
        already runs the firmware this run builds — nothing is powered or flashed; HELLO still checks."""
        if not isinstance(status, Status):
            status = Status[status]
        if status not in (Status.off, Status.ready):
            raise StrategyError(f"can not force {status}")
        self.build = None
        self.status = status

    def _bring_up(self, params, kernels: str, power_and_flash: bool) -> None:
        from .target import prepare

        if params is None:
            from ..boards import load_board
            from ..pin.synth import pin_under_test

            params = pin_under_test(None, None, load_board(self.board).hil_shape).params
        _, build = prepare(self.board, params, Path(self.workdir), kernels)
        self._check_image(build.elf)
        if self.power is not None:
            self.target.activate(self.power)
            if power_and_flash or self._emulated:  # an emulator labgrid starts is paused until on()
                self.power.on()
        if self.bootstrap is not None and power_and_flash:
            self.target.activate(self.bootstrap)
            self.bootstrap.load(str(build.elf))
        if self.reset is not None:
            self.target.activate(self.reset)
        self.target.activate(self.frames)
        self.build = build

    @contextlib.contextmanager
    def hil_target(self, params, kernels: str = "portable", timeout: float = 5.0):
        """The board ready for the HIL suite, as a HilTarget; off again afterwards."""
        from ..boards import load_board
        from .target import connect

        if self.status == Status.ready and self.build is None:  # forced ready
            self._bring_up(params, kernels, power_and_flash=False)
        else:
            self.transition(Status.ready, params=params, kernels=kernels)
        reset_button = None
        if self.reset is not None:
            reset_button = self.reset.reset
        elif self.power is not None and hasattr(self.power, "monitor_command"):  # labgrid's QEMUDriver
            reset_button = lambda: self.power.monitor_command("system_reset")  # noqa: E731
        board = load_board(self.board)
        port = self.frames.port(self.where)
        try:
            yield connect(board, params, self.build, port, self.where,
                          emulated=self._emulated, reset_button=reset_button, timeout=timeout)
        finally:
            self.transition(Status.off)
