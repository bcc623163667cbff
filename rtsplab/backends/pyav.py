"""PyAV backend (``av.open``): FFmpeg with per-stream options and the RTCP wall clock.

Compared with OpenCV it passes demuxer options per stream (no environment variable), reports
*why* an open failed (401, 404, refused), exposes ``start_time_realtime`` (the RTCP sender
report's wall clock, so frame age can be measured without a timecode), and converts YUV to BGR
only for frames that are handed out.

What rtsplab sets, and why:

- ``timeout=(open_timeout_s, read_timeout_s)``: PyAV's interrupt callback bounds the open and
  every read; an expired read raises instead of blocking forever.
- ``codec_context.thread_count = 1`` / ``thread_type = "SLICE"``: no frame threading, so no
  frame of decoder delay (see :mod:`rtsplab.backends.opencv`).
- ``codec_context.flags |= LOW_DELAY``: the decoder outputs each frame as soon as it is complete.
- the demuxer options of :data:`rtsplab.backends.base.LOW_LATENCY_OPTIONS`.

Example:
    >>> PyAVBackend.name
    'pyav'
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterator
from typing import Any

import av
import av.error

from rtsplab.backends.base import Backend, DecodedFrame, OpenOptions, Profile, StreamInfo, now_ns
from rtsplab.backends.yuv import luma_plane, to_bgr
from rtsplab.errors import (
    AuthError,
    ConnectError,
    NotFound,
    OpenTimeout,
    ReadTimeout,
    RtspLabError,
    StreamClosed,
    UnsupportedStream,
)
from rtsplab.rtsp.overload import CatchUp
from rtsplab.urls import RtspUrl, scrub

__all__ = ["PyAVBackend", "map_av_error"]


def map_av_error(
    exc: BaseException, url: RtspUrl, *, opening: bool, timeout_s: float
) -> RtspLabError:
    """Translate a PyAV/FFmpeg exception into rtsplab's typed error, with a redacted message.

    Example:
        >>> e = map_av_error(av.error.HTTPNotFoundError(404, "x"), RtspUrl.parse("rtsp://h/a"),
        ...                  opening=True, timeout_s=1)
        >>> type(e).__name__
        'NotFound'
    """
    detail = scrub(str(exc), url.secrets)
    where = url.redacted
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return AuthError(
            f"{where}: the server refused the credentials (401/403); check user and password"
        )
    if isinstance(exc, av.error.HTTPNotFoundError):
        return NotFound(f"{where}: no stream at this path (404); check the path after the host")
    if isinstance(exc, ConnectionRefusedError | av.error.ConnectionRefusedError):
        return ConnectError(f"{where}: connection refused; is the server running on that port?")
    if isinstance(exc, av.error.ExitError | av.error.TimeoutError | TimeoutError):
        if opening:
            return OpenTimeout(
                f"{where}: no answer within open_timeout_s={timeout_s:g}; check host, port and firewall"
            )
        return ReadTimeout(
            f"{where}: no frame within read_timeout_s={timeout_s:g}; the camera stalled"
        )
    if isinstance(exc, av.error.DecoderNotFoundError):
        return UnsupportedStream(f"{where}: cannot decode this stream ({detail})")
    if isinstance(exc, av.error.EOFError | EOFError | StopIteration):
        return StreamClosed(f"{where}: the stream ended")
    if opening:  # unexplained: open_backend asks the server why (see rtsplab.backends.diagnosis)
        return StreamClosed(f"{where}: could not open ({type(exc).__name__}: {detail})")
    return StreamClosed(f"{where}: the stream failed ({type(exc).__name__}: {detail})")


class PyAVBackend(Backend):
    """A stream opened with ``av.open(url, options=..., timeout=(open_s, read_s))``.

    Raises:
        AuthError, NotFound, ConnectError, OpenTimeout, UnsupportedStream: when the open fails.

    Example:
        >>> PyAVBackend(RtspUrl.parse("rtsp://127.0.0.1:8554/cam1"), OpenOptions())  # doctest: +SKIP
    """

    name = "pyav"

    def __init__(self, url: RtspUrl, options: OpenOptions) -> None:
        super().__init__(url, options)
        self._lock = threading.Lock()
        t0 = time.monotonic_ns()
        try:
            container: Any = av.open(
                url.for_ffmpeg(),
                options=options.ffmpeg_options(),
                timeout=(options.open_timeout_s, options.read_timeout_s),
            )
        except Exception as exc:  # every PyAV/OS failure becomes a typed, redacted error
            waited_s = (time.monotonic_ns() - t0) / 1e9
            if waited_s >= 0.9 * options.open_timeout_s:  # FFmpeg may call a timeout anything
                raise OpenTimeout(
                    f"{url.redacted}: no stream within open_timeout_s={options.open_timeout_s:g}; "
                    "check host, port and firewall"
                ) from None
            raise map_av_error(exc, url, opening=True, timeout_s=options.open_timeout_s) from None
        self.open_s = (time.monotonic_ns() - t0) / 1e9
        self._container: Any = container
        if not container.streams.video:
            self.close()
            raise UnsupportedStream(f"{url.redacted}: the stream has no video track")
        stream = container.streams.video[0]
        cc = stream.codec_context
        if cc is None:  # FFmpeg has no decoder for the codec the SDP names
            self.close()
            raise UnsupportedStream(f"{url.redacted}: no decoder for this stream's video codec")
        if options.threads > 0:
            cc.thread_count = options.threads
            cc.thread_type = "SLICE"
        if options.profile == Profile.LOW_LATENCY:
            cc.flags |= av.codec.context.Flags.low_delay
        self._stream = stream
        self._time_base = float(stream.time_base) if stream.time_base else None
        rate = stream.average_rate or stream.guessed_rate
        self.info = StreamInfo(
            codec=cc.name or "unknown",
            width=int(cc.width or 0),
            height=int(cc.height or 0),
            fps=float(rate) if rate else 0.0,
        )
        self.catchup = CatchUp(opened_ns=t0)  # a late first packet may sit behind a backlog
        self._frames: Iterator[Any] = self._decode()

    def _decode(self) -> Iterator[Any]:
        for packet in self._admitted(self._container.demux(self._stream)):
            yield from packet.decode()

    def _admitted(self, packets: Iterator[Any]) -> Iterator[Any]:
        """The demuxed packets worth decoding: while decoding is behind, the non-key ones are
        drained undecoded up to the next keyframe (see :mod:`rtsplab.rtsp.overload`).

        FFmpeg hands out one packet at a time and shows nothing of what waits behind it, so
        until the stream was once near-live the guard also gets each packet's age by the
        camera's RTCP clock: a backlog already there when the first packets were looked at
        (many streams opening at once) is drained instead of taken for the stream's delay.
        The frame period the demuxer holds each frame (it ends a frame when the next one
        begins) is not counted in that age."""
        guard = self.catchup
        time_base = self._time_base
        if guard is None:  # the reader wants every frame
            yield from packets
            return
        hold_ns = int(1e9 / self.info.fps) if self.info.fps > 0 else 0
        for packet in packets:
            pts = packet.pts
            if pts is None or time_base is None:
                yield packet
                continue
            age_ns = None
            if guard.wants_age and (t_rtcp_ns := self._rtcp_time_ns(pts)) is not None:
                age_ns = now_ns() - t_rtcp_ns - hold_ns
            if guard.admit(
                keyframe=bool(packet.is_keyframe),
                media_ns=int(pts * time_base * 1e9),
                now_ns=time.monotonic_ns(),
                age_ns=age_ns,
            ):
                yield packet

    def _rtcp_time_ns(self, pts: int | None) -> int | None:
        """Wall-clock capture time from RTCP of the picture's own PTS (the decoder's output
        frame's, which B-frames reorder): ``start_time_realtime`` is, as FFmpeg documents
        it, the wall-clock time of PTS 0. (The stream's ``start_time`` is not subtracted: it
        is the first picture's PTS, unknown at open with the low-latency profile's 32-byte
        probe and two frame periods with x264's ``bframes=2``.)"""
        realtime_us = self._container.start_time_realtime
        if not realtime_us or pts is None or self._time_base is None:
            return None
        return int(realtime_us * 1000 + pts * self._time_base * 1e9)

    def read(self) -> DecodedFrame:
        """Decode the next frame; the BGR conversion is deferred until the image is used.

        Raises:
            ReadTimeout: no frame within ``read_timeout_s``.
            StreamClosed: the stream ended or failed.

        Example:
            >>> b = open_backend(RtspUrl.parse("rtsp://127.0.0.1:8554/cam1"), "pyav")  # doctest: +SKIP
            >>> f = b.read(); f.image.shape, f.t_recv_ns > 0  # doctest: +SKIP
            ((360, 640, 3), True)
        """
        if self._container is None:
            raise StreamClosed("container is closed")
        t0 = time.monotonic_ns()
        try:
            frame = next(self._frames)
        except Exception as exc:
            waited_s = (time.monotonic_ns() - t0) / 1e9
            if waited_s >= 0.9 * self.options.read_timeout_s:  # the interrupt fired: a stall
                raise ReadTimeout(
                    f"{self.url.redacted}: no frame for {waited_s:.1f} s (read_timeout_s="
                    f"{self.options.read_timeout_s:g}); the camera stalled or the network dropped"
                ) from None
            if isinstance(exc, StopIteration):
                raise StreamClosed(f"{self.url.redacted}: the stream ended") from None
            raise map_av_error(
                exc, self.url, opening=False, timeout_s=self.options.read_timeout_s
            ) from None
        t_recv_ns = now_ns()
        pts = frame.pts
        return DecodedFrame(
            t_recv_ns=t_recv_ns,
            convert=functools.partial(to_bgr, frame),
            luma=functools.partial(luma_plane, frame),
            pts_s=(pts * self._time_base) if (pts is not None and self._time_base) else None,
            t_rtcp_ns=self._rtcp_time_ns(pts),
        )

    def close(self) -> None:
        """Close the container. Idempotent.

        Example:
            >>> b.close(); b.close()  # idempotent  # doctest: +SKIP
            >>> b.read()  # doctest: +SKIP
            Traceback (most recent call last):
            rtsplab.errors.StreamClosed: container is closed
        """
        with self._lock:
            container, self._container = getattr(self, "_container", None), None
            # the demux generator refers back to this backend: drop it and the stream now, so
            # the decoder (and its threads) is freed at once rather than by the cycle collector
            frames, self._frames = getattr(self, "_frames", None), iter(())
            self._stream = None
        if frames is not None and hasattr(frames, "close"):
            with contextlib.suppress(Exception):
                frames.close()
        if container is not None:
            # closing a broken connection may raise; the container is released regardless
            with contextlib.suppress(Exception):
                container.close()
