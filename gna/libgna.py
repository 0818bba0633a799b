"""Backend: Intel's GNA library (libgna.so, "libGNA") through cffi in ABI mode.

Runs our IR on the library's software model of GNA 2.0: memory from Gna2MemoryAlloc first, a
virtual export device for version 2.0 (never device 0: opening it without hardware breaks the
library's allocator), Generic acceleration for the exact path. Every status becomes GnaLibError
with the library's own message; everything is released on every path.

The library is not shipped with npin. Point GNA_LIBRARY at libgna.so (or install it where
find_library() looks); tests that need it skip with that hint.
"""
from __future__ import annotations

import contextlib
import ctypes.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import NpinError

from .emulator import RunResult
from .ir import GnaModel, check_model, output_dtype
from .libgna_abi import DT_INT16, DT_INT32, Descriptor, fill_operation
from .ops import spec_of
from .preflight import preflight

CDEF = """
typedef struct { uint32_t NumberOfDimensions; uint32_t Dimensions[8]; } Gna2Shape;
typedef struct { Gna2Shape Shape; int32_t Mode; char Layout[8]; int32_t Type; void *Data; } Gna2Tensor;
typedef struct { int32_t Type; const Gna2Tensor **Operands; uint32_t NumberOfOperands;
                 void **Parameters; uint32_t NumberOfParameters; } Gna2Operation;
typedef struct { uint32_t NumberOfOperations; Gna2Operation *Operations; } Gna2Model;
typedef struct { int32_t Type; int32_t OperationIndex; int32_t OperandIndex; int32_t ParameterIndex;
                 int32_t ShapeDimensionIndex; int32_t Properties[4]; } Gna2ModelItem;
typedef struct { Gna2ModelItem Source; int64_t Reason; int64_t Value; } Gna2ModelError;
typedef struct { int32_t Bias; uint8_t Multiplier; uint8_t Reserved[3]; } Gna2CompoundBias;
typedef struct { uint8_t Reserved0[4]; uint8_t Multiplier; uint8_t Reserved1[3]; } Gna2WeightScaleFactor;
typedef struct { int32_t xBase; int16_t yBase; int16_t Slope; } Gna2PwlSegment;

int32_t Gna2GetLibraryVersion(char *versionBuffer, uint32_t versionBufferSize);
int32_t Gna2MemoryAlloc(uint32_t sizeRequested, uint32_t *sizeGranted, void **memoryAddress);
int32_t Gna2MemoryFree(void *memory);
int32_t Gna2DeviceCreateForExport(int32_t targetDeviceVersion, uint32_t *deviceIndex);
int32_t Gna2DeviceClose(uint32_t deviceIndex);
int32_t Gna2ModelCreate(uint32_t deviceIndex, const Gna2Model *model, uint32_t *modelId);
int32_t Gna2ModelRelease(uint32_t modelId);
int32_t Gna2ModelGetLastError(Gna2ModelError *error);
int32_t Gna2ModelErrorGetMessage(const Gna2ModelError *error, char *messageBuffer, uint32_t messageBufferSize);
int32_t Gna2StatusGetMessage(int32_t status, char *messageBuffer, uint32_t messageBufferSize);
int32_t Gna2RequestConfigCreate(uint32_t modelId, uint32_t *requestConfigId);
int32_t Gna2RequestConfigSetAccelerationMode(uint32_t requestConfigId, int32_t accelerationMode);
int32_t Gna2RequestConfigRelease(uint32_t requestConfigId);
int32_t Gna2RequestEnqueue(uint32_t requestConfigId, uint32_t *requestId);
int32_t Gna2RequestWait(uint32_t requestId, uint32_t timeoutMilliseconds);
"""

DEVICE_VERSION_2_0 = 0x20
ACCELERATION = {"generic": 6, "avx2": 3, "sse4": 5, "avx1": 4, "auto": 0}
STATUS_SATURATION = 2
ALIGN = 64


class LibGnaNotFound(NpinError, RuntimeError):
    hint = "build or install Intel's libGNA and set GNA_LIBRARY=/path/to/libgna.so"


class GnaLibError(NpinError, RuntimeError):
    """libGNA refused something; the message is the library's own."""

    hint = "the model passed our 2.0 checks but not the library's: report it with the model file"

    def __init__(self, call: str, status: int, message: str):
        super().__init__(f"{call} returned {status}: {message}")
        self.call, self.status, self.library_message = call, status, message


def find_library() -> str:
    """GNA_LIBRARY, then the places a libgna install usually lands, then the linker's search."""
    env = os.environ.get("GNA_LIBRARY")
    if env:
        if not Path(env).is_file():
            raise LibGnaNotFound(f"GNA_LIBRARY={env} is not a file")
        return env
    for cand in ("/usr/local/lib/libgna.so", "/usr/lib/x86_64-linux-gnu/libgna.so", "/usr/lib/libgna.so",
                 "/opt/intel/gna/lib/libgna.so", "/opt/intel/openvino/runtime/lib/intel64/libgna.so.3"):
        if Path(cand).is_file():
            return cand
    found = ctypes.util.find_library("gna")
    if found:
        return found
    raise LibGnaNotFound("libGNA (libgna.so) not found: set GNA_LIBRARY=/path/to/libgna.so")


_LIB = None


def load():
    """(ffi, lib, version) of the library, opened once per process."""
    global _LIB
    if _LIB is None:
        from cffi import FFI

        ffi = FFI()
        ffi.cdef(CDEF)
        lib = ffi.dlopen(find_library())
        buf = ffi.new("char[]", 64)
        lib.Gna2GetLibraryVersion(buf, 64)
        _LIB = (ffi, lib, ffi.string(buf).decode())
    return _LIB


def library_version() -> str:
    return load()[2]


def _status_message(status: int) -> str:
    ffi, lib, _ = load()
    buf = ffi.new("char[]", 512)
    lib.Gna2StatusGetMessage(status, buf, 512)
    return ffi.string(buf).decode(errors="replace")


def _check(call: str, status: int, ok=(0,)) -> int:
    if status not in ok:
        raise GnaLibError(call, status, _status_message(status))
    return status


_DEVICE: int | None = None


def _device() -> int:
    """The 2.0 export device (created once): software scoring with 2.0 rules and arithmetic."""
    global _DEVICE
    if _DEVICE is None:
        ffi, lib, _ = load()
        idx = ffi.new("uint32_t *")
        _check("Gna2DeviceCreateForExport", lib.Gna2DeviceCreateForExport(DEVICE_VERSION_2_0, idx))
        _DEVICE = idx[0]
    return _DEVICE


class _Arena:
    """One Gna2MemoryAlloc block; tensors are placed in it at 64-byte boundaries."""

    def __init__(self, size: int):
        ffi, lib, _ = load()
        self.ffi, self.lib = ffi, lib
        granted, ptr = ffi.new("uint32_t *"), ffi.new("void **")
        _check("Gna2MemoryAlloc", lib.Gna2MemoryAlloc(max(size, ALIGN), granted, ptr))
        self.base, self.size, self.used = ptr[0], granted[0], 0

    def place(self, nbytes: int, data: bytes | None = None):
        off = -(-self.used // ALIGN) * ALIGN
        if off + nbytes > self.size:
            raise MemoryError("arena too small")  # a sizing bug here, not a user error
        self.used = off + nbytes
        ptr = self.ffi.cast("uint8_t *", self.base) + off
        if data is not None:
            self.ffi.memmove(ptr, data, len(data))
        return ptr

    def free(self) -> None:
        if self.base is not None:
            self.lib.Gna2MemoryFree(self.base)
            self.base = None


def _estimate_bytes(model: GnaModel, x_bytes: int) -> int:
    total = x_bytes + 4096
    for op in model.operations:
        total += 2 * ALIGN + output_dtype(op).itemsize * int(np.prod(op.output_shape))
        for name in ("weights", "filters", "bias", "multiplier"):
            arr = getattr(op, name, None)
            if arr is not None:
                total += ALIGN + arr.nbytes * 2
        if getattr(op, "pwl", None) is not None:
            total += ALIGN + 8 * op.pwl.segments
        total += spec_of(op).extra_bytes(op)
    return total


@dataclass
class _Built:
    keep: list         # cffi objects that must outlive the model
    outputs: list      # (pointer, nbytes, dtype, shape) per operation


def _build(model: GnaModel, x: np.ndarray, arena: _Arena, ffi) -> tuple[object, _Built]:
    keep, outputs = [], []
    ops = ffi.new("Gna2Operation[]", len(model.operations))
    keep.append(ops)
    cur = arena.place(x.nbytes, np.ascontiguousarray(x).tobytes())
    for i, op in enumerate(model.operations):
        spec = spec_of(op, i)
        odt = output_dtype(op)
        onbytes = odt.itemsize * int(np.prod(op.output_shape))
        out = spec.output_buffer(op, arena, onbytes) if spec.output_buffer else arena.place(onbytes)
        outputs.append((out, onbytes, odt, op.output_shape))
        d = Descriptor(ffi, keep, arena, cur, out, DT_INT16 if odt == np.int16 else DT_INT32)
        fill_operation(ffi, keep, ops[i], spec.libgna_type, *spec.libgna(op, d))
        cur = out
    gmodel = ffi.new("Gna2Model *")
    gmodel.NumberOfOperations = len(model.operations)
    gmodel.Operations = ops
    keep.append(gmodel)
    return gmodel, _Built(keep, outputs)


def _model_error_message() -> str:
    ffi, lib, _ = load()
    err = ffi.new("Gna2ModelError *")
    if lib.Gna2ModelGetLastError(err) != 0:
        return "(no model error detail)"
    buf = ffi.new("char[]", 2048)
    lib.Gna2ModelErrorGetMessage(err, buf, 2048)
    return (f"{ffi.string(buf).decode(errors='replace')} [operation {err.Source.OperationIndex}, operand "
            f"{err.Source.OperandIndex}, parameter {err.Source.ParameterIndex}, reason {err.Reason}, value {err.Value}]")


def run(model: GnaModel, x: np.ndarray, acceleration: str = "generic", repeat: int = 1) -> RunResult:
    """Run on libGNA's 2.0 software model. `repeat` > 1 re-enqueues the same request (benchmarks)."""
    check_model(model)
    x = np.ascontiguousarray(x, dtype=np.int16)
    preflight(model)
    ffi, lib, _ = load()
    dev = _device()
    arena = _Arena(_estimate_bytes(model, x.nbytes))
    model_id = cfg_id = None
    try:
        gmodel, built = _build(model, x, arena, ffi)
        mid = ffi.new("uint32_t *")
        status = lib.Gna2ModelCreate(dev, gmodel, mid)
        if status != 0:
            raise GnaLibError("Gna2ModelCreate", status, _model_error_message())
        model_id = mid[0]
        cid = ffi.new("uint32_t *")
        _check("Gna2RequestConfigCreate", lib.Gna2RequestConfigCreate(model_id, cid))
        cfg_id = cid[0]
        _check("Gna2RequestConfigSetAccelerationMode",
               lib.Gna2RequestConfigSetAccelerationMode(cfg_id, ACCELERATION[acceleration]))
        saturated = False
        for _ in range(repeat):
            rid = ffi.new("uint32_t *")
            _check("Gna2RequestEnqueue", lib.Gna2RequestEnqueue(cfg_id, rid))
            st = _check("Gna2RequestWait", lib.Gna2RequestWait(rid[0], 60_000), ok=(0, STATUS_SATURATION))
            saturated = st == STATUS_SATURATION
        outs = [np.frombuffer(ffi.buffer(ptr, n), dtype=dt).reshape(shape).copy() for ptr, n, dt, shape in built.outputs]
        return RunResult(outs[-1], outs, saturated)
    finally:
        with contextlib.suppress(Exception):
            if cfg_id is not None:
                lib.Gna2RequestConfigRelease(cfg_id)
        with contextlib.suppress(Exception):
            if model_id is not None:
                lib.Gna2ModelRelease(model_id)
        arena.free()


class GraphSession:
    """A GnaGraph loaded into libGNA once and run many times (a stream of audio chunks): every
    buffer lives in one Gna2MemoryAlloc block, zeroed at the start, so padding regions stay zero
    and whatever the host does not rewrite keeps its value between inferences."""

    def __init__(self, graph, acceleration: str = "generic"):
        from .graph import check_graph

        check_graph(graph)
        preflight(GnaModel(graph.operations))
        self.graph = graph
        self.ffi, self.lib, _ = load()
        ffi, lib = self.ffi, self.lib
        size = 4096 + sum(-(-b.elements * b.itemsize // ALIGN) * ALIGN + ALIGN for b in graph.buffers.values())
        size += _estimate_bytes(GnaModel(graph.operations), 0)
        self.arena = _Arena(size)
        self.model_id = self.cfg_id = None
        try:
            self.ptr = {}
            for name, b in graph.buffers.items():
                nbytes = b.elements * b.itemsize
                self.ptr[name] = self.arena.place(nbytes, bytes(nbytes))
            keep = self.keep = []
            ops = ffi.new("Gna2Operation[]", len(graph.nodes))
            keep.append(ops)
            for i, n in enumerate(graph.nodes):
                spec = spec_of(n.op, i)
                odt = output_dtype(n.op)
                d = Descriptor(ffi, keep, self.arena, self._at(n.input), self._at(n.output),
                               DT_INT16 if odt == np.int16 else DT_INT32,
                               weights_at=self._at(n.weights), bias_at=self._at(n.bias))
                fill_operation(ffi, keep, ops[i], spec.libgna_type, *spec.libgna(n.op, d))
            gmodel = ffi.new("Gna2Model *")
            gmodel.NumberOfOperations = len(graph.nodes)
            gmodel.Operations = ops
            keep.append(gmodel)
            mid = ffi.new("uint32_t *")
            status = lib.Gna2ModelCreate(_device(), gmodel, mid)
            if status != 0:
                raise GnaLibError("Gna2ModelCreate", status, _model_error_message())
            self.model_id = mid[0]
            cid = ffi.new("uint32_t *")
            _check("Gna2RequestConfigCreate", lib.Gna2RequestConfigCreate(self.model_id, cid))
            self.cfg_id = cid[0]
            _check("Gna2RequestConfigSetAccelerationMode",
                   lib.Gna2RequestConfigSetAccelerationMode(self.cfg_id, ACCELERATION[acceleration]))
        except BaseException:
            self.close()
            raise

    def _at(self, ref):
        if ref is None:
            return None
        b = self.graph.buffers[ref.buffer]
        return self.ffi.cast("uint8_t *", self.ptr[ref.buffer]) + ref.offset * b.itemsize

    def read(self, name: str) -> np.ndarray:
        from .graph import DTYPES

        b = self.graph.buffers[name]
        return np.frombuffer(self.ffi.buffer(self.ptr[name], b.elements * b.itemsize), dtype=DTYPES[b.dtype]).copy()

    def run(self, inputs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], bool]:
        """Write the input buffers, run one request, return (every buffer, saturated)."""
        for name, x in inputs.items():
            data = np.ascontiguousarray(x, dtype=np.int16)
            if data.size != self.graph.buffers[name].elements:
                raise ValueError(f"input '{name}' must be {self.graph.buffers[name].elements} int16 values")
            self.ffi.memmove(self.ptr[name], data.tobytes(), data.nbytes)
        rid = self.ffi.new("uint32_t *")
        _check("Gna2RequestEnqueue", self.lib.Gna2RequestEnqueue(self.cfg_id, rid))
        st = _check("Gna2RequestWait", self.lib.Gna2RequestWait(rid[0], 60_000), ok=(0, STATUS_SATURATION))
        return {name: self.read(name) for name in self.graph.buffers}, st == STATUS_SATURATION

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.cfg_id is not None:
                self.lib.Gna2RequestConfigRelease(self.cfg_id)
        with contextlib.suppress(Exception):
            if self.model_id is not None:
                self.lib.Gna2ModelRelease(self.model_id)
        self.cfg_id = self.model_id = None
        self.arena.free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
