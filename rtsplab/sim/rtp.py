"""RTP (RFC 3550) packets carrying H.264 (RFC 6184): header, packetizer, depacketizer.

One access unit (all NAL units of one frame) becomes one or more RTP packets with the same
90 kHz timestamp; the marker bit is set on the last packet of the access unit. A NAL unit
that fits the payload budget goes out as a single NAL unit packet, a bigger one as FU-A
fragments (packetization-mode=1).

Example:
    >>> nal = bytes([0x65]) + bytes(3000)
    >>> pkts = packetize_h264([nal], seq=10, timestamp=90000, ssrc=1, mtu=1200)
    >>> len(pkts), RtpHeader.parse(pkts[-1]).marker
    (3, True)
    >>> H264Depacketizer().push(pkts) == [nal]
    True
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "PAYLOAD_TYPE",
    "H264Depacketizer",
    "RtpHeader",
    "h264_fmtp",
    "packetize_h264",
    "rtp_timestamp",
    "split_annexb",
]

PAYLOAD_TYPE = 96
CLOCK_RATE = 90_000
DEFAULT_MTU = 1400
_FU_A = 28
_STAP_A = 24


@dataclass(frozen=True)
class RtpHeader:
    """The fixed 12-byte RTP header (no CSRCs, no extension).

    Example:
        >>> h = RtpHeader(96, 1, 2, 3, marker=True)
        >>> RtpHeader.parse(h.pack()) == h
        True
    """

    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    marker: bool = False

    def pack(self) -> bytes:
        """The 12 header bytes.

        Example:
            >>> RtpHeader(96, 0, 0, 0).pack()[:2].hex()
            '8060'
        """
        return struct.pack(
            ">BBHII",
            0x80,
            (0x80 if self.marker else 0) | (self.payload_type & 0x7F),
            self.seq & 0xFFFF,
            self.timestamp & 0xFFFFFFFF,
            self.ssrc & 0xFFFFFFFF,
        )

    @classmethod
    def parse(cls, packet: bytes) -> RtpHeader:
        """Parse the header of ``packet``.

        Raises:
            ValueError: shorter than 12 bytes or not RTP version 2.

        Example:
            >>> RtpHeader.parse(bytes.fromhex("80e0000100000002000000ff")).marker
            True
        """
        if len(packet) < 12 or packet[0] >> 6 != 2:
            raise ValueError("not an RTP version 2 packet")
        _, mpt, seq, ts, ssrc = struct.unpack(">BBHII", packet[:12])
        return cls(mpt & 0x7F, seq, ts, ssrc, bool(mpt & 0x80))

    @staticmethod
    def payload(packet: bytes) -> bytes:
        """The payload of ``packet`` (after CSRCs, extension; without padding).

        Example:
            >>> RtpHeader.payload(RtpHeader(96, 0, 0, 0).pack() + b"xy")
            b'xy'
        """
        cc = packet[0] & 0x0F
        off = 12 + 4 * cc
        if packet[0] & 0x10:  # header extension
            (words,) = struct.unpack(">H", packet[off + 2 : off + 4])
            off += 4 + 4 * words
        end = len(packet)
        if packet[0] & 0x20 and end > off:  # padding
            end -= packet[-1]
        return packet[off:end]


def rtp_timestamp(t_ns: int, offset: int = 0) -> int:
    """The 90 kHz RTP timestamp for wall-clock time ``t_ns`` (ns since the epoch), mod 2**32.

    The same formula maps capture times (media) and RTCP sender-report times, so the
    RTP <-> NTP mapping a client derives is exact.

    Example:
        >>> rtp_timestamp(1_000_000_000), rtp_timestamp(0, offset=5)
        (90000, 5)
    """
    return (offset + t_ns * 9 // 100_000) & 0xFFFFFFFF


def split_annexb(data: bytes) -> list[bytes]:
    """Split an H.264 Annex B byte stream (``00 00 01`` / ``00 00 00 01`` start codes) into NALs.

    Example:
        >>> split_annexb(b"\\x00\\x00\\x00\\x01\\x67\\x42\\x00\\x00\\x01\\x68\\xce")
        [b'gB', b'h\\xce']
    """
    nals: list[bytes] = []
    n = len(data)
    i = data.find(b"\x00\x00\x01")
    while 0 <= i < n:
        start = i + 3
        j = data.find(b"\x00\x00\x01", start)
        end = n if j < 0 else j
        nal = data[start:end]
        if j >= 0 and nal.endswith(b"\x00"):  # 4-byte start code of the next NAL
            nal = nal.rstrip(b"\x00")
        if nal:
            nals.append(nal)
        i = j
    return nals


def packetize_h264(
    nals: Sequence[bytes], seq: int, timestamp: int, ssrc: int, mtu: int = DEFAULT_MTU
) -> list[bytes]:
    """RTP packets for one access unit; sequence numbers start at ``seq`` (mod 2**16).

    Args:
        nals: the access unit's NAL units, without start codes.
        seq: sequence number of the first packet.
        timestamp: the 90 kHz RTP timestamp shared by all packets.
        ssrc: synchronisation source.
        mtu: maximum RTP packet size (header included).

    Example:
        >>> [len(p) for p in packetize_h264([b"\\x41" + bytes(99)], 0, 0, 0)]
        [112]
    """
    budget = mtu - 12
    if budget < 3:
        raise ValueError(f"mtu {mtu} is too small")
    payloads: list[bytes] = []
    for nal in nals:
        if not nal:
            continue
        if len(nal) <= budget:
            payloads.append(nal)
            continue
        nri_type = nal[0]
        indicator = (nri_type & 0xE0) | _FU_A
        body = memoryview(nal)[1:]
        chunk = budget - 2
        for off in range(0, len(body), chunk):
            start, end = off == 0, off + chunk >= len(body)
            fu_header = (0x80 if start else 0) | (0x40 if end else 0) | (nri_type & 0x1F)
            payloads.append(bytes((indicator, fu_header)) + body[off : off + chunk])
    last = len(payloads) - 1
    return [
        RtpHeader(PAYLOAD_TYPE, seq + k, timestamp, ssrc, marker=k == last).pack() + p
        for k, p in enumerate(payloads)
    ]


class H264Depacketizer:
    """Reassembles NAL units from RTP packets (single NAL, STAP-A and FU-A).

    A lost fragment (sequence gap inside an FU-A) drops that NAL unit rather than
    producing a corrupt one.

    Example:
        >>> d = H264Depacketizer()
        >>> d.push(packetize_h264([b"\\x67\\x42", b"\\x68\\xce"], 0, 0, 0))
        [b'gB', b'h\\xce']
    """

    def __init__(self) -> None:
        self._fu: bytearray | None = None
        self._last_seq: int | None = None

    def push(self, packets: Iterable[bytes]) -> list[bytes]:
        """Feed RTP packets in order; return the NAL units completed by them.

        Example:
            >>> H264Depacketizer().push([])
            []
        """
        out: list[bytes] = []
        for pkt in packets:
            hdr = RtpHeader.parse(pkt)
            if self._last_seq is not None and (self._last_seq + 1) & 0xFFFF != hdr.seq:
                self._fu = None  # a gap: whatever fragment was in flight is lost
            self._last_seq = hdr.seq
            payload = RtpHeader.payload(pkt)
            if not payload:
                continue
            kind = payload[0] & 0x1F
            if kind == _FU_A and len(payload) >= 2:
                fu = payload[1]
                if fu & 0x80:
                    self._fu = bytearray([(payload[0] & 0xE0) | (fu & 0x1F)])
                if self._fu is not None:
                    self._fu += payload[2:]
                    if fu & 0x40:
                        out.append(bytes(self._fu))
                        self._fu = None
            elif kind == _STAP_A:
                off = 1
                while off + 2 <= len(payload):
                    (size,) = struct.unpack(">H", payload[off : off + 2])
                    out.append(payload[off + 2 : off + 2 + size])
                    off += 2 + size
            else:
                out.append(payload)
        return out


def h264_fmtp(sps: bytes, pps: bytes) -> str:
    """The ``a=fmtp`` parameters for packetization-mode=1 with in-band-equal SPS/PPS.

    Example:
        >>> h264_fmtp(bytes.fromhex("6742c01e"), bytes.fromhex("68ce3c80"))
        'packetization-mode=1;profile-level-id=42c01e;sprop-parameter-sets=Z0LAHg==,aM48gA=='
    """
    pli = sps[1:4].hex() if len(sps) >= 4 else "42e01f"
    sets = ",".join(base64.b64encode(x).decode() for x in (sps, pps))
    return f"packetization-mode=1;profile-level-id={pli};sprop-parameter-sets={sets}"
