"""Fuzzing every wire parser: random and mutated input raises ProtocolError and nothing else.

Mutations start from real messages and packets (the simulator's replies, packetized H.264,
a camera-style SDP), so the fuzzer gets past the first length check. The access-unit path
is fuzzed end to end: whatever arrives, every unit handed to the decoder is well-formed.
"""

from __future__ import annotations

import contextlib
import itertools
import os

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.assembler import AccessUnit, AccessUnitAssembler
from rtsplab.rtsp.auth import Authenticator, authorization_header, parse_auth_header
from rtsplab.rtsp.h264 import H264Depacketizer, h264_fmtp, packetize_h264, sprop_parameter_sets
from rtsplab.rtsp.messages import (
    InterleavedFrame,
    MessageReader,
    format_response,
    interleave,
    parse_request,
    parse_response,
    parse_session,
)
from rtsplab.rtsp.receiver import RtpReceiver
from rtsplab.rtsp.rtcp import (
    ReportBlock,
    build_bye,
    build_fir,
    build_pli,
    build_receiver_report,
    build_sdes_cname,
    build_sender_report,
    parse_rtcp,
)
from rtsplab.rtsp.rtp import RtpExtension, RtpPacket
from rtsplab.rtsp.sdp import join_control, parse_sdp
from rtsplab.rtsp.session import ClientSession, SessionState
from rtsplab.rtsp.transport import parse_transport

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SPS, PPS = bytes.fromhex("6742c01e8c8d40a02ff2e01e1108d4"), bytes.fromhex("68ce3c80")
RESPONSE = format_response(
    200,
    3,
    [
        ("Content-Base", "rtsp://127.0.0.1:8554/cam1/"),
        ("Session", "0123abcd;timeout=60"),
        ("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=1A2B3C4D"),
        ("RTP-Info", "url=rtsp://127.0.0.1:8554/cam1/track1;seq=1;rtptime=2"),
        ("WWW-Authenticate", 'Digest realm="rtsplab", nonce="abc", qop="auth"'),
    ],
    b"v=0\r\n",
)
REQUEST = b"SETUP rtsp://h/cam1/track1 RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP;unicast\r\n\r\n"
SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=control:*\r\n"
    "m=audio 0 RTP/AVP 0 8\r\na=rtpmap:8 PCMA/8000/1\r\na=control:trackID=1\r\n"
    "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    f"a=fmtp:96 {h264_fmtp(SPS, PPS)}\r\na=framerate:30\r\na=control:trackID=0\r\n"
)
IDR = [SPS, PPS, b"\x65\x88" + os.urandom(2500)]
P_SLICE = [b"\x41\x9a" + os.urandom(900)]
STAP_A = b"\x18" + b"".join(len(n).to_bytes(2, "big") + n for n in (SPS, PPS))
RTP = [
    *packetize_h264(IDR, 100, 9000, 0xCAFE, mtu=1000),
    *packetize_h264(P_SLICE, 104, 12000, 0xCAFE),
    RtpPacket(96, 105, 15000, 0xCAFE, True, STAP_A).pack(),
    RtpPacket(96, 1, 2, 3, False, b"\x41x", (1, 2), RtpExtension(0xBEDE, bytes(8))).pack(),
]
RTCP = [
    build_sender_report(0xCAFE, 2**63, 9000, 10, 1000, [ReportBlock(1, 2, 3, 4, 5, 6, 7)])
    + build_sdes_cname(0xCAFE, "rtsplab-cam1")
    + build_bye(0xCAFE, "bye"),
    build_receiver_report(1, [ReportBlock(0xCAFE, 0, 0, 105)]),
    build_receiver_report(1) + build_sdes_cname(1, "x") + build_pli(1, 0xCAFE),
    build_fir(1, 0xCAFE, seq=3),
]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A real sample with bytes flipped, cut, duplicated or inserted."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "set", "dup"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "set" and data:
            data[pos] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x24, 0x0A, 0x0D]))
        elif op == "dup":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 32))]
    return bytes(data)


def packets(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=64), mutated(seeds))


@FUZZ
@given(packets([REQUEST, RESPONSE]))
def test_request_and_response_parsers(data: bytes) -> None:
    for parse in (parse_request, parse_response):
        with contextlib.suppress(ProtocolError):
            msg = parse(data)
            _ = msg.cseq, msg.get("session"), msg.headers


@FUZZ
@given(st.lists(packets([REQUEST, RESPONSE, interleave(0, RTP[0])]), max_size=4), st.data())
def test_message_reader_splits_or_raises(chunks: list[bytes], data: st.DataObject) -> None:
    reader = MessageReader(max_header_bytes=2048, max_body_bytes=4096)
    stream = b"".join(chunks)
    with contextlib.suppress(ProtocolError):
        while stream:
            cut = data.draw(st.integers(1, len(stream)))
            reader.feed(stream[:cut])
            stream = stream[cut:]
            while reader.next() is not None:
                pass


def _split(stream: bytes, cuts: list[int], batch: bool) -> tuple[list[object], str | None]:
    """Items of ``stream`` fed in pieces: by ``next()`` alone, or by ``frames()`` first."""
    reader = MessageReader(max_header_bytes=2048, max_body_bytes=4096)
    items: list[object] = []
    try:
        for a, b in itertools.pairwise([0, *sorted(cuts), len(stream)]):
            reader.feed(stream[a:b])
            while True:
                if batch:
                    items += [(f.channel, f.payload) for f in reader.frames()]
                item = reader.next()
                if item is None:
                    break
                items.append(
                    (item.channel, item.payload) if isinstance(item, InterleavedFrame) else item
                )
    except ProtocolError as exc:
        return items, str(exc)
    return items, None


@FUZZ
@given(
    st.lists(
        packets([REQUEST, RESPONSE, interleave(0, RTP[0]), interleave(1, RTP[1])]), max_size=6
    ),
    st.lists(st.integers(0, 2000), max_size=6),
)
def test_message_reader_frames_in_a_batch_as_one_by_one(
    chunks: list[bytes], cuts: list[int]
) -> None:
    """``frames()`` (the bulk of a stream at once) yields what ``next()`` does, in order, with
    the same error at the same point, however the stream is cut."""
    stream = b"".join(chunks)
    cuts = [c for c in cuts if c <= len(stream)]
    assert _split(stream, cuts, batch=True) == _split(stream, cuts, batch=False)


@FUZZ
@given(
    st.lists(
        packets([RESPONSE, interleave(0, RTP[0]), b"GET_PARAMETER * RTSP/1.0\r\nCSeq: 9\r\n\r\n"]),
        max_size=6,
    )
)
def test_session_next_events_as_next_event(chunks: list[bytes]) -> None:
    """A playing session's batch (``next_events``) holds the events ``next_event`` gives one by
    one, in order; an error after some events comes with the next call, those events first.
    An observer (a session capture) sees the same items either way, each frame among them."""

    def run(
        batch: bool, observed: bool
    ) -> tuple[list[object], str | None, list[tuple[object, ...]]]:
        seen: list[tuple[object, ...]] = []

        def observe(direction: str, item: bytes | InterleavedFrame) -> None:
            seen.append(
                (direction, item.channel, item.payload)
                if isinstance(item, InterleavedFrame)
                else (direction, item)
            )

        s = ClientSession("rtsp://h/cam1", observe=observe if observed else None)
        s.state = SessionState.PLAYING
        s.receive_data(b"".join(chunks))
        out: list[object] = []
        try:
            while True:
                got = s.next_events() if batch else [e for e in [s.next_event()] if e is not None]
                if not got:
                    return out, None, seen
                out += [
                    (e.channel, e.payload) if isinstance(e, InterleavedFrame) else type(e).__name__
                    for e in got
                ]
        except ProtocolError as exc:
            return out, str(exc), seen

    plain = run(batch=True, observed=False)
    assert plain == run(batch=False, observed=False)
    observed = run(batch=True, observed=True)
    assert observed == run(batch=False, observed=True)
    assert observed[:2] == plain[:2]  # observing changes nothing the reader gets
    frames_seen = [item[1:] for item in observed[2] if len(item) == 3]
    assert frames_seen == [e for e in plain[0] if isinstance(e, tuple)]


@FUZZ
@given(
    st.one_of(st.text(max_size=40), st.sampled_from(["1;timeout=x", "a;timeout=²", "a;timeout=0"]))
)
def test_session_header(value: str) -> None:
    with contextlib.suppress(ProtocolError):
        s = parse_session(value)
        assert s.id and s.timeout_s > 0 and s.keepalive_s >= 1


@FUZZ
@given(
    st.one_of(
        st.text(max_size=80),
        mutated(
            [b"RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=1A2B", b"RTP/AVP;client_port=5000-5001"]
        ).map(lambda b: b.decode("latin-1")),
    )
)
def test_transport_header(value: str) -> None:
    with contextlib.suppress(ProtocolError):
        for spec in parse_transport(value):
            _ = spec.tcp, spec.udp, spec.multicast, spec.ssrc, spec.format()
            with contextlib.suppress(ProtocolError):
                _ = spec.interleaved
            with contextlib.suppress(ProtocolError):
                _ = spec.client_port, spec.server_port


CHALLENGE = 'Digest realm="rtsplab", nonce="0123", qop="auth,auth-int", opaque="x"'


@FUZZ
@given(
    st.one_of(
        st.text(max_size=80),
        mutated([CHALLENGE.encode(), b'Basic realm="r"']).map(lambda b: b.decode("latin-1")),
    )
)
def test_auth_challenges_and_answers(value: str) -> None:
    parse_auth_header(value)
    with contextlib.suppress(ProtocolError):
        answer = authorization_header("u", "p@:/", "DESCRIBE", "rtsp://h/cam1", value)
        assert "\r" not in answer and "\n" not in answer and "p@:/" not in answer
    # the server side never raises on a client's header, whatever it is
    assert Authenticator("u", "p").check("DESCRIBE", value) in (True, False)
    assert Authenticator("u", "p", scheme="basic").check("DESCRIBE", value) in (True, False)


@FUZZ
@given(st.one_of(st.binary(max_size=200), mutated([SDP.encode()])))
def test_sdp(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        sdp = parse_sdp(data)
        join_control("rtsp://h/x?y=1", sdp.control)
        for m in sdp.media:
            _ = m.encoding, m.clock_rate, m.fmtp, m.payload_type, m.lines()
            assert m.clock_rate > 0
            join_control("rtsp://h/x", m.control)
            with contextlib.suppress(ProtocolError):
                for nal in sprop_parameter_sets(m.fmtp):
                    assert nal and not nal[0] & 0x80


@FUZZ
@given(packets(RTP))
def test_rtp_packet(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        p = RtpPacket.parse(data)
        assert len(data) >= 12 + len(p.payload) + 4 * len(p.csrcs)


@FUZZ
@given(packets(RTCP))
def test_rtcp(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        assert parse_rtcp(data)


def well_formed(au: AccessUnit) -> None:
    """What the decoder may be handed: start codes, NAL headers, no empty or truncated NAL."""
    assert au.nals
    stream = au.annexb()
    assert stream.startswith(b"\x00\x00\x00\x01")
    assert stream.count(b"\x00\x00\x00\x01") >= len(au.nals)
    for nal in au.nals:
        assert nal, "empty NAL"
        assert not nal[0] & 0x80, "forbidden_zero_bit"
        assert 1 <= nal[0] & 0x1F <= 23, "aggregation/fragment header leaked"


@FUZZ
@given(st.lists(packets([RtpPacket.parse(p).payload for p in RTP]), max_size=12))
def test_depacketizer(payloads: list[bytes]) -> None:
    d = H264Depacketizer()
    for payload in payloads:
        with contextlib.suppress(ProtocolError):
            for nal in d.push(payload):
                well_formed(AccessUnit(0, (nal,)))


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(RTP[:-1]), packets(RTP), packets(RTCP)), max_size=30))
def test_receiver_hands_out_only_well_formed_units(stream: list[bytes]) -> None:
    rx = RtpReceiver(H264Depacketizer(), payload_type=96)
    for k, data in enumerate(stream):
        (rx.on_rtcp if k % 3 == 2 else rx.on_rtp)(data)  # RTCP bytes may land on RTP too
        while (au := rx.pull()) is not None:
            well_formed(au)


ORIGINAL = {9000 + 3000 * k: nals for k, nals in enumerate([IDR, P_SLICE, P_SLICE, IDR, P_SLICE])}


def original_packets() -> list[bytes]:
    out, seq = [], 65000
    for ts, nals in ORIGINAL.items():
        pkts = packetize_h264(nals, seq, ts, 0xCAFE, mtu=700)
        seq += len(pkts)
        out += pkts
    return out


@FUZZ
@given(st.data())
def test_loss_and_garbage_never_yield_a_damaged_unit(data: st.DataObject) -> None:
    """Drop, duplicate and interleave garbage: every unit out is an original unit, intact."""
    stream: list[bytes] = []
    for pkt in original_packets():
        action = data.draw(st.sampled_from(["keep"] * 6 + ["drop", "dup", "garbage"]))
        if action == "drop":
            continue
        stream.append(pkt)
        if action == "dup":
            stream.append(pkt)
        elif action == "garbage":
            stream.append(data.draw(packets(RTP + RTCP)))
    assume(stream)
    a = AccessUnitAssembler(H264Depacketizer(), payload_type=96, ssrc=0xCAFE)
    a.expect_first_seq(65000)  # from RTP-Info: without it a lost first packet is invisible
    for pkt in stream:
        with contextlib.suppress(ProtocolError):
            a.push(RtpPacket.parse(pkt))
        while (au := a.pull()) is not None:
            well_formed(au)
            assert list(au.nals) == ORIGINAL[au.timestamp], "a unit was handed out incomplete"


# ---- the caps: whatever arrives, what a parser holds stays bounded ---------------------------

from unittest import mock  # noqa: E402

from rtsplab.rtsp import assembler as assembler_module  # noqa: E402
from rtsplab.rtsp.h264 import MAX_NALS_PER_PACKET  # noqa: E402
from rtsplab.rtsp.h265 import H265Depacketizer, packetize_h265  # noqa: E402

H265_AU = [b"\x40\x01\x0c", b"\x42\x01\x01", b"\x44\x01\xc1", b"\x26\x01" + os.urandom(2500)]
H265_PAYLOADS = [p[12:] for p in packetize_h265(H265_AU, 0, 0, 1, mtu=600)]
H264_PAYLOADS = [RtpPacket.parse(p).payload for p in RTP]
SMALL_NAL = 3000


def _fragments(draw: st.DrawFn, payloads: list[bytes]) -> list[bytes]:
    """Mutated payloads, with runs of one fragment repeated (a start that never ends)."""
    out: list[bytes] = []
    for _ in range(draw(st.integers(1, 12))):
        payload = draw(st.one_of(st.sampled_from(payloads), mutated(payloads)))
        out += [payload] * draw(st.sampled_from([1, 1, 2, 8]))
    return out


CAPS_FUZZ = settings(FUZZ, max_examples=150)


@CAPS_FUZZ
@given(st.data(), st.booleans())
def test_depacketizers_hold_at_most_their_caps(data: st.DataObject, h265: bool) -> None:
    d: H264Depacketizer | H265Depacketizer
    if h265:
        d = H265Depacketizer(donl=data.draw(st.booleans()), max_nal_bytes=SMALL_NAL)
        payloads = _fragments(data.draw, H265_PAYLOADS)
    else:
        d = H264Depacketizer(max_nal_bytes=SMALL_NAL)
        payloads = _fragments(data.draw, H264_PAYLOADS)
    for payload in payloads:
        try:
            nals = d.push(payload)
        except ProtocolError:
            continue
        finally:
            assert d.pending_bytes <= SMALL_NAL
        assert len(nals) <= MAX_NALS_PER_PACKET
        assert all(len(n) <= max(SMALL_NAL, len(payload)) for n in nals)


@CAPS_FUZZ
@given(st.data())
def test_receiver_holds_at_most_the_access_unit_caps(data: st.DataObject) -> None:
    """Random timestamps and markers over mutated packets, with small caps: the open unit
    never holds more than the caps, and the errors are only ProtocolError (counted)."""
    h265 = data.draw(st.booleans())
    payloads = _fragments(data.draw, H265_PAYLOADS if h265 else H264_PAYLOADS)
    max_bytes, max_nals = 5000, 6
    with (
        mock.patch.object(assembler_module, "MAX_AU_BYTES", max_bytes),
        mock.patch.object(assembler_module, "MAX_AU_NALS", max_nals),
    ):
        rx = RtpReceiver(H265Depacketizer() if h265 else H264Depacketizer(), payload_type=96)
        steps = data.draw(
            st.lists(st.integers(0, 7), min_size=len(payloads), max_size=len(payloads))
        )
        ts = 0
        for seq, (payload, step) in enumerate(zip(payloads, steps, strict=True)):
            ts += 3000 if step == 0 else 0  # a new unit now and then
            marker = step == 1
            rx.on_rtp(RtpPacket(96, seq, ts, 7, marker, payload).pack())
            asm = rx.assembler
            assert asm.held_nals <= max_nals
            assert asm.held_bytes <= max_bytes  # the fragment in progress included
            while (au := rx.pull()) is not None:
                assert len(au.nals) <= max_nals and sum(map(len, au.nals)) <= max_bytes
        assert rx.bad_packets >= rx.overflows - rx.reorder.overflows


MESSAGES = [
    REQUEST,
    RESPONSE,
    RESPONSE.split(b"\r\n\r\n")[0].replace(b"\r\n", b"\n") + b"\n\n" + b"v=0\r\n",  # LF-only
    interleave(0, RTP[0]),
    interleave(1, b"a\r\n\r\nb"),
    b"\r\n",
]


@FUZZ
@given(st.lists(st.sampled_from(MESSAGES), min_size=1, max_size=8), st.data())
def test_message_reader_gives_the_same_items_however_the_stream_is_cut(
    parts: list[bytes], data: st.DataObject
) -> None:
    """Scanning each byte once must not change what is found: whole or cut anywhere (down to
    single bytes), the same messages and frames come out, and the buffer stays bounded."""
    stream = b"".join(parts)
    whole = MessageReader()
    whole.feed(stream)
    expected = list(iter(whole.next, None))
    reader = MessageReader(max_header_bytes=2048, max_body_bytes=4096)
    got: list[object] = []
    while stream:
        cut = data.draw(st.integers(1, min(len(stream), 64)))
        reader.feed(stream[:cut])
        stream = stream[cut:]
        while (item := reader.next()) is not None:
            got.append(item)
        assert reader.buffered <= 2048 + 4 + 4096 + 64
    assert got == expected and reader.buffered == 0
