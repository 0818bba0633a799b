"""Energy per routing decision, estimated from exact instruction counts (docs/bench.md).

energy = instructions x cycles per instruction x supply voltage x run current per Hz

No board here has a current probe and QEMU has no cycle counter, so every factor but the
instruction count is an assumption, each with its source; the estimate is for a Cortex-M4 MCU of
the netduinoplus2 board's part (STM32F405), the Cortex-M4 with public datasheet figures among our
boards (mps2-an386 is an FPGA image with no current specification).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class McuPower:
    part: str
    volts: float
    amps_per_hz: float
    cpi: tuple[float, float]       # (low, high) cycles per instruction assumed for the Pin's loops
    sources: tuple[str, ...]

    def joules(self, instructions: int, cpi: float) -> float:
        return instructions * cpi * self.volts * self.amps_per_hz


STM32F405 = McuPower(
    part="STM32F405 (Cortex-M4F, 168 MHz)",
    volts=3.3,
    amps_per_hz=40e-3 / 168e6,   # 40 mA at 168 MHz, about 238 uA/MHz
    cpi=(1.0, 1.5),
    sources=(
        "current: STM32F405xx/407xx datasheet (DocID022152), 'Typical and maximum current consumption in "
        "Run mode, code with data processing running from Flash memory (ART accelerator enabled)', "
        "fHCLK = 168 MHz, all peripherals disabled: 40 mA typical (ST quotes this as 238 uA/MHz); "
        "taken from the published datasheet, not re-measured here",
        "voltage: VDD = 3.3 V, the datasheet's typical-value condition",
        "cycles per instruction: Cortex-M4 Technical Reference Manual instruction timings — SMLALD, SMLAD, "
        "SXTB16, QADD16 single-cycle, LDM 1 + N cycles, taken branches 1 + P — give about 1.0 to 1.2 over "
        "the Pin's loops at zero wait states; 1.5 allows for flash wait states the ART cache does not hide",
    ),
)


def decision_energy(step_instructions: int, steps_per_decision: float, mcu: McuPower = STM32F405) -> dict:
    """Energy of one step and of one routing decision (`steps_per_decision` updates), low/high CPI."""
    lo, hi = mcu.cpi
    return {
        "part": mcu.part, "volts": mcu.volts, "amps_per_hz": mcu.amps_per_hz, "cpi": [lo, hi],
        "step_instructions": step_instructions, "steps_per_decision": steps_per_decision,
        "step_uj": [mcu.joules(step_instructions, lo) * 1e6, mcu.joules(step_instructions, hi) * 1e6],
        "decision_uj": [mcu.joules(step_instructions, lo) * steps_per_decision * 1e6,
                        mcu.joules(step_instructions, hi) * steps_per_decision * 1e6],
        "sources": list(mcu.sources),
    }
