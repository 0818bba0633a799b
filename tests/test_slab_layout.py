"""firmware/slab.py and the NPIN_OFF_* macros of npin_layout.h describe the same bytes."""
import itertools

import numpy as np
import pytest

from conftest import make_params
from firmware.host_twin import HostTwin, load
from firmware.slab import SLAB_MAX_BYTES, fit_message, pack_slab, slab_layout

ORDER = ("m", "v", "x_last", "facets", "facet_norm", "thr_q15", "tool", "stamp", "ring")


def test_python_layout_equals_c_macros():
    ffi, lib = load("ref")
    out = ffi.new("uint32_t[10]")
    for d, k, r in itertools.product([8, 24, 64, 512, 4096], [1, 3, 8, 16], [2, 8, 32, 64]):
        lib.npin_twin_offsets(d, k, r, out)
        lay = slab_layout(d, k, r)
        assert [lay.offsets[n] for n in ORDER] + [lay.total_bytes] == list(out), (d, k, r)


def test_default_slab_size_is_the_documented_one():
    assert slab_layout(512, 16, 32).total_bytes == 52544      # docs/pin-spec.md §2.2
    assert slab_layout(512, 16, 32).total_bytes <= SLAB_MAX_BYTES


def test_fit_message_names_the_excess_and_what_fits():
    msg = fit_message(512, 16, 32, 16 * 1024)
    assert msg.startswith("slab needs 52544 bytes, 36160 over the 16384-byte budget; fits: ")
    d, k, r = (int(t.split("=")[1]) for t in msg.split("fits: ")[1].split(",")[0].split())
    assert slab_layout(d, k, r).total_bytes <= 16 * 1024
    assert fit_message(64, 8, 8, 16 * 1024) is None


@pytest.mark.parametrize("field,value,code", [
    (0, 0xDEADBEEF, -1),            # magic
    (4, 2, -2),                     # layout_version
])
def test_prepare_rejects_corrupted_headers(field, value, code):
    twin = HostTwin(make_params())
    buf = twin.buf
    width = 4 if field == 0 else 2
    buf[field:field + width] = np.frombuffer(value.to_bytes(width, "little"), np.uint8)
    assert twin.lib.npin_slab_prepare(twin._slab, len(buf)) == code


def test_prepare_rejects_a_minus_32768_facet_and_bad_params():
    twin = HostTwin(make_params())
    lay = slab_layout(64, 4, 8)
    facets = lay.view(twin.buf, "facets")
    facets.setflags(write=True)
    facets[5] = -32768
    assert twin.lib.npin_slab_prepare(twin._slab, len(twin.buf)) == -5
    twin = HostTwin(make_params())
    twin.buf[38:40] = np.frombuffer((0).to_bytes(2, "little"), np.uint8)   # thr_min = 0
    assert twin.lib.npin_slab_prepare(twin._slab, len(twin.buf)) == -4
    assert twin.lib.npin_slab_prepare(twin._slab, 100) == -3              # size too small


def test_pack_slab_refuses_an_oversized_slab():
    with pytest.raises(ValueError, match="over the 65536-byte budget"):
        pack_slab(make_params(dims=1024, facets=16, slots=64))
