"""Access units completed on the marker bit; loss, foreign packets and keyframe resync."""

from __future__ import annotations

import contextlib

import pytest

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.assembler import SSRC_SWITCH_PACKETS, AccessUnit, AccessUnitAssembler
from rtsplab.rtsp.h264 import H264Depacketizer, packetize_h264
from rtsplab.rtsp.rtp import RtpPacket

IDR = [b"\x67\x42\xc0\x1e", b"\x68\xce\x3c\x80", b"\x65" + bytes(3000)]
P = [b"\x41" + bytes(2000)]


def stream(units: list[list[bytes]], seq: int = 65530, ssrc: int = 7) -> list[RtpPacket]:
    out = []
    for k, nals in enumerate(units):
        pkts = packetize_h264(nals, seq, 1000 + 3000 * k, ssrc, mtu=1200)
        seq += len(pkts)
        out += [RtpPacket.parse(p) for p in pkts]
    return out


def run(a: AccessUnitAssembler, packets: list[RtpPacket]) -> list[AccessUnit]:
    out = []
    for p in packets:
        with contextlib.suppress(ProtocolError):
            a.push(p)
        while (au := a.pull()) is not None:
            out.append(au)
    return out


def test_units_complete_on_the_marker_across_the_seq_wrap() -> None:
    units = run(AccessUnitAssembler(H264Depacketizer(), 96), stream([IDR, P, P]))
    assert [u.timestamp for u in units] == [1000, 4000, 7000]
    assert [list(u.nals) for u in units] == [IDR, P, P]
    assert [u.keyframe for u in units] == [True, False, False]
    assert all(u.marker for u in units)


def test_a_new_timestamp_completes_a_unit_without_marker() -> None:
    small = [b"\x41" + bytes(100)]
    pkts = stream([small, small])
    assert len(pkts) == 2
    first = pkts[0]
    no_marker = RtpPacket(96, first.seq, first.timestamp, first.ssrc, False, first.payload)
    a = AccessUnitAssembler(H264Depacketizer())
    units = run(a, [no_marker, *pkts[1:]])
    assert [(u.timestamp, u.marker) for u in units] == [(1000, False), (4000, True)]


def test_a_gap_drops_the_unit_and_waits_for_the_next_keyframe() -> None:
    pkts = stream([IDR, P, P, IDR, P])
    lost = 5  # inside the first P unit (IDR is 5 packets)
    a = AccessUnitAssembler(H264Depacketizer())
    units = run(a, pkts[:lost] + pkts[lost + 1 :])
    assert [u.timestamp for u in units] == [1000, 10000, 13000]  # P units skipped until the IDR
    assert a.gaps == 1 and a.units_dropped == 2


def test_a_gap_across_a_unit_boundary_damages_both_units() -> None:
    # lost: the P unit's marker packet and the IDR's first packet (its SPS)
    pkts = stream([IDR, P, IDR, P, P, IDR])
    p_end, idr2_start = 6, 7
    a = AccessUnitAssembler(H264Depacketizer())
    units = run(a, pkts[:p_end] + pkts[idr2_start + 1 :])
    assert [u.timestamp for u in units] == [1000, 16000]  # neither half-unit is handed out
    assert all(list(u.nals) == IDR for u in units)


def test_a_malformed_payload_damages_its_unit() -> None:
    pkts = stream([IDR, P, IDR])
    bad = RtpPacket(96, pkts[5].seq, pkts[5].timestamp, 7, False, b"\x18\xff\xff\x65")
    a = AccessUnitAssembler(H264Depacketizer())
    units = run(a, [*pkts[:5], bad, *pkts[6:]])
    assert [u.timestamp for u in units] == [1000, 7000]


def test_foreign_packets_are_rejected_and_duplicates_ignored() -> None:
    idr = stream([IDR])
    after = (idr[-1].seq + 1) & 0xFFFF
    p_unit = [RtpPacket.parse(x) for x in packetize_h264(P, after + 1, 4000, 7, mtu=1200)]
    a = AccessUnitAssembler(H264Depacketizer(), payload_type=96)
    for p in idr:
        a.push(p)
    with pytest.raises(ProtocolError, match="SSRC"):
        a.push(RtpPacket(96, 0, 0, 8, True, b"\x41"))
    with pytest.raises(ProtocolError, match="payload type"):  # it takes a sequence number
        a.push(RtpPacket(0, after, 0, 7, True, b"\xff"))
    a.push(idr[-1])  # a duplicate: ignored
    units = run(a, p_unit)
    assert [u.timestamp for u in units] == [1000, 4000]
    assert a.gaps == 0 and a.units_dropped == 0


def test_a_sender_restart_with_a_new_ssrc_is_adopted() -> None:
    a = AccessUnitAssembler(H264Depacketizer())
    run(a, stream([IDR, P], ssrc=1))
    restarted = stream([IDR] * 5, seq=100, ssrc=2)
    units = run(a, restarted)
    assert a.ssrc == 2
    assert len(restarted) >= SSRC_SWITCH_PACKETS and units and units[-1].keyframe
