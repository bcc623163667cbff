"""OpenCV's FFmpeg backend (``cv2.VideoCapture(url, cv2.CAP_FFMPEG)``).

What rtsplab sets, and why:

- ``CAP_PROP_OPEN_TIMEOUT_MSEC`` / ``CAP_PROP_READ_TIMEOUT_MSEC`` (open params): OpenCV's
  FFmpeg interrupt callback aborts an open or a read after this long. Without them an
  unreachable camera blocks ``open`` for 30 s and a dead stream blocks ``read()`` forever.
- ``CAP_PROP_N_THREADS`` (open param): decoder threads. FFmpeg's frame threading delays output
  by one frame per extra thread (33 ms at 30 fps); one thread decodes a 640x360 H.264 frame in
  about a millisecond, so the low-latency profile uses 1.
- ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` (environment, ``key;value|key;value``): the only way to
  pass FFmpeg demuxer options (``rtsp_transport``, ``fflags``, ``analyzeduration``,
  ``probesize``...; see :data:`rtsplab.backends.base.LOW_LATENCY_OPTIONS`). OpenCV reads it
  during ``open``, so rtsplab sets it for the duration of each open. Opens that need the same
  options run in parallel; opens that need different options take turns.
- ``CAP_PROP_BUFFERSIZE`` is *not* set: the FFmpeg backend ignores it.

Example:
    >>> from rtsplab.urls import RtspUrl
    >>> b = OpenCVBackend(RtspUrl.parse("rtsp://127.0.0.1:8554/cam1"), OpenOptions())  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np

from rtsplab.backends.base import Backend, DecodedFrame, OpenOptions, StreamInfo, now_ns
from rtsplab.errors import ReadTimeout, StreamClosed
from rtsplab.rtsp.overload import CatchUp
from rtsplab.urls import RtspUrl

__all__ = ["REOPEN_BEHIND_MS", "OpenCVBackend", "capture_options"]

ENV_VAR = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
# OpenCV decodes every frame it grabs, so a capture that falls this far behind its stream is
# reopened: the server starts the new session at a keyframe and the backlog is gone. Longer
# than the other backends' bound: a reopen costs an RTSP handshake and the wait for a keyframe.
REOPEN_BEHIND_MS = 1000.0

# The first frames of a capture may carry positions from before the stream's start time is
# known: the lag is judged from the frame after these.
SETTLE_FRAMES = 3

log = logging.getLogger("rtsplab.opencv")

# FFmpeg's own log lines ("[rtsp @ 0x...] method DESCRIBE failed: 401 ...") go straight to
# stderr, may quote URLs, and say less than rtsplab's typed errors, which report the same
# failures redacted. Quiet by default; set OPENCV_FFMPEG_LOGLEVEL (e.g. 32 for "info") before
# importing rtsplab to see them. OpenCV reads it when its FFmpeg backend first opens a stream.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

# OpenCV holds one process-wide lock for the whole of every FFmpeg open (connect, DESCRIBE,
# SETUP, PLAY and the stream probe), so opens in parallel threads take turns: 12 opens of the
# simulator took 11.6 s with FFmpeg's default options and 0.80 s with the low-latency ones.
# FFmpeg itself has been thread-safe there since 4.0 (OpenCV's wheels ship a newer one); this
# setting, read by OpenCV at every open, drops the lock: 0.98 s and 0.08 s.
os.environ.setdefault("OPENCV_FFMPEG_IS_THREAD_SAFE", "1")


class _EnvGate:
    """Lets opens that need the same ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` run concurrently."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._value: str | None = None
        self._users = 0

    @contextmanager
    def hold(self, value: str) -> Iterator[None]:
        with self._cond:
            while self._users and self._value != value:
                self._cond.wait()
            if self._users == 0:
                self._saved = os.environ.get(ENV_VAR)
                os.environ[ENV_VAR] = value
                self._value = value
            self._users += 1
        try:
            yield
        finally:
            with self._cond:
                self._users -= 1
                if self._users == 0:
                    if self._saved is None:
                        os.environ.pop(ENV_VAR, None)
                    else:
                        os.environ[ENV_VAR] = self._saved
                    self._value = None
                    self._cond.notify_all()


_GATE = _EnvGate()


def capture_options(options: OpenOptions) -> str:
    """The ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` string for ``options``.

    OpenCV decodes video only, so only the video tracks are set up
    (``allowed_media_types;video``): an audio track's packets, often the first to arrive,
    would otherwise use up the low-latency profile's 32-byte probe before the video's size
    is known, and the open would fail (``extra`` may say otherwise).

    Example:
        >>> from rtsplab.entities import Transport
        >>> capture_options(OpenOptions(transport=Transport.TCP, profile="default"))
        'allowed_media_types;video|rtsp_transport;tcp'
    """
    opts = {"allowed_media_types": "video", **options.ffmpeg_options()}
    return "|".join(f"{k};{v}" for k, v in opts.items())


class OpenCVBackend(Backend):
    """A stream opened with ``cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)``.

    Raises:
        ConnectError: (from :func:`rtsplab.backends.open_backend`) when the open fails; the
            reason is classified there with an RTSP DESCRIBE.

    Example:
        >>> OpenCVBackend.name
        'opencv'
    """

    name = "opencv"

    def __init__(self, url: RtspUrl, options: OpenOptions) -> None:
        super().__init__(url, options)
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            max(1, int(options.open_timeout_s * 1000)),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            max(1, int(options.read_timeout_s * 1000)),
        ]
        if options.threads > 0:
            params += [cv2.CAP_PROP_N_THREADS, options.threads]
        self._params = params
        t0 = time.monotonic_ns()
        cap = self._capture()
        self.open_s = (time.monotonic_ns() - t0) / 1e9
        self._lock = threading.Lock()
        self._closed = False
        self._cap: cv2.VideoCapture | None = cap
        if not cap.isOpened():
            cap.release()
            self._cap = None
            raise StreamClosed("OpenCV could not open the stream")
        # OpenCV decodes every frame it grabs: a backlog can only be dropped by reopening
        self.catchup = CatchUp(bound_ns=int(REOPEN_BEHIND_MS * 1e6))
        self._settle = SETTLE_FRAMES
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
        codec = "".join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4)).strip("\0 ").lower()
        self.info = StreamInfo(
            codec=codec or "unknown",
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            fps=float(cap.get(cv2.CAP_PROP_FPS)),
        )

    def _capture(self) -> cv2.VideoCapture:
        with _GATE.hold(capture_options(self.options)):
            return cv2.VideoCapture(self.url.for_ffmpeg(), cv2.CAP_FFMPEG, self._params)

    def _catch_up(self, pos_ms: float) -> None:
        """Decoding is :data:`REOPEN_BEHIND_MS` behind: reopen, so the server drops the
        backlog and starts again at a keyframe; the frames dropped are estimated from the lag."""
        guard = self.catchup
        assert guard is not None
        lag_s = guard.lag_ns / 1e9
        with self._lock:  # close() meanwhile finds no capture and returns at once
            cap, self._cap = self._cap, None
        if cap is None:
            return
        cap.release()
        fresh = self._capture()
        with self._lock:
            closed = self._closed
            if not closed and fresh.isOpened():
                self._cap = fresh
        if closed or not fresh.isOpened():
            fresh.release()
            raise StreamClosed(f"{self.url.redacted}: could not reopen to drop the backlog")
        guard.note_skipped(max(1, round(lag_s * (self.info.fps or 30.0))), time.monotonic_ns())
        self._settle = SETTLE_FRAMES
        log.info("%s: %.1f s behind at %.0f ms; reopened", self.url.redacted, lag_s, pos_ms)

    def read(self) -> DecodedFrame:
        """Grab, decode and convert the next frame (``cap.read()``).

        Raises:
            ReadTimeout: no frame within ``read_timeout_s`` (OpenCV's interrupt fired).
            StreamClosed: the stream ended or the capture was released.

        Example:
            >>> b = open_backend(RtspUrl.parse("rtsp://127.0.0.1:8554/cam1"), "opencv")  # doctest: +SKIP
            >>> f = b.read(); f.image.shape, f.t_recv_ns > 0  # doctest: +SKIP
            ((360, 640, 3), True)
        """
        cap = self._cap
        if cap is None:
            raise StreamClosed("capture is closed")
        t0 = time.monotonic_ns()
        ok, image = cap.read()
        t_recv_ns = now_ns()
        if not ok or image is None:
            waited_s = (time.monotonic_ns() - t0) / 1e9
            if waited_s >= 0.9 * self.options.read_timeout_s:
                raise ReadTimeout(
                    f"{self.url.redacted}: no frame for {waited_s:.1f} s (read_timeout_s="
                    f"{self.options.read_timeout_s:g}); the camera stalled or the network dropped"
                )
            raise StreamClosed(f"{self.url.redacted}: the stream ended")
        pos_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
        guard = self.catchup
        if self._settle:  # the first positions of a capture are not to be trusted
            self._settle -= 1
        elif guard is not None:
            guard.admit(keyframe=True, media_ns=int(pos_ms * 1e6), now_ns=time.monotonic_ns())
            if guard.behind:  # this frame is handed out; the reader gets fresh ones after it
                self._catch_up(pos_ms)
        return DecodedFrame(
            t_recv_ns=t_recv_ns, image=np.asarray(image, np.uint8), pts_s=pos_ms / 1e3
        )

    def close(self) -> None:
        """Release the capture. Idempotent.

        Example:
            >>> b.close(); b.close()  # idempotent  # doctest: +SKIP
            >>> b.read()  # doctest: +SKIP
            Traceback (most recent call last):
            rtsplab.errors.StreamClosed: capture is closed
        """
        with self._lock:
            cap, self._cap = self._cap, None
            self._closed = True
        if cap is not None:
            cap.release()
