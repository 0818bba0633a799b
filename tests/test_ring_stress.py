"""Multi-producer pushes (C11 CAS, real threads) against one consumer: nothing torn, nothing
duplicated or reordered per producer, and every vector consumed or counted as overrun."""
import pytest

from conftest import make_params
from firmware.host_twin import HostTwin


@pytest.mark.parametrize("slots,producers", [(2, 4), (4, 3), (32, 4), (64, 2)])
def test_no_torn_or_lost_slots(slots, producers):
    twin = HostTwin(make_params(dims=256, facets=2, slots=slots))
    report = twin.ffi.new("uint64_t[6]")
    per_producer = 4000
    assert twin.lib.npin_twin_stress(twin._slab, producers, per_producer, report) == 0
    pushed, consumed, overrun, torn, reordered, pending = (int(report[i]) for i in range(6))
    assert pushed == producers * per_producer
    assert torn == 0 and reordered == 0 and pending == 0
    assert consumed + overrun == pushed
    assert consumed > 0
    state = twin.state()
    assert state["ring_head"] == pushed and state["ring_tail"] == pushed
    assert state["step"] == consumed

