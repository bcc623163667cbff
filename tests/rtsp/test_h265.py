"""H.265 over RTP (RFC 7798): packetizer/depacketizer round trips, fmtp, and fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.h265 import (
    AP,
    FU,
    H265Depacketizer,
    h265_fmtp,
    nal_type,
    packetize_h265,
    parse_h265_fmtp,
)
from rtsplab.rtsp.rtp import RtpHeader

VPS = bytes([0x40, 0x01, 0x0C, 0x01, 0xFF, 0xFF])
SPS = bytes([0x42, 0x01, 0x01, 0x01, 0x60, 0x00])
PPS = bytes([0x44, 0x01, 0xC1, 0x72])


def nal(kind: int, size: int, layer_id: int = 0, tid: int = 1, fill: int = 0xAB) -> bytes:
    """An H.265 NAL unit of ``size`` bytes (header included) and the given header fields."""
    head = bytes(((kind << 1) | (layer_id >> 5), ((layer_id & 0x1F) << 3) | tid))
    return head + bytes([fill]) * (size - 2)


def depacketize(packets: list[bytes], d: H265Depacketizer | None = None) -> list[bytes]:
    d = d or H265Depacketizer()
    return [n for p in packets for n in d.push(RtpHeader.payload(p))]


def assert_valid_nal(n: bytes) -> None:
    assert len(n) >= 2
    assert n[0] & 0x80 == 0
    assert nal_type(n) <= 47
    assert n[1] & 0x07 != 0


def test_parameter_sets_aggregate_and_idr_fragments_with_marker_on_last() -> None:
    idr = nal(19, 5000)
    pkts = packetize_h265([VPS, SPS, PPS, idr], seq=65534, timestamp=1234, ssrc=7, mtu=1400)
    headers = [RtpHeader.parse(p) for p in pkts]
    assert [h.seq for h in headers] == [(65534 + k) & 0xFFFF for k in range(len(pkts))]
    assert {h.timestamp for h in headers} == {1234}
    assert [h.marker for h in headers] == [False] * (len(pkts) - 1) + [True]
    assert nal_type(RtpHeader.payload(pkts[0])) == AP
    assert all(nal_type(RtpHeader.payload(p)) == FU for p in pkts[1:])
    assert all(len(p) <= 1400 for p in pkts)
    assert depacketize(pkts) == [VPS, SPS, PPS, idr]
    assert H265Depacketizer.is_keyframe([VPS, SPS, PPS, idr])


def test_fu_keeps_layer_id_and_tid() -> None:
    big = nal(1, 3000, layer_id=5, tid=3)
    pkts = packetize_h265([big], 0, 0, 0, mtu=1000)
    assert len(pkts) == 4
    assert depacketize(pkts) == [big]
    assert not H265Depacketizer.is_keyframe([big])


def test_nal_that_fits_alone_is_a_single_nal_unit_packet() -> None:
    small = nal(1, 1388)  # 12 + 1388 = 1400, too big to aggregate with anything
    pkts = packetize_h265([small, PPS], 0, 0, 0, mtu=1400)
    assert [len(p) for p in pkts] == [1400, 12 + len(PPS)]
    assert depacketize(pkts) == [small, PPS]


@given(
    sizes=st.lists(st.integers(2, 4000), min_size=1, max_size=8),
    kinds=st.lists(st.integers(0, 40), min_size=8, max_size=8),
    mtu=st.integers(16, 1500),
)
@settings(max_examples=150, deadline=None)
def test_round_trip_any_access_unit(sizes: list[int], kinds: list[int], mtu: int) -> None:
    nals = [nal(kinds[i], s, layer_id=i, tid=1 + i % 7, fill=i) for i, s in enumerate(sizes)]
    pkts = packetize_h265(nals, 100, 9, 1, mtu=mtu)
    assert all(len(p) <= mtu for p in pkts)
    assert depacketize(pkts) == nals


def test_lost_fragment_drops_the_nal_and_the_next_one_decodes() -> None:
    first, second = nal(19, 4000, fill=1), nal(1, 4000, fill=2)
    pkts = packetize_h265([first], 0, 0, 0) + packetize_h265([second], 3, 1, 0)
    d = H265Depacketizer()
    out: list[bytes] = []
    errors = 0
    for k, p in enumerate(pkts):
        if k == 1:  # lost: the receiver sees a sequence gap and resets
            d.reset()
            continue
        try:
            out += d.push(RtpHeader.payload(p))
        except ProtocolError:
            errors += 1
    assert out == [second]
    assert errors == 1  # the orphan continuation of ``first``


def test_fu_without_its_end_is_dropped_when_another_packet_arrives() -> None:
    d = H265Depacketizer()
    frags = [RtpHeader.payload(p) for p in packetize_h265([nal(19, 3000)], 0, 0, 0)]
    assert d.push(frags[0]) == []
    assert d.push(PPS) == [PPS]  # the partial NAL is gone, not prepended
    with pytest.raises(ProtocolError):
        d.push(frags[-1])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "header needs 2 bytes"),
        (b"\x40", "header needs 2 bytes"),
        (bytes([0xC0, 0x01, 0x00]), "forbidden_zero_bit"),
        (bytes([0x40, 0x00, 0x00]), "TID is 0"),
        (bytes([0x60, 0x01, 0x00, 0x09, 0x40]), "overruns"),
        (bytes([0x60, 0x01, 0x00]), "truncated"),
        (bytes([0x60, 0x01]), "no NAL unit"),
        (bytes([0x60, 0x01, 0x00, 0x01, 0x40]), "no full header"),
        (bytes([0x62, 0x01]), "truncated"),
        (bytes([0x62, 0x01, 0x93]), "truncated"),
        (bytes([0x62, 0x01, 0xD3, 0x00]), "both the start and end"),
        (bytes([0x62, 0x01, 0xB1, 0x00]), "not a NAL unit type"),
        (bytes([0x64, 0x01, 0x00, 0x00]), "PACI"),
        (bytes([0x7E, 0x01, 0x00]), "not defined"),
    ],
)
def test_malformed_payloads_raise_protocol_error(payload: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        H265Depacketizer().push(payload)


def test_donl_is_skipped_in_single_ap_and_fu() -> None:
    d = H265Depacketizer(donl=True)
    assert d.push(PPS[:2] + b"\x00\x05" + PPS[2:]) == [PPS]
    ap = bytes([0x60, 0x01]) + b"\x00\x01" + b"\x00\x06" + VPS + b"\x01" + b"\x00\x06" + SPS
    assert d.push(ap) == [VPS, SPS]
    idr = nal(19, 10)
    assert d.push(bytes([0x62, 0x01, 0x93]) + b"\x00\x07" + idr[2:6]) == []
    assert d.push(bytes([0x62, 0x01, 0x53]) + idr[6:]) == [idr]


def test_fmtp_round_trip_and_rejects() -> None:
    line = h265_fmtp(VPS, SPS, PPS)
    params = parse_h265_fmtp(f"96 profile-id=1;{line};sprop-max-don-diff=0")
    assert params.nals == [VPS, SPS, PPS]
    assert parse_h265_fmtp("sprop-max-don-diff=2").max_don_diff == 2
    multi = parse_h265_fmtp(h265_fmtp(VPS, SPS, PPS) + ",RAE=")
    assert multi.pps == (PPS, b"\x44\x01")
    for bad in ("sprop-vps=@@@", "sprop-pps=QAE=", "sprop-sps=", "sprop-max-don-diff=x"):
        with pytest.raises(ProtocolError):
            parse_h265_fmtp(bad)


def test_packetizer_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="too small"):
        packetize_h265([PPS], 0, 0, 0, mtu=15)
    with pytest.raises(ValueError, match="TID"):
        packetize_h265([b"\x40\x00"], 0, 0, 0)


def _push_all(d: H265Depacketizer, payloads: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for p in payloads:
        with contextlib.suppress(ProtocolError):  # the only exception allowed
            out += d.push(p)
    return out


@given(payloads=st.lists(st.binary(max_size=64), max_size=30), donl=st.booleans())
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_random_payloads_raise_only_protocol_error(payloads: list[bytes], donl: bool) -> None:
    for n in _push_all(H265Depacketizer(donl=donl), payloads):
        assert_valid_nal(n)


@given(
    data=st.data(),
    sizes=st.lists(st.integers(2, 3000), min_size=1, max_size=6),
    mtu=st.integers(40, 1400),
)
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_mutated_packets_raise_only_protocol_error(
    data: st.DataObject, sizes: list[int], mtu: int
) -> None:
    nals = [nal(1 + i, s, fill=i) for i, s in enumerate(sizes)]
    payloads = [RtpHeader.payload(p) for p in packetize_h265(nals, 0, 0, 0, mtu=mtu)]
    for _ in range(data.draw(st.integers(1, 4))):
        k = data.draw(st.integers(0, len(payloads) - 1))
        p = bytearray(payloads[k])
        action = data.draw(st.sampled_from(["flip", "truncate", "dup"]))
        if action == "flip" and p:
            i = data.draw(st.integers(0, len(p) - 1))
            p[i] ^= 1 << data.draw(st.integers(0, 7))
            payloads[k] = bytes(p)
        elif action == "truncate":
            payloads[k] = bytes(p[: data.draw(st.integers(0, len(p)))])
        else:
            payloads.insert(k, bytes(p))
    for n in _push_all(H265Depacketizer(), payloads):
        assert_valid_nal(n)


@given(
    sizes=st.lists(st.integers(2, 5000), min_size=1, max_size=6),
    mtu=st.integers(40, 1400),
    lost=st.sets(st.integers(0, 200), max_size=20),
)
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_lost_packets_never_yield_a_truncated_nal(
    sizes: list[int], mtu: int, lost: set[int]
) -> None:
    """A receiver that resets at every sequence gap gets whole NAL units or nothing."""
    nals = [nal(1 + i % 3, s, fill=i) for i, s in enumerate(sizes)]  # few types: splices likely
    d = H265Depacketizer()
    out: list[bytes] = []
    expected_seq = 0
    for pkt in packetize_h265(nals, 0, 0, 0, mtu=mtu):
        seq = RtpHeader.parse(pkt).seq
        if seq in lost:
            continue
        if seq != expected_seq:
            d.reset()
        expected_seq = seq + 1
        out += _push_all(d, [RtpHeader.payload(pkt)])
    remaining = iter(nals)
    assert all(n in remaining for n in out)  # an in-order subsequence of what was sent
    if not lost:
        assert out == nals


@given(
    text=st.text(max_size=200)
    | st.from_regex(r"(96 )?(sprop-[vsp]ps=[A-Za-z0-9+/=,]{0,24};?){1,4}")
)
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_fmtp_raises_only_protocol_error(text: str) -> None:
    try:
        params = parse_h265_fmtp(text)
    except ProtocolError:
        return
    for n in params.nals:
        assert_valid_nal(n)
