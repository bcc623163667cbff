"""The ONVIF RTP header extension (profile 0xABAC): layout, validation, carried per unit."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.assembler import AccessUnitAssembler
from rtsplab.rtsp.h264 import H264Depacketizer, packetize_h264
from rtsplab.rtsp.rtp import ONVIF_PROFILE, OnvifExtension, RtpExtension, RtpPacket


def test_layout_as_the_streaming_specification_draws_it() -> None:
    # NTP 2023-11-14T22:13:20.5Z, C=1 D=1, CSeq 0x2a, 16 bits of padding
    data = struct.pack(">IIBBH", 3_908_988_800, 1 << 31, 0xA0, 0x2A, 0)
    raw = RtpPacket(96, 1, 2, 3, extension=RtpExtension(ONVIF_PROFILE, data)).pack()
    assert raw[12:16] == bytes.fromhex("abac0003")
    x = RtpPacket.parse(raw).onvif
    assert x is not None
    assert x.t_ns == 1_700_000_000_500_000_000
    assert (x.clean_point, x.end, x.discontinuity, x.terminal, x.cseq) == (
        True,
        False,
        True,
        False,
        42,
    )


def test_a_short_onvif_extension_is_a_malformed_packet() -> None:
    raw = RtpPacket(96, 1, 2, 3, extension=RtpExtension(ONVIF_PROFILE, bytes(8))).pack()
    with pytest.raises(ProtocolError, match="ONVIF"):
        RtpPacket.parse(raw)
    assert (
        RtpPacket.parse(
            RtpPacket(96, 1, 2, 3, extension=RtpExtension(0xBEDE, bytes(8))).pack()
        ).onvif
        is None
    )


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2**64 - 1), st.booleans(), st.booleans(), st.integers(0, 255), st.integers(0, 3)
)
def test_round_trip(ntp: int, clean: bool, disc: bool, cseq: int, extra_words: int) -> None:
    x = OnvifExtension(ntp, clean, False, disc, False, cseq)
    ext = x.extension()
    ext = RtpExtension(ext.profile, ext.data + bytes(4 * extra_words))  # other extensions after
    assert RtpPacket.parse(RtpPacket(96, 0, 0, 1, extension=ext).pack()).onvif == x


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40), st.integers(0, 12))
def test_hostile_extensions_raise_only_protocol_errors(body: bytes, words: int) -> None:
    """Any bytes after an 0xABAC extension header: parsed, or a ProtocolError; nothing else."""
    raw = (
        bytes.fromhex("90600001000000020000000a") + struct.pack(">HH", ONVIF_PROFILE, words) + body
    )
    try:
        p = RtpPacket.parse(raw)
    except ProtocolError:
        return
    assert p.onvif is not None and 4 * words >= 12


def test_the_assembler_carries_the_first_capture_time_of_each_unit() -> None:
    a = AccessUnitAssembler(H264Depacketizer())
    seq = 0
    for i, t_ns in enumerate((10**18, None, 2 * 10**18)):
        packets = packetize_h264([b"\x65" + bytes(3000)], seq, 3000 * i, 7)
        seq += len(packets)
        for j, raw in enumerate(packets):
            p = RtpPacket.parse(raw)
            if t_ns is not None and j == 0:
                p = RtpPacket(p.payload_type, p.seq, p.timestamp, p.ssrc, p.marker, p.payload,
                              extension=OnvifExtension.at(t_ns).extension())  # fmt: skip
            a.push(p)
    units = [a.pull() for _ in range(3)]
    assert [u.t_capture_ns if u else -1 for u in units] == [10**18, None, 2 * 10**18]
