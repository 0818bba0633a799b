"""Exact instruction counts of firmware functions: the built ELF loaded into unicorn (QEMU's CPU
core as a library) as a Cortex-M, a function called with prepared memory, every instruction it
executes counted. Deterministic: the same ELF and inputs give the same count on any host.
(QEMU boards have no cycle counter; instructions are what an emulator can measure exactly.)"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CPU_MODELS = {"cortex-m0": "UC_CPU_ARM_CORTEX_M0", "cortex-m3": "UC_CPU_ARM_CORTEX_M3",
              "cortex-m4": "UC_CPU_ARM_CORTEX_M4", "cortex-m7": "UC_CPU_ARM_CORTEX_M7"}


@dataclass
class CallResult:
    r0: int
    r1: int
    instructions: int


class ArmCallCounter:
    def __init__(self, elf: Path, cpu: str, flash: tuple[int, int], ram: tuple[int, int]):
        from elftools.elf.elffile import ELFFile
        from unicorn import UC_ARCH_ARM, UC_HOOK_CODE, UC_MODE_MCLASS, UC_MODE_THUMB, Uc
        from unicorn import arm_const

        self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        self.uc.ctl_set_cpu_model(getattr(arm_const, CPU_MODELS[cpu]))
        self.const = arm_const
        self.ram = ram
        for base, size in (flash, ram):
            self.uc.mem_map(base & ~0xFFF, (size + 0xFFF) & ~0xFFF)
        # the callee "returns" to the last word of flash (executable, never code) and the run stops
        self.return_addr = flash[0] + flash[1] - 8
        self.symbols = {}
        with open(elf, "rb") as f:
            e = ELFFile(f)
            for seg in e.iter_segments():
                if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]:
                    self.uc.mem_write(seg["p_paddr"], seg.data())
                    if seg["p_vaddr"] != seg["p_paddr"]:
                        self.uc.mem_write(seg["p_vaddr"], seg.data())
            for sym in e.get_section_by_name(".symtab").iter_symbols():
                if sym["st_info"]["type"] == "STT_FUNC":
                    self.symbols[sym.name] = sym["st_value"] & ~1
        self.count = 0

        def tick(uc, address, size, user):
            self.count += 1

        self.uc.hook_add(UC_HOOK_CODE, tick)

    def write(self, addr: int, data: bytes) -> None:
        self.uc.mem_write(addr, bytes(data))

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(addr, n))

    def call(self, name: str, *args: int, limit: int = 50_000_000) -> CallResult:
        """Call `name` with 32-bit arguments (AAPCS: r0-r3, the rest on the stack); count what it
        executes. A 64-bit argument is passed as two (low, high) in an even register pair."""
        if name not in self.symbols:
            raise KeyError(f"{name} is not in the ELF (kept by --gc-sections only when something calls it)")
        c, uc = self.const, self.uc
        regs = (c.UC_ARM_REG_R0, c.UC_ARM_REG_R1, c.UC_ARM_REG_R2, c.UC_ARM_REG_R3)
        for reg, value in zip(regs, args):
            uc.reg_write(reg, value & 0xFFFFFFFF)
        sp = (self.ram[0] + self.ram[1] - 256) & ~7
        for i, value in enumerate(args[4:]):
            uc.mem_write(sp + 4 * i, (value & 0xFFFFFFFF).to_bytes(4, "little"))
        uc.reg_write(c.UC_ARM_REG_SP, sp)
        uc.reg_write(c.UC_ARM_REG_LR, self.return_addr | 1)
        self.count = 0
        uc.emu_start(self.symbols[name] | 1, self.return_addr, count=limit)
        return CallResult(uc.reg_read(c.UC_ARM_REG_R0), uc.reg_read(c.UC_ARM_REG_R1), self.count)
