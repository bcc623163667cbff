"""One reader loop for every strategy; strategies differ only in their buffer policy.

``naive`` has no thread: each ``read()`` decodes the next frame in the caller's loop.
``buffered`` and ``latest`` run the same decode loop in a daemon thread and differ only in the
:mod:`rtsplab.policies` object the loop puts frames into.

Every frame is stamped once, in the thread that decoded it: the decode step turns each decoded
picture into a :class:`Stamped` record (reader sequence number, picture, source time, clock,
source sequence number), by the best clock it carries: the timecode burned into the image
when there is one (read at the record's first use when the picture has an RTCP time, so
pictures that are dropped are never read), else the RTCP wall clock of the picture's own RTP
timestamp, else that timestamp anchored at the first frame's arrival, else the arrival time
(see :class:`Clock` and :class:`~rtsplab.source_clock.SourceClock`). The policies buffer records, groups match on
them, and :func:`to_frame` alone turns one into the :class:`Frame` handed out (the BGR
conversion happens there, so frames that are dropped are never converted).

A stream that ended (closed, or failed for good) raises :class:`StreamClosed` on every read
once the frames it decoded before are handed out, and iterating a reader yields each frame
at most once.

Example:
    >>> with open("rtsp://127.0.0.1:8554/cam1", strategy="latest") as r:  # doctest: +SKIP
    ...     ok, image = r.read()
    ...     frame = r.read_frame(timeout_s=1)
    ...     print(frame.age_ms)
"""

from __future__ import annotations

import inspect
import logging
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from rtsplab.backends import BACKENDS, Backend, DecodedFrame, Profile, StreamInfo, open_backend
from rtsplab.camera_clock import CameraClockEstimate
from rtsplab.capture import SessionCapture
from rtsplab.entities import Clock, Frame, Overflow, Strategy, StreamState, Transport
from rtsplab.errors import (
    OpenTimeout,
    ProtocolError,
    ReadTimeout,
    RtspLabError,
    StreamClosed,
    UnsupportedStream,
)
from rtsplab.policies import LatestPolicy, Policy, QueuePolicy
from rtsplab.recorder import Recorder
from rtsplab.source_clock import SourceClock
from rtsplab.timecode import read_timecode
from rtsplab.urls import RtspUrl, scrub

if TYPE_CHECKING:
    from typing import Unpack

__all__ = [
    "Reader",
    "ReaderOptions",
    "Stamped",
    "StreamOptions",
    "open",
    "show_options",
    "stream_name",
    "to_frame",
]

log = logging.getLogger("rtsplab")


class Stamped:
    """A decoded picture stamped with its capture time, in the thread that decoded it.

    What the decode step produces and the policies buffer; groups match on ``t_source_ns``
    and :func:`to_frame` turns one into a :class:`Frame`. The picture stays as the decoder
    gave it (YUV for the PyAV and native backends) until :func:`to_frame` converts it.

    The decode step stamps it by the best clock the stream gives (:class:`SourceClock`).
    Where that is the RTCP time, reading rtsplab's own timecode from the picture (100-200 µs
    right after a decode) is left to the first use of the record's time (``timecode=True``):
    ``latest`` drops most pictures unread, and a dropped picture is never read. The time is
    decided once either way: everything that asks sees the same value.

    Attributes:
        seq: the reader's frame number (every decoded frame gets one; gaps are drops).
        decoded: the decoded picture and its arrival time.
        stream: the reader's stream name.
        backend: the backend that decoded it.

    Example:
        >>> import numpy as np
        >>> rec = Stamped(3, DecodedFrame(t_recv_ns=5, image=np.zeros((1, 1, 3), np.uint8)),
        ...               2, Clock.RTCP, None, "cam1", "native")
        >>> rec.t_source_ns, rec.clock, rec.decoded.t_recv_ns
        (2, <Clock.RTCP: 'rtcp'>, 5)
        >>> from rtsplab.timecode import write_timecode
        >>> img = np.zeros((360, 640, 3), np.uint8); write_timecode(img, 1_000, 7)
        >>> rec = Stamped(4, DecodedFrame(t_recv_ns=5, image=img), 2, Clock.RTCP, None,
        ...               "cam1", "native", timecode=True)
        >>> rec.t_source_ns, rec.clock, rec.source_seq
        (1000, <Clock.TIMECODE: 'timecode'>, 7)
    """

    __slots__ = ("_pending", "_stamp", "backend", "decoded", "seq", "stream")

    def __init__(
        self,
        seq: int,
        decoded: DecodedFrame,
        t_source_ns: int,
        clock: Clock,
        source_seq: int | None,
        stream: str,
        backend: str,
        *,
        timecode: bool = False,
    ) -> None:
        self.seq = seq
        self.decoded = decoded
        self.stream = stream
        self.backend = backend
        self._stamp: tuple[int, Clock, int | None] = (t_source_ns, clock, source_seq)
        self._pending = timecode  # the picture's timecode, if any, is still to be read

    def _time(self) -> tuple[int, Clock, int | None]:
        if self._pending:  # two threads may both read it: the same value, set twice
            tc = read_timecode(self.decoded.luma)
            if tc is not None:
                self._stamp = (tc.t_ns, Clock.TIMECODE, tc.seq)
            self._pending = False
        return self._stamp

    @property
    def t_source_ns(self) -> int:
        """Capture time at the source, per :attr:`clock` (wall clock, ns)."""
        return self._time()[0]

    @property
    def clock(self) -> Clock:
        """Where :attr:`t_source_ns` came from."""
        return self._time()[1]

    @property
    def source_seq(self) -> int | None:
        """The source's own frame number from the timecode, if any."""
        return self._time()[2]

    def __repr__(self) -> str:
        return f"Stamped(seq={self.seq}, stream={self.stream!r}, backend={self.backend!r})"


def to_frame(
    record: Stamped, *, depth: int = 0, dropped: int = 0, t_read_ns: int | None = None
) -> Frame:
    """The :class:`Frame` handed out for ``record``: the one place a record becomes a frame.

    Converts the picture to BGR if it is still the decoder's YUV; ``t_read_ns`` defaults to
    now (wall clock).

    Example:
        >>> import numpy as np
        >>> rec = Stamped(3, DecodedFrame(t_recv_ns=5_000_000, image=np.zeros((1, 1, 3), np.uint8)),
        ...               2_000_000, Clock.RTCP, None, "cam1", "native")
        >>> f = to_frame(rec, dropped=1, t_read_ns=9_000_000)
        >>> f.stream, f.seq, f.age_ms, f.wait_ms, f.dropped, f.backend
        ('cam1', 3, 7.0, 4.0, 1, 'native')
    """
    decoded = record.decoded
    t_source_ns, clock, source_seq = record._time()
    return Frame(
        image=decoded.image,
        stream=record.stream,
        seq=record.seq,
        t_source_ns=t_source_ns,
        clock=clock,
        t_recv_ns=decoded.t_recv_ns,
        t_read_ns=time.time_ns() if t_read_ns is None else t_read_ns,
        depth=depth,
        dropped=dropped,
        source_seq=source_seq,
        backend=record.backend,
    )


CLOSE_JOIN_S = 0.25  # close() waits this long for a blocked call, then leaves it to finish
# A stream whose pictures carried no timecode for this many in a row (a real camera) is looked
# at for one only every this many pictures: a read costs 100-200 µs right after a decode (cold
# caches), as much as a tenth of the decode, and ``latest`` drops most pictures unread.
TIMECODE_PROBE_EVERY = 30


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


def typed_error(exc: BaseException, url: RtspUrl, what: str) -> RtspLabError:
    """A typed, redacted error for an exception no layer below typed (a library's or a bug).

    Parsing-like failures (``ValueError``, ``struct.error``, ``IndexError``...) on data the
    server sent are :class:`ProtocolError`; anything else :class:`StreamClosed`. An
    :class:`RtspLabError` is returned as it is.

    Example:
        >>> u = RtspUrl.parse("rtsp://admin:s3cret@h/x")
        >>> typed_error(ValueError("bad s3cret"), u, "open")
        ProtocolError('rtsp://admin:***@h/x: open failed on data it could not read (ValueError: bad ***)')
        >>> type(typed_error(RuntimeError("x"), u, "read")).__name__
        'StreamClosed'
    """
    if isinstance(exc, RtspLabError):
        return exc
    detail = scrub(f"{type(exc).__name__}: {exc}", url.secrets)
    if isinstance(exc, ValueError | LookupError | ArithmeticError | struct.error):
        return ProtocolError(f"{url.redacted}: {what} failed on data it could not read ({detail})")
    return StreamClosed(f"{url.redacted}: {what} failed ({detail})")


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
                    f"{self.url.redacted}: RTSPS sessions are not recorded (a capture would "
                    "hold in clear what the camera encrypted)"
                )
            backend = "native"
            self.capture = (
                capture
                if isinstance(capture, SessionCapture)
                else SessionCapture(capture, url=self.url.without_credentials())
            )
        self.strategy = Strategy(strategy)
        Transport(transport)  # bad arguments are ValueErrors, before anything opens
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
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
        self._policy: Policy[Stamped] | None = None
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
        self._ended: StreamClosed | None = None  # naive: the stream ended; every read raises
        self._timecode_misses = 0  # pictures in a row without a readable timecode
        self.reconnects = 0
        self._bad_packets_before = 0  # counted by backends already closed
        self._lost_packets_before = 0
        self._skipped_before = 0
        self.first_frame_age_ms: float | None = None
        t0 = time.monotonic_ns()
        try:
            self._backend: Backend | None = self._adopt(self._open_backend(self._open_args))
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

    def _open_backend(self, args: dict[str, Any], cancel: threading.Event | None = None) -> Backend:
        """:func:`open_backend`, raising only typed errors (an untyped one is converted)."""
        try:
            return open_backend(self.url, cancel=cancel, **args)
        except RtspLabError:
            raise
        except Exception as exc:
            error = typed_error(exc, self.url, "open")
            log.warning("%s", error)
            raise error from None

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
                self._backend = self._adopt(self._open_backend(args, cancel=self._stop))
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
            try:
                backend.close()
            except Exception as exc:  # a close must not fail: the stream is released anyway
                log.debug("%s: close: %s", self.url.redacted, typed_error(exc, self.url, "close"))

    def _stamp(self, decoded: DecodedFrame) -> Stamped:
        """Stamp a picture just decoded (decode thread; naive: the caller's): one
        :meth:`SourceClock.stamp` per picture, by the best clock it carries.

        The timecode is read from the decoder's luma plane (nothing is converted): here when
        the picture has no RTCP time (it then calibrates the PTS), else at the record's first
        use (:class:`Stamped`). In a stream that shows none (a real camera), only one picture
        in :data:`TIMECODE_PROBE_EVERY` is looked at here."""
        tc = None
        deferred = False
        misses = self._timecode_misses
        if self._timecode and decoded.t_rtcp_ns is not None:
            deferred = True
        elif self._timecode and (
            misses < TIMECODE_PROBE_EVERY or self._seq % TIMECODE_PROBE_EVERY == 0
        ):
            tc = read_timecode(decoded.luma)
            self._timecode_misses = 0 if tc is not None else misses + 1
        t_source_ns, clock, source_seq = self._clock.stamp(
            decoded.pts_s,
            decoded.t_recv_ns,
            t_rtcp_ns=decoded.t_rtcp_ns,
            timecode=(tc.t_ns, tc.seq) if tc is not None else None,
            t_camera_ns=decoded.t_camera_ns,
            held_frames=held_frames(self.backend_used, self.info.codec),
            seq=self._seq,
        )
        return Stamped(
            self._seq,
            decoded,
            t_source_ns,
            clock,
            source_seq,
            self.name,
            self.backend_used,
            timecode=deferred,
        )

    def _step(self) -> Stamped:
        """Decode and stamp the next frame, stalling/reconnecting as configured. Shared by all
        strategies.

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
                try:
                    decoded = backend.read()
                except (ReadTimeout, StreamClosed):
                    raise
                except Exception as exc:  # untyped (a library's or a bug): the stream is lost
                    error = typed_error(exc, self.url, "read")
                    log.warning("%s", error)
                    raise StreamClosed(str(error)) from None
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
            return self._stamp(decoded)

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
    def _hand_out(self, record: Stamped, depth: int) -> Frame:
        """The frame for ``record`` now, with the frames skipped since the previous hand-out."""
        last = self._last_read_seq
        dropped = max(0, record.seq - last - 1) if last >= 0 else 0
        self._last_read_seq = max(last, record.seq)
        frame = to_frame(record, depth=depth, dropped=dropped)
        if self.first_frame_age_ms is None:
            self.first_frame_age_ms = frame.age_ms
        return frame

    def read_frame(self, timeout_s: float | None = None, fresh: bool = False) -> Frame:
        """The next frame according to the strategy, as a :class:`Frame` with its timing.

        ``latest`` with ``fresh=False`` returns the newest frame at once, *possibly the same
        one as the previous call* (its ``seq`` says so, and a :class:`Recorder` marks the row
        ``repeat``); ``fresh=True`` and iterating the reader never return a frame twice.
        Once the stream has ended (closed, or failed without ``reconnect``), every call
        raises :class:`StreamClosed`, after the frames decoded before the end that were never
        handed out.

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
                    if self._ended is not None:
                        raise StreamClosed(str(self._ended))
                    frame = self._hand_out(self._step(), 0)
                except StreamClosed as exc:
                    if not self._closed:
                        self._set_state(StreamState.CLOSED, "the stream ended")
                        self._ended = self._ended or exc
                    raise
                finally:
                    if self._closed:  # close() ran meanwhile and left the stream to us
                        self._drop_backend()
        else:
            try:
                record, depth = self._policy.take(wait_s, fresh)
            except ReadTimeout:
                state = self.state
                raise ReadTimeout(
                    f"{self.url.redacted}: no frame within {wait_s:g} s (stream {state.value}: "
                    f"{self.state_reason})"
                ) from None
            frame = self._hand_out(record, depth)
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
        policy.wait(lambda: policy.newest_key(lambda record: record.seq) > seq, timeout_s)

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
        """Each frame once, until the reader is closed or the stream ends (``latest``: the
        newest frame not returned before, as ``read_frame(fresh=True)``).

        A stall raises :class:`ReadTimeout` out of the loop after ``read_timeout_s`` with no
        new frame, as :meth:`read_frame` does.

        Example:
            >>> for frame in r: break  # doctest: +SKIP
        """
        while True:
            try:
                yield self.read_frame(fresh=True)
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
    def policy(self) -> Policy[Stamped] | None:
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
