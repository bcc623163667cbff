"""RTP packets (RFC 3550 §5.1): the header with CSRCs, header extension and padding, validated.

:meth:`RtpPacket.parse` checks the whole layout (version, CSRC count, extension length and
padding count against the packet size) and raises :class:`~rtsplab.errors.ProtocolError`
for anything that does not fit, so a caller can drop and count a bad packet.

The ONVIF header extension (ONVIF Streaming Specification, "RTP header extension", profile
``0xABAC``) carries the camera's NTP capture time of the access unit, so a client need not
wait for a sender report: :class:`OnvifExtension`. A packet whose ``0xABAC`` extension is too
short to hold it is malformed.

Example:
    >>> p = RtpPacket(96, 7, 90000, 0x1234, marker=True, payload=b"\\x65abc")
    >>> q = RtpPacket.parse(p.pack())
    >>> q.seq, q.marker, q.payload
    (7, True, b'eabc')
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.rtcp import ntp_to_unix_ns, unix_ns_to_ntp

__all__ = ["ONVIF_PROFILE", "OnvifExtension", "RtpExtension", "RtpHeader", "RtpPacket", "seq_delta"]

ONVIF_PROFILE = 0xABAC

_FIXED = struct.Struct(">BBHII")


@dataclass(frozen=True)
class RtpExtension:
    """A header extension: the 16-bit profile field and its data (a multiple of 4 bytes).

    Example:
        >>> RtpExtension(0xBEDE, bytes(4)).profile
        48862
    """

    profile: int
    data: bytes = b""


@dataclass(frozen=True)
class OnvifExtension:
    """The ONVIF RTP header extension: the access unit's capture time by the camera's clock.

    Layout (profile ``0xABAC``, at least 3 words; the ONVIF data comes first, any further
    words belong to other extensions)::

        NTP timestamp (64 bits, seconds since 1900 as 32.32 fixed point)
        C E D T mbz(4) | CSeq (8) | padding (16)

    ``C``: a clean point (a keyframe starts here); ``E``: the end of a contiguous section;
    ``D``: a discontinuity before this unit; ``T``: the end of the stream (terminal); ``CSeq``:
    the low byte of the RTSP request that started the stream.

    Attributes:
        ntp: the 64-bit NTP capture timestamp.
        clean_point, end, discontinuity, terminal: the flags above.
        cseq: the low byte of the RTSP CSeq.

    Example:
        >>> x = OnvifExtension.at(1_700_000_000_123_456_789, clean_point=True, cseq=4)
        >>> y = OnvifExtension.parse(x.extension())
        >>> y.t_ns, y.clean_point, y.discontinuity, y.cseq
        (1700000000123456789, True, False, 4)
    """

    ntp: int
    clean_point: bool = False
    end: bool = False
    discontinuity: bool = False
    terminal: bool = False
    cseq: int = 0

    @classmethod
    def at(
        cls, t_ns: int, *, clean_point: bool = False, discontinuity: bool = False, cseq: int = 0
    ) -> OnvifExtension:
        """The extension for capture time ``t_ns`` (ns since 1970), with those flags.

        Example:
            >>> hex(OnvifExtension.at(0).ntp)
            '0x83aa7e8000000000'
        """
        return cls(unix_ns_to_ntp(t_ns), clean_point, False, discontinuity, False, cseq)

    @property
    def t_ns(self) -> int:
        """The capture time in ns since 1970 (by the camera's clock).

        Example:
            >>> OnvifExtension(0x83AA7E8180000000).t_ns
            1500000000
        """
        return ntp_to_unix_ns(self.ntp)

    @classmethod
    def parse(cls, ext: RtpExtension) -> OnvifExtension | None:
        """The ONVIF data of ``ext``, or None for another profile.

        Raises:
            ProtocolError: a ``0xABAC`` extension shorter than its 12 bytes.

        Example:
            >>> OnvifExtension.parse(RtpExtension(0xBEDE, bytes(4))) is None
            True
            >>> OnvifExtension.parse(RtpExtension(ONVIF_PROFILE, bytes(8)))
            Traceback (most recent call last):
            ...
            rtsplab.errors.ProtocolError: ONVIF RTP header extension of 8 bytes, needs 12
        """
        if ext.profile != ONVIF_PROFILE:
            return None
        if len(ext.data) < 12:
            raise ProtocolError(f"ONVIF RTP header extension of {len(ext.data)} bytes, needs 12")
        ntp, flags, cseq = struct.unpack_from(">QBB", ext.data)
        return cls(ntp, bool(flags & 0x80), bool(flags & 0x40), bool(flags & 0x20),
                   bool(flags & 0x10), cseq)  # fmt: skip

    def extension(self) -> RtpExtension:
        """As an RTP header extension (for senders).

        Example:
            >>> len(OnvifExtension(0).extension().data)
            12
        """
        flags = (
            (0x80 if self.clean_point else 0)
            | (0x40 if self.end else 0)
            | (0x20 if self.discontinuity else 0)
            | (0x10 if self.terminal else 0)
        )
        data = struct.pack(">QBBH", self.ntp & 0xFFFFFFFFFFFFFFFF, flags, self.cseq & 0xFF, 0)
        return RtpExtension(ONVIF_PROFILE, data)


@dataclass(frozen=True)
class RtpPacket:
    """One RTP packet: header fields and payload (padding removed).

    Example:
        >>> RtpPacket(96, 1, 2, 3).pack().hex()
        '806000010000000200000003'
    """

    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    marker: bool = False
    payload: bytes = field(default=b"", repr=False)
    csrcs: tuple[int, ...] = ()
    extension: RtpExtension | None = None

    @property
    def onvif(self) -> OnvifExtension | None:
        """The ONVIF capture time this packet carries, if any (validated by :meth:`parse`).

        Example:
            >>> p = RtpPacket(96, 0, 0, 1, extension=OnvifExtension.at(10**9).extension())
            >>> RtpPacket.parse(p.pack()).onvif.t_ns
            1000000000
        """
        return OnvifExtension.parse(self.extension) if self.extension is not None else None

    def pack(self) -> bytes:
        """Serialise the packet (no padding).

        Raises:
            ValueError: more than 15 CSRCs, or extension data not a multiple of 4 bytes.

        Example:
            >>> RtpPacket(96, 0, 0, 0, csrcs=(5,)).pack()[0]
            129
        """
        if len(self.csrcs) > 15:
            raise ValueError("at most 15 CSRCs")
        first = 0x80 | len(self.csrcs) | (0x10 if self.extension is not None else 0)
        out = [
            _FIXED.pack(
                first,
                (0x80 if self.marker else 0) | (self.payload_type & 0x7F),
                self.seq & 0xFFFF,
                self.timestamp & 0xFFFFFFFF,
                self.ssrc & 0xFFFFFFFF,
            )
        ]
        out += [struct.pack(">I", c & 0xFFFFFFFF) for c in self.csrcs]
        if self.extension is not None:
            data = self.extension.data
            if len(data) % 4:
                raise ValueError("extension data must be a multiple of 4 bytes")
            out.append(struct.pack(">HH", self.extension.profile & 0xFFFF, len(data) // 4) + data)
        out.append(self.payload)
        return b"".join(out)

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse and validate one RTP packet.

        Raises:
            ProtocolError: shorter than its header, not version 2, an extension or padding
                that overruns the packet, an ONVIF extension too short for its time.

        Example:
            >>> RtpPacket.parse(bytes.fromhex("80e0000100000002000000ff") + b"x").payload
            b'x'
            >>> RtpPacket.parse(bytes.fromhex("90e0000100000002000000ff") + b"\\xbe\\xde\\x00\\x09")
            Traceback (most recent call last):
            ...
            rtsplab.errors.ProtocolError: RTP header extension overruns the packet (36 > 0 bytes)
        """
        size = len(data)
        if size < 12:
            raise ProtocolError(f"RTP packet of {size} bytes is shorter than its 12-byte header")
        first, mpt, seq, ts, ssrc = _FIXED.unpack_from(data)
        if first >> 6 != 2:
            raise ProtocolError(f"RTP version {first >> 6}, not 2")
        cc = first & 0x0F
        off = 12 + 4 * cc
        if off > size:
            raise ProtocolError(f"RTP CSRC list overruns the packet ({cc} CSRCs in {size} bytes)")
        csrcs = struct.unpack_from(f">{cc}I", data, 12) if cc else ()
        extension = None
        if first & 0x10:
            if off + 4 > size:
                raise ProtocolError("RTP header extension header is truncated")
            profile, words = struct.unpack_from(">HH", data, off)
            if off + 4 + 4 * words > size:
                raise ProtocolError(
                    f"RTP header extension overruns the packet ({4 * words} > {size - off - 4} bytes)"
                )
            extension = RtpExtension(profile, bytes(data[off + 4 : off + 4 + 4 * words]))
            OnvifExtension.parse(extension)  # raises if it is ONVIF's and too short
            off += 4 + 4 * words
        end = size
        if first & 0x20:
            pad = data[-1]
            if pad == 0 or pad > size - off:
                raise ProtocolError(f"RTP padding of {pad} bytes does not fit the packet")
            end -= pad
        return cls(
            mpt & 0x7F, seq, ts, ssrc, bool(mpt & 0x80), bytes(data[off:end]), csrcs, extension
        )


@dataclass(frozen=True)
class RtpHeader:
    """The fixed RTP header fields, for senders that build packets from a payload.

    Example:
        >>> h = RtpHeader(96, 1, 2, 3, marker=True)
        >>> RtpHeader.parse(h.pack() + b"data") == h
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
        return RtpPacket(self.payload_type, self.seq, self.timestamp, self.ssrc, self.marker).pack()

    @classmethod
    def parse(cls, packet: bytes) -> RtpHeader:
        """The header of ``packet``, after validating the whole packet (:meth:`RtpPacket.parse`).

        Raises:
            ProtocolError: a malformed packet.

        Example:
            >>> RtpHeader.parse(bytes.fromhex("80e0000100000002000000ff")).marker
            True
        """
        p = RtpPacket.parse(packet)
        return cls(p.payload_type, p.seq, p.timestamp, p.ssrc, p.marker)

    @staticmethod
    def payload(packet: bytes) -> bytes:
        """The payload of ``packet`` (after CSRCs and extension, without padding).

        Raises:
            ProtocolError: a malformed packet.

        Example:
            >>> RtpHeader.payload(RtpHeader(96, 0, 0, 0).pack() + b"xy")
            b'xy'
        """
        return RtpPacket.parse(packet).payload


def seq_delta(seq: int, previous: int) -> int:
    """Signed distance from sequence number ``previous`` to ``seq``, across the 16-bit wrap.

    Example:
        >>> seq_delta(2, 65534), seq_delta(5, 6)
        (4, -1)
    """
    return ((seq - previous + 0x8000) & 0xFFFF) - 0x8000
