"""Push a simulated camera to an RTSP server (ANNOUNCE + RECORD), like an encoder box does.

The camera's own H.264 access units (timecodes included) are remuxed, not re-encoded, by
FFmpeg's ``rtsp`` muxer through PyAV; a media server or relay (e.g. ``rtsp-server-perl``,
MediaMTX) then serves them to readers.

Example:
    >>> from rtsplab.sim import Publisher, SimCamera
    >>> pub = Publisher(SimCamera("cam1"), "rtsp://127.0.0.1:5545/cam1", transport="udp")  # doctest: +SKIP
    >>> pub.frames_sent > 0  # doctest: +SKIP
    True
    >>> pub.close()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import threading
from fractions import Fraction

import av

from rtsplab.errors import AuthError, ConnectError, NotFound
from rtsplab.sim.camera import SimCamera
from rtsplab.sim.media import Subscriber
from rtsplab.urls import RtspUrl, scrub

__all__ = ["Publisher"]

_START_CODE = b"\x00\x00\x00\x01"


class Publisher:
    """A running push of one camera's stream; close it to stop (sends TEARDOWN).

    Args:
        camera: the camera to publish (started for the lifetime of the publisher).
        url: ``rtsp://[user:password@]host:port/path`` of the receiving server.
        transport: ``"udp"``, ``"tcp"`` or None (FFmpeg tries UDP, then TCP).
        timeout_s: connect and socket timeout.

    Raises:
        AuthError: the server answered 401.
        NotFound: the server answered 404.
        ConnectError: anything else that prevents ANNOUNCE/SETUP/RECORD.

    Example:
        >>> Publisher(SimCamera("cam1"), "rtsp://127.0.0.1:5545/cam1")  # doctest: +SKIP
        Publisher('cam1' -> rtsp://127.0.0.1:5545/cam1, frames_sent=0, alive=True)
    """

    def __init__(
        self, camera: SimCamera, url: str, transport: str | None = None, timeout_s: float = 10.0
    ) -> None:
        if camera.codec != "h264":
            raise ValueError(f"publishing supports H.264 cameras only, not {camera.codec}")
        self.camera = camera
        self._url = RtspUrl.parse(url)
        self.frames_sent = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._sub = Subscriber(max_queue=300)
        camera.start()
        try:
            self._out = self._open(transport, timeout_s)
        except Exception:
            camera.stop()
            raise
        camera.subscribe(self._sub)
        self._thread = threading.Thread(
            target=self._run, name=f"rtsplab-sim-publish-{camera.name}", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The target URL, password redacted.

        Example:
            >>> pub.url  # doctest: +SKIP
            'rtsp://admin:***@127.0.0.1:5545/cam1'
        """
        return self._url.redacted

    def _open(self, transport: str | None, timeout_s: float) -> av.container.OutputContainer:
        options = {"timeout": str(int(timeout_s * 1_000_000))}
        if transport is not None:
            options["rtsp_transport"] = transport
        try:
            out = av.open(
                self._url.for_ffmpeg(), mode="w", format="rtsp", options=options, timeout=timeout_s
            )
        except av.error.FFmpegError as e:
            raise self._error(e) from None
        sps, pps = self.camera.parameter_sets
        stream = out.add_stream("h264", rate=Fraction(self.camera.fps).limit_denominator(1001))
        stream.width, stream.height = self.camera.width, self.camera.height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 90_000)
        stream.codec_context.extradata = _START_CODE + sps + _START_CODE + pps
        self._stream = stream
        # FFmpeg sends ANNOUNCE/SETUP/RECORD when the header is written: do it now, so
        # connection and authentication errors reach the caller.
        try:
            out.start_encoding()
        except av.error.FFmpegError as e:
            with contextlib.suppress(Exception):
                out.close()
            raise self._error(e) from None
        return out

    def _error(self, e: Exception) -> Exception:
        text = scrub(str(e), self._url.secrets)
        msg = f"publishing to {self.url} failed: {text}"
        if isinstance(e, av.error.HTTPUnauthorizedError):
            return AuthError(msg + " (check user and password)")
        if isinstance(e, av.error.HTTPNotFoundError):
            return NotFound(msg)
        return ConnectError(msg + " (is the server running and does it accept RECORD?)")

    def _run(self) -> None:
        t0_ns: int | None = None
        time_base = Fraction(1, 90_000)
        try:
            while not self._stop.is_set():
                au = self._sub.get(0.25)
                if au is None:
                    continue
                if t0_ns is None:
                    t0_ns = au.t_capture_ns
                packet = av.Packet(b"".join(_START_CODE + n for n in au.nals))
                packet.stream = self._stream
                packet.time_base = time_base
                packet.pts = packet.dts = (au.t_capture_ns - t0_ns) * 9 // 100_000
                packet.is_keyframe = au.keyframe
                self._out.mux(packet)
                self.frames_sent += 1
        except (av.error.FFmpegError, OSError) as e:
            self.error = scrub(f"{type(e).__name__}: {e}", self._url.secrets)

    @property
    def alive(self) -> bool:
        """True while frames are being pushed.

        Example:
            >>> pub.alive  # doctest: +SKIP
            True
        """
        return self._thread.is_alive()

    def close(self) -> None:
        """Stop pushing, send TEARDOWN, release the camera. Idempotent.

        Example:
            >>> pub.close()  # doctest: +SKIP
        """
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(5.0)
        self.camera.unsubscribe(self._sub)
        with contextlib.suppress(Exception):
            self._out.close()
        self.camera.stop()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Publisher({self.camera.name!r} -> {self.url}, frames_sent={self.frames_sent}, "
            f"alive={self.alive})"
        )
