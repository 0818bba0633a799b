"""The protocol service (firmware/app) built for the host through cffi: the device end of the
serial protocol, byte for byte the firmware's, without a board. Tests drive it through the same
client as a real board (ServiceTwinPort stands in for the serial port)."""
from __future__ import annotations

from pathlib import Path

from quant.pin_fixed import PinParams

from common.cbuild import cffi_module
from .params_block import params_block
from .project_gen import max_payload_for
from .slab import layout_of

ROOT = Path(__file__).resolve().parent
CORE, APP, HOST = ROOT / "core", ROOT / "app", ROOT / "host"

CDEF = """
uint32_t npin_crc32(uint32_t crc, const uint8_t *data, uint32_t len);
uint32_t npin_cobs_encode(const uint8_t *src, uint32_t n, uint8_t *dst);
int32_t npin_cobs_decode(uint8_t *buf, uint32_t n);
uint32_t npin_state_digest(const uint8_t *slab);
const char *npin_params_check(const uint8_t *block, uint32_t capacity);
int npin_svc_twin_boot(const uint8_t *block, uint32_t block_len, uint32_t slab_capacity,
                       uint32_t max_payload, int cold);
uint32_t npin_svc_twin_feed(const uint8_t *bytes, uint32_t n, uint8_t *dst, uint32_t cap);
const uint8_t *npin_svc_twin_slab(void);
uint32_t npin_svc_twin_reboots(void);
"""
FLAGS = ["-std=c99", "-O1", "-fno-strict-aliasing", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined",
         "-fno-sanitize-recover=all"]


def load():
    sources = [*(p for p in sorted(CORE.glob("*.c")) if p.name not in ("npin_ring_mp.c", "npin_kernels_m4.c")),
               *(p for p in sorted(APP.glob("*.c")) if p.name != "npin_main.c"), HOST / "npin_service_twin.c"]
    return cffi_module("_npin_service_twin", CDEF, '#include "npin_service_twin.h"\n', sources,
                       [CORE, APP, HOST], FLAGS, ["ubsan"], what="the protocol service twin")


class ServiceTwinPort:
    """A pyserial-like port whose other end is the firmware's protocol service."""

    def __init__(self, params: PinParams, max_payload: int | None = None, block: bytes | None = None):
        self.ffi, self.lib = load()
        self.params = params
        self.capacity = layout_of(params).total_bytes
        self.max_payload = max_payload or max_payload_for(params.dims, params.slots)
        self.block = params_block(params) if block is None else block
        self._rx = bytearray()
        self.boot(cold=True)

    def boot(self, cold: bool = False) -> None:
        """Power-on (cold) or warm reset: retained RAM survives the latter."""
        rc = self.lib.npin_svc_twin_boot(self.block, len(self.block), self.capacity, self.max_payload, int(cold))
        if rc != 0:
            raise MemoryError("service twin: allocation failed")
        self._collect(b"")

    def _collect(self, data: bytes) -> None:
        buf = self.ffi.new("uint8_t[]", 1 << 16)
        n = self.lib.npin_svc_twin_feed(data, len(data), buf, 1 << 16)
        while n:
            self._rx += self.ffi.buffer(buf, n)[:]
            n = self.lib.npin_svc_twin_feed(b"", 0, buf, 1 << 16)

    def write(self, data: bytes) -> int:
        self._collect(bytes(data))
        return len(data)

    @property
    def in_waiting(self) -> int:
        return len(self._rx)

    def read(self, size: int = 1) -> bytes:
        out = bytes(self._rx[:size])
        del self._rx[:size]
        return out

    def slab(self) -> bytes:
        return bytes(self.ffi.buffer(self.lib.npin_svc_twin_slab(), self.capacity))

    @property
    def reboots(self) -> int:
        return self.lib.npin_svc_twin_reboots()

    def close(self) -> None:
        pass
