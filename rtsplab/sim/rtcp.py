"""RTCP (RFC 3550): sender reports, SDES CNAME, BYE, a small parser, and NTP time helpers.

A sender report maps an RTP timestamp to an NTP wall-clock time. The simulator sends one at
the start of PLAY and about every second, built from the same clock that stamps the frames,
so a client's RTP -> wall-clock mapping (FFmpeg's ``start_time_realtime``, GStreamer's
``ntp-sync``) lands on the true capture time.

Example:
    >>> sr = build_sender_report(ssrc=1, ntp=unix_ns_to_ntp(0), rtp_ts=5, packets=2, octets=3)
    >>> p = parse_rtcp(sr)[0]
    >>> p.packet_type, ntp_to_unix_ns(p.ntp), p.rtp_ts
    (200, 0, 5)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "NTP_UNIX_OFFSET_S",
    "RtcpPacket",
    "build_bye",
    "build_sdes_cname",
    "build_sender_report",
    "ntp_to_unix_ns",
    "parse_rtcp",
    "unix_ns_to_ntp",
]

NTP_UNIX_OFFSET_S = 2_208_988_800  # 1900-01-01 -> 1970-01-01
SR, RR, SDES, BYE = 200, 201, 202, 203


def unix_ns_to_ntp(t_ns: int) -> int:
    """64-bit NTP timestamp (32.32 fixed point seconds since 1900) for ``t_ns`` since 1970.

    Rounds to the nearest 2**-32 s.

    Example:
        >>> hex(unix_ns_to_ntp(1_500_000_000))
        '0x83aa7e8180000000'
    """
    secs, rem_ns = divmod(t_ns, 1_000_000_000)
    frac = (rem_ns * (1 << 32) + 500_000_000) // 1_000_000_000
    return (((secs + NTP_UNIX_OFFSET_S) << 32) + frac) & 0xFFFFFFFFFFFFFFFF


def ntp_to_unix_ns(ntp: int) -> int:
    """ns since 1970 for a 64-bit NTP timestamp (rounded to the nearest ns).

    Example:
        >>> ntp_to_unix_ns(0x83AA7E8180000000)
        1500000000
    """
    secs, frac = ntp >> 32, ntp & 0xFFFFFFFF
    return (secs - NTP_UNIX_OFFSET_S) * 1_000_000_000 + (frac * 1_000_000_000 + (1 << 31) >> 32)


def build_sender_report(ssrc: int, ntp: int, rtp_ts: int, packets: int, octets: int) -> bytes:
    """An RTCP SR with no report blocks (28 bytes).

    Args:
        ssrc: sender SSRC.
        ntp: 64-bit NTP time of the report (:func:`unix_ns_to_ntp`).
        rtp_ts: RTP timestamp corresponding to ``ntp``.
        packets: RTP packets sent so far (mod 2**32).
        octets: RTP payload octets sent so far (mod 2**32).

    Example:
        >>> build_sender_report(1, 0, 0, 0, 0)[:4].hex()
        '80c80006'
    """
    return struct.pack(
        ">BBHIIIIII",
        0x80,
        SR,
        6,
        ssrc & 0xFFFFFFFF,
        (ntp >> 32) & 0xFFFFFFFF,
        ntp & 0xFFFFFFFF,
        rtp_ts & 0xFFFFFFFF,
        packets & 0xFFFFFFFF,
        octets & 0xFFFFFFFF,
    )


def build_sdes_cname(ssrc: int, cname: str) -> bytes:
    """An RTCP SDES packet with one chunk carrying a CNAME item.

    Example:
        >>> build_sdes_cname(1, "cam").hex()
        '81ca000300000001010363616d000000'
    """
    text = cname.encode("utf-8")[:255]
    chunk = struct.pack(">IBB", ssrc & 0xFFFFFFFF, 1, len(text)) + text + b"\x00"
    chunk += b"\x00" * (-len(chunk) % 4)
    return struct.pack(">BBH", 0x81, SDES, len(chunk) // 4) + chunk


def build_bye(ssrc: int) -> bytes:
    """An RTCP BYE for one SSRC: the stream ends.

    Example:
        >>> build_bye(2).hex()
        '81cb000100000002'
    """
    return struct.pack(">BBHI", 0x81, BYE, 1, ssrc & 0xFFFFFFFF)


@dataclass(frozen=True)
class RtcpPacket:
    """One packet of a (compound) RTCP datagram.

    Attributes:
        packet_type: 200 SR, 201 RR, 202 SDES, 203 BYE, ...
        count: the 5-bit count field (report blocks, chunks or sources).
        ssrc: first SSRC in the packet (sender for SR/RR), 0 if absent.
        ntp: SR only: 64-bit NTP timestamp.
        rtp_ts: SR only: RTP timestamp.
        packets: SR only: sender's packet count.
        octets: SR only: sender's octet count.
        body: the packet bytes after the 4-byte header.

    Example:
        >>> parse_rtcp(build_bye(9))[0].ssrc
        9
    """

    packet_type: int
    count: int
    ssrc: int
    ntp: int | None = None
    rtp_ts: int | None = None
    packets: int | None = None
    octets: int | None = None
    body: bytes = b""


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP datagram.

    Raises:
        ValueError: truncated or not RTCP version 2.

    Example:
        >>> [p.packet_type for p in parse_rtcp(build_sender_report(1, 0, 0, 0, 0)
        ...                                    + build_sdes_cname(1, "x"))]
        [200, 202]
    """
    out: list[RtcpPacket] = []
    off = 0
    while off < len(data):
        if len(data) - off < 4 or data[off] >> 6 != 2:
            raise ValueError("not an RTCP version 2 packet")
        first, ptype, words = struct.unpack(">BBH", data[off : off + 4])
        end = off + 4 + 4 * words
        if end > len(data):
            raise ValueError("truncated RTCP packet")
        body = data[off + 4 : end]
        ssrc = struct.unpack(">I", body[:4])[0] if len(body) >= 4 else 0
        if ptype == SR and len(body) >= 24:
            _, hi, lo, ts, pc, oc = struct.unpack(">IIIIII", body[:24])
            out.append(RtcpPacket(ptype, first & 0x1F, ssrc, hi << 32 | lo, ts, pc, oc, body))
        else:
            out.append(RtcpPacket(ptype, first & 0x1F, ssrc, body=body))
        off = end
    return out
