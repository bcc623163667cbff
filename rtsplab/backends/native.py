"""rtsplab's own RTSP client: RTP over TCP or UDP, access units completed on the marker bit.

Why a third backend: FFmpeg's RTSP demuxer (inside OpenCV and PyAV alike) feeds RTP
payloads through its H.264 *parser*, which only knows a frame has ended when the first
packet of the *next* frame arrives. Every frame therefore waits one frame period (33 ms at
30 fps, 100 ms at 10 fps) before it can be decoded. RFC 6184 already marks the last packet
of each access unit with the RTP marker bit; this backend uses it, hands the complete access
unit straight to FFmpeg's H.264 decoder (via PyAV, one thread, low-delay flag) and so
returns each frame about one frame period earlier than any FFmpeg-demuxer reader.

Scope: H.264 (RFC 6184: single NAL, STAP-A, FU-A) and H.265 (RFC 7798: single NAL, AP, FU),
picked from the SDP ``rtpmap``, with the parameter sets of ``sprop-parameter-sets`` or
``sprop-vps/sps/pps`` as decoder extradata (in-band ones when absent); RTP over interleaved
TCP or over UDP (a client port pair); ``rtsps://`` (TLS, port 322 unless given; RTP
interleaved inside it; see :mod:`rtsplab.backends.rtsp_client` for certificate checks);
RTCP sender reports for the wall clock and receiver reports back every
:data:`RR_INTERVAL_S`, sent only to the server the session is with (the clock is always the
video's: a stream's audio and metadata tracks are set up too, their RTP dropped unread and
their RTCP answered, because a server may not send the video's sender reports while a track
is not set up). The RTSP protocol itself (Basic/Digest auth, 3xx redirects at DESCRIBE up to
:data:`MAX_REDIRECTS`, keep-alive, requests from the server, TEARDOWN) is the sans-IO
:mod:`rtsplab.rtsp.session`; this module moves its bytes and decodes. Other codecs answer
:class:`~rtsplab.errors.UnsupportedStream`, so ``backend="auto"`` moves on to PyAV.

Over UDP, packets pass a reorder buffer bounded by :data:`REORDER_PACKETS` and
:data:`REORDER_DELAY_MS`: a packet still missing then is a loss, the access unit it belonged
to is dropped at once and decoding resumes at the next keyframe, so no picture is ever
decoded from a unit with a hole (FFmpeg's demuxer waits up to ``max_delay`` for it, then
decodes what it has: a late, smeared picture). Lost packets are counted
(:attr:`NativeBackend.lost_packets`). While it waits for that keyframe the client asks the
camera for one with an RTCP Picture Loss Indication (RFC 4585, compound with a receiver
report), at most once per :data:`PLI_INTERVAL_S`, so a loss costs a few frames rather than
the rest of the GOP (counted in :attr:`NativeBackend.keyframe_requests`).

This module is only I/O and decoding: the wire formats, the access-unit assembly and the
clocks are :mod:`rtsplab.rtsp` (one :class:`~rtsplab.rtsp.receiver.RtpReceiver` per stream,
which a UDP socket pair could feed as well). A malformed packet is dropped and counted
(:attr:`NativeBackend.bad_packets`); a connection that stops speaking RTSP ends the backend
with :class:`~rtsplab.errors.StreamClosed`, so a reader with ``reconnect=True`` reopens.

Example:
    >>> with rtsplab.open("rtsp://127.0.0.1:8554/cam1", backend="native") as r:  # doctest: +SKIP
    ...     print(r.read_frame().age_ms)
"""

from __future__ import annotations

import contextlib
import fractions
import functools
import logging
import os
import select
import socket
import time
from typing import Any

import av

from rtsplab.backends.base import Backend, DecodedFrame, OpenOptions, Profile, StreamInfo, now_ns
from rtsplab.backends.diagnosis import status_error
from rtsplab.backends.rtsp_client import RtspClient, TlsOptions
from rtsplab.backends.udp import UdpPortPair
from rtsplab.backends.yuv import luma_plane, to_bgr
from rtsplab.entities import Transport
from rtsplab.errors import (
    OpenTimeout,
    ProtocolError,
    ReadTimeout,
    StreamClosed,
    UnsupportedStream,
)
from rtsplab.rtsp.assembler import AccessUnit, Depacketizer
from rtsplab.rtsp.h264 import H264Depacketizer, sprop_parameter_sets
from rtsplab.rtsp.h265 import H265Depacketizer, parse_h265_fmtp
from rtsplab.rtsp.messages import InterleavedFrame, RtspResponse, parse_rtp_info
from rtsplab.rtsp.overload import CatchUp
from rtsplab.rtsp.receiver import RtpReceiver
from rtsplab.rtsp.reorder import ReorderBuffer
from rtsplab.rtsp.rtcp import build_receiver_report, build_sdes_cname
from rtsplab.rtsp.sdp import MediaDescription, SessionDescription, join_control, parse_sdp
from rtsplab.rtsp.session import Event, Redirect, Reply, ServerRequest, SetUp
from rtsplab.urls import RtspUrl

__all__ = [
    "MAX_REDIRECTS",
    "PLI_INTERVAL_S",
    "REORDER_DELAY_MS",
    "REORDER_PACKETS",
    "RR_INTERVAL_S",
    "NativeBackend",
]

MAX_REDIRECTS = 3
RR_INTERVAL_S = 1.0  # receiver reports: cameras drop a UDP session that stops sending them
# The reorder wait over UDP: long enough for a packet merely reordered (well under a ms on a
# LAN, a few ms over Wi-Fi), short enough that a lost one costs little age.
REORDER_PACKETS = 64
REORDER_DELAY_MS = 20
# Keyframe requests repeat at most this often while the decoder waits: a few round trips on a
# LAN, long enough for the camera's keyframe to arrive before asking again.
PLI_INTERVAL_S = 0.1
# Access units in the decoder whose picture has not come out yet (B-frames hold two or three);
# past this, the oldest are forgotten (the decoder dropped them).
MAX_PENDING_PICTURES = 32
# A decoder that falls behind skips to the next keyframe (rtsplab.rtsp.overload). Asking the
# camera for that keyframe at once (a PLI) would shorten the wait, but under CPU overload the
# keyframes are the frames still decoded, and the biggest: more of them feed the overload.
# Measured, 128 x 640x360 readers of one simulated camera on a busy 2-core machine: with the
# PLI, frame age p50 4.3 s / max 23 s (the camera made an IDR every 50 ms for everyone);
# without, 0.9 s / 1.7 s. So off by default; the code path stays for cameras that are not
# shared and a CPU that is merely busy.
OVERLOAD_PLI = False
# Before decoding, read at most this much of what waits on an RTSP connection (one recv of
# 64 KiB each): the newest packet then tells how far behind the decoder is.
DRAIN_BYTES = 1 << 20
# ... at most this often: each read of the socket is a few system calls that release and take
# back the interpreter lock, which past the knee costs more than the packets themselves.
DRAIN_INTERVAL_S = 0.1
# Overloaded (rtsplab.rtsp.overload), over TCP: read the socket in batches, every
# DRAIN_INTERVAL_S, instead of waking whenever data comes (about once a frame). Past the knee
# the interpreter lock is the bottleneck and each wake-up takes it: a hand-off between 128
# threads costs more than the work the data brings, and the application's thread, which takes
# the frames, waits its turn behind them all (one group read_set of 128 frames took 10-11 s,
# so a 5 s window saw one set). Measured, 128 x 640x360 readers of one simulated camera,
# batching off and on in alternate 3 s periods of one run on a busy 2-core machine (load
# average 8-32): read_set 7.7 -> 29.6 sets/s back to back (0.67 -> 2.33 with 100 ms between
# sets), the same ages.
BATCH_WHEN_OVERLOADED = True
# SDP encoding name -> (depacketizer, PyAV decoder)
CODECS = {"H264": "h264", "H265": "hevc", "HEVC": "hevc"}

log = logging.getLogger("rtsplab.native")


@functools.lru_cache(maxsize=8)
def _time_base(clock_rate: int) -> fractions.Fraction:
    """``1/clock_rate``, made once per rate rather than once per packet."""
    return fractions.Fraction(1, clock_rate)


class NativeBackend(Backend):
    """RTSP client decoding each access unit as soon as its last packet lands (TCP or UDP).

    Raises:
        AuthError, NotFound, ConnectError, OpenTimeout, UnsupportedStream, ProtocolError:
            when the open fails.

    Example:
        >>> with NativeBackend(RtspUrl.parse("rtsp://127.0.0.1:8554/cam1"), OpenOptions()) as b:  # doctest: +SKIP
        ...     print(b.read().t_rtcp_ns is not None, b.bad_packets, b.lost_packets)
        True 0 0
    """

    name = "native"
    resumable = True
    transports = (Transport.TCP, Transport.UDP)

    def __init__(self, url: RtspUrl, options: OpenOptions) -> None:
        super().__init__(url, options)
        self._udp_mode = Transport(options.transport) is Transport.UDP
        self._next_rr = 0.0
        self._next_pli = 0.0
        self.keyframe_requests = 0  # PLIs sent
        self._want_keyframe = False  # decoding fell behind: one PLI
        self._next_drain = 0.0
        self._catchup_ssrc: int | None = None
        self.catchup = CatchUp()
        self._ssrc = int.from_bytes(os.urandom(4), "big")
        self._rtp_channel, self._rtcp_channel = 0, 1
        self._other_rtcp_channels: list[int] = []  # audio/metadata tracks set up (TCP)
        self._other_udp: list[UdpPortPair] = []  # the same, over UDP
        self._udp: UdpPortPair | None = None
        self._wake_r, self._wake_w = socket.socketpair()  # interrupt() wakes a waiting read
        self._wake_r.setblocking(False)
        self._media_url = url  # where the stream is, after redirects
        self._tls = TlsOptions(options.tls_verify, options.tls_fingerprint)
        self._rx = RtpReceiver(H264Depacketizer())
        # packet PTS (ticks) -> (RTP timestamp, camera capture time) of the units in the decoder
        self._pending_ts: dict[int, tuple[int, int | None]] = {}
        t0 = time.monotonic_ns()
        self._client: RtspClient | None = None
        try:
            self._client = RtspClient(url, options.open_timeout_s, self._tls, options.tap)
            self._handshake(time.monotonic() + options.open_timeout_s)
        except TimeoutError:
            self.close()
            raise OpenTimeout(
                f"{url.redacted}: no RTSP answer within open_timeout_s={options.open_timeout_s:g}; "
                "check host, port and firewall"
            ) from None
        except BaseException:
            self.close()
            raise
        self.open_s = (time.monotonic_ns() - t0) / 1e9

    @property
    def bad_packets(self) -> int:
        """Malformed or foreign RTP/RTCP packets dropped since open.

        Example:
            >>> backend.bad_packets  # doctest: +SKIP
            0
        """
        foreign = self._udp.foreign_datagrams if self._udp is not None else 0
        return self._rx.bad_packets + foreign

    @property
    def lost_packets(self) -> int:
        """RTP packets that never arrived (or too late), since open.

        Example:
            >>> backend.lost_packets  # doctest: +SKIP
            0
        """
        return self._rx.lost_packets

    # ---- RTSP ------------------------------------------------------------------------------
    def _check(self, resp: RtspResponse, what: str) -> None:
        transport = "UDP" if self._udp_mode else "TCP"
        error = status_error(self._media_url, resp, what, transport=transport)
        if error is not None:
            raise error

    def _ask(self, client: RtspClient, what: str, deadline: float) -> Reply | SetUp | Redirect:
        """The final answer to the request just queued, its status checked (2xx, or a
        redirect)."""
        event = client.answer(deadline)
        if isinstance(event, Reply):
            self._check(event.response, what)
        return event

    def _describe(self, deadline: float) -> tuple[RtspResponse, str]:
        """DESCRIBE, following up to :data:`MAX_REDIRECTS` redirects; (answer, request URL)."""
        for _ in range(MAX_REDIRECTS + 1):
            client = self._client
            assert client is not None
            client.session.describe()
            event = self._ask(client, "DESCRIBE", deadline)
            if isinstance(event, Reply):
                return event.response, client.session.url
            if not isinstance(event, Redirect):
                raise ProtocolError(f"{self.url.redacted}: DESCRIBE answered a SETUP reply")
            try:
                target = RtspUrl.parse(event.location)
            except ValueError:
                raise ProtocolError(
                    f"{self.url.redacted}: DESCRIBE redirected to an unreadable Location"
                ) from None
            here = self._media_url
            if event.same_origin and target.username is None and here.username is not None:
                # the same scheme, host and port: the same account; never to another server
                target = RtspUrl(
                    target.scheme,
                    target.host,
                    target.port,
                    target.path,
                    here.username,
                    here.password,
                )
            log.info("%s: redirected to %s", self.url.redacted, target.redacted)
            client.close(teardown=False)
            self._client = None
            self._media_url = target
            left_s = max(0.05, deadline - time.monotonic())
            self._client = RtspClient(target, left_s, self._tls, self.options.tap)
        raise ProtocolError(
            f"{self.url.redacted}: more than {MAX_REDIRECTS} redirects at DESCRIBE; "
            f"the last pointed to {self._media_url.redacted}"
        )

    def _handshake(self, deadline: float) -> None:
        resp, base = self._describe(deadline)
        client = self._client
        assert client is not None
        try:
            sdp = parse_sdp(resp.body)
        except ProtocolError as exc:
            raise ProtocolError(f"{self.url.redacted}: unreadable SDP ({exc})") from None
        video = sdp.video()
        codec = video.encoding if video is not None else None
        if video is None or codec not in CODECS:
            raise UnsupportedStream(
                f"{self.url.redacted}: the native backend decodes H.264 and H.265, this stream "
                f"is {codec or 'not video'}; use backend='pyav'"
            )
        depacketizer, extradata = self._codec(video)
        content_base = resp.get("content-base") or resp.get("content-location") or base
        track_url = join_control(content_base, video.control)
        try:
            if self._udp_mode:
                self._setup_udp(client, track_url, deadline)
            else:
                self._setup_tcp(client, track_url, deadline)
            self._setup_other_tracks(client, sdp, video, content_base, deadline)
            client.session.play(join_control(content_base, sdp.control))
            event = self._ask(client, "PLAY", deadline)
        except ProtocolError as exc:
            raise ProtocolError(f"{self._media_url.redacted}: {exc}") from None
        assert isinstance(event, Reply)
        resp = event.response
        client.session.tick(time.monotonic())  # the keep-alive clock starts now
        self._next_rr = time.monotonic() + RR_INTERVAL_S
        reorder = (
            ReorderBuffer(REORDER_PACKETS, REORDER_DELAY_MS * 1_000_000)
            if self._udp_mode
            else ReorderBuffer(max_packets=0)  # TCP keeps the order: a gap is a loss at once
        )
        self._rx = RtpReceiver(depacketizer, video.payload_type, video.clock_rate, reorder)
        infos = parse_rtp_info(resp.get("rtp-info") or "")
        ours = [i for i in infos if i.url and track_url.endswith(i.url.split("://")[-1])]
        info = ours[0] if ours else infos[0] if len(infos) == 1 else None
        if info is not None and info.seq is not None:
            self._rx.assembler.expect_first_seq(info.seq)
        self._decoder = self._make_decoder(CODECS[codec], extradata)
        self.info = StreamInfo(CODECS[codec], 0, 0, video.framerate or 0.0)
        if self._udp is not None:  # open the path through NATs and say hello
            self._udp.send_rtcp(self._rx.receiver_report(self._ssrc, time.monotonic_ns()))

    def _codec(self, video: MediaDescription) -> tuple[Depacketizer, list[bytes]]:
        """The depacketizer and the out-of-band parameter sets (empty: in-band ones will do)."""
        if video.encoding == "H264":
            try:
                return H264Depacketizer(), sprop_parameter_sets(video.fmtp)
            except ProtocolError as exc:
                log.info("%s: ignoring sprop-parameter-sets (%s)", self.url.redacted, exc)
                return H264Depacketizer(), []
        fmtp = video.fmtps.get(video.payload_type or -1, "")
        try:
            sets = parse_h265_fmtp(fmtp)
        except ProtocolError as exc:
            log.info("%s: ignoring sprop-vps/sps/pps (%s)", self.url.redacted, exc)
            return H265Depacketizer(), []
        return H265Depacketizer(donl=sets.max_don_diff > 0), sets.nals

    def _setup_tcp(self, client: RtspClient, track_url: str, deadline: float) -> None:
        client.session.setup(track_url, "RTP/AVP/TCP;unicast;interleaved=0-1")
        event = self._ask(client, "SETUP", deadline)
        if isinstance(event, SetUp) and event.interleaved is not None:  # the server may pick
            self._rtp_channel, self._rtcp_channel = event.interleaved  # others (0-255, checked)

    def _setup_other_tracks(
        self,
        client: RtspClient,
        sdp: SessionDescription,
        video: MediaDescription,
        content_base: str,
        deadline: float,
    ) -> None:
        """SETUP the audio and metadata tracks too, after the video, on the same transport.

        A server may not deliver the video's RTCP sender reports while the media's other
        tracks are not set up (gst-rtsp-server mostly does not), leaving no wall clock. Their
        RTP is read and dropped (TCP: channels after the video's; UDP: a port pair each; a
        session capture records it); their RTCP is answered with receiver reports. A refused
        SETUP is ignored: the video plays.
        """
        channel = max(self._rtp_channel, self._rtcp_channel) + 1
        channel += channel % 2
        for media in sdp.media:
            if media is video or media.media == "video" or media.control is None:
                continue
            pair: UdpPortPair | None = None
            host = self._udp.server if self._udp is not None else None
            if host is not None:
                try:
                    pair = UdpPortPair(host, tap=self.options.tap)  # a capture sees them too
                except OSError:
                    return
                rtp_port, rtcp_port = pair.ports
                value = f"RTP/AVP;unicast;client_port={rtp_port}-{rtcp_port}"
            else:
                value = f"RTP/AVP/TCP;unicast;interleaved={channel}-{channel + 1}"
            url = join_control(content_base, media.control)
            client.session.setup(url, value)
            try:
                event = client.answer(deadline)
            except ProtocolError as exc:  # a bad Transport for a track we do not read
                event = None
                log.info("%s: SETUP of a %s track: %s", self.url.redacted, media.media, exc)
            if not isinstance(event, SetUp):
                if isinstance(event, Reply):
                    log.info(
                        "%s: SETUP of a %s track: %s",
                        self.url.redacted, media.media, event.response.status,
                    )  # fmt: skip
                if pair is not None:
                    pair.close()
                continue
            transport = event.transport
            if pair is not None and host is not None:  # RTCP only to the server, whatever
                pair.set_server(host, transport.server_port if transport else None)  # source=
                self._other_udp.append(pair)
                continue
            rtcp_channel = channel + 1
            if event.interleaved is not None:
                rtcp_channel = event.interleaved[1]
            self._other_rtcp_channels.append(rtcp_channel)
            channel += 2

    def _setup_udp(self, client: RtspClient, track_url: str, deadline: float) -> None:
        sock = client.sock
        assert sock is not None
        peer = str(sock.getpeername()[0])
        try:
            self._udp = UdpPortPair(peer, tap=self.options.tap)
        except OSError as exc:
            raise UnsupportedStream(f"{self.url.redacted}: no UDP port pair free ({exc})") from None
        rtp_port, rtcp_port = self._udp.ports
        client.session.setup(track_url, f"RTP/AVP;unicast;client_port={rtp_port}-{rtcp_port}")
        event = self._ask(client, "SETUP", deadline)
        transport = event.transport if isinstance(event, SetUp) else None
        if transport is not None and transport.tcp:
            raise UnsupportedStream(
                f"{self.url.redacted}: asked for RTP over UDP, the server set up TCP"
            )
        source = transport.param("source") if transport is not None else None
        if source and source != peer:  # RTCP (reports, keyframe requests) goes to the peer
            log.info("%s: ignoring SETUP source=%s (not the server)", self.url.redacted, source)
        self._udp.set_server(peer, transport.server_port if transport is not None else None)

    def _make_decoder(self, codec: str, parameter_sets: list[bytes]) -> Any:
        decoder: Any = av.CodecContext.create(codec, "r")
        threads = self.options.threads
        if threads > 0:
            decoder.thread_count = threads
            decoder.thread_type = "SLICE"
        if self.options.profile == Profile.LOW_LATENCY:
            decoder.flags |= av.codec.context.Flags.low_delay
        if parameter_sets:
            decoder.extradata = b"".join(b"\x00\x00\x00\x01" + p for p in parameter_sets)
        return decoder

    # ---- RTP -------------------------------------------------------------------------------
    def _decode(self, au: AccessUnit) -> DecodedFrame | None:
        """Decode one access unit; the picture that comes out carries its *own* time.

        With B-frames (or any decoder delay) the picture a unit releases is an earlier one
        in display order: the unit's unwrapped RTP timestamp goes in as the packet's PTS, the
        decoder carries it to the picture it belongs to, and that PTS, mapped back to its RTP
        timestamp, gives the picture's RTCP wall-clock time (and its own camera capture time).
        """
        rate = self._rx.clock_rate
        ticks = round(self._rx.pts_s(au.timestamp) * rate)  # exact: an integer tick count
        pending = self._pending_ts
        pending[ticks] = (au.timestamp, au.t_capture_ns)
        while len(pending) > MAX_PENDING_PICTURES:  # units the decoder dropped: forget them
            del pending[next(iter(pending))]
        packet = av.Packet(au.annexb())
        packet.pts = ticks
        packet.time_base = _time_base(rate)
        try:
            frames = self._decoder.decode(packet)
        except av.error.FFmpegError:
            return None  # e.g. a P-frame before the first keyframe: skip it
        if not frames:
            return None
        frame = frames[-1]  # the newest, if a unit released several
        for older in frames[:-1]:
            pending.pop(older.pts, None)
        own = frame.pts if frame.pts is not None else ticks
        rtp_ts, t_camera_ns = pending.pop(own, (au.timestamp, au.t_capture_ns))
        if not self.info.width:
            self.info = StreamInfo(self.info.codec, frame.width, frame.height, self.info.fps)
        return DecodedFrame(
            t_recv_ns=now_ns(),
            convert=functools.partial(to_bgr, frame),
            luma=functools.partial(luma_plane, frame),
            pts_s=own / rate,
            t_rtcp_ns=self._rx.clock.wall_ns(rtp_ts),
            t_camera_ns=t_camera_ns,
        )

    def _housekeeping(self, client: RtspClient) -> None:
        """Keep-alive, receiver reports and keyframe requests, when due."""
        now = time.monotonic()
        session = client.session
        keepalive_s = session.next_keepalive_s
        if keepalive_s is None or now >= keepalive_s:
            session.tick(now)  # a keep-alive when due (GET_PARAMETER, else OPTIONS)
            with contextlib.suppress(OSError, StreamClosed):
                client.flush()
        report = None
        wants = self._rx.assembler.waiting_for_keyframe or self._want_keyframe
        if wants and now >= self._next_pli:
            self._next_pli = now + PLI_INTERVAL_S
            self._want_keyframe = False
            self.keyframe_requests += 1
            report = self._rx.picture_loss_report(self._ssrc, time.monotonic_ns())
        elif now >= self._next_rr:
            report = self._rx.receiver_report(self._ssrc, time.monotonic_ns())
        if report is None:
            return
        self._next_rr = now + RR_INTERVAL_S  # a PLI's compound packet carries a report too
        # the other tracks: a report without report blocks (nothing is read there)
        other = build_receiver_report(self._ssrc) + build_sdes_cname(self._ssrc, "rtsplab")
        if self._udp is not None:
            self._udp.send_rtcp(report)
            for pair in self._other_udp:
                pair.send_rtcp(other)
        else:
            with contextlib.suppress(OSError, StreamClosed, ProtocolError):
                client.send_interleaved(self._rtcp_channel, report)
                for channel in self._other_rtcp_channels:
                    client.send_interleaved(channel, other)

    def _on_events(self, events: list[Event]) -> None:
        """:meth:`_on_event` for each; the video's RTP, nearly all of them, straight in."""
        rx, rtp_channel = self._rx, self._rtp_channel
        for event in events:
            if isinstance(event, InterleavedFrame) and event.channel == rtp_channel:
                rx.on_rtp(event.payload)
            else:
                self._on_event(event)

    def _on_event(self, event: Event) -> None:
        """An event of the playing session: RTP/RTCP to the receiver; the rest is logged."""
        if isinstance(event, InterleavedFrame):
            channel = event.channel
            if channel == self._rtp_channel:
                self._rx.on_rtp(event.payload)
            elif channel == self._rtcp_channel:
                self._rx.on_rtcp(event.payload, time.monotonic_ns())
        elif isinstance(event, ServerRequest):
            log.debug("%s: answered the server's %s", self.url.redacted, event.request.method)

    def read(self) -> DecodedFrame:
        """Return the next decoded frame, as soon as its access unit is complete.

        Raises:
            ReadTimeout: no frame within ``read_timeout_s``.
            StreamClosed: the server closed the connection or stopped speaking RTSP.

        Example:
            >>> backend.read().pts_s  # doctest: +SKIP
            0.0
        """
        client = self._client
        if client is None:
            raise StreamClosed(f"{self.url.redacted}: the connection is closed")
        deadline = time.monotonic() + self.options.read_timeout_s
        while True:
            # how far behind decoding is, for the guard (without it, nothing to drain for)
            if self.catchup is not None and time.monotonic() >= self._next_drain:
                self._next_drain = time.monotonic() + DRAIN_INTERVAL_S
                self._drain(client)
            while (au := self._rx.pull()) is not None:
                if not self._admit(au, client):
                    continue  # behind: skipped undecoded, on to the next keyframe
                decoded = self._decode(au)
                if decoded is not None:
                    return decoded
            if self._client is None:
                raise StreamClosed(f"{self.url.redacted}: the connection is closed")
            self._housekeeping(client)
            if self._batch_wait(deadline):
                continue  # overloaded: the socket is read in batches, at the next drain
            try:
                if self._udp is not None:
                    self._wait_udp(client, self._udp, deadline)
                else:
                    self._wait_tcp(client, deadline)
            except TimeoutError:
                raise ReadTimeout(
                    f"{self.url.redacted}: no frame for {self.options.read_timeout_s:g} s; "
                    "the camera stalled or the network dropped"
                ) from None
            except ProtocolError as exc:
                raise StreamClosed(f"{self.url.redacted}: broken RTSP stream ({exc})") from None

    def _admit(self, au: AccessUnit, client: RtspClient) -> bool:
        """Whether to decode ``au``; False skips it: decoding is behind (see
        :mod:`rtsplab.rtsp.overload`). A fall behind asks the camera for a keyframe."""
        guard = self.catchup
        if guard is None:  # the reader wants every frame
            return True
        if au.ssrc != self._catchup_ssrc:  # a new source (the camera restarted): new times
            self._catchup_ssrc = au.ssrc
            guard.restart()
        episodes = guard.episodes
        pending = True  # asked only when a lagging keyframe might re-anchor the baseline
        if au.keyframe and guard.behind:
            pending = self._rx.assembler.ready > 0 or self._readable(client)
        last = self._rx.last_timestamp
        admitted = guard.admit(
            keyframe=au.keyframe,
            media_ns=int(self._rx.pts_s(au.timestamp) * 1e9),
            now_ns=time.monotonic_ns(),
            newest_ns=None if last is None else int(self._rx.pts_s(last) * 1e9),
            pending=pending,
        )
        if guard.episodes != episodes and OVERLOAD_PLI:
            self._next_pli = 0.0  # the next housekeeping sends a PLI
            self._want_keyframe = True
        return admitted

    def _batch_wait(self, deadline: float) -> bool:
        """Overloaded, over TCP: wait (without the interpreter lock) until the next drain,
        instead of waking whenever data comes; True if it waited. See
        :data:`BATCH_WHEN_OVERLOADED`. (Over UDP the wait also runs the reorder deadlines and
        reads the RTCP sockets, so it stays as it is.)"""
        guard = self.catchup
        if not BATCH_WHEN_OVERLOADED or guard is None or self._udp is not None:
            return False
        if not guard.overloaded(time.monotonic_ns()):
            return False
        wait_s = min(self._next_drain, deadline) - time.monotonic()
        if wait_s <= 0:
            return False
        try:
            woken = select.select([self._wake_r], [], [], wait_s)[0]
        except (OSError, ValueError):  # closed under us by close()
            raise StreamClosed(f"{self.url.redacted}: the connection is closed") from None
        if woken:
            with contextlib.suppress(OSError):
                self._wake_r.recv(64)
            raise StreamClosed(f"{self.url.redacted}: interrupted")
        return True

    def _drain(self, client: RtspClient) -> None:
        """Feed the receiver what already waits on the sockets, without waiting (bounded by
        :data:`DRAIN_BYTES` over TCP), so the newest packet's time is known before decoding."""
        try:
            if self._udp is not None:
                now_ns = time.monotonic_ns()
                for data in self._udp.drain(self._udp.rtp):
                    self._rx.on_rtp(data, now_ns)
                return
            for _ in range(DRAIN_BYTES // 65536):
                events = client.available()
                self._on_events(events)
                if not events or client.drained:
                    return
        except ProtocolError as exc:
            raise StreamClosed(f"{self.url.redacted}: broken RTSP stream ({exc})") from None
        except OSError:
            raise StreamClosed(f"{self.url.redacted}: the connection is closed") from None

    def _readable(self, client: RtspClient) -> bool:
        """Whether bytes are waiting on the connection or the RTP socket (no wait)."""
        if client.buffered:  # decrypted TLS bytes that select would not see
            return True
        watched: list[Any] = [s for s in (client.sock, self._udp and self._udp.rtp) if s]
        try:
            return bool(select.select(watched, [], [], 0)[0])
        except (OSError, ValueError):
            return False

    def _wait_tcp(self, client: RtspClient, deadline: float) -> None:
        """Read what the connection brings next (interleaved packets, responses): all that one
        ``recv`` made, so the loop around runs once per read rather than once per packet."""
        try:
            events = client.next_events(min(deadline, max(self._next_rr, time.monotonic() + 0.001)))
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise
            return  # a receiver report is due
        self._on_events(events)

    def _wait_udp(self, client: RtspClient, udp: UdpPortPair, deadline: float) -> None:
        """Wait (bounded) for datagrams, the RTSP connection, a reorder deadline or a wake-up."""
        now = time.monotonic()
        if now >= deadline:
            raise TimeoutError
        until = min(deadline, self._next_rr, client.session.next_keepalive_s or deadline)
        reorder_ns = self._rx.deadline_ns
        if reorder_ns is not None:
            until = min(until, reorder_ns / 1e9)
        watched: list[Any] = [udp.rtp, udp.rtcp, self._wake_r]
        for pair in self._other_udp:  # other tracks: read and dropped
            watched += [pair.rtp, pair.rtcp]
        if client.sock is not None:
            watched.append(client.sock)
        try:  # decrypted TLS bytes already read from the socket: select would not see them
            wait_s = 0.0 if client.buffered else max(0.0, until - now)
            ready, _, _ = select.select(watched, [], [], wait_s)
        except (OSError, ValueError):  # a socket closed under us by close()
            raise StreamClosed(f"{self.url.redacted}: the connection is closed") from None
        now_ns = time.monotonic_ns()
        if self._wake_r in ready:
            with contextlib.suppress(OSError):
                self._wake_r.recv(64)
            raise StreamClosed(f"{self.url.redacted}: interrupted")
        if udp.rtp in ready:
            for data in udp.drain(udp.rtp):
                self._rx.on_rtp(data, now_ns)
        if udp.rtcp in ready:
            for data in udp.drain(udp.rtcp):
                self._rx.on_rtcp(data, now_ns)
        for pair in self._other_udp:
            for sock in (pair.rtp, pair.rtcp):
                if sock in ready:
                    pair.drain(sock)
        if client.sock is not None and (client.sock in ready or client.buffered):
            for event in client.available():  # keep-alive answers; servers may send RTCP
                self._on_event(event)
        self._rx.poll(time.monotonic_ns())

    def interrupt(self) -> None:
        """Unblock a ``read()`` waiting in another thread.

        Example:
            >>> threading.Timer(0.1, backend.interrupt).start()  # doctest: +SKIP
            >>> backend.read()  # a frozen camera: StreamClosed after 0.1 s, not read_timeout_s  # doctest: +SKIP
        """
        client = getattr(self, "_client", None)
        if client is not None:
            client.interrupt()
        wake = getattr(self, "_wake_w", None)
        if wake is not None:
            with contextlib.suppress(OSError):
                wake.send(b"x")

    def close(self) -> None:
        """Send TEARDOWN (best effort) and close the connection and sockets. Idempotent.

        Example:
            >>> backend.close(); backend.close()  # doctest: +SKIP
        """
        client, self._client = getattr(self, "_client", None), None
        if client is not None:
            client.close()
        udp, self._udp = getattr(self, "_udp", None), None
        if udp is not None:
            udp.close()
        others, self._other_udp = getattr(self, "_other_udp", []), []
        for pair in others:
            pair.close()
        for name in ("_wake_r", "_wake_w"):
            sock = getattr(self, name, None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()

    def __enter__(self) -> NativeBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
