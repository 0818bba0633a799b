"""libGNA's raw model API for the envelope probes: operations given only by shapes and type codes
(zeros in GNA memory), created on an export device of any version and released, with the
library's status and message. No inference runs. The runtime backend is gna/libgna.py."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .libgna import DEVICE_VERSION_2_0, _model_error_message, _status_message, load
from .libgna_abi import DT_COMPOUND, DT_INT8, DT_INT16, DT_INT32, DT_PWL, DT_WSF, fill_operation, new_tensor


@dataclass
class RawOperand:
    """A tensor by shape and type; its data is zeros in GNA memory. `buffer` names the allocation
    it lives in (operands with the same name share one), `buffer_bytes` that allocation's size
    (default: just enough)."""
    shape: tuple
    dtype: int
    layout: bytes = b""
    buffer: str | None = None
    buffer_bytes: int | None = None
    offset: int = 0                     # bytes into the allocation (recurrent feedback sits before)


@dataclass
class RawOperation:
    type: int
    operands: list                      # RawOperand or None
    params: list = None                 # ("u32"|"i32", value) or ("shape", tuple)


DTYPE_BYTES = {DT_INT8: 1, DT_INT16: 2, DT_INT32: 4, DT_COMPOUND: 8, DT_PWL: 8, DT_WSF: 8}


def create_status(ops: list[RawOperation], device_version: int = DEVICE_VERSION_2_0) -> tuple[int, str]:
    """Create (and release) a model on an export device of `device_version`; (status, message).
    Allocation failures come back as statuses too. Runs no inference."""
    ffi, lib, _ = load()
    if device_version not in _EXPORT_DEVICES:
        idx = ffi.new("uint32_t *")
        st = lib.Gna2DeviceCreateForExport(device_version, idx)
        if st != 0:
            return st, _status_message(st)
        _EXPORT_DEVICES[device_version] = idx[0]
    dev = _EXPORT_DEVICES[device_version]
    sizes: dict[str, int] = {}
    for i, op in enumerate(ops):
        for j, od in enumerate(op.operands):
            if od is not None:
                need = int(np.prod(od.shape)) * DTYPE_BYTES.get(od.dtype, 4) + od.offset
                key = od.buffer or f"{i}.{j}"
                sizes[key] = max(sizes.get(key, 0), od.buffer_bytes or need, need)
    bufs, keep = {}, []
    try:
        for key, size in sizes.items():
            if size >= 1 << 32:  # not expressible in the API's uint32 size: refuse as the library would
                return -23, f"Gna2MemoryAlloc({size}): larger than the API's uint32 size argument"
            granted, ptr = ffi.new("uint32_t *"), ffi.new("void **")
            st = lib.Gna2MemoryAlloc(max(64, size), granted, ptr)
            if st != 0:
                return st, f"Gna2MemoryAlloc({size}): {_status_message(st)}"
            bufs[key] = ptr[0]
        gops = ffi.new("Gna2Operation[]", len(ops))
        keep.append(gops)
        for i, op in enumerate(ops):
            tensors = []
            for j, od in enumerate(op.operands):
                if od is None:
                    tensors.append(ffi.NULL)
                    continue
                base = ffi.cast("uint8_t *", bufs[od.buffer or f"{i}.{j}"]) + od.offset
                tensors.append(new_tensor(ffi, keep, od.shape, od.dtype, base, od.layout))
            params = []
            for kind, value in op.params or []:
                if kind == "shape":
                    sh = ffi.new("Gna2Shape *")
                    sh.NumberOfDimensions = len(value)
                    for d, v in enumerate(value):
                        sh.Dimensions[d] = v
                    keep.append(sh)
                    params.append(ffi.cast("void *", sh))
                else:
                    v = ffi.new("uint32_t *" if kind == "u32" else "int32_t *", value)
                    keep.append(v)
                    params.append(ffi.cast("void *", v))
            fill_operation(ffi, keep, gops[i], op.type, tensors, params)
        gm = ffi.new("Gna2Model *")
        gm.NumberOfOperations = len(ops)
        gm.Operations = gops
        mid = ffi.new("uint32_t *")
        st = lib.Gna2ModelCreate(dev, gm, mid)
        if st == 0:
            lib.Gna2ModelRelease(mid[0])
            return 0, "accepted"
        return st, (_model_error_message() if st == -29 else _status_message(st))
    finally:
        for ptr in bufs.values():
            lib.Gna2MemoryFree(ptr)


_EXPORT_DEVICES: dict[int, int] = {}
