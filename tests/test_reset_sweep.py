"""Resets at any instruction (docs/protocol.md §5): the firmware ELF runs in unicorn, is stopped
after exactly n instructions of a command, reset with its RAM as it was, and must recover to the
reference's reply and slab for every n. Also: the sweep catches a firmware that does not recover."""
from pathlib import Path

import pytest

from parts import needs
from quant.pin_fixed import PinFixed
from toolkit.boards import load_board
from toolkit.firmware.build import build_project
from toolkit.hil.reset_sweep import CommandSweep, prepare_stream
from toolkit.hil.unicorn_board import UnicornBoard, UnicornBoardError
from toolkit.pin.synth import synthetic_pin
from firmware.project_gen import generate_project

pytestmark = needs("arm")
BOARD = "mps2-an386"


def _build(tmp: Path, shape, patch=None):
    pin = synthetic_pin(*shape, seed=11)
    board = load_board(BOARD)
    generate_project(board, pin.params, tmp)
    if patch:
        src = tmp / "src" / "npin_service.c"
        text = src.read_text()
        assert patch[0] in text
        src.write_text(text.replace(*patch))
    return pin, board, build_project(tmp).elf


def _sweep(pin, board, elf, command, warmup=32):
    emu = UnicornBoard(elf, board)
    ref = PinFixed(pin.params)
    xs, intents = pin.stream_q15(warmup + 1, seed=5)
    client = prepare_stream(emu, ref, xs, intents, warmup)
    return CommandSweep(emu, client, ref, command, xs[warmup])


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("fw") / "p", (64, 8, 8))


def test_a_reset_at_every_instruction_of_a_firing_step_recovers_bit_exact(small):
    sweep = _sweep(*small, "step")
    assert sweep.want_events, "the swept STEP should fire (stream seed 5, 32 vectors in)"
    result = sweep.run(every=1)
    assert result.cuts == sweep.instructions - 1 > 10_000
    assert result.failures == []
    # the cuts span all three regions: before the journal, while it is open, after the commit
    assert all(result.outcomes[k] > 0 for k in ("untouched", "taken back", "committed")), result.outcomes


@pytest.mark.parametrize("command", ["push", "feedback", "reset"])
def test_resets_during_push_feedback_and_reset_recover_bit_exact(small, command):
    result = _sweep(*small, command).run(every=5)
    assert result.failures == [] and result.recovered == result.cuts > 400
    assert result.outcomes["taken back"] > 0 and result.outcomes["committed"] > 0


def test_the_mission_shape_step_recovers_at_sampled_instructions(tmp_path):
    sweep = _sweep(*_build(tmp_path / "p", (512, 16, 32)), "step", warmup=31)
    result = sweep.run(every=997)
    assert sweep.instructions > 100_000 and result.failures == [] and result.cuts > 100


def test_the_sweep_catches_a_firmware_that_ignores_its_journal(tmp_path):
    pin, board, elf = _build(tmp_path / "p", (64, 8, 8),
                             patch=("if (same && ss->journal == NPIN_JOURNAL_UNDO && journal_undo(s) != 0) same = 0;",
                                    "(void)journal_undo;"))
    result = _sweep(pin, board, elf, "step").run(every=41)
    assert result.failures and all("taken back" in f for f in result.failures)


def test_a_board_without_the_modelled_uart_is_refused_in_one_line(small):
    _, _, elf = small
    with pytest.raises(UnicornBoardError, match="CMSDK UART only; lm3s6965evb has pl011"):
        UnicornBoard(elf, load_board("lm3s6965evb"))
