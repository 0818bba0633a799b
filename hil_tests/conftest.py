"""The HIL suite's board fixture. By default: build the firmware for --board, boot it in QEMU, talk
to its UART over TCP with pyserial. With --port: the same tests on a real board already flashed
with the same build (HELLO's build id is checked before any test). With labgrid's --lg-env: the
target `main` of that environment (npin boards lg-env), brought up by its NpinStrategy — an emulator
labgrid starts, a local serial port, or a place reserved on a coordinator."""
from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.boards import DEFAULT_BOARD, load_board
from toolkit.hil.target import open_target
from toolkit.pin.synth import SyntheticPin, pin_under_test


def pytest_addoption(parser):
    g = parser.getgroup("npin", "npin hardware in the loop")
    g.addoption("--board", default=DEFAULT_BOARD, help="board id (npin boards); default %(default)s")
    g.addoption("--port", default=None, help="a real board's serial port or pyserial URL; default: QEMU")
    g.addoption("--pin", default=None, help="quantized Pin (*.q15.json); default: the board's [hil] shape")
    g.addoption("--shape", default=None,
                help="D,K,slots[,q15|q7] of a synthetic Pin instead of the board's [hil] shape")
    g.addoption("--vectors", type=int, default=10_000, help="vectors in the lock-step stream")
    g.addoption("--workdir", default="build/hil", help="where firmware projects are generated and built")
    g.addoption("--kernels", default="portable", help="portable, or m4 (Cortex-M4 DSP kernels)")
    g.addoption("--faults", type=float, default=0.001, help="byte fault rate of the lossy-link test (0.001 = 0.1 %%)")
    g.addoption("--fault-seed", type=int, default=1, help="seed of the fault injector")
    g.addoption("--stall-ms", type=float, default=2.0, help="how long each stall fault holds the line")
    g.addoption("--fault-vectors", type=int, default=None,
                help="vectors streamed through the lossy link (as many again over the clean link, in between); "
                     "default 400, fewer for wide Pins")
    g.addoption("--fault-batch", type=int, default=1, help="vectors per PUSH/STEP in the lossy-link test")
    g.addoption("--resets", type=int, default=40, help="random resets pressed during the reset test's stream")
    g.addoption("--reset-vectors", type=int, default=None,
                help="vectors streamed in the reset test; default 400, fewer for wide Pins")


def pytest_configure(config):
    # pyserial-labgrid's RFC 2217 client (a farm's network serial ports) still calls setDaemon/setName
    config.addinivalue_line("filterwarnings", "ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning")


@pytest.fixture(scope="session")
def lg_strategy(request):
    """The labgrid environment's NpinStrategy (through labgrid's `strategy` fixture, which applies
    --lg-initial-state), or None without --lg-env."""
    if not request.config.getoption("lg_env", None):
        return None
    from toolkit.hil.lg_drivers import NpinStrategy

    strategy = request.getfixturevalue("strategy")
    if not isinstance(strategy, NpinStrategy):
        pytest.exit(f"the labgrid environment's strategy is {type(strategy).__name__}, not NpinStrategy "
                    "(write the environment with: npin boards lg-env BOARD)", returncode=4)
    return strategy


@pytest.fixture(scope="session")
def hil_pin(request, lg_strategy) -> SyntheticPin:
    """The Pin under test and a source of intent streams for it."""
    opt = request.config.getoption
    board_id = lg_strategy.board if lg_strategy is not None else opt("--board")
    return pin_under_test(opt("--pin"), opt("--shape"), load_board(board_id).hil_shape)


@pytest.fixture(scope="session")
def board(request, hil_pin, lg_strategy):
    opt = request.config.getoption
    if lg_strategy is not None:
        target = lg_strategy.hil_target(hil_pin.params, kernels=opt("--kernels"))
    else:
        target = open_target(opt("--board"), hil_pin.params, Path(opt("--workdir")), port=opt("--port"),
                             kernels=opt("--kernels"))
    with target as t:
        yield t


@pytest.fixture
def fresh(board):
    """The board's Pin reloaded from its parameter block, and a reference in the same state."""
    from firmware import protocol as P
    from quant.pin_fixed import PinFixed

    board.client.reset(P.RESET_STATE)
    board.client.events.clear()
    return board.client, PinFixed(board.params)

