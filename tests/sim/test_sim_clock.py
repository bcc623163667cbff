"""RTP timestamps and RTCP sender reports map to the true capture clock (the timecodes)."""

from __future__ import annotations

from collections.abc import Callable

import av
import numpy as np
import pytest
from servers.sim_fixtures import RawRtsp

from rtsplab.rtsp.h264 import H264Depacketizer
from rtsplab.rtsp.rtcp import SenderReport, ntp_to_unix_ns, parse_rtcp
from rtsplab.rtsp.rtp import RtpPacket
from rtsplab.sim import SimServer
from rtsplab.timecode import read_timecode

pytestmark = pytest.mark.interop


def test_sender_reports_map_rtp_time_to_capture_time(make_sim: Callable[..., SimServer]) -> None:
    srv = make_sim(1)
    with RawRtsp(srv.port) as c:
        c.play_tcp(srv.url("cam1"))
        frames = c.read_frames(400, timeout_s=1.6)
    assert frames[0].channel == 1, "an RTCP sender report comes before the first RTP packet"
    srs = [
        p
        for f in frames
        if f.channel == 1
        for p in parse_rtcp(f.payload)
        if isinstance(p, SenderReport)
    ]
    assert len(srs) == 2  # at PLAY and ~1 s later
    sr = srs[0]
    depay, decoder = H264Depacketizer(), av.CodecContext.create("h264", "r")
    diffs_ms, au = [], b""
    for f in frames:
        if f.channel != 0:
            continue
        hdr = RtpPacket.parse(f.payload)
        au += b"".join(b"\x00\x00\x00\x01" + n for n in depay.push(hdr.payload))
        if not hdr.marker:
            continue
        packet = av.Packet(au)
        packet.pts = hdr.timestamp  # carried through the decoder to the frame it produces
        for frame in decoder.decode(packet):
            tc = read_timecode(np.asarray(frame.to_ndarray(format="gray"), np.uint8))
            assert tc is not None and frame.pts is not None
            delta = (frame.pts - sr.rtp_ts + 2**31) % 2**32 - 2**31
            mapped_ns = ntp_to_unix_ns(sr.ntp) + delta * 1_000_000_000 // 90_000
            diffs_ms.append((mapped_ns - tc.t_ns) / 1e6)
        au = b""
    assert len(diffs_ms) >= 30
    assert max(abs(d) for d in diffs_ms) < 0.1  # exact up to the 90 kHz tick


def test_ffmpeg_start_time_realtime_is_the_capture_clock(
    make_sim: Callable[..., SimServer],
) -> None:
    srv = make_sim(1)
    diffs_ms = []
    with av.open(srv.url("cam1"), options={"rtsp_transport": "tcp"}, timeout=10) as c:
        stream = c.streams.video[0]
        for packet in c.demux(stream):
            for frame in packet.decode():
                tc = read_timecode(np.asarray(frame.to_ndarray(format="gray"), np.uint8))
                if tc is None or packet.pts is None or c.start_time_realtime is None:
                    continue
                pts_ns = int(packet.pts * stream.time_base * 1_000_000_000)
                diffs_ms.append((c.start_time_realtime * 1000 + pts_ns - tc.t_ns) / 1e6)
            if len(diffs_ms) >= 20:
                break
    assert len(diffs_ms) >= 20
    assert max(abs(d) for d in diffs_ms) < 1.0
