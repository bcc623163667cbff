"""H.264 packetization and depacketization (RFC 6184)."""

from __future__ import annotations

import contextlib
import os

import pytest

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.h264 import (
    H264Depacketizer,
    h264_fmtp,
    packetize_h264,
    split_annexb,
    sprop_parameter_sets,
)
from rtsplab.rtsp.rtp import RtpHeader


def depacketize(pkts: list[bytes]) -> list[bytes]:
    d = H264Depacketizer()
    return [n for p in pkts for n in d.push(RtpHeader.payload(p))]


def test_small_nals_are_single_nal_packets_with_marker_on_last() -> None:
    nals = [b"\x67\x42\xc0\x1e", b"\x68\xce\x3c\x80", b"\x65" + bytes(500)]
    pkts = packetize_h264(nals, seq=65534, timestamp=1234, ssrc=7)
    headers = [RtpHeader.parse(p) for p in pkts]
    assert [h.seq for h in headers] == [65534, 65535, 0]  # wraps
    assert [h.marker for h in headers] == [False, False, True]
    assert {h.timestamp for h in headers} == {1234}
    assert [RtpHeader.payload(p) for p in pkts] == nals


def test_big_nal_is_fu_a_fragmented_and_reassembled() -> None:
    nal = bytes([0x65]) + os.urandom(10_000)
    pkts = packetize_h264([nal], seq=100, timestamp=90_000, ssrc=1, mtu=1400)
    assert all(len(p) <= 1400 for p in pkts)
    assert len(pkts) == -(-(len(nal) - 1) // (1400 - 12 - 2))
    payloads = [RtpHeader.payload(p) for p in pkts]
    assert all(p[0] & 0x1F == 28 and p[0] & 0x60 == 0x60 for p in payloads)  # FU-A, NRI kept
    assert payloads[0][1] & 0x80 and not payloads[0][1] & 0x40  # start bit
    assert payloads[-1][1] & 0x40 and not payloads[-1][1] & 0x80  # end bit
    assert all(p[1] & 0x1F == 5 for p in payloads)  # original NAL type
    assert [RtpHeader.parse(p).marker for p in pkts] == [False] * (len(pkts) - 1) + [True]
    assert depacketize(pkts) == [nal]


def test_lost_fragment_drops_the_nal_not_corrupts_it() -> None:
    nal = bytes([0x41]) + os.urandom(5000)
    pkts = packetize_h264([nal, b"\x41\x01"], seq=0, timestamp=0, ssrc=1, mtu=1000)
    d = H264Depacketizer()
    assert d.push(RtpHeader.payload(pkts[0])) == []
    d.reset()  # the assembler calls this on a sequence gap
    out = []
    for p in pkts[3:]:
        with contextlib.suppress(ProtocolError):  # continuations without their start
            out += d.push(RtpHeader.payload(p))
    assert out == [b"\x41\x01"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"\x18\xff\xff\x65", "overruns"),  # STAP-A size 0xFFFF over one byte
        (b"\x18\x00\x02\x67", "overruns"),
        (b"\x18\x00\x00", "overruns"),  # zero-size NAL
        (b"\x18\x00", "truncated"),
        (b"\x18", "without NAL"),
        (b"\x18\x00\x01\x80", "forbidden"),
        (b"\x7c\x05abc", "without its start"),  # FU-A continuation first
        (b"\x7c\xc5abc", "invalid"),  # start and end together
        (b"\x7c\x85", "shorter"),
        (b"\x19\x00", "unsupported"),  # STAP-B
        (b"\x1d\x85a", "unsupported"),  # FU-B
        (b"\x00", "unsupported"),
        (b"\xe5\x00", "forbidden"),
    ],
)
def test_malformed_payloads_raise_protocol_error(payload: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        H264Depacketizer().push(payload)


def test_fu_a_of_another_type_drops_the_partial_nal() -> None:
    d = H264Depacketizer()
    assert d.push(b"\x7c\x85ab") == []
    with pytest.raises(ProtocolError):
        d.push(b"\x7c\x41cd")  # end fragment claiming type 1
    with pytest.raises(ProtocolError):
        d.push(b"\x7c\x45cd")  # the partial NAL is gone


def test_keyframe_and_sprop() -> None:
    assert H264Depacketizer.is_keyframe([b"\x67", b"\x68", b"\x65\x88"])
    assert not H264Depacketizer.is_keyframe([b"\x41\x9a"])
    assert sprop_parameter_sets({"sprop-parameter-sets": "Z0LAHg,aM48gA"}) == [
        bytes.fromhex("6742c01e"),
        bytes.fromhex("68ce3c80"),
    ]
    for bad in ("!!!", "gA==", "Z"):
        with pytest.raises(ProtocolError):
            sprop_parameter_sets({"sprop-parameter-sets": bad})


def test_split_annexb_mixed_start_codes() -> None:
    data = b"\x00\x00\x00\x01\x67\x42\x00\x00\x01\x68\xce\x00\x00\x00\x01\x65\x88\x84"
    assert split_annexb(data) == [b"\x67\x42", b"\x68\xce", b"\x65\x88\x84"]
    assert split_annexb(b"") == []


def test_fmtp() -> None:
    fmtp = h264_fmtp(bytes.fromhex("6742c01e"), bytes.fromhex("68ce3c80"))
    assert "packetization-mode=1" in fmtp
    assert "profile-level-id=42c01e" in fmtp
    assert "sprop-parameter-sets=Z0LAHg==,aM48gA==" in fmtp
