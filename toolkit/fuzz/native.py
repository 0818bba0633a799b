"""libFuzzer on the firmware's readers of outside bytes (firmware/fuzz/): the protocol service
(frames, COBS, CRC, sequence numbers, every command) and the parameter-block check. Built with
Debian's clang, AddressSanitizer and UndefinedBehaviorSanitizer; seeded from valid traffic; what
it finds is kept in tests/data/fuzz/<harness>/ and replayed by every later run."""
from __future__ import annotations

import hashlib
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from common.errors import BuildError, ConfigError

ROOT = Path(__file__).resolve().parents[2]
FW = ROOT / "firmware"
KEPT = ROOT / "tests" / "data" / "fuzz"
HARNESSES = ("service", "params")
FLAGS = ["-std=c99", "-O1", "-g", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all"]


def _sources(harness: str) -> list[Path]:
    if harness == "params":
        return [FW / "app" / "npin_params_block.c", FW / "app" / "npin_crc32.c"]
    core = [p for p in sorted((FW / "core").glob("*.c")) if p.name not in ("npin_ring_mp.c", "npin_kernels_m4.c")]
    app = [p for p in sorted((FW / "app").glob("*.c")) if p.name != "npin_main.c"]
    return core + app + [FW / "host" / "npin_service_twin.c"]


def build(harness: str, out: Path) -> Path:
    clang = shutil.which("clang")
    if clang is None:
        raise ConfigError("clang is not installed", "./run test installs it (apt-get install clang libclang-rt-dev)")
    srcs = _sources(harness) + [FW / "fuzz" / f"fuzz_{harness}.c"]
    key = hashlib.sha256(b"".join(p.read_bytes() for p in srcs) + " ".join(FLAGS).encode()).hexdigest()[:12]
    binary = out / f"fuzz_{harness}-{key}"
    if binary.is_file():
        return binary
    out.mkdir(parents=True, exist_ok=True)
    cmd = [clang, *FLAGS, *(f"-I{FW / d}" for d in ("core", "app", "host")), *map(str, srcs), "-o", str(binary)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f"building the {harness} fuzzer failed: {r.stderr.strip().splitlines()[-1:]}",
                         "clang and libclang-rt-dev from Debian are needed")
    return binary


def _record(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    return struct.pack("<BHH", msg_type, seq, len(payload)) + payload


def seeds(harness: str, params) -> dict[str, bytes]:
    """Valid traffic to start from: every command with plausible payloads, a warm reboot and a
    retry, and raw frames on the line (service); a valid parameter block (params)."""
    from firmware import protocol as P
    from firmware.params_block import params_block

    if harness == "params":
        block = params_block(params)
        return {"valid-block": block + struct.pack(">H", 4096), "truncated": block[:60] + b"\x10\x00"}
    d = params.dims
    vec = bytes(2 * d)
    script = b"".join([
        _record(P.HELLO, 0), _record(P.SYNC, 0, struct.pack("<I", 7)),
        _record(P.PUSH, 1, struct.pack("<HH", 2, 0) + vec + vec), _record(P.STEP, 2, struct.pack("<H", 2)),
        _record(P.READ_STATE, 3, struct.pack("<IH", 0, 64)), _record(P.FEEDBACK, 4, struct.pack("<Hh", 0, 1)),
        _record(P.STEP, 4, struct.pack("<H", 1)), _record(0xEE, 0), _record(P.STEP, 4, struct.pack("<H", 1)),
        _record(P.BENCH, 5, struct.pack("<H", 1)), _record(P.RESET, 6, bytes([0])), _record(P.SYNC, 0, bytes(4))])
    raw = b"".join(P.frame(t, s, p) for t, s, p in [(P.HELLO, 0, b""), (P.PUSH, 1, struct.pack("<HH", 1, 0) + vec),
                                                   (P.STEP, 2, struct.pack("<H", 1))])
    return {"commands": b"\x01" + script, "raw-frames": b"\x00" + raw, "garbage": b"\x00" + bytes(range(1, 255)) * 3}


def block_file(params, path: Path) -> Path:
    from firmware.params_block import params_block
    from firmware.project_gen import max_payload_for
    from firmware.slab import layout_of

    max_payload = max_payload_for(params.dims, params.slots)
    path.write_bytes(struct.pack("<II", layout_of(params).total_bytes, max_payload) + params_block(params))
    return path


@dataclass
class FuzzResult:
    harness: str
    runs: int
    seconds: float
    crashes: list[Path]
    coverage: int | None
    log_tail: str


def run(harness: str, params, work: Path, runs: int | None = None, seconds: int | None = None) -> FuzzResult:
    """Fuzz one harness; new crashes are copied into tests/data/fuzz/<harness>/ as regressions."""
    if harness not in HARNESSES:
        raise ConfigError(f"no fuzz harness '{harness}'", f"use one of {', '.join(HARNESSES)}")
    binary = build(harness, work)
    corpus, kept, crashes_dir = work / f"corpus-{harness}", KEPT / harness, work / f"crashes-{harness}"
    for d in (corpus, kept, crashes_dir):
        d.mkdir(parents=True, exist_ok=True)
    for name, data in seeds(harness, params).items():
        if not (kept / f"seed-{name}").exists():
            (kept / f"seed-{name}").write_bytes(data)
    env = {"NPIN_FUZZ_BLOCK": str(block_file(params, work / "block.bin")), "ASAN_OPTIONS": "detect_leaks=0",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1", "PATH": "/usr/bin:/bin"}
    args = [str(binary), f"-artifact_prefix={crashes_dir}/", "-print_final_stats=1", "-max_len=4096"]
    if runs:
        args.append(f"-runs={runs}")
    if seconds:
        args.append(f"-max_total_time={seconds}")
    before = set(crashes_dir.iterdir())
    r = subprocess.run(args + [str(corpus), str(kept)], capture_output=True, text=True, env=env)
    log = r.stderr
    new = sorted(set(crashes_dir.iterdir()) - before)
    for c in new:
        shutil.copy(c, kept / c.name)
    done = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    secs = re.search(r"Done \d+ runs in (\d+) second", log)
    cov = re.findall(r"cov: (\d+)", log)
    if r.returncode != 0 and not new and "run interrupted" not in log:
        new = [Path(f"exit {r.returncode}")]
    return FuzzResult(harness, int(done.group(1)) if done else 0, float(secs.group(1)) if secs else 0.0, new,
                      int(cov[-1]) if cov else None, "\n".join(log.strip().splitlines()[-6:]))
