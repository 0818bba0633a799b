"""`npin firmware gen | build | image`: PlatformIO projects for a board, built offline, and Intel
HEX images with a separately flashed parameter block."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from common.errors import ConfigError
from firmware.params_block import params_block, params_id_of
from firmware.project_gen import generate_project

from ..boards import DEFAULT_BOARD, load_board
from ..firmware.build import build_project
from ..pin.params_io import load_params


def register(sub) -> None:
    fw = sub.add_parser("firmware", help="generate, build and image Cortex-M firmware").add_subparsers(
        dest="firmware_command", required=True)

    p = fw.add_parser("gen", help="write a PlatformIO project for a board and a quantized Pin")
    p.add_argument("--board", default=DEFAULT_BOARD)
    p.add_argument("--pin", required=True, help="quantized Pin parameters (npin pin quantize -> *.q15.json)")
    p.add_argument("-o", "--output", required=True, help="project folder (replaced whole)")
    p.add_argument("--params", choices=("embedded", "external"), default="embedded",
                   help="compile the parameter block in, or leave it to 'npin firmware image'")
    p.add_argument("--kernels", choices=("portable", "m4"), default="portable",
                   help="portable C, or the Cortex-M4 DSP kernels (same bits, about 6x fewer instructions)")
    p.set_defaults(func=cmd_gen)

    p = fw.add_parser("build", help="build a generated project with PlatformIO (offline)")
    p.add_argument("project")
    p.add_argument("-v", "--verbose", action="store_true", help="show PlatformIO's output")
    p.set_defaults(func=cmd_build)

    p = fw.add_parser("image", help="merge a built firmware and a parameter block into one Intel HEX")
    p.add_argument("project", help="a generated and built project")
    p.add_argument("--pin", required=True, help="the quantized Pin to put in the parameter block")
    p.add_argument("-o", "--output", required=True, help="the merged .hex")
    p.set_defaults(func=cmd_image)


def cmd_gen(args) -> int:
    board = load_board(args.board)
    params, *_ = load_params(args.pin)
    meta = generate_project(board, params, Path(args.output), embed_params=args.params == "embedded",
                            kernels=args.kernels)
    print(f"wrote {args.output}: {board.id}, D={meta['dims']} K={meta['facets']} slots={meta['slots']}, "
          f"slab {meta['slab_bytes']} bytes, parameters {args.params}, build id {meta['build_id'][:16]}")
    print(f"build: npin firmware build {args.output}   (or: pio run -d {args.output})")
    return 0


def cmd_build(args) -> int:
    res = build_project(Path(args.project), verbose=args.verbose)
    print(f"built {res.elf} for {res.meta['board']} (build id {res.meta['build_id'][:16]})")
    print(res.size_table())
    if res.meta.get("qemu_machine"):
        print(f"run it: pio run -d {args.project} -t upload   (starts qemu-system-arm -M {res.meta['qemu_machine']})")
    return 0


def cmd_image(args) -> int:
    from intelhex import IntelHex

    project = Path(args.project)
    meta_path = project / "npin_project.json"
    if not meta_path.exists():
        raise ConfigError(f"{project} is not a generated npin firmware project", "npin firmware gen ... -o DIR")
    meta = json.loads(meta_path.read_text())
    board = load_board(meta["board"])
    params, *_ = load_params(args.pin)
    shape = (params.dims, params.n_facets, params.slots)
    if shape != (meta["dims"], meta["facets"], meta["slots"]):
        raise ConfigError(f"the Pin is D={shape[0]} K={shape[1]} slots={shape[2]}, the firmware was generated for "
                          f"D={meta['dims']} K={meta['facets']} slots={meta['slots']}",
                          "generate the firmware for this Pin's shape (npin firmware gen --params external)")
    fw_hex = project / ".pio" / "build" / meta["board"] / "firmware.hex"
    if not fw_hex.exists():
        raise ConfigError(f"{fw_hex} does not exist", f"build it first: npin firmware build {project}")
    block = params_block(params)
    merged = IntelHex(str(fw_hex))
    region = range(board.params_origin, board.params_origin + board.params_size)
    if meta["embedded_params"] or any(a in region for a in merged.addresses()):
        raise ConfigError("this firmware already carries a parameter block",
                          "generate it with --params external to flash parameters apart")
    blk = IntelHex()
    blk.frombytes(block, offset=board.params_origin)
    merged.merge(blk, overlap="error")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    os.close(fd)
    try:
        merged.write_hex_file(tmp)
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    print(f"wrote {out}: firmware {meta['build_id'][:16]} + parameter block {params_id_of(block).hex()} "
          f"({len(block)} bytes at {board.params_origin:#010x})")
    return 0
