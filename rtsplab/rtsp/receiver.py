"""The receive side of one RTP stream: bytes in, access units with timestamps out, sans-IO.

:class:`RtpReceiver` joins the parsers into the client's packet path: ``on_rtp`` takes one
RTP packet's bytes (from a ``$`` frame on the RTSP connection, or a UDP datagram),
``on_rtcp`` one RTCP datagram, and :meth:`RtpReceiver.pull` hands out completed access units.
A malformed or foreign packet is dropped and counted in :attr:`RtpReceiver.bad_packets`;
nothing a peer sends makes it raise. Sender reports re-anchor :attr:`RtpReceiver.clock`.

Example:
    >>> from rtsplab.rtsp.h264 import H264Depacketizer, packetize_h264
    >>> from rtsplab.rtsp.rtcp import build_sender_report, unix_ns_to_ntp
    >>> rx = RtpReceiver(H264Depacketizer(), payload_type=96)
    >>> rx.on_rtcp(build_sender_report(7, unix_ns_to_ntp(10**9), 90_000, 0, 0))
    >>> for p in packetize_h264([b"\\x65\\x88"], 0, 180_000, 7):
    ...     rx.on_rtp(p)
    >>> rx.on_rtp(bytes(12)); rx.bad_packets
    1
    >>> au = rx.pull()
    >>> rx.clock.wall_ns(au.timestamp), rx.pts_s(au.timestamp)
    (2000000000, 0.0)
"""

from __future__ import annotations

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.assembler import AccessUnit, AccessUnitAssembler, Depacketizer
from rtsplab.rtsp.rtcp import Goodbye, SenderReport, ntp_to_unix_ns, parse_rtcp
from rtsplab.rtsp.rtp import RtpPacket
from rtsplab.rtsp.timeline import TimestampUnwrapper, WallClock

__all__ = ["RtpReceiver"]


class RtpReceiver:
    """One RTP stream's packet path: parse, validate, assemble, map to wall-clock time.

    Args:
        depacketizer: the codec's depacketizer.
        payload_type: the payload type from the SDP (None: accept any).
        clock_rate: the media clock rate from the SDP.

    Attributes:
        bad_packets: RTP and RTCP packets dropped as malformed or foreign.
        last_error: the most recent reason a packet was dropped (for logs).
        ended: the sender said BYE.

    Example:
        >>> from rtsplab.rtsp.h264 import H264Depacketizer
        >>> rx = RtpReceiver(H264Depacketizer()); rx.on_rtcp(b""); rx.bad_packets
        1
    """

    def __init__(
        self, depacketizer: Depacketizer, payload_type: int | None = None, clock_rate: int = 90_000
    ) -> None:
        self.assembler = AccessUnitAssembler(depacketizer, payload_type)
        self.clock = WallClock(clock_rate)
        self.clock_rate = clock_rate
        self._unwrap = TimestampUnwrapper()
        self._t0: int | None = None
        self.bad_packets = 0
        self.last_error = ""
        self.ended = False

    def _bad(self, exc: ProtocolError) -> None:
        self.bad_packets += 1
        self.last_error = str(exc)

    def on_rtp(self, data: bytes) -> None:
        """Feed one RTP packet; a bad one is counted and dropped.

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer
            >>> rx = RtpReceiver(H264Depacketizer()); rx.on_rtp(b"\\x90" + bytes(13))
            >>> rx.bad_packets, rx.last_error
            (1, 'RTP header extension header is truncated')
        """
        try:
            self.assembler.push(RtpPacket.parse(data))
        except ProtocolError as exc:
            self._bad(exc)

    def on_rtcp(self, data: bytes) -> None:
        """Feed one RTCP datagram: sender reports of our source re-anchor the wall clock.

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer
            >>> from rtsplab.rtsp.rtcp import build_bye
            >>> rx = RtpReceiver(H264Depacketizer()); rx.on_rtcp(build_bye(1)); rx.ended
            True
        """
        try:
            packets = parse_rtcp(data)
        except ProtocolError as exc:
            self._bad(exc)
            return
        ssrc = self.assembler.ssrc
        for p in packets:
            if isinstance(p, SenderReport) and (ssrc is None or p.ssrc == ssrc):
                self.clock.on_sender_report(ntp_to_unix_ns(p.ntp), p.rtp_ts)
            elif isinstance(p, Goodbye) and (ssrc is None or ssrc in p.ssrcs):
                self.ended = True

    def pull(self) -> AccessUnit | None:
        """The next completed access unit, or None.

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer
            >>> RtpReceiver(H264Depacketizer()).pull() is None
            True
        """
        return self.assembler.pull()

    def pts_s(self, rtp_ts: int) -> float:
        """Seconds since the first unit asked about, from the unwrapped RTP timestamp.

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer
            >>> rx = RtpReceiver(H264Depacketizer()); rx.pts_s(2**32 - 9000), rx.pts_s(81_000)
            (0.0, 1.0)
        """
        ext = self._unwrap.unwrap(rtp_ts)
        if self._t0 is None:
            self._t0 = ext
        return (ext - self._t0) / self.clock_rate
