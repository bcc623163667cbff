"""H.265/HEVC over RTP (RFC 7798): packetizer, depacketizer and the SDP ``fmtp`` parameters.

An H.265 NAL unit starts with a 2-byte header: ``F`` (forbidden, 0), ``Type`` (6 bits),
``LayerId`` (6 bits) and ``TID`` (temporal id + 1, never 0). An RTP payload carries one of:

- a single NAL unit (types 0..47), as is;
- an aggregation packet (AP, type 48): several small NAL units, each behind a 16-bit size;
- a fragmentation unit (FU, type 49): a slice of one big NAL unit, behind a 1-byte FU header
  with the start (S) and end (E) bits and the fragmented NAL's type.

With ``sprop-max-don-diff`` > 0 in the SDP, each of these also carries a decoding order
number (DONL/DOND) that the depacketizer skips (``H265Depacketizer(donl=True)``).

Example:
    >>> idr = bytes([0x26, 0x01]) + bytes(3000)          # IDR_W_RADL, 3002 bytes
    >>> pkts = packetize_h265([idr], seq=7, timestamp=90000, ssrc=1, mtu=1200)
    >>> len(pkts)
    3
    >>> d = H265Depacketizer()
    >>> [nal for p in pkts for nal in d.push(p[12:])] == [idr]
    True
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.h264 import DEFAULT_MTU, MAX_NAL_BYTES, MAX_NALS_PER_PACKET, PAYLOAD_TYPE
from rtsplab.rtsp.rtp import RtpHeader

__all__ = [
    "H265Depacketizer",
    "H265ParameterSets",
    "h265_fmtp",
    "nal_type",
    "packetize_h265",
    "parse_h265_fmtp",
]

VPS, SPS, PPS = 32, 33, 34
AP, FU, PACI = 48, 49, 50
IRAP_TYPES = range(16, 22)  # BLA_W_LP .. CRA_NUT: decodable on their own
_MAX_NAL_TYPE = 47  # 48..63 are RTP payload structures, never a NAL unit


def nal_type(nal: bytes) -> int:
    """The NAL unit type (6 bits) of an H.265 NAL unit or RTP payload header.

    Raises:
        ProtocolError: fewer than 2 bytes.

    Example:
        >>> nal_type(bytes([0x42, 0x01])), nal_type(bytes([0x26, 0x01]))
        (33, 19)
    """
    if len(nal) < 2:
        raise ProtocolError(f"H.265 NAL unit header needs 2 bytes, got {len(nal)}")
    return (nal[0] >> 1) & 0x3F


def _check_nal(nal: bytes | memoryview, where: str) -> bytes:
    """``nal`` as bytes after checking its 2-byte header, or ProtocolError."""
    if len(nal) < 2:
        raise ProtocolError(f"H.265 {where}: NAL unit of {len(nal)} byte(s) has no full header")
    if nal[0] & 0x80:
        raise ProtocolError(f"H.265 {where}: forbidden_zero_bit is set")
    kind = (nal[0] >> 1) & 0x3F
    if kind > _MAX_NAL_TYPE:
        raise ProtocolError(f"H.265 {where}: NAL unit type {kind} is not a NAL unit type")
    if nal[1] & 0x07 == 0:
        raise ProtocolError(f"H.265 {where}: TID is 0")
    return bytes(nal)


def packetize_h265(
    nals: Sequence[bytes],
    seq: int,
    timestamp: int,
    ssrc: int,
    mtu: int = DEFAULT_MTU,
    payload_type: int = PAYLOAD_TYPE,
) -> list[bytes]:
    """Full RTP packets for one access unit; sequence numbers start at ``seq`` (mod 2**16).

    Consecutive NAL units that fit one packet together (VPS, SPS, PPS) go out as an
    aggregation packet, a NAL unit that fits alone as a single NAL unit packet, a bigger one
    as fragmentation units. The marker bit is set on the access unit's last packet.

    Args:
        nals: the access unit's NAL units, without start codes.
        seq: sequence number of the first packet.
        timestamp: the 90 kHz RTP timestamp shared by all packets.
        ssrc: synchronisation source.
        mtu: maximum RTP packet size (header included).
        payload_type: the dynamic RTP payload type of the SDP.

    Raises:
        ValueError: ``mtu`` leaves no room for a fragment, or a NAL unit has a bad header.

    Example:
        >>> vps, sps, pps = b"\\x40\\x01\\x0c", b"\\x42\\x01\\x01", b"\\x44\\x01\\xc1"
        >>> pkts = packetize_h265([vps, sps, pps, b"\\x26\\x01" + bytes(2000)], 0, 0, 0)
        >>> [nal_type(p[12:]) for p in pkts], RtpHeader.parse(pkts[-1]).marker
        ([48, 49, 49], True)
    """
    budget = mtu - 12
    if budget < 4:
        raise ValueError(f"mtu {mtu} is too small for H.265 fragmentation units")
    for nal in nals:
        try:
            _check_nal(nal, "packetizer")
        except ProtocolError as exc:
            raise ValueError(str(exc)) from None
    payloads: list[bytes] = []
    group: list[bytes] = []  # small NAL units waiting to be aggregated
    group_size = 2  # the AP's payload header

    def flush() -> None:
        nonlocal group_size
        if len(group) == 1:
            payloads.append(group[0])
        elif group:
            f_bit = max(n[0] & 0x80 for n in group)
            layer_id = min(((n[0] & 0x01) << 5) | (n[1] >> 3) for n in group)
            tid = min(n[1] & 0x07 for n in group)
            header = bytes((f_bit | (AP << 1) | (layer_id >> 5), ((layer_id & 0x1F) << 3) | tid))
            payloads.append(header + b"".join(struct.pack(">H", len(n)) + n for n in group))
        group.clear()
        group_size = 2

    for nal in nals:
        if group_size + 2 + len(nal) <= budget:
            group.append(nal)
            group_size += 2 + len(nal)
            continue
        flush()
        if 4 + len(nal) <= budget:  # could start a new aggregation
            group.append(nal)
            group_size += 2 + len(nal)
            continue
        if len(nal) <= budget:
            payloads.append(nal)
            continue
        kind = (nal[0] >> 1) & 0x3F
        header = bytes(((nal[0] & 0x81) | (FU << 1), nal[1]))
        body = memoryview(nal)[2:]
        chunk = budget - 3
        for off in range(0, len(body), chunk):
            start, end = off == 0, off + chunk >= len(body)
            fu_header = (0x80 if start else 0) | (0x40 if end else 0) | kind
            payloads.append(header + bytes((fu_header,)) + body[off : off + chunk])
    flush()
    last = len(payloads) - 1
    return [
        RtpHeader(payload_type, seq + k, timestamp, ssrc, marker=k == last).pack() + p
        for k, p in enumerate(payloads)
    ]


class H265Depacketizer:
    """Turns RTP payloads (single NAL, AP, FU) back into H.265 NAL units.

    Feed payloads in sequence order; after a sequence gap the caller calls :meth:`reset`,
    so a fragmented NAL unit that lost a piece is dropped instead of emitted truncated.
    Every NAL unit returned has a valid 2-byte header.

    Bounded: a fragmented NAL unit that grows past ``max_nal_bytes`` without its end, and
    an aggregation packet with more than ``MAX_NALS_PER_PACKET`` NAL units, raise
    ProtocolError (the fragment is dropped); :attr:`pending_bytes` is what a fragment in
    progress holds.

    Args:
        donl: the stream carries decoding order numbers (``sprop-max-don-diff`` > 0).
        max_nal_bytes: the largest NAL unit that fragmentation units may build.

    Attributes:
        overflows: fragments and aggregation packets dropped for passing a cap.

    Raises:
        ProtocolError: from :meth:`push`, on any malformed payload; the depacketizer stays
            usable for the next one.

    Example:
        >>> d = H265Depacketizer()
        >>> d.push(bytes([0x62, 0x01, 0x93]) + b"ab")   # FU start of an IDR_W_RADL
        []
        >>> d.push(bytes([0x62, 0x01, 0x53]) + b"cd")   # FU end
        [b'&\\x01abcd']
        >>> d.push(bytes([0x62, 0x01, 0x13]) + b"ef")   # a continuation without a start
        Traceback (most recent call last):
        ...
        rtsplab.errors.ProtocolError: H.265 FU continuation without a start (a fragment was lost)
    """

    codec = "h265"

    def __init__(self, donl: bool = False, max_nal_bytes: int = MAX_NAL_BYTES) -> None:
        self.donl = donl
        self.max_nal_bytes = max_nal_bytes
        self.overflows = 0
        self._fu: bytearray | None = None
        self._fu_type = -1

    @property
    def pending_bytes(self) -> int:
        """Bytes held by a fragmented NAL unit in progress (0: none).

        Example:
            >>> d = H265Depacketizer(); d.push(bytes([0x62, 0x01, 0x93]) + b"ab"); d.pending_bytes
            []
            4
        """
        return len(self._fu) if self._fu is not None else 0

    def reset(self) -> None:
        """Forget any partial fragmented NAL unit (after a lost packet).

        Example:
            >>> d = H265Depacketizer(); _ = d.push(bytes([0x62, 0x01, 0x93, 0])); d.reset()
            >>> d.push(bytes([0x62, 0x01, 0x53, 1]))
            Traceback (most recent call last):
            ...
            rtsplab.errors.ProtocolError: H.265 FU continuation without a start (a fragment was lost)
        """
        self._fu = None
        self._fu_type = -1

    def push(self, payload: bytes) -> list[bytes]:
        """One RTP payload (after the RTP header) in; the NAL units it completes out.

        Raises:
            ProtocolError: a malformed payload (it is dropped whole).

        Example:
            >>> ap = bytes([0x60, 0x01, 0, 3, 0x40, 0x01, 0x0c, 0, 2, 0x42, 0x01])
            >>> H265Depacketizer().push(ap)
            [b'@\\x01\\x0c', b'B\\x01']
        """
        kind = nal_type(payload)
        if kind == FU:
            return self._push_fu(payload)
        if self._fu is not None:  # the fragmented NAL's end was lost: drop it
            self.reset()
        if kind == AP:
            return self._push_ap(payload)
        if kind == PACI:
            raise ProtocolError("H.265 PACI payloads (type 50) are not supported")
        if kind > _MAX_NAL_TYPE:
            raise ProtocolError(f"H.265 payload type {kind} is not defined by RFC 7798")
        if self.donl:
            if len(payload) < 4:
                raise ProtocolError("H.265 single NAL unit packet is truncated (DONL)")
            payload = payload[:2] + payload[4:]
        return [_check_nal(payload, "single NAL unit packet")]

    def _push_ap(self, payload: bytes) -> list[bytes]:
        out: list[bytes] = []
        off, n = 2, len(payload)
        view = memoryview(payload)
        while off < n:
            if len(out) == MAX_NALS_PER_PACKET:
                self.overflows += 1
                raise ProtocolError(
                    f"H.265 aggregation packet with more than {MAX_NALS_PER_PACKET} NAL units"
                )
            if self.donl:
                off += 2 if not out else 1  # DONL before the first unit, DOND before the others
            if off + 2 > n:
                raise ProtocolError("H.265 aggregation packet is truncated (NALU size)")
            size = (payload[off] << 8) | payload[off + 1]
            off += 2
            if off + size > n:
                raise ProtocolError(
                    f"H.265 aggregation unit of {size} bytes overruns the packet by {off + size - n}"
                )
            out.append(_check_nal(view[off : off + size], "aggregation packet"))
            off += size
        if not out:
            raise ProtocolError("H.265 aggregation packet holds no NAL unit")
        return out

    def _push_fu(self, payload: bytes) -> list[bytes]:
        body_at = 5 if self.donl else 3
        if len(payload) < 3 or (payload[2] & 0x80 and len(payload) <= body_at):
            self.reset()
            raise ProtocolError("H.265 fragmentation unit is truncated")
        fu_header = payload[2]
        start, end, kind = bool(fu_header & 0x80), bool(fu_header & 0x40), fu_header & 0x3F
        if start and end:
            self.reset()
            raise ProtocolError("H.265 FU has both the start and end bits set")
        if kind > _MAX_NAL_TYPE:
            self.reset()
            raise ProtocolError(f"H.265 FU carries type {kind}, not a NAL unit type")
        if start:
            header = bytes(((payload[0] & 0x81) | (kind << 1), payload[1]))
            _check_nal(header, "fragmentation unit")
            if len(header) + len(payload) - body_at > self.max_nal_bytes:
                self.reset()
                self.overflows += 1
                raise ProtocolError(f"H.265 FU NAL unit over {self.max_nal_bytes} bytes")
            self._fu = bytearray(header)
            self._fu += payload[body_at:]
            self._fu_type = kind
            return []
        if self._fu is None:
            raise ProtocolError("H.265 FU continuation without a start (a fragment was lost)")
        if kind != self._fu_type:
            self.reset()
            raise ProtocolError("H.265 FU continuation of another NAL unit type")
        if len(self._fu) + len(payload) - 3 > self.max_nal_bytes:
            self.reset()
            self.overflows += 1
            raise ProtocolError(
                f"H.265 FU NAL unit over {self.max_nal_bytes} bytes without its end"
            )
        self._fu += payload[3:]
        if not end:
            return []
        nal = bytes(self._fu)
        self.reset()
        return [nal]

    @staticmethod
    def is_keyframe(nals: Sequence[bytes]) -> bool:
        """True when the access unit holds an IRAP picture (types 16..21: BLA, IDR, CRA).

        Example:
            >>> H265Depacketizer.is_keyframe([b"\\x40\\x01", b"\\x26\\x01\\xaf"])
            True
            >>> H265Depacketizer.is_keyframe([b"\\x02\\x01\\xd0"])
            False
        """
        return any(len(n) >= 2 and (n[0] >> 1) & 0x3F in IRAP_TYPES for n in nals)


@dataclass(frozen=True)
class H265ParameterSets:
    """The out-of-band parameter sets and DON setting of an H.265 ``a=fmtp`` line.

    Example:
        >>> H265ParameterSets().nals
        []
    """

    vps: tuple[bytes, ...] = ()
    sps: tuple[bytes, ...] = ()
    pps: tuple[bytes, ...] = ()
    max_don_diff: int = 0

    @property
    def nals(self) -> list[bytes]:
        """VPS, SPS and PPS NAL units in decoding order (for a decoder's extradata).

        Example:
            >>> H265ParameterSets((b"v",), (b"s",), (b"p",)).nals
            [b'v', b's', b'p']
        """
        return [*self.vps, *self.sps, *self.pps]


def h265_fmtp(vps: bytes, sps: bytes, pps: bytes) -> str:
    """The ``a=fmtp`` parameters carrying the parameter sets (``sprop-vps/sps/pps``).

    Example:
        >>> h265_fmtp(b"\\x40\\x01", b"\\x42\\x01", b"\\x44\\x01")
        'sprop-vps=QAE=;sprop-sps=QgE=;sprop-pps=RAE='
    """
    parts = [(k, v) for k, v in (("vps", vps), ("sps", sps), ("pps", pps)) if v]
    return ";".join(f"sprop-{k}={base64.b64encode(v).decode()}" for k, v in parts)


def parse_h265_fmtp(fmtp: str) -> H265ParameterSets:
    """The parameter sets of an ``a=fmtp`` value (with or without its leading payload type).

    Raises:
        ProtocolError: bad base64, a parameter set with a bad header or of the wrong type,
            or a non-numeric ``sprop-max-don-diff``.

    Example:
        >>> p = parse_h265_fmtp("96 profile-id=1;sprop-vps=QAE=;sprop-sps=QgE=;sprop-pps=RAE=")
        >>> p.nals, p.max_don_diff
        ([b'@\\x01', b'B\\x01', b'D\\x01'], 0)
        >>> parse_h265_fmtp("sprop-sps=QAE=")
        Traceback (most recent call last):
        ...
        rtsplab.errors.ProtocolError: sprop-sps holds a NAL unit of type 32, expected 33
    """
    text = fmtp.strip()
    head, _, rest = text.partition(" ")
    if head.isdigit():
        text = rest
    found: dict[str, tuple[bytes, ...]] = {}
    max_don_diff = 0
    for part in text.split(";"):
        key, _, value = part.strip().partition("=")
        key, value = key.strip().lower(), value.strip()
        if key == "sprop-max-don-diff":
            if not value.isdigit():
                raise ProtocolError(f"sprop-max-don-diff is not a number: {value[:20]!r}")
            max_don_diff = int(value)
            continue
        expected = {"sprop-vps": VPS, "sprop-sps": SPS, "sprop-pps": PPS}.get(key)
        if expected is None:
            continue
        sets: list[bytes] = []
        for item in value.split(","):
            try:
                nal = base64.b64decode(item.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ProtocolError(f"{key} is not base64: {item[:20]!r}") from None
            _check_nal(nal, key)
            if nal_type(nal) != expected:
                raise ProtocolError(
                    f"{key} holds a NAL unit of type {nal_type(nal)}, expected {expected}"
                )
            sets.append(nal)
        found[key] = tuple(sets)
    return H265ParameterSets(
        found.get("sprop-vps", ()),
        found.get("sprop-sps", ()),
        found.get("sprop-pps", ()),
        max_don_diff,
    )
