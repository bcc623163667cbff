"""One reader loop for every strategy; strategies differ only in their buffer policy.

``naive`` has no thread: each ``read()`` decodes the next frame in the caller's loop.
``buffered`` and ``latest`` run the same decode loop in a daemon thread and differ only in the
:mod:`rtsplab.policies` object the loop puts frames into.

Every frame handed out carries its true age: the source time comes from the timecode burned
into the image when there is one, else from the RTCP wall clock (PyAV), else from the PTS
anchored at the first frame's arrival, else from the arrival time (see :class:`Clock`).

Example:
    >>> with open("rtsp://127.0.0.1:8554/cam1", strategy="latest") as r:  # doctest: +SKIP
    ...     ok, image = r.read()
    ...     frame = r.read_frame(timeout_s=1)
    ...     print(frame.age_ms)
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from rtsplab.backends import Backend, DecodedFrame, Profile, StreamInfo, open_backend
from rtsplab.camera_clock import CameraClockEstimate
from rtsplab.capture import SessionCapture
from rtsplab.entities import Frame, Overflow, Strategy, StreamState, Transport
from rtsplab.errors import OpenTimeout, ReadTimeout, RtspLabError, StreamClosed, UnsupportedStream
from rtsplab.policies import LatestPolicy, Policy, QueuePolicy
from rtsplab.recorder import Recorder
from rtsplab.source_clock import SourceClock, Stamp
from rtsplab.timecode import read_timecode
from rtsplab.urls import RtspUrl, scrub

if TYPE_CHECKING:
    from typing import Unpack

__all__ = ["Reader", "ReaderOptions", "StreamOptions", "open", "show_options", "stream_name"]

log = logging.getLogger("rtsplab")

Item = tuple[int, DecodedFrame]  # (reader seq, decoded frame)

CLOSE_JOIN_S = 0.25  # close() waits this long for a blocked call, then leaves it to finish


class StreamOptions(TypedDict, total=False):
    """How each stream is opened, decoded and buffered; every key optional (see :class:`Reader`).

    Typed once for :func:`open`, :func:`rtsplab.open_group`, :func:`rtsplab.lab.compare` and
    :class:`rtsplab.widgets.LiveView`, so type checkers and tab completion see each option.

    Example:
        >>> options: StreamOptions = {"transport": "tcp", "open_timeout_s": 3.0}
        >>> sorted(StreamOptions.__annotations__)[:4]
        ['decoder_threads', 'keep', 'max_backoff_s', 'maxsize']
    """

    transport: Transport | str
    open_timeout_s: float
    reconnect: bool
    profile: str
    decoder_threads: int | None
    maxsize: int
    overflow: Overflow | str
    keep: int
    max_backoff_s: float
    timecode: bool
    tls_verify: bool
    tls_fingerprint: str | None


class ReaderOptions(StreamOptions, total=False):
    """:class:`StreamOptions` plus the backend and the read timeout.

    Example:
        >>> import inspect
        >>> keywords = set(inspect.signature(Reader).parameters)
        >>> sorted(keywords - set(ReaderOptions.__annotations__))  # every other one is here
        ['name', 'recorder', 'strategy', 'url']
    """

    backend: str
    read_timeout_s: float
    capture: str | Path | SessionCapture | None


def held_frames(backend: str, codec: str) -> int:
    """1 when a backend holds every frame until the next one arrives: FFmpeg's RTSP demuxer
    parses H.264 and H.265 and knows a frame has ended only when the next one's first packet
    arrives; 0 for the native backend, which completes it on the marker bit.

    Example:
        >>> held_frames("pyav", "h264"), held_frames("native", "h264"), held_frames("pyav", "mjpeg")
        (1, 0, 0)
    """
    return 1 if backend != "native" and codec in ("h264", "hevc", "h265") else 0


def stream_name(url: RtspUrl | str) -> str:
    """A short name for a stream: the last path segment of its URL, else the host.

    Example:
        >>> stream_name("rtsp://admin:pw@10.0.0.5:554/Streaming/Channels/101?x=1")
        '101'
    """
    u = url if isinstance(url, RtspUrl) else RtspUrl.parse(url)
    parts = [p for p in u.path.split("?")[0].split("#")[0].split("/") if p]
    return parts[-1] if parts else u.host


class Reader:
    """Reads one RTSP stream with a strategy; a context manager. Use :func:`open`.

    Args:
        url: ``rtsp://[user:password@]host[:port]/path``; passwords may contain ``@ : /``.
        strategy: ``naive``, ``buffered`` or ``latest`` (:class:`Strategy`).
        backend: ``auto`` (default: ``native`` when it can serve the stream, else ``pyav``,
            else ``opencv``; :attr:`backend_used` says which), ``native``, ``pyav`` or ``opencv``.
        transport: ``auto`` (TCP, then UDP if refused), ``tcp`` or ``udp``.
        open_timeout_s: bound on opening; raises :class:`OpenTimeout` past it.
        read_timeout_s: bound on waiting for a frame; raises :class:`ReadTimeout` past it.
        reconnect: reopen after a stall or a lost stream, with capped exponential backoff;
            default ``True`` for the threaded strategies (``buffered``, ``latest``), ``False``
            for ``naive``. Without it a stall is still waited out (the reader resumes when
            frames return); a lost stream ends the reader with :class:`StreamClosed`.
        profile: ``low_latency`` (default) or ``default`` (FFmpeg's own options, to compare).
        decoder_threads: 1 (no frame-threading delay), 0 (FFmpeg chooses) or None (by profile).
        name: stream name (default: last path segment).
        recorder: a :class:`Recorder` that gets one row per frame handed out.
        maxsize: bound of the ``buffered`` queue.
        overflow: what the ``buffered`` queue does when full.
        keep: frames of history the ``latest`` policy retains (groups use it to match).
        max_backoff_s: cap of the reconnect backoff.
        tls_verify: for ``rtsps://``, check the server's certificate against the system trust
            store (default ``False``: cameras use self-signed certificates; still encrypted).
        tls_fingerprint: for ``rtsps://``, accept only the certificate whose SHA-256 is this
            (``"sha256:AB:CD:..."``, as ``openssl x509 -fingerprint -sha256`` prints it).
        capture: a path (or a :class:`~rtsplab.capture.SessionCapture`) to write the session
            to as pcapng, redacted (see :mod:`rtsplab.capture`); needs the native backend
            (``auto`` then means ``native``). The file is complete after :meth:`close`.

    Example:
        >>> r = Reader("rtsp://127.0.0.1:8554/cam1", strategy="latest")  # doctest: +SKIP
        >>> r.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str | RtspUrl,
        strategy: Strategy | str = Strategy.LATEST,
        backend: str = "auto",
        transport: Transport | str = Transport.AUTO,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 2.0,
        reconnect: bool | None = None,
        profile: str = Profile.LOW_LATENCY,
        decoder_threads: int | None = None,
        name: str | None = None,
        recorder: Recorder | None = None,
        maxsize: int = 0,
        overflow: Overflow | str = Overflow.BLOCK,
        keep: int = 1,
        max_backoff_s: float = 8.0,
        timecode: bool = True,
        tls_verify: bool = False,
        tls_fingerprint: str | None = None,
        capture: str | Path | SessionCapture | None = None,
    ) -> None:
        self.url = url if isinstance(url, RtspUrl) else RtspUrl.parse(url)
        self.capture: SessionCapture | None = None
        if capture is not None:
            if backend not in ("auto", "native"):
                raise ValueError(
                    f"capture needs backend='native' (it owns the sockets), not {backend!r}"
                )
            if self.url.scheme.lower() == "rtsps":
                raise UnsupportedStream(
                    f"{self.url.redacted}: RTSPS sessions are not recorded (the native client "
                    "has no TLS, and the encrypted bytes could not be replayed)"
                )
            backend = "native"
            self.capture = (
                capture
                if isinstance(capture, SessionCapture)
                else SessionCapture(capture, url=self.url.without_credentials())
            )
        self.strategy = Strategy(strategy)
        self.name = name or stream_name(self.url)
        self.recorder = recorder
        self.reconnect = (self.strategy is not Strategy.NAIVE) if reconnect is None else reconnect
        self.read_timeout_s = read_timeout_s
        self.max_backoff_s = max_backoff_s
        self._timecode = timecode
        self._open_args: dict[str, Any] = dict(
            backend=backend,
            transport=transport,
            open_timeout_s=open_timeout_s,
            read_timeout_s=read_timeout_s,
            profile=profile,
            decoder_threads=decoder_threads,
            tls_verify=tls_verify,
            tls_fingerprint=tls_fingerprint,
            tap=self.capture,
        )
        self._policy: Policy[Item] | None = None
        if self.strategy is Strategy.BUFFERED:
            self._policy = QueuePolicy(maxsize, overflow)
        elif self.strategy is Strategy.LATEST:
            self._policy = LatestPolicy(keep)
        self._state = StreamState.CONNECTING
        self.state_reason = "opening"
        self._state_recorder: Recorder | None = None
        if recorder is not None:
            self.record_states_to(recorder)
        self._stop = threading.Event()
        self._io_lock = threading.Lock()  # naive: serialises read() and close()
        self._close_lock = threading.Lock()
        self._closed = False
        self._seq = -1  # last decoded
        self._last_decode_ns = time.monotonic_ns()
        self._last_read_seq = -1  # last handed out
        self._clock = SourceClock()
        self._source_cache: dict[int, Stamp] = {}
        self.reconnects = 0
        self._bad_packets_before = 0  # counted by backends already closed
        self._lost_packets_before = 0
        self._skipped_before = 0
        self.first_frame_age_ms: float | None = None
        t0 = time.monotonic_ns()
        try:
            self._backend: Backend | None = self._adopt(open_backend(self.url, **self._open_args))
        except RtspLabError as exc:
            self._set_state(StreamState.CLOSED, f"open failed: {type(exc).__name__}")
            if self.capture is not None:
                self.capture.close()
            raise
        self.open_s = (time.monotonic_ns() - t0) / 1e9
        self._info: StreamInfo = self._backend.info
        self.transport_used = Transport(self._backend.options.transport)
        self.backend_used: str = self._backend.name  # what ``auto`` chose; follows reconnects
        self._thread: threading.Thread | None = None
        if self._policy is not None:
            self._thread = threading.Thread(
                target=self._run, name=f"rtsplab-reader-{self.name}", daemon=True
            )
            self._thread.start()

    # ---- the one decode loop -------------------------------------------------------------
    def _set_state(self, state: StreamState, reason: str) -> None:
        """Change state; every change is logged and recorded as a row (state, reason, time)."""
        if state is self._state:
            return
        log.debug("%s: %s -> %s (%s)", self.url.redacted, self._state.value, state.value, reason)
        self._state = state
        self.state_reason = reason
        if self._state_recorder is not None:
            self._state_recorder.add_state(self.name, state.value, reason)

    def _adopt(self, backend: Backend) -> Backend:
        """A newly opened backend. Only ``latest`` skips a backlog the decoder cannot keep up
        with (:mod:`rtsplab.rtsp.overload`): ``naive`` and ``buffered`` promise every frame."""
        if self.strategy is not Strategy.LATEST:
            backend.catchup = None
        return backend

    def _closed_error(self) -> StreamClosed:
        return StreamClosed(f"{self.url.redacted}: the reader is closed")

    def _reopen(self, deadline_s: float | None) -> None:
        """Reopen the stream with capped exponential backoff until it works, the reader closes
        or (naive: the consumer is waiting) ``deadline_s`` on the monotonic clock passes.

        With ``reconnect=False`` this only runs to resume after a stall on a backend whose
        demuxer gave up (FFmpeg): a silent server is waited for, anything else (refused,
        401, 404) means the stream is gone and raises :class:`StreamClosed`.
        """
        self._set_state(StreamState.RECONNECTING, self.state_reason)
        backoff_s = 0.25
        args = dict(self._open_args)
        args["open_timeout_s"] = min(args["open_timeout_s"], max(1.0, 2 * self.read_timeout_s))
        while not self._stop.is_set():
            if deadline_s is not None:
                args["open_timeout_s"] = min(
                    args["open_timeout_s"], max(0.2, deadline_s - time.monotonic())
                )
            try:
                self._backend = self._adopt(open_backend(self.url, cancel=self._stop, **args))
                self.transport_used = Transport(self._backend.options.transport)
                self.backend_used = self._backend.name
                self.reconnects += 1
                self._clock.reset()
                log.info("%s: reopened", self.url.redacted)
                return
            except RtspLabError as exc:
                if self._stop.is_set():
                    break
                self.state_reason = f"reopen failed: {exc}"
                if not self.reconnect and not isinstance(exc, OpenTimeout):
                    raise StreamClosed(
                        f"{self.url.redacted}: the stream is gone ({type(exc).__name__}) and "
                        "reconnect=False"
                    ) from None
                log.info(
                    "%s: reopen failed (%s); retry in %.2f s", self.url.redacted, exc, backoff_s
                )
            if deadline_s is not None and time.monotonic() + backoff_s > deadline_s:
                raise ReadTimeout(f"{self.url.redacted}: still reconnecting; read again to retry")
            self._stop.wait(backoff_s)
            backoff_s = min(backoff_s * 2, self.max_backoff_s)
        raise self._closed_error()

    def _drop_backend(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            self._bad_packets_before += backend.bad_packets
            self._lost_packets_before += backend.lost_packets
            self._skipped_before += backend.frames_skipped
            backend.close()

    def _step(self) -> Item:
        """Decode the next frame, stalling/reconnecting as configured. Shared by all strategies.

        A stall (the backend's :class:`ReadTimeout`) never ends the reader: it is reported and
        waited out; a backend that cannot resume after a timeout (FFmpeg) is reopened. A lost
        stream is reopened with ``reconnect=True`` and ends the reader otherwise.
        """
        deadline_s = None if self._policy is not None else time.monotonic() + self.read_timeout_s
        while True:
            if self._stop.is_set():
                raise self._closed_error()
            backend = self._backend
            if backend is None:
                self._reopen(deadline_s)
                continue
            try:
                decoded = backend.read()
            except ReadTimeout:
                if self._stop.is_set():
                    raise self._closed_error() from None
                self._set_state(
                    StreamState.STALLED, f"no frame for read_timeout_s={self.read_timeout_s:g}"
                )
                if self.reconnect or not backend.resumable:
                    self._drop_backend()
                if self.reconnect and (deadline_s is None or time.monotonic() < deadline_s):
                    continue
                raise
            except StreamClosed as exc:
                if self._stop.is_set():
                    raise self._closed_error() from None
                self._drop_backend()
                if not self.reconnect:
                    raise
                self._set_state(StreamState.STALLED, f"stream lost: {exc}")
                continue
            self._seq += 1
            self._last_decode_ns = time.monotonic_ns()
            overloaded = backend.overloaded
            state = StreamState.OVERLOADED if overloaded else StreamState.STREAMING
            if self._state is not state:
                catchup = backend.catchup
                reason = catchup.reason() if overloaded and catchup else "frames arrive"
                self._set_state(state, reason)
            return self._seq, decoded

    def _run(self) -> None:
        policy = self._policy
        assert policy is not None
        try:
            while not self._stop.is_set():
                try:
                    policy.put(self._step())
                except ReadTimeout:  # a stall: waiting consumers time out; keep waiting
                    continue
        except RtspLabError as exc:
            if not self._stop.is_set():
                self._set_state(StreamState.CLOSED, f"{type(exc).__name__}: {exc}")
                policy.fail(exc)
        except Exception as exc:  # a bug or an unexpected library error: report it, typed
            detail = scrub(f"{type(exc).__name__}: {exc}", self.url.secrets)
            log.error("%s: decode thread failed: %s", self.url.redacted, detail)
            self._set_state(StreamState.CLOSED, f"decode thread failed: {detail}")
            policy.fail(StreamClosed(f"{self.url.redacted}: the decode thread failed ({detail})"))
        finally:
            self._drop_backend()

    def record_states_to(self, recorder: Recorder) -> None:
        """Record this stream's state changes in ``recorder`` from now on (a row for the current
        state first). A reader's own ``recorder`` gets them already; a group passes its own.

        Example:
            >>> rec = Recorder()
            >>> r.record_states_to(rec)  # doctest: +SKIP
            >>> rec.states()["state"].tolist()  # doctest: +SKIP
            ['streaming']
        """
        self._state_recorder = recorder
        recorder.add_state(self.name, self._state.value, self.state_reason)

    # ---- consumer side ----------------------------------------------------------------------
    def _source_time(self, decoded: DecodedFrame, image: Any, seq: int | None = None) -> Stamp:
        """Source time by the best clock available for this frame (see :class:`SourceClock`)."""
        tc = read_timecode(image) if self._timecode else None
        return self._clock.stamp(
            decoded.pts_s,
            decoded.t_recv_ns,
            t_rtcp_ns=decoded.t_rtcp_ns,
            timecode=(tc.t_ns, tc.seq) if tc is not None else None,
            t_camera_ns=decoded.t_camera_ns,
            held_frames=held_frames(self.backend_used, self.info.codec),
            seq=seq,
        )

    def _source_of(self, item: Item) -> Stamp:
        seq, decoded = item
        found = self._source_cache.get(seq)
        if found is None:
            found = self._source_time(decoded, decoded.luma, seq)
            if len(self._source_cache) > 64:
                self._source_cache.clear()
            self._source_cache[seq] = found
        return found

    def source_time_ns(self, item: Item) -> int:
        """Source capture time of a decoded item (cached; groups use it to match frames).

        Example:
            >>> r = open("rtsp://127.0.0.1:8554/cam1", strategy="latest", keep=4)  # doctest: +SKIP
            >>> item = r.policy.history()[-1]  # doctest: +SKIP
            >>> round((time.time_ns() - r.source_time_ns(item)) / 1e6)  # doctest: +SKIP
            38
        """
        return self._source_of(item)[0]

    def make_frame(self, item: Item, depth: int) -> Frame:
        """Turn a decoded item into the :class:`Frame` handed to the consumer, now.

        Converts the image if it is still YUV, decodes the source clock, counts the frames
        skipped since the previous hand-out, and records the frame. Groups call this too.

        Example:
            >>> item = r.policy.history()[-1]  # doctest: +SKIP
            >>> f = r.make_frame(item, depth=0); f.stream, f.clock, f.age_ms  # doctest: +SKIP
            ('cam1', <Clock.TIMECODE: 'timecode'>, 40.2)
        """
        seq, decoded = item
        t_source_ns, clock, source_seq = self._source_of(item)
        dropped = max(0, seq - self._last_read_seq - 1) if self._last_read_seq >= 0 else 0
        self._last_read_seq = max(self._last_read_seq, seq)
        frame = Frame(
            image=decoded.image,
            stream=self.name,
            seq=seq,
            t_source_ns=t_source_ns,
            clock=clock,
            t_recv_ns=decoded.t_recv_ns,
            t_read_ns=time.time_ns(),
            depth=depth,
            dropped=dropped,
            source_seq=source_seq,
            backend=self.backend_used,
        )
        if self.first_frame_age_ms is None:
            self.first_frame_age_ms = frame.age_ms
        return frame

    def read_frame(self, timeout_s: float | None = None, fresh: bool = False) -> Frame:
        """The next frame according to the strategy, as a :class:`Frame` with its timing.

        Args:
            timeout_s: how long to wait (default ``read_timeout_s``). ``naive`` decodes in
                this call and is bounded by ``read_timeout_s`` instead.
            fresh: ``latest`` only: wait for a frame newer than the previous one returned,
                instead of returning the newest at once.

        Raises:
            ReadTimeout: no frame in time. StreamClosed: closed or the stream ended.

        Example:
            >>> r.read_frame(timeout_s=1).age_ms  # doctest: +SKIP
            41.7
        """
        if self._closed:
            raise StreamClosed(f"{self.url.redacted}: the reader is closed")
        wait_s = self.read_timeout_s if timeout_s is None else timeout_s
        if self._policy is None:
            with self._io_lock:
                try:
                    if self._closed:
                        raise self._closed_error()
                    item, depth = self._step(), 0
                    frame = self.make_frame(item, depth)
                except StreamClosed:
                    if not self._closed:
                        self._set_state(StreamState.CLOSED, "the stream ended")
                    raise
                finally:
                    if self._closed:  # close() ran meanwhile and left the stream to us
                        self._drop_backend()
        else:
            try:
                item, depth = self._policy.take(wait_s, fresh)
            except ReadTimeout:
                state = self.state
                raise ReadTimeout(
                    f"{self.url.redacted}: no frame within {wait_s:g} s (stream {state.value}: "
                    f"{self.state_reason})"
                ) from None
            frame = self.make_frame(item, depth)
        if self.recorder is not None:
            self.recorder.add(
                frame,
                strategy=self.strategy.value,
                bad_packets=self.bad_packets,
                lost_packets=self.lost_packets,
                clock_offset_ms=self.clock_offset_ms,
                skipped=self.frames_skipped,
            )
        return frame

    def wait_newer(self, seq: int, timeout_s: float) -> None:
        """Wait until a frame newer than reader sequence number ``seq`` is buffered.

        Raises:
            ReadTimeout: none within ``timeout_s``. StreamClosed: closed.

        Example:
            >>> r.wait_newer(r.frames_decoded - 1, timeout_s=1)  # doctest: +SKIP
        """
        policy = self._policy
        if not isinstance(policy, LatestPolicy):
            raise TypeError("wait_newer needs strategy='latest'")
        policy.wait(lambda: policy.newest_key(lambda item: item[0]) > seq, timeout_s)

    def read(self) -> tuple[bool, Any]:
        """The OpenCV idiom: ``(True, image)``, or ``(False, None)`` on timeout or close.

        Example:
            >>> ok, image = r.read()  # doctest: +SKIP
        """
        try:
            return True, self.read_frame().image
        except RtspLabError:
            return False, None

    def __iter__(self) -> Iterator[Frame]:
        """Frames until the reader is closed or the stream ends.

        Example:
            >>> for frame in r: break  # doctest: +SKIP
        """
        while True:
            try:
                yield self.read_frame()
            except StreamClosed:
                return

    # ---- introspection and lifetime -------------------------------------------------------
    @property
    def info(self) -> StreamInfo:
        """Codec, size and nominal fps, as the backend knows them (size may arrive with the
        first decoded frame).

        Example:
            >>> r.info.width  # doctest: +SKIP
            640
        """
        backend = self._backend
        if backend is not None:
            self._info = backend.info
        return self._info

    @property
    def policy(self) -> Policy[Item] | None:
        """The buffer policy (``None`` for ``naive``).

        Example:
            >>> r.policy  # doctest: +SKIP
            LatestPolicy(keep=1)
        """
        return self._policy

    @property
    def state(self) -> StreamState:
        """The stream's :class:`StreamState`; ``STALLED`` once no frame was decoded for half
        of ``read_timeout_s``, even before the backend's own read timeout fires.

        Example:
            >>> r.state  # doctest: +SKIP
            <StreamState.STREAMING: 'streaming'>
        """
        silent_s = (time.monotonic_ns() - self._last_decode_ns) / 1e9
        live = self._state in (StreamState.STREAMING, StreamState.OVERLOADED)
        if live and silent_s > self.read_timeout_s / 2:
            return StreamState.STALLED
        return self._state

    @property
    def depth(self) -> int:
        """Frames decoded but not yet handed out.

        Example:
            >>> r.depth  # doctest: +SKIP
            0
        """
        return self._policy.depth if self._policy is not None else 0

    @property
    def frames_decoded(self) -> int:
        """Frames decoded since open.

        Example:
            >>> r.frames_decoded  # doctest: +SKIP
            120
        """
        return self._seq + 1

    @property
    def bad_packets(self) -> int:
        """Malformed RTP/RTCP packets dropped since open, across reconnects (native backend).

        Example:
            >>> r.bad_packets  # doctest: +SKIP
            0
        """
        backend = self._backend
        return self._bad_packets_before + (backend.bad_packets if backend is not None else 0)

    @property
    def lost_packets(self) -> int:
        """RTP packets lost on the way since open, across reconnects (native backend; over UDP
        each loss also drops the frame it damaged, until the next keyframe).

        Example:
            >>> r.lost_packets  # doctest: +SKIP
            0
        """
        backend = self._backend
        return self._lost_packets_before + (backend.lost_packets if backend is not None else 0)

    @property
    def clock_offset_ms(self) -> float | None:
        """The camera's clock minus this machine's, in ms, as measured from the arrivals
        (positive: ahead); None before a frame with a camera clock (RTCP or ONVIF). See
        :attr:`camera_clock` for the drift and whether ages are corrected.

        Example:
            >>> r.clock_offset_ms  # doctest: +SKIP
            2997.6
        """
        return self._clock.camera.offset_ms

    @property
    def camera_clock(self) -> CameraClockEstimate | None:
        """The check of the camera's clock: offset, drift, verdict and whether ages are
        corrected (:class:`~rtsplab.camera_clock.CameraClockEstimate`).

        Example:
            >>> r.camera_clock.describe(r.name)  # doctest: +SKIP
            "cam1's clock (rtcp) is 3.0 s ahead of this machine; set NTP on the camera; ages are corrected"
        """
        return self._clock.camera_clock

    @property
    def frames_skipped(self) -> int:
        """Frames skipped undecoded since open, across reconnects, because decoding fell
        behind the stream: the backlog is dropped up to the next keyframe (native and PyAV
        backends; see :mod:`rtsplab.rtsp.overload`).

        Example:
            >>> r.frames_skipped  # doctest: +SKIP
            0
        """
        backend = self._backend
        return self._skipped_before + (backend.frames_skipped if backend is not None else 0)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called.

        Example:
            >>> r.closed  # doctest: +SKIP
            False
        """
        return self._closed

    def close(self) -> None:
        """Stop the decode thread and release the stream. Idempotent; returns within 0.5 s.

        In every state (streaming, stalled, frozen peer, opening, reconnecting): a socket that
        can be shut down is (the native backend's), an open in progress is cancelled, and a
        call that cannot be interrupted (an FFmpeg read) is left to its daemon thread, which
        releases the stream when the call returns (within ``read_timeout_s``).

        Example:
            >>> r.close(); r.close()  # doctest: +SKIP
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        if self._policy is not None:
            self._policy.close()
        backend = self._backend
        if backend is not None:
            backend.interrupt()
        if self._thread is not None:
            self._thread.join(timeout=CLOSE_JOIN_S)
            if self._thread.is_alive():
                log.debug("%s: a blocked read finishes in the background", self.url.redacted)
        elif self._io_lock.acquire(timeout=CLOSE_JOIN_S):
            try:
                self._drop_backend()
            finally:
                self._io_lock.release()
        if self.capture is not None:
            self.capture.close()
        self._set_state(StreamState.CLOSED, "close()")

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Reader({self.url.redacted!r}, strategy={self.strategy.value}, "
            f"backend={self.backend_used}, transport={self.transport_used.value}, "
            f"state={self._state.value})"
        )


_F = TypeVar("_F", bound=Callable[..., Any])


def show_options(options: type[Any]) -> Callable[[_F], _F]:
    """Spell out ``options``' keys, with :class:`Reader`'s defaults, in the runtime signature.

    ``**kwargs: Unpack[ReaderOptions]`` types the options for type checkers; ``help()`` and
    Jupyter's tab completion read the runtime signature, which this decorator completes.

    Example:
        >>> import inspect
        >>> inspect.signature(open).parameters["open_timeout_s"]
        <Parameter "open_timeout_s: 'float' = 5.0">
    """
    defaults = inspect.signature(Reader).parameters

    def decorate(func: _F) -> _F:
        sig = inspect.signature(func)
        params = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
        named = {p.name for p in params}
        params += [
            defaults[key].replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for key in options.__annotations__
            if key not in named
        ]
        setattr(func, "__signature__", sig.replace(parameters=params))  # noqa: B010
        return func

    return decorate


@show_options(ReaderOptions)
def open(
    url: str | RtspUrl,
    strategy: Strategy | str = Strategy.LATEST,
    *,
    name: str | None = None,
    recorder: Recorder | None = None,
    **options: Unpack[ReaderOptions],
) -> Reader:
    """Open one stream with a reading strategy; see :class:`Reader` for every option.

    Example:
        >>> import rtsplab
        >>> with rtsplab.open("rtsp://127.0.0.1:8554/cam1", strategy="latest") as r:  # doctest: +SKIP
        ...     ok, image = r.read()
    """
    return Reader(url, strategy=strategy, name=name, recorder=recorder, **options)
