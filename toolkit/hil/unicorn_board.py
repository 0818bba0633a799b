"""Resource: a board's firmware ELF running in unicorn (QEMU's CPU core as a library), with a model
of the board's UART, so the host can stop it after any exact number of instructions, press reset
there and let it boot again from what RAM held — what QEMU's monitor cannot do on one instruction.

The port it offers is pyserial-like (write, read, in_waiting): FrameLink and PinClient run over it
unchanged. The CPU runs only when the host looks for bytes, until the firmware polls an empty
receive register (it is then idle, waiting for the host)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.errors import NpinError
from firmware.board_target import BoardTarget
from firmware.insn_count import CPU_MODELS

SCS_BASE, SCS_SIZE = 0xE000_0000, 0x10_0000   # system control space: plain memory here
SCB_AIRCR, SYSRESETREQ = 0xE000_ED0C, 1 << 2
# CMSDK APB UART: DATA, STATE (bit 0 TX full, bit 1 RX full), CTRL, INTSTATUS, BAUDDIV. The
# firmware clears INTSTATUS just before it sleeps for input (uart_cmsdk.c): the idle mark.
CMSDK_DATA, CMSDK_STATE, CMSDK_INTSTATUS, CMSDK_RX_FULL = 0x0, 0x4, 0xC, 0x2


class UnicornBoardError(NpinError):
    pass


@dataclass
class Snapshot:
    context: object
    ram: list[tuple[int, bytes]]
    rx: bytes
    tx: bytes
    idle: bool


class UnicornBoard:
    """The ELF on a Cortex-M core. `run()` executes until idle (or `count` instructions), `reset()`
    is the reset pin: registers from the vector table, bytes in flight lost, RAM untouched."""

    def __init__(self, elf: Path, board: BoardTarget, max_instructions: int = 200_000_000):
        from elftools.elf.elffile import ELFFile
        from unicorn import UC_ARCH_ARM, UC_HOOK_MEM_WRITE, UC_MODE_MCLASS, UC_MODE_THUMB, Uc
        from unicorn import arm_const

        self.check(board)
        self.board, self.c, self.max_instructions = board, arm_const, max_instructions
        uc = self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        uc.ctl_set_cpu_model(getattr(arm_const, CPU_MODELS[board.cpu]))
        uc.mem_map(board.flash_origin, board.flash_size)
        uc.mem_map(board.ram_origin, board.ram_size)
        uc.mem_map(SCS_BASE, SCS_SIZE)
        uc.mmio_map(board.uart_base, 0x1000, self._uart_read, None, self._uart_write, None)
        symbols, ranges = {}, []
        with open(elf, "rb") as f:
            e = ELFFile(f)
            for seg in e.iter_segments():
                if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]:
                    uc.mem_write(seg["p_paddr"], seg.data())
            for sec in e.iter_sections():
                if sec["sh_flags"] & 2 and board.ram_origin <= sec["sh_addr"] < board.ram_origin + board.ram_size:
                    ranges.append((sec["sh_addr"], sec["sh_size"]))
            sizes = {}
            for sym in e.get_section_by_name(".symtab").iter_symbols():
                symbols[sym.name] = sym["st_value"]
                sizes[sym.name] = sym["st_size"]
        self.symbols, self.symbol_sizes = symbols, sizes
        top = symbols["__stack_top"]
        # what a snapshot must hold: the statics and the stack (the rest of RAM is never touched)
        lo = min(a for a, _ in ranges) if ranges else board.ram_origin
        hi = max(a + n for a, n in ranges) if ranges else board.ram_origin
        self.ram_ranges = [(lo, hi - lo), (top - 2 * board.stack_bytes, 2 * board.stack_bytes)]
        self.vectors = bytes(uc.mem_read(board.flash_origin, 8))
        self.rx, self.tx = bytearray(), bytearray()
        self.idle = False
        self.resets = 0
        self._reset_requested = False
        uc.hook_add(UC_HOOK_MEM_WRITE, self._scb_write, begin=SCB_AIRCR, end=SCB_AIRCR + 3)
        self.reset()

    @staticmethod
    def check(board: BoardTarget) -> None:
        """Refuse, before anything is built, a board this model cannot run."""
        if board.uart_kind != "cmsdk":
            raise UnicornBoardError(f"the unicorn board models the CMSDK UART only; {board.id} has {board.uart_kind}",
                                    "use an MPS2 board (--board mps2-an386)")
        if board.cpu not in CPU_MODELS:
            raise UnicornBoardError(f"unicorn has no {board.cpu} model", f"one of {', '.join(CPU_MODELS)}")

    # -- the UART model ----------------------------------------------------------------------
    def _uart_read(self, uc, offset, size, user):
        if offset == CMSDK_STATE:
            return CMSDK_RX_FULL if self.rx else 0  # never TX full: the host takes bytes at once
        if offset == CMSDK_DATA:
            return self.rx.pop(0) if self.rx else 0
        return 0

    def _uart_write(self, uc, offset, size, value, user):
        if offset == CMSDK_DATA:
            self.tx.append(value & 0xFF)
        elif offset == CMSDK_INTSTATUS and not self.rx:
            self.idle = True
            uc.emu_stop()

    def _scb_write(self, uc, access, address, size, value, user):
        if value >> 16 == 0x05FA and value & SYSRESETREQ:
            self._reset_requested = True
            uc.emu_stop()

    # -- the core ------------------------------------------------------------------------------
    def reset(self) -> None:
        """The reset pin: SP and PC from the vector table; the UART loses what it held."""
        c, uc = self.c, self.uc
        for r in range(13):
            uc.reg_write(getattr(c, f"UC_ARM_REG_R{r}"), 0)
        uc.reg_write(c.UC_ARM_REG_PRIMASK, 0)
        uc.reg_write(c.UC_ARM_REG_CONTROL, 0)
        uc.reg_write(c.UC_ARM_REG_SP, int.from_bytes(self.vectors[:4], "little"))
        uc.reg_write(c.UC_ARM_REG_LR, 0xFFFF_FFFF)
        uc.reg_write(c.UC_ARM_REG_PC, int.from_bytes(self.vectors[4:], "little") & ~1)
        self.rx.clear()
        self.idle = False
        self.resets += 1

    def run(self, count: int = 0) -> int:
        """Execute until idle, or exactly `count` instructions if count > 0 and it is not idle by
        then. Returns 1 if it went idle, 0 if the count ran out."""
        pc = self.uc.reg_read(self.c.UC_ARM_REG_PC)
        self.idle = False
        self.uc.emu_start(pc | 1, 0xFFFF_FFFF, count=count or self.max_instructions)
        if self._reset_requested:  # the firmware asked for a system reset: take it, boot on
            self._reset_requested = False
            self.reset()
            return self.run(count)
        if not self.idle and not count:
            raise UnicornBoardError(f"the firmware ran {self.max_instructions} instructions without waiting for input",
                                    "a hang or a fault loop: look at the PC in the firmware's map file")
        return int(self.idle)

    def snapshot(self) -> Snapshot:
        return Snapshot(self.uc.context_save(), [(a, bytes(self.uc.mem_read(a, n))) for a, n in self.ram_ranges],
                        bytes(self.rx), bytes(self.tx), self.idle)

    def restore(self, snap: Snapshot) -> None:
        self.uc.context_restore(snap.context)
        for addr, data in snap.ram:
            self.uc.mem_write(addr, data)
        self.rx[:], self.tx[:], self.idle = snap.rx, snap.tx, snap.idle

    def read_memory(self, addr: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(addr, n))

    # -- pyserial-like port ------------------------------------------------------------------
    def write(self, data: bytes) -> int:
        self.rx += data
        return len(data)

    def _settle(self) -> None:
        if self.rx or not self.idle:
            self.run()

    @property
    def in_waiting(self) -> int:
        self._settle()
        return len(self.tx)

    def read(self, n: int = 1) -> bytes:
        self._settle()
        out = bytes(self.tx[:n])
        del self.tx[:n]
        return out

    def close(self) -> None:
        pass
