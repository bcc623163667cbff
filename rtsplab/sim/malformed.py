"""Malformed RTP and RTCP packets the simulator can mix into a live stream (knob ``malformed``).

Each kind is a packet a real network or a buggy camera has been seen to produce; a client
must drop and count it and keep decoding. ``takes_seq`` says whether the packet uses up an
RTP sequence number of the stream (a sender's own bad packet) or not (damage on the way).

Example:
    >>> from rtsplab.rtsp.rtp import RtpPacket
    >>> bad = malformed_packet("stap_a_overrun", ssrc=1, seq=5, rtp_ts=0)
    >>> RtpPacket.parse(bad.data).payload[:3].hex(), bad.takes_seq
    ('18ffff', True)
"""

from __future__ import annotations

from dataclasses import dataclass

from rtsplab.rtsp.h264 import PAYLOAD_TYPE
from rtsplab.rtsp.rtcp import build_sender_report
from rtsplab.rtsp.rtp import RtpPacket

__all__ = ["KINDS", "MalformedPacket", "malformed_packet"]

KINDS = (
    "empty",
    "zeros",
    "truncated_extension",
    "stap_a_overrun",
    "fu_a_without_start",
    "wrong_payload_type",
    "wrong_ssrc",
    "rtcp_truncated",
    "rtcp_overrun",
)


@dataclass(frozen=True)
class MalformedPacket:
    """One malformed packet and where it goes.

    Example:
        >>> malformed_packet("empty", 1, 0, 0)
        MalformedPacket(data=b'', rtcp=False, takes_seq=False)
    """

    data: bytes
    rtcp: bool = False
    takes_seq: bool = False


def malformed_packet(kind: str, ssrc: int, seq: int, rtp_ts: int) -> MalformedPacket:
    """A malformed packet of ``kind`` (one of :data:`KINDS`) for a stream in this state.

    Raises:
        ValueError: an unknown kind.

    Example:
        >>> malformed_packet("zeros", 1, 0, 0).data
        b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00'
    """

    def rtp(payload: bytes, pt: int = PAYLOAD_TYPE, source: int = ssrc) -> bytes:
        return RtpPacket(pt, seq, rtp_ts, source, False, payload).pack()

    sr = build_sender_report(ssrc, 0, rtp_ts, 0, 0)
    if kind == "empty":
        return MalformedPacket(b"")
    if kind == "zeros":
        return MalformedPacket(bytes(12))
    if kind == "truncated_extension":  # X bit set, extension says 4 words, none follow
        head = bytearray(rtp(b""))
        head[0] |= 0x10
        return MalformedPacket(bytes(head) + b"\xbe\xde\x00\x04")
    if kind == "stap_a_overrun":  # a 65535-byte NAL announced in a 1-byte remainder
        return MalformedPacket(rtp(b"\x18\xff\xff\x65"), takes_seq=True)
    if kind == "fu_a_without_start":
        return MalformedPacket(rtp(b"\x7c\x05" + bytes(32)), takes_seq=True)
    if kind == "wrong_payload_type":
        return MalformedPacket(rtp(b"\x41\x9a", pt=PAYLOAD_TYPE + 1), takes_seq=True)
    if kind == "wrong_ssrc":
        return MalformedPacket(rtp(b"\x41\x9a", source=ssrc ^ 0x5A5A5A5A))
    if kind == "rtcp_truncated":
        return MalformedPacket(sr[:20], rtcp=True)
    if kind == "rtcp_overrun":  # length field says 20 words
        return MalformedPacket(sr[:2] + b"\x00\x14" + sr[4:], rtcp=True)
    raise ValueError(f"unknown malformed packet kind {kind!r}; kinds are {', '.join(KINDS)}")
