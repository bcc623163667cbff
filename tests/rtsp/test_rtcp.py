"""RTCP sender reports and NTP time conversion (RFC 3550), checked against byte fixtures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.rtcp import (
    Goodbye,
    KeyframeRequest,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    SourceDescription,
    build_bye,
    build_fir,
    build_pli,
    build_receiver_report,
    build_sdes_cname,
    build_sender_report,
    ntp_to_unix_ns,
    parse_rtcp,
    unix_ns_to_ntp,
)


@pytest.mark.parametrize(
    ("t_ns", "ntp_hex"),
    [
        (0, "83aa7e8000000000"),  # 1970-01-01 = 2208988800 s after 1900
        (1_500_000_000, "83aa7e8180000000"),  # +1.5 s
        (1_700_000_000_250_000_000, "e8fe6f8040000000"),  # 2023-11-14T22:13:20.25Z
        (2_085_978_496_000_000_000, "0000000000000000"),  # NTP era 1 wraps to 0 in 2036
    ],
)
def test_ntp_fixtures(t_ns: int, ntp_hex: str) -> None:
    assert f"{unix_ns_to_ntp(t_ns):016x}" == ntp_hex
    if t_ns < 2_085_978_496_000_000_000:
        assert ntp_to_unix_ns(int(ntp_hex, 16)) == t_ns


def test_ntp_round_trip_within_a_nanosecond() -> None:
    for t_ns in (1, 123_456_789, 1_732_543_210_987_654_321):
        assert abs(ntp_to_unix_ns(unix_ns_to_ntp(t_ns)) - t_ns) <= 1


def test_sender_report_layout() -> None:
    sr = build_sender_report(
        ssrc=0x11223344, ntp=0xE8FE6F8040000000, rtp_ts=0xAABBCCDD, packets=5, octets=1000
    )
    assert sr == bytes.fromhex("80c8000611223344e8fe6f8040000000aabbccdd00000005000003e8")
    (p,) = parse_rtcp(sr)
    assert isinstance(p, SenderReport)
    assert (p.packet_type, p.ssrc, p.ntp, p.rtp_ts, p.packets, p.octets) == (
        200, 0x11223344, 0xE8FE6F8040000000, 0xAABBCCDD, 5, 1000,
    )  # fmt: skip


def test_compound_with_sdes_and_bye() -> None:
    data = build_sender_report(1, 0, 0, 0, 0) + build_sdes_cname(1, "rtsplab-cam1")
    assert len(data) % 4 == 0
    assert [p.packet_type for p in parse_rtcp(data)] == [200, 202]
    assert build_bye(0xABCDEF01) == bytes.fromhex("81cb0001abcdef01")


def test_receiver_report_from_a_client_parses() -> None:
    rr = bytes.fromhex("81c9000701020304aabbccdd000000000000ffff000000000000000000000000")
    (p,) = parse_rtcp(rr)
    assert isinstance(p, ReceiverReport)
    assert (p.packet_type, len(p.reports), p.ssrc) == (201, 1, 0x01020304)
    assert p.reports[0].ssrc == 0xAABBCCDD and p.reports[0].highest_seq == 0xFFFF
    with pytest.raises(ProtocolError):
        parse_rtcp(rr[:-4])


blocks = st.builds(
    ReportBlock,
    st.integers(0, 2**32 - 1),
    st.integers(0, 255),
    st.integers(-(2**23), 2**23 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1), st.lists(blocks, max_size=31))
def test_reports_round_trip(ssrc: int, ntp: int, reports: list[ReportBlock]) -> None:
    sr, rr = parse_rtcp(
        build_sender_report(ssrc, ntp, 1, 2, 3, reports) + build_receiver_report(ssrc, reports)
    )
    assert isinstance(sr, SenderReport) and isinstance(rr, ReceiverReport)
    assert sr.ntp == ntp and sr.reports == tuple(reports) == rr.reports


@given(st.integers(0, 2**32 - 1), st.text(max_size=80))
def test_sdes_and_bye_round_trip(ssrc: int, text: str) -> None:
    sdes, bye = parse_rtcp(build_sdes_cname(ssrc, text) + build_bye(ssrc, reason=text))
    assert isinstance(sdes, SourceDescription) and isinstance(bye, Goodbye)
    expected = text.encode()[:255].decode("utf-8", "replace")
    assert sdes.cname(ssrc) == expected and bye.reason == expected and bye.ssrcs == (ssrc,)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes(4),  # version 0
        bytes.fromhex("80c80006") + bytes(8),  # SR length over the datagram
        bytes.fromhex("80c8000100000001"),  # SR too short for its sender info
        bytes.fromhex("81c9000100000001"),  # RR claiming a block it lacks
        bytes.fromhex("81ca000100000001"),  # SDES chunk without its end
        bytes.fromhex("82cb000100000001"),  # BYE with 2 sources, room for 1
        bytes.fromhex("80630001000000ff"),  # not an RTCP packet type (RTP-looking)
        bytes.fromhex("a0c9000100000009"),  # padding count 9 in a 4-byte body
        bytes.fromhex("81ce000100000001"),  # PLI without its media SSRC
        bytes.fromhex("84ce00020000000100000000"),  # FIR without an entry
        bytes.fromhex("84ce0003000000010000000000000002"),  # FIR entry cut in half
    ],
)
def test_malformed_rtcp_raises_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_rtcp(data)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 255))
def test_keyframe_requests_round_trip(sender: int, media: int, seq: int) -> None:
    rr, pli, fir = parse_rtcp(
        build_receiver_report(sender) + build_pli(sender, media) + build_fir(sender, media, seq)
    )
    assert isinstance(rr, ReceiverReport) and isinstance(pli, KeyframeRequest)
    assert (pli.fmt, pli.sender_ssrc, pli.media_ssrc) == (1, sender, media)
    assert isinstance(fir, KeyframeRequest) and fir.fmt == 4 and fir.fir_entries == ((media, seq),)
    assert pli.targets(media) and fir.targets(media) and not pli.targets(media ^ 1)


def test_pli_layout_and_other_feedback_is_kept_opaque() -> None:
    # RFC 4585 §6.1: V=2, FMT=1, PT=206, length 2 words, sender then media SSRC
    assert build_pli(0x01020304, 0x0A0B0C0D) == bytes.fromhex("81ce0002010203040a0b0c0d")
    (nack,) = parse_rtcp(bytes.fromhex("81cd0003000000010000000200050000"))  # generic NACK
    assert nack.packet_type == 205 and not isinstance(nack, KeyframeRequest)
    (other,) = parse_rtcp(bytes.fromhex("8fce00020000000100000002"))  # PSFB FMT 15 (AFB)
    assert not isinstance(other, KeyframeRequest) and other.packet_type == 206
