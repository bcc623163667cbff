"""The receive side of one RTP stream: bytes in, access units with timestamps out, sans-IO.

:class:`RtpReceiver` joins the parsers into the client's packet path: ``on_rtp`` takes one
RTP packet's bytes (from a ``$`` frame on the RTSP connection, or a UDP datagram),
``on_rtcp`` one RTCP datagram, and :meth:`RtpReceiver.pull` hands out completed access units.
A malformed or foreign packet is dropped and counted in :attr:`RtpReceiver.bad_packets`;
nothing a peer sends makes it raise. Sender reports re-anchor :attr:`RtpReceiver.clock`.

Packets of the stream's source pass a :class:`~rtsplab.rtsp.reorder.ReorderBuffer` before
the assembler: over UDP it puts reordered packets back in place and gives a missing one up
after a bounded wait (:meth:`RtpReceiver.poll`, at :attr:`RtpReceiver.deadline_ns`); with the
default ``max_packets=0`` (an ordered transport) a gap is a loss at once. Either way the lost
packets are counted (:attr:`RtpReceiver.lost_packets`) and the damaged access unit is dropped.
:meth:`RtpReceiver.receiver_report` builds the RTCP receiver report (RFC 3550 §6.4.2) that
tells the sender the session is alive. The caller passes the time (``now_ns``, monotonic).

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
from rtsplab.rtsp.reorder import ReorderBuffer
from rtsplab.rtsp.rtcp import (
    Goodbye,
    ReportBlock,
    SenderReport,
    build_pli,
    build_receiver_report,
    build_sdes_cname,
    ntp_to_unix_ns,
    parse_rtcp,
)
from rtsplab.rtsp.rtp import RtpPacket
from rtsplab.rtsp.timeline import TimestampUnwrapper, WallClock

__all__ = ["RtpReceiver"]


class RtpReceiver:
    """One RTP stream's packet path: parse, validate, assemble, map to wall-clock time.

    Args:
        depacketizer: the codec's depacketizer.
        payload_type: the payload type from the SDP (None: accept any).
        clock_rate: the media clock rate from the SDP.
        reorder: the reorder buffer for the source's packets (default: no waiting, for an
            ordered transport).

    Attributes:
        bad_packets: RTP and RTCP packets dropped as malformed or foreign.
        last_error: the most recent reason a packet was dropped (for logs).
        ended: the sender said BYE.
        last_timestamp: the RTP timestamp of the source's most recent packet (None before).

    Example:
        >>> from rtsplab.rtsp.h264 import H264Depacketizer
        >>> rx = RtpReceiver(H264Depacketizer()); rx.on_rtcp(b""); rx.bad_packets
        1
    """

    def __init__(
        self,
        depacketizer: Depacketizer,
        payload_type: int | None = None,
        clock_rate: int = 90_000,
        reorder: ReorderBuffer | None = None,
    ) -> None:
        self.assembler = AccessUnitAssembler(depacketizer, payload_type)
        self.reorder = reorder if reorder is not None else ReorderBuffer(max_packets=0)
        self._lost_before = 0  # counted by reorder buffers of an earlier source
        self._jitter = 0.0  # RFC 3550 interarrival jitter, in clock units
        self._transit: int | None = None
        self._last_sr: tuple[int, int] | None = None  # (middle 32 bits of its NTP time, now_ns)
        self._rr_prev = (0, 0)  # (expected, lost) at the previous report
        self._max_seq: int | None = None  # extended highest sequence number
        self._base_seq = 0
        self.clock = WallClock(clock_rate)
        self.clock_rate = clock_rate
        self._unwrap = TimestampUnwrapper()
        self._t0: int | None = None
        self.bad_packets = 0
        self.last_error = ""
        self.ended = False
        self.last_timestamp: int | None = None  # RTP timestamp of the source's latest packet

    def _bad(self, exc: ProtocolError) -> None:
        self.bad_packets += 1
        self.last_error = str(exc)

    @property
    def lost_packets(self) -> int:
        """Packets of the source given up as lost (sequence numbers that never came in time).

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer, packetize_h264
            >>> rx = RtpReceiver(H264Depacketizer())
            >>> for p in packetize_h264([b"\\x65" + bytes(3000)], 0, 0, 7)[::2]:
            ...     rx.on_rtp(p)
            >>> rx.lost_packets, rx.pull()
            (1, None)
        """
        return self._lost_before + self.reorder.lost_packets

    @property
    def overflows(self) -> int:
        """Times a cap was passed: a fragment or aggregation packet too big for the
        depacketizer, an access unit over its cap, a full reorder window. Each is also a bad
        packet or a loss; none of them grows memory.

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer
            >>> rx = RtpReceiver(H264Depacketizer(max_nal_bytes=100))
            >>> rx.on_rtp(bytes([0x80, 96, 0, 1]) + bytes(8) + b"\\x7c\\x85" + bytes(200))
            >>> rx.overflows, rx.bad_packets
            (1, 1)
        """
        depacketizer = getattr(self.assembler.depacketizer, "overflows", 0)
        return depacketizer + self.assembler.oversized_units + self.reorder.overflows

    @property
    def deadline_ns(self) -> int | None:
        """When :meth:`poll` should run next to give up a missing packet (None: no wait).

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer
            >>> RtpReceiver(H264Depacketizer()).deadline_ns is None
            True
        """
        return self.reorder.deadline_ns

    def on_rtp(self, data: bytes, now_ns: int = 0) -> None:
        """Feed one RTP packet that arrived at ``now_ns``; a bad one is counted and dropped.

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer
            >>> rx = RtpReceiver(H264Depacketizer()); rx.on_rtp(b"\\x90" + bytes(13))
            >>> rx.bad_packets, rx.last_error
            (1, 'RTP header extension header is truncated')
        """
        try:
            packet = RtpPacket.parse(data)
        except ProtocolError as exc:
            self._bad(exc)
            return
        asm = self.assembler
        if asm.ssrc is not None and packet.ssrc != asm.ssrc:
            # another source: the assembler drops it, or adopts it after a run (a restart)
            try:
                asm.push(packet)
            except ProtocolError as exc:
                self._bad(exc)
                return
            if asm.ssrc != packet.ssrc:
                return
            self._lost_before += self.reorder.lost_packets
            self.reorder = ReorderBuffer(self.reorder.max_packets, self.reorder.max_delay_ns)
            self._max_seq = None
            return
        # A packet of our source with another payload type still takes its sequence number:
        # it goes through the reorder buffer (no false loss) and the assembler counts it bad
        # without damaging the frame around it, which it carries nothing of.
        self._note_arrival(packet, now_ns)
        self.last_timestamp = packet.timestamp
        self._assemble(self.reorder.push(packet, now_ns))

    def poll(self, now_ns: int) -> None:
        """Give up missing packets waited on long enough; their units are dropped.

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer, packetize_h264
            >>> from rtsplab.rtsp.reorder import ReorderBuffer
            >>> rx = RtpReceiver(H264Depacketizer(), reorder=ReorderBuffer(8, 20_000_000))
            >>> a, b, c = packetize_h264([b"\\x65" + bytes(3000)], 0, 0, 7)
            >>> rx.on_rtp(a, 0); rx.on_rtp(c, 0); rx.deadline_ns
            20000000
            >>> rx.poll(20_000_000); rx.lost_packets, rx.pull()
            (1, None)
        """
        self._assemble(self.reorder.poll(now_ns))

    def _assemble(self, packets: list[RtpPacket]) -> None:
        for p in packets:
            try:
                self.assembler.push(p)
            except ProtocolError as exc:
                self._bad(exc)

    def _note_arrival(self, packet: RtpPacket, now_ns: int) -> None:
        """Reception statistics for receiver reports: highest sequence number and jitter."""
        if self._max_seq is None:
            self._max_seq = self._base_seq = packet.seq
        else:
            delta = ((packet.seq - self._max_seq + 0x8000) & 0xFFFF) - 0x8000  # seq_delta
            if delta > 0:
                self._max_seq += delta
        transit = now_ns * self.clock_rate // 1_000_000_000 - packet.timestamp
        if self._transit is not None:
            d = abs(((transit - self._transit + 0x80000000) & 0xFFFFFFFF) - 0x80000000)
            self._jitter += (d - self._jitter) / 16
        self._transit = transit

    def on_rtcp(self, data: bytes, now_ns: int = 0) -> None:
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
                self._last_sr = ((p.ntp >> 16) & 0xFFFFFFFF, now_ns)
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

    def receiver_report(self, ssrc: int, now_ns: int, cname: str = "rtsplab") -> bytes:
        """A compound RTCP packet from ``ssrc``: a receiver report (with a block on the source
        once packets came) and an SDES CNAME, as RFC 3550 §6.1 asks.

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer, packetize_h264
            >>> from rtsplab.rtsp.rtcp import ReceiverReport, parse_rtcp
            >>> rx = RtpReceiver(H264Depacketizer())
            >>> for p in packetize_h264([b"\\x65" + bytes(3000)], 100, 0, 7)[::2]:
            ...     rx.on_rtp(p)
            >>> rr = parse_rtcp(rx.receiver_report(0xABC, now_ns=0))[0]
            >>> rr.ssrc, rr.reports[0].ssrc, rr.reports[0].highest_seq, rr.reports[0].cumulative_lost
            (2748, 7, 102, 1)
        """
        blocks = []
        source = self.assembler.ssrc
        if source is not None and self._max_seq is not None:
            expected = self._max_seq - self._base_seq + 1
            lost = self.lost_packets
            d_expected, d_lost = expected - self._rr_prev[0], lost - self._rr_prev[1]
            self._rr_prev = (expected, lost)
            fraction = (
                min(255, (d_lost * 256) // d_expected) if d_expected > 0 and d_lost > 0 else 0
            )
            last_sr, dlsr = 0, 0
            if self._last_sr is not None:
                last_sr = self._last_sr[0]
                dlsr = max(0, (now_ns - self._last_sr[1]) * 65536 // 1_000_000_000)
            blocks.append(
                ReportBlock(
                    source,
                    fraction,
                    min(lost, 0x7FFFFF),
                    self._max_seq & 0xFFFFFFFF,
                    int(self._jitter),
                    last_sr,
                    dlsr,
                )
            )
        return build_receiver_report(ssrc, blocks) + build_sdes_cname(ssrc, cname)

    def picture_loss_report(self, ssrc: int, now_ns: int) -> bytes:
        """:meth:`receiver_report` followed by a PLI asking the source for a keyframe: the
        compound packet RFC 4585 §3.1 wants a feedback message sent in.

        Example:
            >>> from rtsplab.rtsp.h264 import H264Depacketizer, packetize_h264
            >>> from rtsplab.rtsp.rtcp import parse_rtcp
            >>> rx = RtpReceiver(H264Depacketizer())
            >>> for p in packetize_h264([b"\\x65" + bytes(3000)], 100, 0, 7)[::2]:
            ...     rx.on_rtp(p)
            >>> [type(p).__name__ for p in parse_rtcp(rx.picture_loss_report(0xABC, 0))]
            ['ReceiverReport', 'SourceDescription', 'KeyframeRequest']
            >>> parse_rtcp(rx.picture_loss_report(0xABC, 0))[-1].media_ssrc
            7
        """
        return self.receiver_report(ssrc, now_ns) + build_pli(ssrc, self.assembler.ssrc or 0)

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
