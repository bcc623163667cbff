"""RTP packets (RFC 3550 §5.1): the header with CSRCs, header extension and padding, validated.

:meth:`RtpPacket.parse` checks the whole layout (version, CSRC count, extension length and
padding count against the packet size) and raises :class:`~rtsplab.errors.ProtocolError`
for anything that does not fit, so a caller can drop and count a bad packet.

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

__all__ = ["RtpExtension", "RtpHeader", "RtpPacket", "seq_delta"]

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
                that overruns the packet.

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
