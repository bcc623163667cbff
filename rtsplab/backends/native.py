"""rtsplab's own RTSP client: RTP over TCP, access units completed on the RTP marker bit.

Why a third backend: FFmpeg's RTSP demuxer (inside OpenCV and PyAV alike) feeds RTP
payloads through its H.264 *parser*, which only knows a frame has ended when the first
packet of the *next* frame arrives. Every frame therefore waits one frame period (33 ms at
30 fps, 100 ms at 10 fps) before it can be decoded. RFC 6184 already marks the last packet
of each access unit with the RTP marker bit; this backend uses it, hands the complete access
unit straight to FFmpeg's H.264 decoder (via PyAV, one thread, low-delay flag) and so
returns each frame about one frame period earlier than any FFmpeg-demuxer reader.

Scope: H.264 (packetization-mode 0/1: single NAL, STAP-A, FU-A) over interleaved TCP, with
Basic/Digest auth, RTCP sender reports for the wall clock, and ``GET_PARAMETER`` keep-alives.
Cameras that refuse TCP, or send H.265, need ``backend="pyav"`` or ``"opencv"``.

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
import functools
import logging
import time
from typing import Any

import av

from rtsplab.backends.base import Backend, DecodedFrame, OpenOptions, Profile, StreamInfo, now_ns
from rtsplab.backends.yuv import luma_plane, to_bgr
from rtsplab.entities import Transport
from rtsplab.errors import (
    OpenTimeout,
    ProtocolError,
    ReadTimeout,
    StreamClosed,
    UnsupportedStream,
)
from rtsplab.rtsp.assembler import AccessUnit
from rtsplab.rtsp.h264 import H264Depacketizer, sprop_parameter_sets
from rtsplab.rtsp.messages import InterleavedFrame, RtspResponse, parse_rtp_info, parse_session
from rtsplab.rtsp.receiver import RtpReceiver
from rtsplab.rtsp.sdp import join_control, parse_sdp
from rtsplab.rtsp.transport import parse_transport
from rtsplab.rtsp_client import RtspClient, status_error
from rtsplab.urls import RtspUrl

__all__ = ["NativeBackend"]

log = logging.getLogger("rtsplab.native")


class NativeBackend(Backend):
    """RTSP/RTP-over-TCP client decoding each access unit as soon as its last packet lands.

    Raises:
        AuthError, NotFound, ConnectError, OpenTimeout, UnsupportedStream, ProtocolError:
            when the open fails.

    Example:
        >>> with NativeBackend(RtspUrl.parse("rtsp://127.0.0.1:8554/cam1"), OpenOptions()) as b:  # doctest: +SKIP
        ...     print(b.read().t_rtcp_ns is not None, b.bad_packets)
        True 0
    """

    name = "native"
    resumable = True
    transports = (Transport.TCP,)

    def __init__(self, url: RtspUrl, options: OpenOptions) -> None:
        super().__init__(url, options)
        if Transport(options.transport) is Transport.UDP:
            raise UnsupportedStream(
                f"{url.redacted}: the native backend reads RTP over TCP only; use backend='pyav' for UDP"
            )
        self._keepalive_s = 30.0
        self._next_keepalive = 0.0
        self._rtp_channel, self._rtcp_channel = 0, 1
        self._rx = RtpReceiver(H264Depacketizer())
        t0 = time.monotonic_ns()
        self._client: RtspClient | None = RtspClient(url, options.open_timeout_s)
        try:
            self._handshake(self._client, time.monotonic() + options.open_timeout_s)
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
        return self._rx.bad_packets

    # ---- RTSP ------------------------------------------------------------------------------
    def _check(self, resp: RtspResponse, what: str) -> None:
        error = status_error(self.url, resp, what, transport="TCP")
        if error is not None:
            raise error

    def _handshake(self, client: RtspClient, deadline: float) -> None:
        base = self.url.without_credentials()
        resp = client.request("DESCRIBE", base, [("Accept", "application/sdp")], deadline)
        self._check(resp, "DESCRIBE")
        try:
            sdp = parse_sdp(resp.body)
        except ProtocolError as exc:
            raise ProtocolError(f"{self.url.redacted}: unreadable SDP ({exc})") from None
        video = sdp.video()
        codec = video.encoding if video is not None else None
        if video is None or codec != "H264":
            raise UnsupportedStream(
                f"{self.url.redacted}: the native backend decodes H.264 only, this stream is "
                f"{codec or 'not video'}; use backend='pyav'"
            )
        content_base = resp.get("content-base") or resp.get("content-location") or base
        track_url = join_control(content_base, video.control)
        transport = [("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")]
        resp = client.request("SETUP", track_url, transport, deadline)
        self._check(resp, "SETUP")
        with contextlib.suppress(ProtocolError):  # keep the default channels if unreadable
            offered = parse_transport(resp.get("transport") or "")
            if offered and offered[0].interleaved is not None:  # the server may pick others
                self._rtp_channel, self._rtcp_channel = offered[0].interleaved
        session_value = resp.get("session")
        if session_value is not None:
            try:
                session = parse_session(session_value)
            except ProtocolError as exc:
                raise ProtocolError(f"{self.url.redacted}: SETUP answered {exc}") from None
            client.session = session.id
            self._keepalive_s = session.keepalive_s
        resp = client.request(
            "PLAY", join_control(content_base, sdp.control), [("Range", "npt=0.000-")], deadline
        )
        self._check(resp, "PLAY")
        self._next_keepalive = time.monotonic() + self._keepalive_s
        self._rx = RtpReceiver(H264Depacketizer(), video.payload_type, video.clock_rate)
        infos = parse_rtp_info(resp.get("rtp-info") or "")
        ours = [i for i in infos if i.url and track_url.endswith(i.url.split("://")[-1])]
        info = ours[0] if ours else infos[0] if len(infos) == 1 else None
        if info is not None and info.seq is not None:
            self._rx.assembler.expect_first_seq(info.seq)
        try:
            parameter_sets = sprop_parameter_sets(video.fmtp)
        except ProtocolError as exc:  # in-band SPS/PPS will do
            log.info("%s: ignoring sprop-parameter-sets (%s)", self.url.redacted, exc)
            parameter_sets = []
        self._decoder = self._make_decoder(parameter_sets)
        self.info = StreamInfo("h264", 0, 0, video.framerate or 0.0)

    def _make_decoder(self, parameter_sets: list[bytes]) -> Any:
        decoder: Any = av.CodecContext.create("h264", "r")
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
        try:
            frames = self._decoder.decode(av.Packet(au.annexb()))
        except av.error.FFmpegError:
            return None  # e.g. a P-frame before the first keyframe: skip it
        if not frames:
            return None
        frame = frames[-1]
        if not self.info.width:
            self.info = StreamInfo("h264", frame.width, frame.height, self.info.fps)
        return DecodedFrame(
            t_recv_ns=now_ns(),
            convert=functools.partial(to_bgr, frame),
            luma=functools.partial(luma_plane, frame),
            pts_s=self._rx.pts_s(au.timestamp),
            t_rtcp_ns=self._rx.clock.wall_ns(au.timestamp),
        )

    def _feed(self, item: InterleavedFrame) -> None:
        if item.channel == self._rtp_channel:
            self._rx.on_rtp(item.payload)
        elif item.channel == self._rtcp_channel:
            self._rx.on_rtcp(item.payload)

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
            while (au := self._rx.pull()) is not None:
                decoded = self._decode(au)
                if decoded is not None:
                    return decoded
            if time.monotonic() >= self._next_keepalive:
                self._next_keepalive = time.monotonic() + self._keepalive_s
                with contextlib.suppress(OSError):
                    client.send("GET_PARAMETER", self.url.without_credentials(), [])
            try:
                item = client.next_item(deadline)
            except TimeoutError:
                raise ReadTimeout(
                    f"{self.url.redacted}: no frame for {self.options.read_timeout_s:g} s; "
                    "the camera stalled or the network dropped"
                ) from None
            except ProtocolError as exc:
                raise StreamClosed(f"{self.url.redacted}: broken RTSP stream ({exc})") from None
            if isinstance(item, InterleavedFrame):
                self._feed(item)

    def interrupt(self) -> None:
        """Unblock a ``read()`` waiting in another thread (shuts the socket down).

        Example:
            >>> NativeBackend.interrupt.__name__
            'interrupt'
        """
        client = getattr(self, "_client", None)
        if client is not None:
            client.interrupt()

    def close(self) -> None:
        """Send TEARDOWN (best effort) and close the connection. Idempotent.

        Example:
            >>> backend.close(); backend.close()  # doctest: +SKIP
        """
        client, self._client = getattr(self, "_client", None), None
        if client is not None:
            client.close()

    def __enter__(self) -> NativeBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
