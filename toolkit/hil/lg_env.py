"""labgrid environment files for a board (`npin boards lg-env`): one target `main` whose resources
say where the board is and whose drivers are labgrid's own where they fit — QEMUDriver for an
emulated board on this machine, SerialDriver for a local or a farm's network serial port — with
npin's frame driver and strategy on top (toolkit/hil/lg_drivers.py)."""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from firmware.board_target import BoardTarget

from ..firmware.build import pio_env_dir

IMAGE = "npin-firmware"


def firmware_elf(board: BoardTarget, workdir: Path) -> Path:
    """Where the HIL suite's build of `board` (portable kernels) leaves its ELF."""
    return pio_env_dir(Path(workdir) / board.id, board.id) / "firmware.elf"


def lg_env(board: BoardTarget, workdir: Path, place: str | None = None, port: str | None = None,
           reset: bool | None = None) -> dict:
    """The environment as a dict (yaml.safe_dump writes it). `place`: a labgrid place (a farm's or
    a lab's); `port`: a serial port on this machine; neither: the emulator on this machine.
    `reset`: whether the place exports an emulator's monitor to press reset with (default: the board
    is emulated)."""
    workdir = Path(workdir).resolve()
    strategy = {"board": board.id, "workdir": str(workdir)}
    env: dict = {"targets": {"main": {"resources": [], "drivers": []}}, "imports": ["toolkit.hil.lg_drivers"]}
    main = env["targets"]["main"]
    if place:
        main["resources"].append({"RemotePlace": {"name": place}})
        main["drivers"].append({"SerialDriver": {"timeout": 3.0}})
        if reset if reset is not None else bool(board.qemu_machine):
            main["drivers"].append({"NpinQemuResetDriver": {}})
    elif port:
        main["resources"].append({"RawSerialPort": {"port": port, "speed": board.baud}})
        main["drivers"].append({"SerialDriver": {}})
    else:
        if not board.qemu_machine:
            from common.errors import ConfigError

            raise ConfigError(f"board {board.id} has no emulator",
                              f"name its serial port or place: npin boards lg-env {board.id} --port /dev/ttyACM0")
        env["tools"] = {"qemu-system-arm": shutil.which("qemu-system-arm") or "/usr/bin/qemu-system-arm"}
        env["images"] = {IMAGE: str(firmware_elf(board, workdir))}
        main["drivers"].append({"QEMUDriver": {
            "qemu_bin": "qemu-system-arm", "machine": board.qemu_machine, "cpu": board.cpu,
            "memory": board.qemu_memory, "kernel": IMAGE, "display": "none", "extra_args": "-nodefaults"}})
        strategy["image"] = IMAGE
    main["drivers"] += [{"NpinFrameDriver": {}}, {"NpinStrategy": strategy}]
    return env


def write_lg_env(path: Path, board: BoardTarget, env: dict, command: str) -> None:
    import yaml

    text = (f"# labgrid environment for {board.name} — written by `{command}`\n"
            "# use: pytest hil_tests --lg-env THIS_FILE   or   npin hil run --lg-env THIS_FILE\n"
            + yaml.safe_dump(env, sort_keys=False))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def board_of(env_file: Path) -> str:
    """The board an environment's NpinStrategy names (what `npin boards lg-env` wrote)."""
    import yaml

    from common.errors import ConfigError

    try:
        doc = yaml.safe_load(Path(env_file).read_text())
        drivers = doc["targets"]["main"]["drivers"]
        drivers = drivers if isinstance(drivers, list) else [{k: v} for k, v in drivers.items()]
        return next(d["NpinStrategy"]["board"] for d in drivers if "NpinStrategy" in d)
    except (yaml.YAMLError, KeyError, TypeError, StopIteration, AttributeError) as e:
        raise ConfigError(f"{env_file} is not an npin labgrid environment (no target main with an NpinStrategy "
                          f"naming its board: {type(e).__name__})", "write one: npin boards lg-env BOARD") from None


@contextlib.contextmanager
def open_lg_target(env_file: Path, params, kernels: str = "portable", timeout: float = 5.0):
    """The board of a labgrid environment's target `main`, ready (NpinStrategy), as a HilTarget;
    labgrid's environment is cleaned up (emulator stopped, ports closed) afterwards."""
    from labgrid import Environment

    env = Environment(str(env_file))
    try:
        strategy = env.get_target("main").get_driver("NpinStrategy")
        with strategy.hil_target(params, kernels=kernels, timeout=timeout) as target:
            yield target
    finally:
        env.cleanup()
