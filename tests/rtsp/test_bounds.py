"""Every buffer of the packet and message path has a cap: passing it is a ProtocolError and a
count, never memory that grows with what a hostile peer sends."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

import pytest

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.assembler import MAX_AU_BYTES, MAX_AU_NALS, AccessUnitAssembler
from rtsplab.rtsp.h264 import MAX_NALS_PER_PACKET, H264Depacketizer, packetize_h264
from rtsplab.rtsp.h265 import H265Depacketizer
from rtsplab.rtsp.messages import (
    MAX_HEADER_BYTES,
    InterleavedFrame,
    MessageReader,
    RtspParseError,
    interleave,
    parse_response,
)
from rtsplab.rtsp.receiver import RtpReceiver
from rtsplab.rtsp.reorder import MAX_WINDOW_PACKETS, ReorderBuffer
from rtsplab.rtsp.rtp import RtpHeader, RtpPacket

MB = 1_000_000
T = TypeVar("T")


def rtp(seq: int, ts: int, payload: bytes, marker: bool = False) -> bytes:
    return RtpHeader(96, seq & 0xFFFF, ts, 7, marker=marker).pack() + payload


def traced(run: Callable[[], T]) -> tuple[T, int, int]:
    """(result, bytes held at the end, peak bytes) of ``run()`` on the traced heap."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out = run()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, current - base, peak - base


@pytest.mark.parametrize("new_timestamp_each", [False, True])
def test_fu_a_flood_without_end_bit_stays_under_the_access_unit_cap(
    new_timestamp_each: bool,
) -> None:
    """FU-A fragments that never end, past the cap: the client held all of it (70 MB of heap
    for a 64 MB flood); now one fragment is let go at the cap, or at each new timestamp."""
    flood_bytes = 4 * MB if new_timestamp_each else MAX_AU_BYTES + 2 * MB

    def flood() -> RtpReceiver:
        rx = RtpReceiver(H264Depacketizer(), payload_type=96)
        body = bytes(1386)
        for seq in range(flood_bytes // 1400):
            fu = 0x85 if seq == 0 else 0x05
            ts = seq * 3000 if new_timestamp_each else 0
            rx.on_rtp(rtp(seq, ts, b"\x7c" + bytes([fu]) + body))
        return rx

    rx, held, peak = traced(flood)
    assert peak < MAX_AU_BYTES + 2 * MB, peak
    assert held < MB, held
    assert rx.pull() is None
    if not new_timestamp_each:  # the cap was passed: one error, counted; the rest dropped
        assert rx.overflows == 1
        assert rx.bad_packets > 0  # the continuations after it: no start to continue
    else:
        assert rx.assembler.units_dropped > 0  # each cut unit
    assert rx.assembler.depacketizer.pending_bytes < MAX_AU_BYTES


def test_fragment_cap_drops_the_nal_and_the_next_one_decodes() -> None:
    d = H264Depacketizer(max_nal_bytes=1000)
    d.push(b"\x7c\x85" + bytes(600))
    with pytest.raises(ProtocolError, match="over 1000 bytes"):
        d.push(b"\x7c\x05" + bytes(600))
    assert (d.pending_bytes, d.overflows) == (0, 1)
    with pytest.raises(ProtocolError, match="without its start"):
        d.push(b"\x7c\x45" + bytes(10))
    assert d.push(b"\x7c\x85ab") == [] and d.push(b"\x7c\x45cd") == [b"\x65abcd"]

    h = H265Depacketizer(max_nal_bytes=1000)
    h.push(bytes([0x62, 0x01, 0x93]) + bytes(600))
    with pytest.raises(ProtocolError, match="over 1000 bytes"):
        h.push(bytes([0x62, 0x01, 0x13]) + bytes(600))
    assert (h.pending_bytes, h.overflows) == (0, 1)


def test_aggregation_packets_carry_at_most_the_nal_cap() -> None:
    ok = b"\x18" + b"\x00\x02\x41\x9a" * MAX_NALS_PER_PACKET
    assert len(H264Depacketizer().push(ok)) == MAX_NALS_PER_PACKET
    d = H264Depacketizer()
    with pytest.raises(ProtocolError, match="more than"):
        d.push(ok + b"\x00\x02\x41\x9a")
    assert d.overflows == 1
    ap = bytes([0x60, 0x01]) + b"\x00\x02\x02\x01" * (MAX_NALS_PER_PACKET + 1)
    h = H265Depacketizer()
    with pytest.raises(ProtocolError, match="more than"):
        h.push(ap)
    assert h.overflows == 1


def test_tiny_nal_flood_holds_kilobytes_not_tens_of_megabytes() -> None:
    """STAP-A with 2-byte NAL units in one unit: 3.2 MB of them was 33 MB of Python objects."""
    stap = b"\x18" + b"\x00\x02\x41\x9a" * MAX_NALS_PER_PACKET

    def flood() -> RtpReceiver:
        rx = RtpReceiver(H264Depacketizer(), payload_type=96)
        for seq in range(int(1.6 * MB) // len(stap)):
            rx.on_rtp(rtp(seq, 0, stap))
        return rx

    rx, held, peak = traced(flood)
    assert peak < MB and held < MB, (peak, held)
    assert rx.assembler.oversized_units == 1 and rx.overflows == 1
    assert rx.bad_packets == 1  # the rest of the damaged unit is dropped without a copy


def test_access_unit_nal_cap_drops_the_unit_then_the_next_keyframe_decodes() -> None:
    a = AccessUnitAssembler(H264Depacketizer(), payload_type=96)
    a.push(RtpPacket(96, 0, 0, 7, False, b"\x67\x42"))
    with pytest.raises(ProtocolError, match="NAL units"):
        for seq in range(1, MAX_AU_NALS + 1):
            a.push(RtpPacket(96, seq, 0, 7, False, b"\x41\x9a"))
    assert seq == MAX_AU_NALS and a.oversized_units == 1
    a.push(RtpPacket(96, seq + 1, 0, 7, True, b"\x41\x9a"))  # the unit's marker: dropped
    assert a.pull() is None and a.units_dropped == 1
    for p in packetize_h264([b"\x65" + bytes(3000)], seq + 2, 3000, 7):
        a.push(RtpPacket.parse(p))
    au = a.pull()
    assert au is not None and au.keyframe and au.timestamp == 3000


def test_access_unit_byte_cap_counts_the_fragment_in_progress() -> None:
    a = AccessUnitAssembler(H264Depacketizer(), payload_type=96)
    nal = b"\x41" + bytes(MB)
    with pytest.raises(ProtocolError, match="bytes"):
        for seq in range(MAX_AU_BYTES // MB + 1):
            a.push(RtpPacket(96, seq, 0, 7, False, nal))
    assert a.oversized_units == 1 and a.depacketizer.pending_bytes == 0


def test_a_fragment_cut_by_a_new_timestamp_is_dropped_with_its_unit() -> None:
    a = AccessUnitAssembler(H264Depacketizer(), payload_type=96)
    a.push(RtpPacket(96, 0, 0, 7, False, b"\x7c\x85" + bytes(100)))  # never ends
    assert a.depacketizer.pending_bytes == 101
    a.push(RtpPacket(96, 1, 3000, 7, True, b"\x65\x88"))
    assert a.depacketizer.pending_bytes == 0 and a.units_dropped == 1
    assert a.pull().timestamp == 3000  # type: ignore[union-attr]


def _dribble(data: bytes) -> tuple[float, list[object]]:
    reader = MessageReader()
    items: list[object] = []
    t0 = time.process_time()
    for i in range(len(data)):
        reader.feed(data[i : i + 1])
        while (item := reader.next()) is not None:
            items.append(item)
    return time.process_time() - t0, items


def test_a_dribbled_64_kb_head_is_scanned_once() -> None:
    """One byte at a time, a 64 KB head cost 2.9 s of CPU (every read rescanned the buffer);
    read once it costs tens of milliseconds (benchmarks/hostile_input.py)."""
    lines = [b"RTSP/1.0 200 OK", b"CSeq: 1"]
    lines += [b"X-Pad-%05d: %s" % (i, b"y" * 60) for i in range(64_000 // 75)]
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    assert 60_000 < len(head) < MAX_HEADER_BYTES
    cpu_s, items = _dribble(head + interleave(0, b"rtp"))
    assert [type(i) for i in items] == [bytes, InterleavedFrame]
    assert parse_response(items[0]).cseq == 1  # type: ignore[arg-type]
    assert cpu_s < 0.6, f"{cpu_s:.2f} s of CPU for a dribbled head"  # 2.9 s before, ~0.05 s now


def test_head_and_body_caps_raise_and_count() -> None:
    r = MessageReader(max_header_bytes=1000, max_body_bytes=100)
    with pytest.raises(RtspParseError, match="head too large") as e:
        for _ in range(200):
            r.feed(b"X-Pad: aaaa\r\n" if r.buffered else b"RTSP/1.0 200 OK\r\n")
            r.next()
    assert e.value.fatal and r.oversized == 1 and r.buffered <= 1000 + 20
    r = MessageReader(max_header_bytes=1000, max_body_bytes=100)
    r.feed(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 101\r\n\r\n")
    with pytest.raises(RtspParseError) as e:
        r.next()
    assert (e.value.status, r.oversized) == (413, 1)


def test_lf_only_head_ends_at_its_first_empty_line() -> None:
    """An LF-only reply followed by a frame whose payload holds CRLFCRLF: the frame is kept."""
    r = MessageReader()
    r.feed(b"RTSP/1.0 200 OK\nCSeq: 2\n\n" + interleave(1, b"a\r\n\r\nb"))
    msg = r.next()
    assert isinstance(msg, bytes) and parse_response(msg).cseq == 2
    assert r.next() == InterleavedFrame(1, b"a\r\n\r\nb") and r.buffered == 0


def test_reorder_window_is_capped_and_full_windows_are_counted() -> None:
    with pytest.raises(ValueError, match="over"):
        ReorderBuffer(max_packets=MAX_WINDOW_PACKETS + 1)
    buf = ReorderBuffer(max_packets=4, max_delay_ns=10**12)
    buf.push(RtpPacket(96, 0, 0, 1), 0)
    for seq in range(2, 200):  # 1 never comes: the window fills, the hole is given up
        buf.push(RtpPacket(96, seq, 0, 1), 0)
        assert buf.held <= 4
    assert buf.overflows == 1 and buf.lost_packets == 1
