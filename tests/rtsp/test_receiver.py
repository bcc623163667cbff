"""The client's packet path: RTP and RTCP bytes in, access units with wall-clock times out."""

from __future__ import annotations

from rtsplab.rtsp.h264 import H264Depacketizer, packetize_h264
from rtsplab.rtsp.messages import parse_rtp_info
from rtsplab.rtsp.receiver import RtpReceiver
from rtsplab.rtsp.rtcp import build_bye, build_sender_report, unix_ns_to_ntp
from rtsplab.sim.malformed import KINDS, malformed_packet

T0_NS = 1_700_000_000_000_000_000


def test_malformed_packets_are_counted_and_frames_go_on() -> None:
    rx = RtpReceiver(H264Depacketizer(), payload_type=96)
    rx.on_rtcp(build_sender_report(5, unix_ns_to_ntp(T0_NS), 2**32 - 3000, 0, 0))
    seq, out = 10, []
    units = [[b"\x67\x42", b"\x68\xce", b"\x65\x88"]] + [[b"\x41\x9a"]] * 3
    units = units * len(KINDS)
    for k, nals in enumerate(units):
        ts = (2**32 - 3000 + 3000 * k) & 0xFFFFFFFF
        for p in packetize_h264(nals, seq, ts, 5):
            rx.on_rtp(p)
            seq += 1
        bad = malformed_packet(KINDS[k % len(KINDS)], 5, seq, ts)
        (rx.on_rtcp if bad.rtcp else rx.on_rtp)(bad.data)
        seq += bad.takes_seq
        while (au := rx.pull()) is not None:
            out.append(au)
    assert rx.bad_packets == len(units)
    assert not rx.ended
    # a unit hit by a bad payload is dropped, and the stream resumes at the next keyframe
    assert 0 < len(out) < len(units) and out[0].keyframe
    for au in out:  # the wall clock across the 32-bit wrap, exact to the ns
        ticks = (au.timestamp - (2**32 - 3000)) & 0xFFFFFFFF
        assert rx.clock.wall_ns(au.timestamp) == T0_NS + ticks * 10**9 // 90_000
    pts = [rx.pts_s(au.timestamp) for au in out]
    assert pts[0] == 0.0 and pts == sorted(pts) and pts[-1] > 1.0  # unwrapped, never negative


def test_a_foreign_payload_type_inside_a_frame_is_bad_not_a_loss() -> None:
    rx = RtpReceiver(H264Depacketizer(), payload_type=96)
    first, second = packetize_h264([b"\x65" + bytes(3000)], 100, 0, 5, mtu=1600)
    foreign = malformed_packet("wrong_payload_type", 5, 101, 0).data
    second = bytearray(second)
    second[2:4] = (102).to_bytes(2, "big")  # the sender numbered the foreign packet 101
    for p in (first, foreign, bytes(second)):
        rx.on_rtp(p)
    au = rx.pull()
    assert au is not None and au.keyframe  # the frame is whole: nothing of it was lost
    assert (rx.bad_packets, rx.lost_packets) == (1, 0)


def test_bye_of_our_source_ends_the_stream() -> None:
    rx = RtpReceiver(H264Depacketizer())
    for p in packetize_h264([b"\x65\x88"], 0, 0, 9):
        rx.on_rtp(p)
    rx.on_rtcp(build_bye(8))
    assert not rx.ended
    rx.on_rtcp(build_bye(9))
    assert rx.ended


def test_rtp_info_variants() -> None:
    (a,) = parse_rtp_info("url=rtsp://h/cam/trackID=1;seq=27167;rtptime=3357124950")
    assert (a.seq, a.rtptime) == (27167, 3357124950)
    (b,) = parse_rtp_info("url=trackID=0; seq=0 ;rtptime=")
    assert (b.url, b.seq, b.rtptime) == ("trackID=0", 0, None)
    two = parse_rtp_info("url=rtsp://h/a/track1;seq=1,url=rtsp://h/a/track2;seq=99999")
    assert [i.seq for i in two] == [1, None]
    assert parse_rtp_info("") == [parse_rtp_info("")[0]] and parse_rtp_info("")[0].seq is None
