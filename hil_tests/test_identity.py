"""HELLO tells who the board is; the fixture has already refused a build-id mismatch."""
from firmware import protocol as P
from firmware.slab import LAYOUT_VERSION


def test_hello_names_board_build_and_shape(board):
    hello = board.client.hello()
    assert hello.board == board.board.id
    assert hello.build_id.hex() == board.build.meta["build_id"]
    assert hello.params_id.hex() == board.build.meta["params_id"]
    assert (hello.proto_version, hello.layout_version) == (P.VERSION, LAYOUT_VERSION)
    assert (hello.dims, hello.facets, hello.slots) == (board.params.dims, board.params.n_facets, board.params.slots)
    assert hello.flags & P.FLAG_PARAMS_OK
    assert hello.max_payload == board.build.meta["max_payload"]


def test_sync_echoes_the_nonce_and_reports_state(fresh):
    client, ref = fresh
    from firmware.slab import state_digest

    for nonce in (0, 0xDEADBEEF, 0xFFFFFFFF):
        reply = client.sync(nonce)
        assert reply.nonce == nonce
        assert reply.digest == state_digest(ref)
        assert reply.step == 0


# The BENCH reply's tick sources (docs/protocol.md) for each boards/ ticks.source: DWT falls back to
# SysTick where the cycle counter does not count (emulators model it without counting).
TICK_CODES = {"dwt": {2, 1}, "systick": {1}, "nrf51-timer0": {3}, "none": {0}}


def test_bench_counts_on_the_tick_source_the_board_has(board):
    hello = board.client.hello()
    assert hello.faults == 0
    ticks, reps, source = board.client.bench(4)
    assert reps == 4 and source in TICK_CODES[board.board.ticks], (board.board.ticks, source)
    assert (ticks > 0) == (source != 0)  # a board without a counter says so instead of a 0 that looks measured
