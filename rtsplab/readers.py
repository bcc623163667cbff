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

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from rtsplab.backends import Backend, DecodedFrame, Profile, StreamInfo, open_backend
from rtsplab.entities import Clock, Frame, Overflow, Strategy, StreamState, Transport
from rtsplab.errors import ReadTimeout, RtspLabError, StreamClosed
from rtsplab.policies import LatestPolicy, Policy, QueuePolicy
from rtsplab.recorder import Recorder
from rtsplab.timecode import read_timecode
from rtsplab.urls import RtspUrl, scrub

__all__ = ["Reader", "open", "stream_name"]

log = logging.getLogger("rtsplab")

Item = tuple[int, DecodedFrame]  # (reader seq, decoded frame)


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
        reconnect: reopen after a stall or a lost stream, with capped exponential backoff.
        profile: ``low_latency`` (default) or ``default`` (FFmpeg's own options, to compare).
        decoder_threads: 1 (no frame-threading delay), 0 (FFmpeg chooses) or None (by profile).
        name: stream name (default: last path segment).
        recorder: a :class:`Recorder` that gets one row per frame handed out.
        maxsize, overflow: bound of the ``buffered`` queue and what to do when full.
        keep: frames of history the ``latest`` policy retains (groups use it to match).
        max_backoff_s: cap of the reconnect backoff.

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
        reconnect: bool = False,
        profile: str = Profile.LOW_LATENCY,
        decoder_threads: int | None = None,
        name: str | None = None,
        recorder: Recorder | None = None,
        maxsize: int = 0,
        overflow: Overflow | str = Overflow.BLOCK,
        keep: int = 1,
        max_backoff_s: float = 8.0,
        timecode: bool = True,
    ) -> None:
        self.url = url if isinstance(url, RtspUrl) else RtspUrl.parse(url)
        self.strategy = Strategy(strategy)
        self.name = name or stream_name(self.url)
        self.recorder = recorder
        self.reconnect = reconnect
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
        )
        self._policy: Policy[Item] | None = None
        if self.strategy is Strategy.BUFFERED:
            self._policy = QueuePolicy(maxsize, overflow)
        elif self.strategy is Strategy.LATEST:
            self._policy = LatestPolicy(keep)
        self._state = StreamState.CONNECTING
        self._stop = threading.Event()
        self._io_lock = threading.Lock()  # naive: serialises read() and close()
        self._close_lock = threading.Lock()
        self._closed = False
        self._seq = -1  # last decoded
        self._last_decode_ns = time.monotonic_ns()
        self._last_read_seq = -1  # last handed out
        self._pts_offset_ns: int | None = None
        self._source_cache: dict[int, tuple[int, Clock, int | None]] = {}
        self.reconnects = 0
        self.first_frame_age_ms: float | None = None
        t0 = time.monotonic_ns()
        self._backend: Backend | None = open_backend(self.url, **self._open_args)
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
    def _set_state(self, state: StreamState) -> None:
        if state is not self._state:
            log.debug("%s: %s -> %s", self.url.redacted, self._state.value, state.value)
            self._state = state

    def _reopen(self, deadline_s: float | None) -> None:
        """Reconnect with capped exponential backoff until it works, the reader closes or
        (naive: the consumer is waiting) ``deadline_s`` on the monotonic clock passes."""
        self._set_state(StreamState.RECONNECTING)
        backoff_s = 0.25
        args = dict(self._open_args)
        args["open_timeout_s"] = min(args["open_timeout_s"], 2 * self.read_timeout_s)
        while not self._stop.is_set():
            try:
                self._backend = open_backend(self.url, **args)
                self.transport_used = Transport(self._backend.options.transport)
                self.backend_used = self._backend.name
                self.reconnects += 1
                self._pts_offset_ns = None
                log.info("%s: reconnected", self.url.redacted)
                return
            except RtspLabError as exc:
                log.info(
                    "%s: reconnect failed (%s); retry in %.2f s", self.url.redacted, exc, backoff_s
                )
                if self._policy is not None:
                    self._policy.fail(exc)
            if deadline_s is not None and time.monotonic() + backoff_s > deadline_s:
                raise ReadTimeout(f"{self.url.redacted}: still reconnecting; read again to retry")
            self._stop.wait(backoff_s)
            backoff_s = min(backoff_s * 2, self.max_backoff_s)
        raise StreamClosed(f"{self.url.redacted}: the reader is closed")

    def _drop_backend(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()

    def _step(self) -> Item:
        """Decode the next frame, stalling/reconnecting as configured. Shared by all strategies."""
        deadline_s = None if self._policy is not None else time.monotonic() + self.read_timeout_s
        while True:
            if self._stop.is_set():
                raise StreamClosed(f"{self.url.redacted}: the reader is closed")
            if self._backend is None:
                self._reopen(deadline_s)
                continue
            try:
                decoded = self._backend.read()
            except ReadTimeout:
                self._set_state(StreamState.STALLED)
                if not self.reconnect:
                    raise
                self._drop_backend()
                continue
            except StreamClosed:
                if not self.reconnect or self._stop.is_set():
                    raise
                self._drop_backend()
                continue
            self._seq += 1
            self._last_decode_ns = time.monotonic_ns()
            self._set_state(StreamState.STREAMING)
            return self._seq, decoded

    def _run(self) -> None:
        policy = self._policy
        assert policy is not None
        try:
            while not self._stop.is_set():
                try:
                    policy.put(self._step())
                except ReadTimeout as exc:  # no reconnect: report the stall, keep waiting
                    policy.fail(exc)
        except RtspLabError as exc:
            if not self._stop.is_set():
                policy.fail(exc)
        except Exception as exc:  # a bug or an unexpected library error: report it, typed
            detail = scrub(f"{type(exc).__name__}: {exc}", self.url.secrets)
            log.error("%s: decode thread failed: %s", self.url.redacted, detail)
            policy.fail(StreamClosed(f"{self.url.redacted}: the decode thread failed ({detail})"))
        finally:
            self._drop_backend()
            if self._stop.is_set():
                self._set_state(StreamState.CLOSED)

    # ---- consumer side ----------------------------------------------------------------------
    def _source_time(self, decoded: DecodedFrame, image: Any) -> tuple[int, Clock, int | None]:
        """Source time by the best clock available for this frame.

        The PTS fallback is calibrated: whenever a frame carries a timecode or an RTCP time,
        the offset between that clock and the PTS is remembered, so a frame whose timecode
        was damaged (UDP loss) still gets a true source time. Without any calibration, the
        PTS is anchored at the first frame's arrival.
        """
        pts_ns = int(decoded.pts_s * 1e9) if decoded.pts_s is not None else None
        found: tuple[int, Clock, int | None] | None = None
        if self._timecode:
            tc = read_timecode(image)
            if tc is not None:
                found = (tc.t_ns, Clock.TIMECODE, tc.seq)
        if found is None and decoded.t_rtcp_ns is not None:
            found = (decoded.t_rtcp_ns, Clock.RTCP, None)
        if found is not None:
            if pts_ns is not None:
                self._pts_offset_ns = found[0] - pts_ns
            return found
        if pts_ns is not None:
            if self._pts_offset_ns is None:
                self._pts_offset_ns = decoded.t_recv_ns - pts_ns
            return pts_ns + self._pts_offset_ns, Clock.PTS, None
        return decoded.t_recv_ns, Clock.NONE, None

    def _source_of(self, item: Item) -> tuple[int, Clock, int | None]:
        seq, decoded = item
        found = self._source_cache.get(seq)
        if found is None:
            found = self._source_time(decoded, decoded.image)
            if len(self._source_cache) > 64:
                self._source_cache.clear()
            self._source_cache[seq] = found
        return found

    def source_time_ns(self, item: Item) -> int:
        """Source capture time of a decoded item (cached; groups use it to match frames).

        Example:
            >>> Reader.source_time_ns.__name__
            'source_time_ns'
        """
        return self._source_of(item)[0]

    def make_frame(self, item: Item, depth: int) -> Frame:
        """Turn a decoded item into the :class:`Frame` handed to the consumer, now.

        Converts the image if it is still YUV, decodes the source clock, counts the frames
        skipped since the previous hand-out, and records the frame. Groups call this too.

        Example:
            >>> Reader.make_frame.__name__
            'make_frame'
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
                if self._closed:
                    raise StreamClosed(f"{self.url.redacted}: the reader is closed")
                item, depth = self._step(), 0
                frame = self.make_frame(item, depth)
        else:
            item, depth = self._policy.take(wait_s, fresh)
            frame = self.make_frame(item, depth)
        if self.recorder is not None:
            self.recorder.add(frame, strategy=self.strategy.value)
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
        if self._state is StreamState.STREAMING and silent_s > self.read_timeout_s / 2:
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
    def closed(self) -> bool:
        """Whether :meth:`close` was called.

        Example:
            >>> r.closed  # doctest: +SKIP
            False
        """
        return self._closed

    def close(self) -> None:
        """Stop the decode thread, join it and release the stream. Idempotent.

        Returns within about ``2 * read_timeout_s`` even if the backend is blocked in a read.

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
        if self._thread is not None:
            self._thread.join(timeout=2 * self.read_timeout_s + 1.0)
            if self._thread.is_alive():
                log.warning("%s: decode thread still blocked after close()", self.url.redacted)
        else:
            with self._io_lock:
                self._drop_backend()
        self._set_state(StreamState.CLOSED)

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


def open(url: str | RtspUrl, strategy: Strategy | str = Strategy.LATEST, **kwargs: Any) -> Reader:
    """Open one stream with a reading strategy; see :class:`Reader` for every option.

    Example:
        >>> import rtsplab
        >>> with rtsplab.open("rtsp://127.0.0.1:8554/cam1", strategy="latest") as r:  # doctest: +SKIP
        ...     ok, image = r.read()
    """
    return Reader(url, strategy=strategy, **kwargs)
