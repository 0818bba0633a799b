"""Generate a self-contained PlatformIO project for one board and one quantized Pin: the C core,
the protocol service, the board's start-up and UART driver, a linker script, the parameter block
and a build identity. `pio run -d DIR` builds it with the local npin-arm platform."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common.errors import NpinError
from quant.pin_fixed import PinParams

from .board_target import BoardTarget
from .params_block import params_block, params_id_of
from .protocol import OVERHEAD as FRAME_OVERHEAD
from .protocol import HELLO_BYTES, PART_BLOCK, STEP_RECORD
from .slab import FLAG_Q7, LAYOUT_VERSION, fit_message, slab_layout

HERE = Path(__file__).resolve().parent
PLATFORM_DIR = HERE / "pio_platform"
CORE_FILES = ("npin_core.h", "npin_layout.h", "npin_internal.h", "npin_wide.h", "npin_atomic.h", "npin_slab.c",
              "npin_pin.c", "npin_ring.c")
KERNEL_FILES = {"portable": ("npin_kernels_ref.c",), "m4": ("npin_kernels_m4.c", "npin_kernels_m4_asm.S")}
APP_FILES = ("npin_proto.h", "npin_crc32.h", "npin_crc32.c", "npin_cobs.h", "npin_cobs.c",
             "npin_params_block.h", "npin_params_block.c", "npin_service.h", "npin_service.c",
             "npin_main.c")
JOURNAL_HEAD = 4 + 8 * 4  # NPIN_JOURNAL_HEAD
RAM_MISC_BYTES = 512  # the service struct, the session records, libc's and the vector table's .data/.bss


class FirmwareGenError(NpinError, ValueError):
    """A project cannot be generated: str() names the problem, ``hint`` the fix."""


@dataclass(frozen=True)
class RamPlan:
    slab_bytes: int
    max_payload: int
    rx_bytes: int
    resp_bytes: int
    journal_bytes: int
    stage_bytes: int
    stack_bytes: int
    misc_bytes: int

    @property
    def total(self) -> int:
        return (self.slab_bytes + self.rx_bytes + self.resp_bytes + self.journal_bytes + self.stage_bytes
                + self.stack_bytes + self.misc_bytes)


def _cobs_max(n: int) -> int:
    return n + n // 254 + 1


def max_payload_for(dims: int, slots: int, per_frame: int = 4) -> int:
    """The largest payload a build takes: a PUSH of `per_frame` vectors (at most one ring's worth),
    16 STEP records, a HELLO."""
    return max(4 + min(per_frame, slots) * 2 * dims, 4 + 16 * STEP_RECORD.size, HELLO_BYTES)


def ram_plan(board: BoardTarget, dims: int, facets: int, slots: int, facet_format: str = "q15") -> RamPlan:
    """Static RAM the firmware takes on `board` (the linker script asserts the same bound). A PUSH
    frame carries up to 4 vectors, fewer where the buffers it sizes would not fit the RAM."""
    layout = slab_layout(dims, facets, slots, facet_format)
    for per_frame in range(min(4, slots), 0, -1):
        max_payload = max_payload_for(dims, slots, per_frame)
        rx = (_cobs_max(FRAME_OVERHEAD + max_payload) + 2 + 7) & ~7
        resp = (FRAME_OVERHEAD + max_payload + 7) & ~7
        journal = (JOURNAL_HEAD + layout.state_bytes + 4 * slots + max_payload + 7) & ~7  # NPIN_JOURNAL_BYTES
        stage = ((max_payload + 7) & ~7) + 4 * ((max_payload // PART_BLOCK + 32) // 32)  # PART frames land here
        plan = RamPlan(layout.total_bytes, max_payload, rx, resp, journal, stage, board.stack_bytes, RAM_MISC_BYTES)
        if plan.total <= board.ram_size:
            break
    return plan


def check_fits(board: BoardTarget, dims: int, facets: int, slots: int, facet_format: str = "q15") -> RamPlan:
    conflict = board.params_erase_conflict()
    if conflict:
        raise FirmwareGenError(f"{board.id}: {conflict}", f"set flash.params_size in boards/{board.id}.toml so the "
                               "block starts on a sector boundary")
    plan = ram_plan(board, dims, facets, slots, facet_format)
    if plan.total > board.ram_size:
        msg = fit_message(dims, facets, slots, board.ram_size, facet_format,
                          lambda d, k, r, f: ram_plan(board, d, k, r, f).total, "RAM")
        raise FirmwareGenError(
            f"the Pin does not fit {board.id} ({board.ram_size // 1024} KiB RAM): {msg} "
            f"(slab, its journal, serial buffers and stack)",
            "quantize a smaller Pin (--dims/--facets/--slots of 'npin pin example-config') or pick a bigger board")
    block = 48 + slab_layout(dims, facets, slots, facet_format).offsets["stamp"]
    if block > board.params_size:
        raise FirmwareGenError(f"the parameter block needs {block} bytes, the {board.id} parameter region "
                               f"holds {board.params_size}", "use fewer dims or facets")
    return plan


def _c_bytes(data: bytes, per_line: int = 16) -> str:
    rows = [", ".join(f"0x{b:02x}" for b in data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "{\n    " + ",\n    ".join(rows) + "\n}"


def hard_float(extra_cflags: str) -> bool:
    """Whether the flags select an ABI that uses the FPU's registers (the core must enable it)."""
    abis = re.findall(r"-mfloat-abi=(\w+)", extra_cflags)
    return bool(abis) and abis[-1] in ("hard", "softfp")


def _board_header(board: BoardTarget, params: PinParams, plan: RamPlan, fpu: bool = False) -> str:
    writes = ", ".join(f"{{0x{a:08x}u, 0x{m:08x}u, 0x{v:08x}u, {int(w)}u}}" for a, m, v, w in board.uart_init) \
        or "{0u, 0u, 0u, 0u}"
    return f"""/* Generated by npin firmware gen from boards/{board.id}.toml: do not edit. */
#ifndef NPIN_BOARD_H
#define NPIN_BOARD_H

#define NPIN_BOARD_NAME "{board.id}"
#define NPIN_UART_BASE 0x{board.uart_base:08x}u
#define NPIN_UART_DIVISOR {board.uart_divisor()}u
#define NPIN_UART_IRQ {board.uart_irq}u
#define NPIN_UART_BYTE_CYCLES {board.byte_cycles()}u /* one 10-bit character at the baud rate, in CPU cycles */
#define NPIN_UART_TX_PIN {board.uart_tx_pin}u
#define NPIN_UART_RX_PIN {board.uart_rx_pin}u
#define NPIN_BOARD_INIT_WRITES {{{writes}}}
#define NPIN_BOARD_INIT_COUNT {len(board.uart_init)}
#define NPIN_CPU_HAS_DWT {int(board.has_dwt)}
#define NPIN_FPU_ENABLE {int(fpu)} /* a hard-float build: the reset handler turns the FPU on before anything runs */
#define NPIN_TICKS_{board.ticks.upper().replace("-", "_")} 1

#define NPIN_DIMS {params.dims}u
#define NPIN_FACETS {params.n_facets}u
#define NPIN_SLOTS {params.slots}u
#define NPIN_FLAGS {FLAG_Q7 if params.facet_format == "q7" else 0}u
#define NPIN_MAX_PAYLOAD {plan.max_payload}u

#endif
"""


def _platformio_ini(board: BoardTarget, platform_uri: str, extra_cflags: str = "") -> str:
    lines = [
        "; Generated by npin firmware gen. Build: pio run -d THIS_DIR",
        "; Emulated boards: pio run -d THIS_DIR -t upload starts QEMU with the ELF.",
        "[platformio]", "boards_dir = boards", f"default_envs = {board.id}", "",
        f"[env:{board.id}]", f"platform = {platform_uri}", f"board = {board.pio_board}",
        f"upload_protocol = {board.upload}",
    ] + ([f"build_flags = {extra_cflags}"] if extra_cflags else []) + [""]
    if board.standard_platform:
        lines += [
            "; The registry's platform and board (needs the PlatformIO registry online):",
            f"[env:{board.id}-registry]", f"platform = {board.standard_platform}",
            f"board = {board.standard_board}", "board_build.ldscript = npin.ld",
            "build_flags = -std=c99 -nostartfiles", "build_unflags = -std=gnu11", "",
        ]
    return "\n".join(lines)


def _pio_board_manifest(board: BoardTarget) -> dict:
    return {
        "name": board.name, "vendor": "npin", "url": "https://example.invalid/npin",
        "frameworks": [], "platforms": ["npin-arm"],
        "build": {"cpu": board.cpu, "f_cpu": f"{board.clock_hz}L", "mcu": board.id},
        "upload": {"maximum_size": board.code_size, "maximum_ram_size": board.ram_size,
                   "protocol": board.upload, "protocols": [board.upload]},
        "npin": {"qemu_machine": board.qemu_machine or "", "flash_origin": f"0x{board.flash_origin:08x}",
                 "params_origin": f"0x{board.params_origin:08x}", "openocd_target": board.openocd_target},
    }


def _linker_script(board: BoardTarget) -> str:
    template = (HERE / "ld" / "npin_cortexm.ld.in").read_text()
    return template.format(board=board.id, flash_origin=board.flash_origin, code_size=board.code_size,
                           params_origin=board.params_origin, params_size=board.params_size,
                           ram_origin=board.ram_origin, ram_size=board.ram_size,
                           stack_size=board.stack_bytes)


def _build_id(tree: Path, board: BoardTarget) -> bytes:
    h = hashlib.sha256(f"npin-build/{LAYOUT_VERSION}/{board.id}\0".encode())
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        rel = path.relative_to(tree).as_posix()
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.digest()


def generate_project(board: BoardTarget, params: PinParams, out: Path, *,
                     embed_params: bool = True, platform_uri: str | None = None, kernels: str = "portable",
                     extra_cflags: str = "") -> dict:
    """Write the project to `out` (replaced whole, never left half-written); return its metadata.
    `kernels`: "portable" (the reference C) or "m4" (Armv7E-M DSP; Cortex-M4/M7 only)."""
    if kernels not in KERNEL_FILES:
        raise FirmwareGenError(f"unknown kernel set '{kernels}'", f"use one of {', '.join(KERNEL_FILES)}")
    if kernels == "m4" and not board.has_dsp:
        raise FirmwareGenError(f"the m4 kernels need the DSP extension; {board.id} is a {board.cpu}",
                               "use --kernels portable on this board")
    if hard_float(extra_cflags) and not board.has_dsp:
        raise FirmwareGenError(f"{extra_cflags!r} selects a hard-float ABI; {board.id} is a {board.cpu}, which has no FPU",
                               "drop -mfloat-abi=hard/softfp for this board")
    plan = check_fits(board, params.dims, params.n_facets, params.slots, params.facet_format)
    block = params_block(params)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        src, inc = tmp / "src", tmp / "include"
        src.mkdir()
        inc.mkdir()
        for name in CORE_FILES + KERNEL_FILES[kernels]:
            shutil.copy2(HERE / "core" / name, (inc if name.endswith(".h") else src) / name)  # .c/.S to src
        for name in APP_FILES:
            shutil.copy2(HERE / "app" / name, (inc if name.endswith(".h") else src) / name)
        shutil.copy2(HERE / "hal" / "npin_hal.h", inc)
        shutil.copy2(HERE / "hal" / "npin_cortexm.c", src)
        shutil.copy2(HERE / "hal" / f"uart_{board.uart_kind}.c", src)
        (inc / "npin_board.h").write_text(_board_header(board, params, plan, hard_float(extra_cflags)))
        if embed_params:
            (src / "npin_params.c").write_text(
                "/* Generated by npin firmware gen: the parameter block (docs/protocol.md §6). */\n"
                "#include <stdint.h>\n\n"
                "__attribute__((section(\".npin_params\"), used, aligned(8)))\n"
                f"const uint8_t npin_param_block[{len(block)}] = {_c_bytes(block)};\n")
        (tmp / "npin.ld").write_text(_linker_script(board))
        (tmp / "boards").mkdir()
        (tmp / "boards" / f"{board.pio_board}.json").write_text(json.dumps(_pio_board_manifest(board), indent=2))
        (tmp / "platformio.ini").write_text(
            _platformio_ini(board, platform_uri or f"symlink://{PLATFORM_DIR}", extra_cflags))
        build_id = _build_id(tmp, board)
        (inc / "npin_build.h").write_text(
            "/* Generated by npin firmware gen: SHA-256 over the sources, parameters and board. */\n"
            "#ifndef NPIN_BUILD_H\n#define NPIN_BUILD_H\n"
            f"#define NPIN_BUILD_ID {{{', '.join(f'0x{b:02x}' for b in build_id)}}}\n"
            f"#define NPIN_KERNELS_SIMD {int(kernels != 'portable')}\n#endif\n")
        meta = {
            "format": "npin-firmware-project", "board": board.id, "build_id": build_id.hex(),
            "params_id": params_id_of(block).hex() if embed_params else None,
            "embedded_params": embed_params, "layout_version": LAYOUT_VERSION, "kernels": kernels,
            "dims": params.dims, "facets": params.n_facets, "slots": params.slots,
            "facet_format": params.facet_format,
            "slab_bytes": plan.slab_bytes, "max_payload": plan.max_payload,
            "ram_plan": {"slab": plan.slab_bytes, "rx": plan.rx_bytes, "resp": plan.resp_bytes,
                         "stack": plan.stack_bytes, "misc": plan.misc_bytes, "ram": board.ram_size},
            "params_origin": board.params_origin, "qemu_machine": board.qemu_machine,
        }
        (tmp / "npin_project.json").write_text(json.dumps(meta, indent=2) + "\n")
        previous = out / "npin_project.json"
        if previous.exists() and json.loads(previous.read_text()).get("build_id") == meta["build_id"] \
                and (out / "platformio.ini").read_text() == (tmp / "platformio.ini").read_text():
            shutil.rmtree(tmp)  # identical: keep the old tree and its .pio build cache
        elif out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta
