"""RTCP (RFC 3550 §6): sender and receiver reports, SDES, BYE, keyframe requests (PLI, FIR),
compound packets; NTP time.

A sender report maps an RTP timestamp to an NTP wall-clock time; :mod:`rtsplab.rtsp.timeline`
turns that into a wall clock for every frame. :func:`parse_rtcp` validates each packet of a
compound datagram (version, length, report-block count, SDES items, BYE list, padding) and
raises :class:`~rtsplab.errors.ProtocolError` for anything that does not fit. Packet types
it does not know (APP, XR, other feedback) come back as :class:`RtcpPacket`.

A receiver that lost part of a picture asks the sender for a new keyframe with a Picture Loss
Indication (RFC 4585 §6.3.1, :func:`build_pli`) or a Full Intra Request (RFC 5104 §4.3.1,
:func:`build_fir`); both parse to :class:`KeyframeRequest`.

Example:
    >>> sr = build_sender_report(ssrc=1, ntp=unix_ns_to_ntp(0), rtp_ts=5, packets=2, octets=3)
    >>> p = parse_rtcp(sr + build_sdes_cname(1, "cam"))
    >>> type(p[0]).__name__, ntp_to_unix_ns(p[0].ntp), p[0].rtp_ts, p[1].cname(1)
    ('SenderReport', 0, 5, 'cam')
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from rtsplab.errors import ProtocolError

__all__ = [
    "BYE",
    "NTP_UNIX_OFFSET_S",
    "RR",
    "SDES",
    "SR",
    "Goodbye",
    "KeyframeRequest",
    "ReceiverReport",
    "ReportBlock",
    "RtcpPacket",
    "SenderReport",
    "SourceDescription",
    "build_bye",
    "build_fir",
    "build_pli",
    "build_receiver_report",
    "build_sdes_cname",
    "build_sender_report",
    "ntp_to_unix_ns",
    "parse_rtcp",
    "unix_ns_to_ntp",
]

NTP_UNIX_OFFSET_S = 2_208_988_800  # 1900-01-01 -> 1970-01-01
SR, RR, SDES, BYE = 200, 201, 202, 203
PSFB = 206  # payload-specific feedback (RFC 4585 §6.1)
FMT_PLI, FMT_FIR = 1, 4
CNAME = 1
_BLOCK = struct.Struct(">IIIIII")


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


@dataclass(frozen=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1).

    Example:
        >>> ReportBlock(ssrc=7, fraction_lost=0, cumulative_lost=0, highest_seq=100).jitter
        0
    """

    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    highest_seq: int
    jitter: int = 0
    last_sr: int = 0
    delay_since_last_sr: int = 0

    def pack(self) -> bytes:
        """The 24 bytes of the block.

        Example:
            >>> len(ReportBlock(1, 0, 0, 0).pack())
            24
        """
        lost = (self.fraction_lost & 0xFF) << 24 | (self.cumulative_lost & 0xFFFFFF)
        return _BLOCK.pack(
            self.ssrc & 0xFFFFFFFF,
            lost,
            self.highest_seq & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.last_sr & 0xFFFFFFFF,
            self.delay_since_last_sr & 0xFFFFFFFF,
        )


@dataclass(frozen=True)
class RtcpPacket:
    """A packet of a type this module does not interpret (APP, XR, feedback...).

    Example:
        >>> parse_rtcp(bytes.fromhex("80cc000100000009"))[0]
        RtcpPacket(packet_type=204, count=0)
    """

    packet_type: int
    count: int
    body: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class SenderReport:
    """RTCP SR: the sender's NTP time for RTP timestamp ``rtp_ts``, and its counters.

    Example:
        >>> parse_rtcp(build_sender_report(3, 0, 9, 1, 2))[0].rtp_ts
        9
    """

    ssrc: int
    ntp: int
    rtp_ts: int
    packets: int
    octets: int
    reports: tuple[ReportBlock, ...] = ()
    packet_type: int = SR


@dataclass(frozen=True)
class ReceiverReport:
    """RTCP RR: reception reports from a receiver.

    Example:
        >>> parse_rtcp(build_receiver_report(4, [ReportBlock(1, 0, 0, 5)]))[0].reports[0].highest_seq
        5
    """

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    packet_type: int = RR


@dataclass(frozen=True)
class SourceDescription:
    """RTCP SDES: per SSRC, its items as ``(type, text)`` pairs (1 is CNAME).

    Example:
        >>> parse_rtcp(build_sdes_cname(2, "a"))[0].chunks
        ((2, ((1, 'a'),)),)
    """

    chunks: tuple[tuple[int, tuple[tuple[int, str], ...]], ...]
    packet_type: int = SDES

    def cname(self, ssrc: int) -> str | None:
        """The CNAME of ``ssrc``, or None.

        Example:
            >>> parse_rtcp(build_sdes_cname(2, "a"))[0].cname(3) is None
            True
        """
        for chunk_ssrc, items in self.chunks:
            if chunk_ssrc == ssrc:
                for kind, text in items:
                    if kind == CNAME:
                        return text
        return None


@dataclass(frozen=True)
class Goodbye:
    """RTCP BYE: these sources leave, with an optional reason.

    Example:
        >>> parse_rtcp(build_bye(2, reason="done"))[0]
        Goodbye(ssrcs=(2,), reason='done', packet_type=203)
    """

    ssrcs: tuple[int, ...]
    reason: str = ""
    packet_type: int = BYE


@dataclass(frozen=True)
class KeyframeRequest:
    """RTCP PLI or FIR: ``sender_ssrc`` asks ``media_ssrc`` for a keyframe.

    ``fmt`` is 1 for a PLI, 4 for a FIR; a FIR names its targets in ``fir_entries`` as
    ``(ssrc, command sequence number)`` pairs (its ``media_ssrc`` is 0 by RFC 5104).

    Example:
        >>> parse_rtcp(build_pli(sender_ssrc=1, media_ssrc=2))[0]
        KeyframeRequest(fmt=1, sender_ssrc=1, media_ssrc=2, fir_entries=(), packet_type=206)
        >>> parse_rtcp(build_fir(1, 2, seq=7))[0].fir_entries
        ((2, 7),)
    """

    fmt: int
    sender_ssrc: int
    media_ssrc: int
    fir_entries: tuple[tuple[int, int], ...] = ()
    packet_type: int = PSFB

    def targets(self, ssrc: int) -> bool:
        """True when the request is for the source ``ssrc``.

        Example:
            >>> parse_rtcp(build_fir(1, 2, seq=0))[0].targets(2)
            True
            >>> parse_rtcp(build_pli(1, 2))[0].targets(3)
            False
        """
        if self.fmt == FMT_FIR:
            return any(s == ssrc for s, _ in self.fir_entries)
        return self.media_ssrc == ssrc


Packet = SenderReport | ReceiverReport | SourceDescription | Goodbye | KeyframeRequest | RtcpPacket


def _header(first_count: int, ptype: int, body: bytes) -> bytes:
    if len(body) % 4:
        raise ValueError("RTCP body must be a multiple of 4 bytes")
    return struct.pack(">BBH", 0x80 | (first_count & 0x1F), ptype, len(body) // 4) + body


def build_sender_report(
    ssrc: int,
    ntp: int,
    rtp_ts: int,
    packets: int,
    octets: int,
    reports: Sequence[ReportBlock] = (),
) -> bytes:
    """An RTCP SR (28 bytes plus 24 per report block).

    Args:
        ssrc: sender SSRC.
        ntp: 64-bit NTP time of the report (:func:`unix_ns_to_ntp`).
        rtp_ts: RTP timestamp corresponding to ``ntp``.
        packets: RTP packets sent so far (mod 2**32).
        octets: RTP payload octets sent so far (mod 2**32).
        reports: reception report blocks (at most 31).

    Example:
        >>> build_sender_report(1, 0, 0, 0, 0)[:4].hex()
        '80c80006'
    """
    body = struct.pack(
        ">IIIIII",
        ssrc & 0xFFFFFFFF,
        (ntp >> 32) & 0xFFFFFFFF,
        ntp & 0xFFFFFFFF,
        rtp_ts & 0xFFFFFFFF,
        packets & 0xFFFFFFFF,
        octets & 0xFFFFFFFF,
    ) + b"".join(r.pack() for r in reports[:31])
    return _header(len(reports[:31]), SR, body)


def build_receiver_report(ssrc: int, reports: Sequence[ReportBlock] = ()) -> bytes:
    """An RTCP RR from ``ssrc`` with up to 31 report blocks.

    Example:
        >>> build_receiver_report(1).hex()
        '80c9000100000001'
    """
    body = struct.pack(">I", ssrc & 0xFFFFFFFF) + b"".join(r.pack() for r in reports[:31])
    return _header(len(reports[:31]), RR, body)


def build_sdes_cname(ssrc: int, cname: str) -> bytes:
    """An RTCP SDES packet with one chunk carrying a CNAME item.

    Example:
        >>> build_sdes_cname(1, "cam").hex()
        '81ca000300000001010363616d000000'
    """
    text = cname.encode("utf-8")[:255]
    chunk = struct.pack(">IBB", ssrc & 0xFFFFFFFF, CNAME, len(text)) + text + b"\x00"
    chunk += b"\x00" * (-len(chunk) % 4)
    return _header(1, SDES, chunk)


def build_bye(ssrc: int, reason: str = "") -> bytes:
    """An RTCP BYE for one SSRC: the stream ends.

    Example:
        >>> build_bye(2).hex()
        '81cb000100000002'
    """
    body = struct.pack(">I", ssrc & 0xFFFFFFFF)
    if reason:
        text = reason.encode("utf-8")[:255]
        body += bytes([len(text)]) + text
        body += b"\x00" * (-len(body) % 4)
    return _header(1, BYE, body)


def build_pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    """An RTCP Picture Loss Indication (RFC 4585 §6.3.1): 12 bytes. RFC 4585 sends it in a
    compound packet after a receiver report (e.g. ``RtpReceiver.receiver_report(...) + pli``).

    Example:
        >>> build_pli(1, 2).hex()
        '81ce00020000000100000002'
    """
    return _header(
        FMT_PLI, PSFB, struct.pack(">II", sender_ssrc & 0xFFFFFFFF, media_ssrc & 0xFFFFFFFF)
    )


def build_fir(sender_ssrc: int, media_ssrc: int, seq: int) -> bytes:
    """An RTCP Full Intra Request (RFC 5104 §4.3.1) for ``media_ssrc``: 20 bytes.

    ``seq`` is the command sequence number, incremented for each new request (mod 256).

    Example:
        >>> build_fir(1, 2, seq=3).hex()
        '84ce000400000001000000000000000203000000'
    """
    body = struct.pack(">IIIB3x", sender_ssrc & 0xFFFFFFFF, 0, media_ssrc & 0xFFFFFFFF, seq & 0xFF)
    return _header(FMT_FIR, PSFB, body)


def _feedback(fmt: int, body: bytes) -> KeyframeRequest | RtcpPacket:
    if fmt not in (FMT_PLI, FMT_FIR):
        return RtcpPacket(PSFB, fmt, body)
    if len(body) < 8:
        raise ProtocolError(f"RTCP feedback of {len(body)} bytes is shorter than 8")
    sender, media = struct.unpack_from(">II", body)
    if fmt == FMT_PLI:
        return KeyframeRequest(fmt, sender, media)
    if len(body) == 8 or (len(body) - 8) % 8:
        raise ProtocolError(f"RTCP FIR: {len(body) - 8} bytes of entries, not a multiple of 8")
    entries = tuple((ssrc, word >> 24) for ssrc, word in struct.iter_unpack(">II", body[8:]))
    return KeyframeRequest(fmt, sender, media, entries)


def _blocks(body: bytes, off: int, count: int) -> tuple[ReportBlock, ...]:
    if off + 24 * count > len(body):
        raise ProtocolError(f"RTCP report: {count} report blocks do not fit {len(body)} bytes")
    out = []
    for k in range(count):
        ssrc, lost, high, jitter, lsr, dlsr = _BLOCK.unpack_from(body, off + 24 * k)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:  # a signed 24-bit count
            cumulative -= 0x1000000
        out.append(ReportBlock(ssrc, lost >> 24, cumulative, high, jitter, lsr, dlsr))
    return tuple(out)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _sdes(body: bytes, count: int) -> SourceDescription:
    chunks = []
    off = 0
    for _ in range(count):
        if off + 4 > len(body):
            raise ProtocolError("RTCP SDES: chunk overruns the packet")
        (ssrc,) = struct.unpack_from(">I", body, off)
        off += 4
        items = []
        while True:
            if off >= len(body):
                raise ProtocolError("RTCP SDES: item list without its end")
            kind = body[off]
            if kind == 0:  # end of list, then padding to the next 32-bit boundary
                off += 1 + (-(off + 1) % 4)
                break
            if off + 2 > len(body) or off + 2 + body[off + 1] > len(body):
                raise ProtocolError("RTCP SDES: item overruns the packet")
            size = body[off + 1]
            items.append((kind, _text(body[off + 2 : off + 2 + size])))
            off += 2 + size
        chunks.append((ssrc, tuple(items)))
    if off > len(body):
        raise ProtocolError("RTCP SDES: chunk padding overruns the packet")
    return SourceDescription(tuple(chunks))


def _bye(body: bytes, count: int) -> Goodbye:
    if 4 * count > len(body):
        raise ProtocolError(f"RTCP BYE: {count} sources do not fit {len(body)} bytes")
    ssrcs = struct.unpack_from(f">{count}I", body) if count else ()
    reason = ""
    off = 4 * count
    if off < len(body):
        size = body[off]
        if off + 1 + size > len(body):
            raise ProtocolError("RTCP BYE: reason overruns the packet")
        reason = _text(body[off + 1 : off + 1 + size])
    return Goodbye(tuple(ssrcs), reason)


def _parse_one(ptype: int, count: int, body: bytes) -> Packet:
    if ptype == SR:
        if len(body) < 24:
            raise ProtocolError(f"RTCP SR of {len(body)} bytes is shorter than 24")
        ssrc, hi, lo, ts, pc, oc = struct.unpack_from(">IIIIII", body)
        return SenderReport(ssrc, hi << 32 | lo, ts, pc, oc, _blocks(body, 24, count))
    if ptype == RR:
        if len(body) < 4:
            raise ProtocolError("RTCP RR without its SSRC")
        return ReceiverReport(struct.unpack_from(">I", body)[0], _blocks(body, 4, count))
    if ptype == SDES:
        return _sdes(body, count)
    if ptype == BYE:
        return _bye(body, count)
    if ptype == PSFB:
        return _feedback(count, body)
    return RtcpPacket(ptype, count, body)


def parse_rtcp(data: bytes) -> list[Packet]:
    """Parse a (compound) RTCP datagram into its packets.

    Raises:
        ProtocolError: empty, truncated, not version 2, or a packet whose contents do not fit.

    Example:
        >>> [p.packet_type for p in parse_rtcp(build_sender_report(1, 0, 0, 0, 0)
        ...                                    + build_sdes_cname(1, "x"))]
        [200, 202]
        >>> parse_rtcp(build_sender_report(1, 0, 0, 0, 0)[:20])
        Traceback (most recent call last):
        ...
        rtsplab.errors.ProtocolError: RTCP packet overruns the datagram (28 > 20 bytes)
    """
    if not data:
        raise ProtocolError("empty RTCP datagram")
    out: list[Packet] = []
    off = 0
    while off < len(data):
        if len(data) - off < 4:
            raise ProtocolError("RTCP packet header is truncated")
        first, ptype, words = struct.unpack_from(">BBH", data, off)
        if first >> 6 != 2:
            raise ProtocolError(f"RTCP version {first >> 6}, not 2")
        if not 192 <= ptype <= 223:
            raise ProtocolError(f"RTCP packet type {ptype} is not an RTCP type")
        end = off + 4 + 4 * words
        if end > len(data):
            raise ProtocolError(f"RTCP packet overruns the datagram ({end} > {len(data)} bytes)")
        body = bytes(data[off + 4 : end])
        if first & 0x20:  # padding, allowed on the last packet only
            if end != len(data) or not body or not 0 < body[-1] <= len(body):
                raise ProtocolError("RTCP padding does not fit")
            body = body[: -body[-1]]
        out.append(_parse_one(ptype, first & 0x1F, body))
        off = end
    return out
