"""The protocol's two ends against each other on the host: the firmware's C (COBS, CRC-32, the
parameter block check, the service) built with cffi and UBSan, and the Python codec and client."""
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import protocol as P
from firmware.params_block import check_block, params_block
from firmware.service_twin import ServiceTwinPort, load
from firmware.slab import slab_layout, state_digest
from quant.pin_fixed import PinFixed
from common.errors import MismatchError
from toolkit.hil.client import DeviceError, PinClient
from toolkit.hil.link import FrameLink
from toolkit.hil.lockstep import run_lockstep
from toolkit.pin.synth import hostile_q15, synthetic_pin

FFI, LIB = load()
PIN = synthetic_pin(64, 8, 8, seed=3)
# byte strings that stress COBS: long non-zero runs around the 254 boundary, zeros, mixtures
COBS_DATA = st.one_of(
    st.binary(max_size=700),
    st.builds(lambda n, z: b"\x01" * n + b"\x00" * z, st.integers(0, 600), st.integers(0, 3)),
    st.lists(st.sampled_from([b"\x00", b"\x07" * 253, b"\x07" * 254, b"\x07" * 255]), max_size=6).map(b"".join),
)


def _c_encode(data: bytes) -> bytes:
    out = FFI.new("uint8_t[]", len(data) + len(data) // 254 + 2)
    return bytes(FFI.buffer(out, LIB.npin_cobs_encode(data, len(data), out)))


def _c_decode(enc: bytes):
    buf = FFI.new("uint8_t[]", len(enc) + 1)
    FFI.memmove(buf, enc, len(enc))
    n = LIB.npin_cobs_decode(buf, len(enc))
    return None if n < 0 else bytes(FFI.buffer(buf, n))


def test_crc32_check_value_in_c_and_python():
    assert LIB.npin_crc32(0, b"123456789", 9) == 0xCBF43926
    assert P.crc32(b"123456789") == 0xCBF43926


@given(st.binary(max_size=3000), st.integers(0, 3000))
def test_crc32_c_equals_zlib_in_chunks(data, cut):
    cut = min(cut, len(data))
    assert LIB.npin_crc32(LIB.npin_crc32(0, data[:cut], cut), data[cut:], len(data) - cut) == zlib.crc32(data)


@given(COBS_DATA)
def test_cobs_c_and_python_agree_and_round_trip(data):
    enc = _c_encode(data)
    assert b"\0" not in enc
    assert P.cobs_decode(enc) == data
    assert _c_decode(P.cobs_encode(data)) == data
    assert _c_decode(enc) == data


@given(st.binary(min_size=1, max_size=300).filter(lambda b: b"\0" not in b))
def test_cobs_decoders_accept_and_reject_the_same_inputs(enc):
    try:
        want = P.cobs_decode(enc)
    except ValueError:
        want = None
    assert _c_decode(enc) == want


def test_parameter_block_c_and_python_agree_and_every_flipped_byte_is_refused():
    block = params_block(PIN.params)
    cap = slab_layout(PIN.params.dims, PIN.params.n_facets, PIN.params.slots).total_bytes
    assert LIB.npin_params_check(block, cap) == FFI.NULL and check_block(block) is None
    assert FFI.string(LIB.npin_params_check(block, cap - 8)) == b"parameter block: Pin shape does not fit this firmware's slab"
    rng = np.random.default_rng(0)
    for i in sorted(set(rng.integers(0, len(block), 300).tolist()) | {0, 4, 8, 12, 16, 20, 24, 40, 47, 48}):
        bad = bytearray(block)
        bad[i] ^= 1 << int(rng.integers(0, 8))
        assert LIB.npin_params_check(bytes(bad), cap) != FFI.NULL, i
        assert check_block(bytes(bad)) is not None, i


def test_a_layout_1_parameter_block_is_refused_naming_the_version():
    block = bytearray(params_block(PIN.params))
    block[6:8] = (1).to_bytes(2, "little")              # slab layout 1, as version-1 tools wrote it
    cap = slab_layout(PIN.params.dims, PIN.params.n_facets, PIN.params.slots).total_bytes
    want = "parameter block: slab layout 1; this firmware reads 2 (regenerate)"
    assert FFI.string(LIB.npin_params_check(bytes(block), cap)).decode() == want
    assert check_block(bytes(block)) == want


def _client(port):
    link = FrameLink(port)
    client = PinClient(link, timeout=0.05, retries=0)
    for f in link.drain(0.0):
        client._aside(f)
    client.hello()
    client.sync()
    return client


def test_service_boots_with_banner_and_hello():
    port = ServiceTwinPort(PIN.params)
    link = FrameLink(port)
    banner = link.read_frame(0)
    hello = P.Hello.parse(banner.payload)
    assert banner.type == P.HELLO | P.RESPONSE and hello.flags & P.FLAG_BANNER and hello.flags & P.FLAG_PARAMS_OK
    assert (hello.dims, hello.facets, hello.slots, hello.board) == (64, 8, 8, "host")
    assert hello.params_id == params_block(PIN.params)[24:40]
    assert len(banner.payload) == P.HELLO_BYTES == 84 and hello.faults == 0


def test_every_frame_the_device_sends_starts_after_a_delimiter():
    """A glitch byte on the TX line at reset (the pin floats until the UART drives it) must not
    join the first frame: the device ends whatever came before with 0x00, then sends the frame."""
    port = ServiceTwinPort(PIN.params)
    wire = port.read(port.in_waiting)
    assert wire[:1] == b"\x00" and wire.endswith(b"\x00")
    glitched = FrameLink(type("Port", (), {"in_waiting": 0, "read": lambda self, n=1: b""})())
    glitched._buf += b"\x7f" + wire  # the byte a floating line left in the host's receiver
    assert glitched.read_frame(0).type == P.HELLO | P.RESPONSE and not glitched.bad_frames[1:]
    port.write(P.frame(P.HELLO, 1))
    reply = port.read(port.in_waiting)
    assert reply[:1] == b"\x00" and reply.count(b"\x00") == 2


def test_service_lockstep_with_feedback_and_hostile_rows():
    port = ServiceTwinPort(PIN.params)
    client, ref = _client(port), PinFixed(PIN.params)
    xs, intents = PIN.stream_q15(3000, seed=5)
    rep = run_lockstep(client, ref, xs, intents)
    run_lockstep(client, ref, hostile_q15(300, 64, seed=2), feedback=False)
    assert rep.fires > 20
    assert not np.array_equal(ref.thr_q15, PIN.params.thr_q15)  # feedback moved thresholds, on both sides alike
    assert LIB.npin_state_digest(port.slab()) == state_digest(ref)


def test_lockstep_reports_a_readable_diff_on_mismatch():
    port = ServiceTwinPort(PIN.params)
    client = _client(port)
    wrong = PinFixed(PIN.params.__class__(**{**PIN.params.__dict__, "eta_q15": PIN.params.eta_q15 + 1}))
    xs, _ = PIN.stream_q15(10, seed=1)
    with pytest.raises(MismatchError) as e:
        run_lockstep(client, wrong, xs)
    msg = str(e.value)
    assert msg.startswith("step 1: device (status, facet, score, tool, digest)")
    eta = PIN.params.eta_q15
    assert f"first difference in the state: header field 'eta_q15': device {eta}, reference {eta + 1}" in msg


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=6))
def test_garbage_never_changes_the_slab(chunks):
    port = ServiceTwinPort(PIN.params)
    client = _client(port)
    xs, _ = PIN.stream_q15(3, seed=4)
    client.push(xs)
    client.step(2)
    before = port.slab()
    for c in chunks:
        port.write(c.replace(b"\0", b"") + b"\0")  # garbage frames: the CRC cannot hold
    for f in client.link.drain(0.0):
        assert f.type == P.ERROR
    assert port.slab() == before


def test_a_valid_frame_after_garbage_is_served():
    port = ServiceTwinPort(PIN.params)
    client = _client(port)
    port.write(b"\x13\x37\x99")  # a partial frame with no delimiter
    client.link.send(b"\0")      # the host's resync byte ends it
    client.link.drain(0.0)
    assert client.push(PIN.stream_q15(1, seed=0)[0])[0] == 1


def test_retry_after_a_warm_reboot_is_answered_from_retained_ram():
    port = ServiceTwinPort(PIN.params)
    client, ref = _client(port), PinFixed(PIN.params)
    xs, intents = PIN.stream_q15(40, seed=6)
    run_lockstep(client, ref, xs[:20], intents[:20])
    client.push(xs[20:24])
    seq = client.seq
    step_frame = P.frame(P.STEP, seq, struct.pack("<H", 4))
    client.link.send(step_frame)
    first = client.wait_for(P.STEP, seq, 0)
    port.boot(cold=False)  # reset: the host never saw `first`, say
    banner = P.Hello.parse(client.link.read_frame(0).payload)
    assert banner.flags & P.FLAG_WARM and banner.boot_count == 2
    client.link.send(step_frame)
    assert client.wait_for(P.STEP, seq, 0) == first  # answered again, not stepped again
    reply = client.sync()
    for x in xs[20:24]:
        ref.push(x)
    for _ in range(4):
        ref.step()
    assert (reply.step, reply.digest, reply.last_seq) == (ref.step_count, state_digest(ref), seq)


def test_cold_boot_reloads_the_parameters():
    port = ServiceTwinPort(PIN.params)
    client = _client(port)
    client.push(PIN.stream_q15(3, seed=0)[0])
    client.step(3)
    port.boot(cold=True)
    banner = P.Hello.parse(client.link.read_frame(0).payload)
    assert not banner.flags & P.FLAG_WARM
    assert client.sync().digest == state_digest(PinFixed(PIN.params))


def test_corrupt_parameter_block_is_refused_with_error_frames():
    block = bytearray(params_block(PIN.params))
    block[100] ^= 0x10
    port = ServiceTwinPort(PIN.params, block=bytes(block))
    link = FrameLink(port)
    boot = link.drain(0.0)
    assert [f.type for f in boot] == [P.ERROR, P.HELLO | P.RESPONSE]
    assert P.parse_error(boot[0].payload) == (P.E_PARAMS, "parameter block: CRC mismatch")
    assert not P.Hello.parse(boot[1].payload).flags & P.FLAG_PARAMS_OK
    client = PinClient(link, timeout=0.05, retries=0)
    with pytest.raises(DeviceError) as e:
        client.step(1)
    assert e.value.code == P.E_PARAMS


def _c_constants(header: Path) -> dict[str, int]:
    """#define NAME <int>u and enum members NAME = <int> of a C header."""
    text = re.sub(r"/\*.*?\*/", "", header.read_text(), flags=re.S)
    out = {m[0]: int(m[1], 0) for m in re.findall(r"#define\s+(NPIN_\w+)\s+(0x[0-9A-Fa-f]+|\d+)u?\b", text)}
    out.update({m[0]: int(m[1], 0) for m in re.findall(r"\b(NPIN_\w+)\s*=\s*(0x[0-9A-Fa-f]+|\d+)", text)})
    return out


def test_host_protocol_constants_are_the_firmware_header_s():
    c = _c_constants(Path(P.__file__).parent / "app" / "npin_proto.h")
    want = {"NPIN_PROTO_VERSION": P.VERSION, "NPIN_FRAME_HEADER": P.HEADER.size, "NPIN_FRAME_CRC": P.OVERHEAD - P.HEADER.size,
            "NPIN_RESPONSE": P.RESPONSE, "NPIN_STEP_RECORD": P.STEP_RECORD.size,
            "NPIN_HELLO_FLAG_PARAMS_OK": P.FLAG_PARAMS_OK, "NPIN_HELLO_FLAG_WARM": P.FLAG_WARM,
            "NPIN_HELLO_FLAG_BANNER": P.FLAG_BANNER, "NPIN_HELLO_FLAG_SIMD": P.FLAG_SIMD,
            "NPIN_RESET_STATE": P.RESET_STATE, "NPIN_RESET_REBOOT": P.RESET_REBOOT}
    want.update({f"NPIN_MSG_{name}": code for code, name in P.NAMES.items()})
    want.update({f"NPIN_E_{name}": code for code, name in P.ERROR_NAMES.items()})
    assert {k: c.get(k) for k in want} == want
    messages = {k for k in c if k.startswith("NPIN_MSG_")}
    errors = {k for k in c if k.startswith("NPIN_E_")}
    assert messages == {f"NPIN_MSG_{n}" for n in P.NAMES.values()}  # no message the host does not know
    assert errors == {f"NPIN_E_{n}" for n in P.ERROR_NAMES.values()}
