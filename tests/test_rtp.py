"""RTP header and H.264 packetization (RFC 3550, RFC 6184)."""

from __future__ import annotations

import os

import pytest

from rtsplab.sim.rtp import (
    H264Depacketizer,
    RtpHeader,
    h264_fmtp,
    packetize_h264,
    rtp_timestamp,
    split_annexb,
)


def test_header_round_trip_and_bytes() -> None:
    h = RtpHeader(payload_type=96, seq=0xFFFF, timestamp=0x01020304, ssrc=0xDEADBEEF, marker=True)
    raw = h.pack()
    assert raw == bytes.fromhex("80e0ffff01020304deadbeef")
    assert RtpHeader.parse(raw) == h
    with pytest.raises(ValueError):
        RtpHeader.parse(b"\x40" + bytes(11))  # version 1


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
    assert H264Depacketizer().push(pkts) == [nal]


def test_lost_fragment_drops_the_nal_not_corrupts_it() -> None:
    nal = bytes([0x41]) + os.urandom(5000)
    pkts = packetize_h264([nal, b"\x41\x01"], seq=0, timestamp=0, ssrc=1, mtu=1000)
    assert H264Depacketizer().push(pkts[:2] + pkts[3:]) == [b"\x41\x01"]


def test_timestamp_is_90khz_of_capture_time() -> None:
    t_ns = 1_700_000_000_123_456_789
    assert rtp_timestamp(t_ns) == (t_ns * 90_000 // 1_000_000_000) & 0xFFFFFFFF
    assert rtp_timestamp(t_ns + 1_000_000_000) - rtp_timestamp(t_ns) in (90_000, 90_000 - 2**32)
    assert rtp_timestamp(t_ns + 33_333_333, offset=10) == rtp_timestamp(t_ns, offset=10) + 3000


def test_split_annexb_mixed_start_codes() -> None:
    data = b"\x00\x00\x00\x01\x67\x42\x00\x00\x01\x68\xce\x00\x00\x00\x01\x65\x88\x84"
    assert split_annexb(data) == [b"\x67\x42", b"\x68\xce", b"\x65\x88\x84"]
    assert split_annexb(b"") == []


def test_fmtp() -> None:
    fmtp = h264_fmtp(bytes.fromhex("6742c01e"), bytes.fromhex("68ce3c80"))
    assert "packetization-mode=1" in fmtp
    assert "profile-level-id=42c01e" in fmtp
    assert "sprop-parameter-sets=Z0LAHg==,aM48gA==" in fmtp
