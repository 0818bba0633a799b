"""The portable core builds as strict C99 for the host and for 32-bit Cortex-M without float,
heap or libc beyond memcpy/memset, and passes the style checks of docs/pin-spec.md."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from parts import skip_unless

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
CORE, APP, HAL = FIRMWARE / "core", FIRMWARE / "app", FIRMWARE / "hal"
# The core and the protocol service; npin_main.c and hal/ need a board header (tests/test_firmware_gen.py
# builds those for every board).
PORTABLE = sorted(p for p in CORE.glob("*.c") if p.name not in ("npin_ring_mp.c", "npin_kernels_m4.c")) + \
    sorted(p for p in APP.glob("*.c") if p.name != "npin_main.c")
STRICT = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-Wconversion", "-Wshadow",
          "-fno-strict-aliasing", "-Os", "-c"]
# What a Cortex-M link may pull in: mem* from libc; helpers from libgcc.
ALLOWED_UNDEFINED = {"memcpy", "memset", "memcmp", "memmove", "__aeabi_memcpy", "__aeabi_memset", "__aeabi_memclr",
                     "__aeabi_ldivmod", "__aeabi_uldivmod", "__aeabi_lmul",
                     "__gnu_thumb1_case_uqi"}  # libgcc: 64-bit division, M0 multiply, M0 switch tables
ARM_CPUS = {"cortex-m0": [], "cortex-m3": [], "cortex-m4": ["-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]}


def _compile(cc: str, flags: list[str], out: Path) -> list[Path]:
    objs = []
    for src in PORTABLE:
        obj = out / (src.stem + ".o")
        res = subprocess.run([cc, *STRICT, *flags, "-I", str(CORE), "-I", str(APP), str(src), "-o", str(obj)],
                             capture_output=True, text=True)
        assert res.returncode == 0, f"{src.name}: {res.stderr}"
        objs.append(obj)
    return objs


def test_host_strict_c99(tmp_path):
    _compile("gcc", [], tmp_path)


@pytest.mark.parametrize("cpu", sorted(ARM_CPUS))
def test_cortex_m_build_has_no_float_and_no_libc(cpu, tmp_path):
    skip_unless("arm")
    cc = shutil.which("arm-none-eabi-gcc")
    objs = _compile(cc, [f"-mcpu={cpu}", "-mthumb", *ARM_CPUS[cpu]], tmp_path)
    nm = subprocess.run(["arm-none-eabi-nm", "-u", *map(str, objs)], capture_output=True, text=True,
                        check=True).stdout
    undefined = {line.split()[-1] for line in nm.splitlines() if line.strip() and not line.endswith(":")}
    internal = {"npin_isqrt64", "npin_update_q15", "npin_dots_q15", "npin_dots_q7", "npin_consume", "npin_crc32", "npin_cobs_emit",
                "npin_cobs_decode", "npin_params_check", "npin_slab_prepare", "npin_push", "npin_step",
                "npin_feedback", "npin_copy_q15"}
    assert undefined - internal <= ALLOWED_UNDEFINED, undefined - internal - ALLOWED_UNDEFINED
    disasm = subprocess.run(["arm-none-eabi-objdump", "-d", *map(str, objs)], capture_output=True,
                            text=True, check=True).stdout
    fp = [line for line in disasm.splitlines() if re.search(r"\tv(add|sub|mul|div|cvt|mov|ldr|str)\.?f?", line)]
    assert not fp, fp[:5]


def test_core_sources_use_no_float_heap_or_stdio():
    banned = re.compile(r"\b(float|double|malloc|calloc|free|printf|assert)\s*\(|\bfloat\b|\bdouble\b|__int128")
    for src in sorted([*CORE.glob("*.[ch]"), *APP.glob("*.[ch]"), *HAL.glob("*.[ch]")]):
        text = re.sub(r"/\*.*?\*/", "", src.read_text(), flags=re.S)
        hits = [ln for ln in text.splitlines() if banned.search(ln)]
        assert not hits, f"{src.name}: {hits}"
