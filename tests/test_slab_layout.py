"""firmware/slab.py and the NPIN_OFF_* macros of npin_layout.h describe the same bytes, and
npin_slab_prepare refuses what docs/pin-spec.md §2.3 refuses."""
import itertools

import numpy as np
import pytest

from conftest import make_params
from firmware.host_twin import HostTwin, load
from firmware.slab import SLAB_MAX_BYTES, facet_format_for, fit_message, layout_of, pack_slab, slab_layout

ORDER = ("m", "v", "x_last", "armed", "thr_q15", "facet_norm", "tool", "facets", "stamp", "ring")


def test_python_layout_equals_c_macros():
    ffi, lib = load("ref")
    out = ffi.new("uint32_t[11]")
    for d, k, r, (fmt, w) in itertools.product([8, 24, 64, 384, 512, 2048], [1, 3, 31, 32, 33, 150, 1024],
                                               [2, 8, 32, 64], [("q15", 2), ("q7", 1)]):
        lib.npin_twin_offsets(d, k, r, w, out)
        lay = slab_layout(d, k, r, fmt)
        assert [lay.offsets[n] for n in ORDER] + [lay.total_bytes] == list(out), (d, k, r, fmt)


def test_documented_slab_sizes():
    assert slab_layout(512, 16, 32).total_bytes == 52608             # docs/pin-spec.md §2.2
    assert slab_layout(384, 150, 4, "q7").total_bytes == 64336       # every CLINC150 intent
    assert slab_layout(384, 150, 8, "q7").total_bytes > SLAB_MAX_BYTES
    assert facet_format_for(512, 16, 32) == "q15" and facet_format_for(384, 150, 4) == "q7"


def test_fit_message_names_the_excess_and_what_fits():
    msg = fit_message(512, 16, 32, 16 * 1024)
    assert msg.startswith("slab needs 52608 bytes, 36224 over the 16384-byte budget; fits: ")
    d, k, r = (int(t.split("=")[1]) for t in msg.split("fits: ")[1].split(",")[0].split())
    assert slab_layout(d, k, r).total_bytes <= 16 * 1024
    assert fit_message(64, 8, 8, 16 * 1024) is None
    q15 = fit_message(384, 150, 4, SLAB_MAX_BYTES)
    assert "the same shape with Q7 facets (64336 bytes)" in q15


def _patch(twin, offset, value, width):
    twin.buf[offset:offset + width] = np.frombuffer(int(value).to_bytes(width, "little", signed=value < 0), np.uint8)
    return twin.lib.npin_slab_prepare(twin._slab, len(twin.buf))


@pytest.mark.parametrize("offset,value,width,code", [
    (0, 0xDEADBEEF, 4, -1),         # magic
    (4, 1, 2, -2),                  # a version-1 slab
    (4, 3, 2, -2),                  # a later version
    (14, 2, 2, -3),                 # an unknown flag bit
    (44, -1, 2, -4),                # margin below 0
    (38, 0, 2, -4),                 # thr_min = 0
])
def test_prepare_rejects_corrupted_headers(offset, value, width, code):
    assert _patch(HostTwin(make_params()), offset, value, width) == code


@pytest.mark.parametrize("fmt,bad", [("q15", -32768), ("q7", -128)])
def test_prepare_rejects_the_excluded_minimum_and_a_zero_facet(fmt, bad):
    twin = HostTwin(make_params(facet_format=fmt))
    lay = layout_of(twin.params)
    facets = lay.view(twin.buf, "facets")
    facets.setflags(write=True)
    facets[5] = bad
    assert twin.lib.npin_slab_prepare(twin._slab, len(twin.buf)) == -5
    twin = HostTwin(make_params(facet_format=fmt))
    facets = lay.view(twin.buf, "facets")
    facets.setflags(write=True)
    facets[2 * twin.params.dims:3 * twin.params.dims] = 0           # facet 2 all zeros
    assert twin.lib.npin_slab_prepare(twin._slab, len(twin.buf)) == -5
    assert twin.lib.npin_slab_prepare(twin._slab, 100) == -3         # size too small


def test_pack_slab_refuses_an_oversized_slab():
    with pytest.raises(ValueError, match="over the 65536-byte budget"):
        pack_slab(make_params(dims=1024, facets=16, slots=64))


def test_q7_facets_are_stored_with_the_middle_two_swapped():
    f = np.arange(1, 17).reshape(2, 8)
    p = make_params(dims=8, facets=2, facet_format="q7", rows=f)
    lay = layout_of(p)
    stored = lay.view(pack_slab(p), "facets").reshape(2, 8)
    assert stored[0].tolist() == [1, 3, 2, 4, 5, 7, 6, 8]
    assert stored[1].tolist() == [9, 11, 10, 12, 13, 15, 14, 16]
