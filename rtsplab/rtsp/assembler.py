"""Access units from RTP packets, completed on the marker bit, for any codec's depacketizer.

Push parsed :class:`~rtsplab.rtsp.rtp.RtpPacket` objects in arrival order, pull whole
:class:`AccessUnit` objects. A unit is complete when its marker-bit packet lands, so it can
be decoded at once (FFmpeg's parser waits for the next frame's first packet instead). A packet
with a new timestamp while a unit is open also completes the open one (a sender that never
sets the marker bit).

Loss: a sequence gap, or a packet the depacketizer rejects, marks the open unit damaged (a gap
where the timestamp changes damages both units: the packets lost may be the old one's end or
the new one's start, such as its SPS). A damaged unit is dropped, not handed out, and decoding
resumes at the next keyframe, so the decoder never sees a unit with a hole or one that refers
to a dropped frame. A loss of the stream's first packets is only visible with the first
sequence number from ``RTP-Info`` (:meth:`AccessUnitAssembler.expect_first_seq`).

Rejected packets raise :class:`~rtsplab.errors.ProtocolError` from :meth:`push` (the caller
counts and drops them): a payload type other than the expected one, a foreign SSRC, or a
payload the depacketizer cannot parse.

Bounded: an access unit holds at most ``MAX_AU_BYTES`` bytes (counting the depacketizer's
fragment in progress) and ``MAX_AU_NALS`` NAL units. The packet that passes a cap raises
ProtocolError, the unit is damaged (its NAL units are let go at once) and counted in
:attr:`AccessUnitAssembler.oversized_units`. A damaged unit holds nothing until it ends.

Example:
    >>> from rtsplab.rtsp.h264 import H264Depacketizer, packetize_h264
    >>> from rtsplab.rtsp.rtp import RtpPacket
    >>> a = AccessUnitAssembler(H264Depacketizer(), payload_type=96)
    >>> for p in packetize_h264([b"\\x67\\x42", b"\\x65" + bytes(3000)], 0, 9000, 1):
    ...     a.push(RtpPacket.parse(p))
    >>> au = a.pull()
    >>> au.timestamp, au.keyframe, [len(n) for n in au.nals], a.pull()
    (9000, True, [2, 3001], None)

A unit also carries the camera's capture time when its packets bring the ONVIF header
extension (:class:`~rtsplab.rtsp.rtp.OnvifExtension`):

    >>> from rtsplab.rtsp.rtp import OnvifExtension
    >>> onvif = OnvifExtension.at(1_700_000_000 * 10**9).extension()
    >>> b = AccessUnitAssembler(H264Depacketizer())
    >>> b.push(RtpPacket(96, 3, 12000, 1, True, b"\\x65\\x88", extension=onvif))
    >>> b.pull().t_capture_ns
    1700000000000000000
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.rtp import RtpPacket, seq_delta

__all__ = ["MAX_AU_BYTES", "MAX_AU_NALS", "AccessUnit", "AccessUnitAssembler", "Depacketizer"]

START_CODE = b"\x00\x00\x00\x01"
SSRC_SWITCH_PACKETS = 16
MAX_AU_BYTES = 16 * 1024 * 1024
MAX_AU_NALS = 1024  # NAL units in one access unit (slices, SEI, parameter sets)
_MAX_GAP = 3000


class Depacketizer(Protocol):
    """What the assembler needs from a codec: ``push`` a payload, ``reset``, ``is_keyframe``,
    and ``pending_bytes`` (what a fragmented NAL unit in progress holds)."""

    codec: str

    @property
    def pending_bytes(self) -> int: ...

    def push(self, payload: bytes) -> list[bytes]: ...

    def reset(self) -> None: ...

    @staticmethod
    def is_keyframe(nals: Sequence[bytes]) -> bool: ...


@dataclass(frozen=True)
class AccessUnit:
    """One frame's NAL units (no start codes) and its RTP timestamp.

    Attributes:
        timestamp: the 32-bit RTP timestamp.
        nals: the NAL units in decoding order.
        keyframe: holds an IDR/IRAP picture.
        marker: completed by its marker-bit packet (False: by the next unit's first packet).
        seq: sequence number of its last packet.
        ssrc: the RTP source.
        t_capture_ns: the capture time by the camera's clock (ns since 1970) from the ONVIF
            RTP header extension of its first packet that carries one; None without.

    Example:
        >>> AccessUnit(0, (b"\\x65\\x88",), True).annexb()
        b'\\x00\\x00\\x00\\x01e\\x88'
    """

    timestamp: int
    nals: tuple[bytes, ...] = field(repr=False)
    keyframe: bool = False
    marker: bool = True
    seq: int = 0
    ssrc: int = 0
    t_capture_ns: int | None = None

    def annexb(self) -> bytes:
        """The unit as an Annex B byte stream (4-byte start codes), as a decoder takes it.

        Example:
            >>> AccessUnit(0, (b"\\x67", b"\\x68")).annexb().count(START_CODE)
            2
        """
        return START_CODE + START_CODE.join(self.nals) if self.nals else b""


class AccessUnitAssembler:
    """Groups depacketized NAL units into access units; drops damaged ones (see module doc).

    Args:
        depacketizer: the codec's depacketizer (e.g. ``H264Depacketizer()``).
        payload_type: accept only this RTP payload type (None: any).
        ssrc: accept only this SSRC (None: lock on to the first packet's). A different SSRC
            that keeps sending for ``SSRC_SWITCH_PACKETS`` packets in a row is taken as the
            sender's restart and adopted.

    Attributes:
        units_dropped: damaged units dropped, plus units skipped while waiting for a keyframe.
        gaps: sequence gaps seen.
        oversized_units: units damaged for passing ``MAX_AU_BYTES`` or ``MAX_AU_NALS``.

    Example:
        >>> from rtsplab.rtsp.h264 import H264Depacketizer
        >>> a = AccessUnitAssembler(H264Depacketizer(), payload_type=96)
        >>> a.push(RtpPacket(97, 0, 0, 1, payload=b"\\x41"))
        Traceback (most recent call last):
        ...
        rtsplab.errors.ProtocolError: RTP payload type 97, expected 96
    """

    def __init__(
        self, depacketizer: Depacketizer, payload_type: int | None = None, ssrc: int | None = None
    ) -> None:
        self.depacketizer = depacketizer
        self.payload_type = payload_type
        self.ssrc = ssrc
        self._ready: deque[AccessUnit] = deque()
        self._nals: list[bytes] = []
        self._size = 0
        self._ts: int | None = None
        self._capture_ns: int | None = None  # ONVIF capture time of the open unit
        self._damaged = False
        self._last_seq: int | None = None
        self._need_keyframe = False
        self._foreign: tuple[int, int] | None = None  # (ssrc, consecutive packets)
        self._first_seq: int | None = None
        self.units_dropped = 0
        self.gaps = 0
        self.oversized_units = 0

    def expect_first_seq(self, seq: int) -> None:
        """The sequence number the first packet should carry (``RTP-Info`` of PLAY).

        Without it a loss of the very first packets cannot be seen; with it, a first packet
        that does not match marks its unit damaged.

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer
            >>> a = AccessUnitAssembler(H264Depacketizer()); a.expect_first_seq(10)
            >>> a.push(RtpPacket(96, 11, 0, 5, True, b"\\x65\\x88")); a.pull(), a.gaps
            (None, 1)
        """
        self._first_seq = seq & 0xFFFF

    @property
    def waiting_for_keyframe(self) -> bool:
        """True while units are being dropped until the next keyframe, or the open unit is
        already damaged: the moment a receiver asks the sender for a keyframe (a PLI).

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer
            >>> a = AccessUnitAssembler(H264Depacketizer())
            >>> a.push(RtpPacket(96, 1, 0, 5, True, b"\\x65\\x88")); a.waiting_for_keyframe
            False
            >>> a.push(RtpPacket(96, 3, 9, 5, True, b"\\x41\\x9a")); a.waiting_for_keyframe
            True
        """
        return self._need_keyframe or self._damaged

    @property
    def held_bytes(self) -> int:
        """Bytes the open unit holds, its depacketizer's fragment in progress included: never
        more than ``MAX_AU_BYTES``.

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer
            >>> a = AccessUnitAssembler(H264Depacketizer())
            >>> a.push(RtpPacket(96, 1, 0, 5, False, b"\\x67\\x42")); a.held_bytes
            2
        """
        return self._size + self.depacketizer.pending_bytes

    @property
    def held_nals(self) -> int:
        """NAL units the open unit holds: never more than ``MAX_AU_NALS``.

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer
            >>> AccessUnitAssembler(H264Depacketizer()).held_nals
            0
        """
        return len(self._nals)

    def _finish(self, marker: bool, seq: int) -> None:
        """Close the open unit: queue it, or drop it if damaged or waiting for a keyframe."""
        nals, self._nals, self._size = self._nals, [], 0
        ts, self._ts = self._ts, None
        capture_ns, self._capture_ns = self._capture_ns, None
        damaged, self._damaged = self._damaged, False
        if ts is None:
            return
        if damaged:
            self.units_dropped += 1
            self._need_keyframe = True
            self.depacketizer.reset()
            return
        if not nals:
            return
        keyframe = self.depacketizer.is_keyframe(nals)
        if self._need_keyframe and not keyframe:
            self.units_dropped += 1
            return
        self._need_keyframe = False
        self._ready.append(
            AccessUnit(ts, tuple(nals), keyframe, marker, seq, self.ssrc or 0, capture_ns)
        )

    def _check_source(self, packet: RtpPacket) -> None:
        if self.ssrc is None:
            self.ssrc = packet.ssrc
        if packet.ssrc == self.ssrc:
            self._foreign = None
            return
        count = self._foreign[1] + 1 if self._foreign and self._foreign[0] == packet.ssrc else 1
        self._foreign = (packet.ssrc, count)
        if count < SSRC_SWITCH_PACKETS:
            raise ProtocolError(f"RTP packet from SSRC {packet.ssrc:08x}, expected {self.ssrc:08x}")
        # the sender restarted with a new SSRC: start over on it
        if self._ts is not None:
            self._damaged = True
            self._finish(False, self._last_seq or 0)
        self.ssrc, self._foreign, self._last_seq = packet.ssrc, None, None
        self._need_keyframe = True

    def push(self, packet: RtpPacket) -> None:
        """Feed one packet; completed units become available from :meth:`pull`.

        Raises:
            ProtocolError: a foreign SSRC or payload type, or a malformed payload (the packet
                is dropped; a malformed payload also damages the unit it belongs to).

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer
            >>> a = AccessUnitAssembler(H264Depacketizer())
            >>> a.push(RtpPacket(96, 1, 0, 5, True, b"\\x65\\x88")); a.pull().keyframe
            True
        """
        self._check_source(packet)
        gap = False
        if self._last_seq is None and self._first_seq is not None:
            gap = packet.seq != self._first_seq  # the stream's first packets were lost
            self._first_seq = None
        elif self._last_seq is not None:
            delta = seq_delta(packet.seq, self._last_seq)
            if delta <= 0 and -delta < _MAX_GAP:
                return  # a duplicate or late packet: its unit is already gone
            gap = delta != 1
        if gap:
            self.gaps += 1
            self._damaged = True
            self.depacketizer.reset()
        self._last_seq = packet.seq
        if self.payload_type is not None and packet.payload_type != self.payload_type:
            raise ProtocolError(
                f"RTP payload type {packet.payload_type}, expected {self.payload_type}"
            )
        if self._ts is not None and packet.timestamp != self._ts:
            if self.depacketizer.pending_bytes:  # a fragment never ended: the unit is cut
                self._damaged = True
                self.depacketizer.reset()
            self._finish(False, (packet.seq - 1) & 0xFFFF)  # the open unit had no marker packet
            # a gap here may have taken the end of the old unit or the start of this one
            self._damaged = gap
        if self._ts is None:
            self._ts = packet.timestamp
        if self._capture_ns is None and packet.extension is not None:
            onvif = packet.onvif
            self._capture_ns = onvif.t_ns if onvif is not None else None
        try:
            nals = self.depacketizer.push(packet.payload)
        except ProtocolError:
            self._damaged = True
            if packet.marker:
                self._finish(True, packet.seq)
            raise
        if nals or self._damaged or self._size + self.depacketizer.pending_bytes > MAX_AU_BYTES:
            overflow = self._take(nals)
        else:  # a fragment still in progress, under the cap: nothing to add
            overflow = None
        if packet.marker:
            self._finish(True, packet.seq)
        if overflow is not None:
            raise overflow

    def _take(self, nals: list[bytes]) -> ProtocolError | None:
        """Add ``nals`` to the open unit (a damaged one keeps nothing); the error when a cap
        is passed."""
        if self._damaged:
            self._nals, self._size = [], 0
        else:
            self._size += sum(map(len, nals))
            self._nals.extend(nals)
        size, count = self._size + self.depacketizer.pending_bytes, len(self._nals)
        if size <= MAX_AU_BYTES and count <= MAX_AU_NALS:
            return None
        self._damaged = True
        self._nals, self._size = [], 0
        self.depacketizer.reset()
        self.oversized_units += 1
        what = f"{size} bytes" if size > MAX_AU_BYTES else f"{count} NAL units"
        return ProtocolError(f"access unit over its cap ({what}): dropped")

    @property
    def ready(self) -> int:
        """Completed units waiting to be pulled.

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer
            >>> AccessUnitAssembler(H264Depacketizer()).ready
            0
        """
        return len(self._ready)

    def pull(self) -> AccessUnit | None:
        """The oldest completed unit, or None.

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer
            >>> AccessUnitAssembler(H264Depacketizer()).pull() is None
            True
        """
        return self._ready.popleft() if self._ready else None

    def flush(self) -> AccessUnit | None:
        """Close the open unit (e.g. at the end of the stream) and return the oldest ready unit.

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer
            >>> a = AccessUnitAssembler(H264Depacketizer())
            >>> a.push(RtpPacket(96, 1, 0, 5, False, b"\\x65\\x88")); a.pull() is None
            True
            >>> a.flush().marker
            False
        """
        self._finish(False, self._last_seq or 0)
        return self.pull()
