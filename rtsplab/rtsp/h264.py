"""H.264 over RTP (RFC 6184): packetizer, depacketizer, Annex B helpers and the SDP fmtp.

One access unit (all NAL units of one frame) becomes one or more RTP packets with the same
90 kHz timestamp; the marker bit is set on the last packet of the access unit. A NAL unit
that fits the payload budget goes out as a single NAL unit packet, a bigger one as FU-A
fragments (packetization-mode=1). :class:`H264Depacketizer` turns payloads back into NAL
units (single NAL, STAP-A, FU-A) and raises :class:`~rtsplab.errors.ProtocolError` for any
payload it cannot trust; :class:`~rtsplab.rtsp.assembler.AccessUnitAssembler` groups NAL
units into access units.

Example:
    >>> from rtsplab.rtsp.rtp import RtpPacket
    >>> nal = bytes([0x65]) + bytes(3000)
    >>> pkts = packetize_h264([nal], seq=10, timestamp=90000, ssrc=1, mtu=1200)
    >>> len(pkts), RtpPacket.parse(pkts[-1]).marker
    (3, True)
    >>> d = H264Depacketizer()
    >>> [n for p in pkts for n in d.push(RtpPacket.parse(p).payload)] == [nal]
    True
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.rtp import RtpHeader

__all__ = [
    "DEFAULT_MTU",
    "MAX_NALS_PER_PACKET",
    "MAX_NAL_BYTES",
    "PAYLOAD_TYPE",
    "H264Depacketizer",
    "h264_fmtp",
    "packetize_h264",
    "split_annexb",
    "sprop_parameter_sets",
]

PAYLOAD_TYPE = 96
CLOCK_RATE = 90_000
DEFAULT_MTU = 1400
MAX_NAL_BYTES = 16 * 1024 * 1024  # a fragmented NAL unit bigger than this is dropped
MAX_NALS_PER_PACKET = 64  # NAL units one aggregation packet may carry
_STAP_A = 24
_FU_A = 28
_IDR = 5


def nal_type(nal: bytes) -> int:
    """The 5-bit ``nal_unit_type`` of an H.264 NAL unit.

    Example:
        >>> nal_type(b"\\x67\\x42")
        7
    """
    return nal[0] & 0x1F


def _check_nal(nal: bytes) -> bytes:
    """``nal`` if it is a plausible NAL unit, else ProtocolError."""
    if not nal:
        raise ProtocolError("empty H.264 NAL unit")
    if nal[0] & 0x80:
        raise ProtocolError("H.264 NAL unit with the forbidden_zero_bit set")
    if not 1 <= nal[0] & 0x1F <= 23:
        raise ProtocolError(f"H.264 NAL unit type {nal[0] & 0x1F} inside a NAL payload")
    return nal


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
    nals: Sequence[bytes],
    seq: int,
    timestamp: int,
    ssrc: int,
    mtu: int = DEFAULT_MTU,
    payload_type: int = PAYLOAD_TYPE,
) -> list[bytes]:
    """RTP packets for one access unit; sequence numbers start at ``seq`` (mod 2**16).

    Args:
        nals: the access unit's NAL units, without start codes.
        seq: sequence number of the first packet.
        timestamp: the 90 kHz RTP timestamp shared by all packets.
        ssrc: synchronisation source.
        mtu: maximum RTP packet size (header included).
        payload_type: the dynamic payload type announced in the SDP.

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
        RtpHeader(payload_type, seq + k, timestamp, ssrc, marker=k == last).pack() + p
        for k, p in enumerate(payloads)
    ]


class H264Depacketizer:
    """NAL units from RTP payloads: single NAL unit packets, STAP-A and FU-A.

    ``push`` takes one payload (after the RTP header) and returns the NAL units it completes.
    A malformed payload raises :class:`~rtsplab.errors.ProtocolError`; so does an FU-A
    continuation with no fragment in progress (its start was lost), which also drops any
    partial NAL unit. Call :meth:`reset` after a sequence gap.

    Bounded: an FU-A NAL unit that grows past ``max_nal_bytes`` without its end fragment,
    and a STAP-A with more than ``MAX_NALS_PER_PACKET`` NAL units, raise ProtocolError (the
    fragment is dropped); :attr:`pending_bytes` is what a fragment in progress holds.

    Args:
        max_nal_bytes: the largest NAL unit that FU-A fragments may build.

    Attributes:
        overflows: fragments and aggregation packets dropped for passing a cap.

    Example:
        >>> d = H264Depacketizer()
        >>> d.push(b"\\x18\\x00\\x02\\x67\\x42\\x00\\x02\\x68\\xce")
        [b'gB', b'h\\xce']
        >>> d.push(b"\\x18\\xff\\xff\\x65")
        Traceback (most recent call last):
        ...
        rtsplab.errors.ProtocolError: STAP-A: a NAL unit of 65535 bytes overruns the payload (1 left)
    """

    codec = "h264"

    def __init__(self, max_nal_bytes: int = MAX_NAL_BYTES) -> None:
        self._fu: bytearray | None = None
        self.max_nal_bytes = max_nal_bytes
        self.overflows = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes held by an FU-A NAL unit in progress (0: none).

        Example:
            >>> d = H264Depacketizer(); d.push(b"\\x7c\\x85abc"); d.pending_bytes
            []
            4
        """
        return len(self._fu) if self._fu is not None else 0

    def reset(self) -> None:
        """Forget a partial FU-A fragment (after a lost packet).

        Example:
            >>> d = H264Depacketizer()
            >>> d.push(b"\\x7c\\x85ab")
            []
            >>> d.reset()
            >>> d.push(b"\\x7c\\x45c")
            Traceback (most recent call last):
            ...
            rtsplab.errors.ProtocolError: FU-A continuation without its start fragment
        """
        self._fu = None

    def push(self, payload: bytes) -> list[bytes]:
        """The NAL units completed by one RTP payload (no start codes).

        Raises:
            ProtocolError: an empty or malformed payload, or an unsupported packet type.

        Example:
            >>> H264Depacketizer().push(b"\\x41\\x9a")
            [b'A\\x9a']
        """
        if not payload:
            raise ProtocolError("empty H.264 RTP payload")
        if payload[0] & 0x80:
            raise ProtocolError("H.264 payload header with the forbidden_zero_bit set")
        kind = payload[0] & 0x1F
        if 1 <= kind <= 23:
            if self._fu is not None:
                self._fu = None  # the FU-A in progress never ended: it is lost
            return [bytes(payload)]
        if kind == _STAP_A:
            return self._stap_a(payload)
        if kind == _FU_A:
            return self._fu_a(payload)
        self._fu = None
        raise ProtocolError(f"unsupported H.264 RTP packet type {kind}")

    def _stap_a(self, payload: bytes) -> list[bytes]:
        out: list[bytes] = []
        off, size = 1, len(payload)
        while off < size:
            if len(out) == MAX_NALS_PER_PACKET:
                self.overflows += 1
                raise ProtocolError(f"STAP-A with more than {MAX_NALS_PER_PACKET} NAL units")
            if off + 2 > size:
                raise ProtocolError("STAP-A: truncated NAL unit size")
            n = payload[off] << 8 | payload[off + 1]
            off += 2
            if n == 0 or off + n > size:
                raise ProtocolError(
                    f"STAP-A: a NAL unit of {n} bytes overruns the payload ({size - off} left)"
                )
            out.append(_check_nal(bytes(payload[off : off + n])))
            off += n
        if not out:
            raise ProtocolError("STAP-A without NAL units")
        self._fu = None
        return out

    def _fu_a(self, payload: bytes) -> list[bytes]:
        if len(payload) < 3:
            self._fu = None
            raise ProtocolError("FU-A shorter than its two header bytes plus data")
        fu = payload[1]
        start, end, kind = fu & 0x80, fu & 0x40, fu & 0x1F
        if (start and end) or not 1 <= kind <= 23:
            self._fu = None
            raise ProtocolError(f"FU-A header {fu:#04x} is invalid")
        if start:
            self._fu = bytearray([(payload[0] & 0xE0) | kind])
        elif self._fu is None:
            raise ProtocolError("FU-A continuation without its start fragment")
        elif self._fu[0] & 0x1F != kind:
            self._fu = None
            raise ProtocolError("FU-A fragment of another NAL unit type")
        if len(self._fu) + len(payload) - 2 > self.max_nal_bytes:
            self._fu = None
            self.overflows += 1
            raise ProtocolError(f"FU-A NAL unit over {self.max_nal_bytes} bytes without its end")
        self._fu += payload[2:]
        if not end:
            return []
        nal, self._fu = bytes(self._fu), None
        return [nal]

    @staticmethod
    def is_keyframe(nals: Sequence[bytes]) -> bool:
        """True when the access unit holds an IDR slice (NAL type 5).

        Example:
            >>> H264Depacketizer.is_keyframe([b"\\x67\\x42", b"\\x65\\x88"])
            True
        """
        return any(nal and nal[0] & 0x1F == _IDR for nal in nals)


def h264_fmtp(sps: bytes, pps: bytes) -> str:
    """The ``a=fmtp`` parameters for packetization-mode=1 with in-band-equal SPS/PPS.

    Example:
        >>> h264_fmtp(bytes.fromhex("6742c01e"), bytes.fromhex("68ce3c80"))
        'packetization-mode=1;profile-level-id=42c01e;sprop-parameter-sets=Z0LAHg==,aM48gA=='
    """
    pli = sps[1:4].hex() if len(sps) >= 4 else "42e01f"
    sets = ",".join(base64.b64encode(x).decode() for x in (sps, pps))
    return f"packetization-mode=1;profile-level-id={pli};sprop-parameter-sets={sets}"


def sprop_parameter_sets(fmtp: dict[str, str]) -> list[bytes]:
    """The SPS/PPS NAL units of ``sprop-parameter-sets`` in parsed fmtp parameters.

    Raises:
        ProtocolError: bad base64, or something that is not a NAL unit.

    Example:
        >>> sprop_parameter_sets({"sprop-parameter-sets": "Z0LAHg==,aM48gA=="})
        [b'gB\\xc0\\x1e', b'h\\xce<\\x80']
        >>> sprop_parameter_sets({"packetization-mode": "1"})
        []
    """
    value = fmtp.get("sprop-parameter-sets", "")
    out = []
    for text in value.split(","):
        text = text.strip()
        if not text:
            continue
        try:
            nal = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(f"sprop-parameter-sets: bad base64 {text[:20]!r}") from exc
        out.append(_check_nal(nal))
    return out
