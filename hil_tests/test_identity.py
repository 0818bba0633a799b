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
