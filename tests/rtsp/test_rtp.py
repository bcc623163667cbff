"""The RTP header (RFC 3550 §5.1): layout, CSRCs, extension, padding, validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.rtp import RtpExtension, RtpHeader, RtpPacket, seq_delta


def test_header_round_trip_and_bytes() -> None:
    h = RtpHeader(payload_type=96, seq=0xFFFF, timestamp=0x01020304, ssrc=0xDEADBEEF, marker=True)
    raw = h.pack()
    assert raw == bytes.fromhex("80e0ffff01020304deadbeef")
    assert RtpHeader.parse(raw) == h
    with pytest.raises(ProtocolError):
        RtpHeader.parse(b"\x40" + bytes(11))  # version 1


def test_csrc_extension_and_padding() -> None:
    raw = (
        bytes.fromhex("b260000100000002000000ff")  # V=2 P=1 X=1 CC=2
        + bytes.fromhex("0000000a0000000b")
        + bytes.fromhex("bede0001")
        + b"\x10\x01\x02\x03"
        + b"payload"
        + b"\x00\x00\x03"
    )
    p = RtpPacket.parse(raw)
    assert p.csrcs == (10, 11)
    assert p.extension == RtpExtension(0xBEDE, b"\x10\x01\x02\x03")
    assert p.payload == b"payload"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "shorter"),
        (bytes(12), "version 0"),
        (bytes.fromhex("8f60000100000002000000ff"), "CSRC"),  # 15 CSRCs, none present
        (bytes.fromhex("9060000100000002000000ff") + b"\xbe\xde", "truncated"),
        (bytes.fromhex("9060000100000002000000ff") + b"\xbe\xde\x00\x02abcd", "overruns"),
        (bytes.fromhex("a060000100000002000000ff") + b"ab\x00", "padding"),  # pad count 0
        (bytes.fromhex("a060000100000002000000ff") + b"ab\x09", "padding"),
    ],
)
def test_malformed_packets_raise_protocol_error(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        RtpPacket.parse(raw)
    with pytest.raises(ValueError):  # ProtocolError is a ValueError too
        RtpHeader.payload(raw)


@given(
    st.integers(0, 127),
    st.integers(0, 0xFFFF),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.booleans(),
    st.binary(max_size=64),
    st.lists(st.integers(0, 2**32 - 1), max_size=15),
    st.one_of(st.none(), st.builds(RtpExtension, st.integers(0, 0xFFFF), st.binary(max_size=8))),
)
def test_round_trip(
    pt: int,
    seq: int,
    ts: int,
    ssrc: int,
    marker: bool,
    payload: bytes,
    csrcs: list[int],
    ext: RtpExtension | None,
) -> None:
    if ext is not None and len(ext.data) % 4:
        ext = RtpExtension(ext.profile, ext.data + bytes(-len(ext.data) % 4))
    p = RtpPacket(pt, seq, ts, ssrc, marker, payload, tuple(csrcs), ext)
    assert RtpPacket.parse(p.pack()) == p


def test_seq_delta_wraps() -> None:
    assert seq_delta(0, 0xFFFF) == 1
    assert seq_delta(0xFFFF, 0) == -1
    assert seq_delta(100, 100) == 0
