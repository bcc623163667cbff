"""Several streams read together, as sets of one frame per stream, that survive a dead camera.

- Streams are opened **in parallel**, so the first camera does not build a backlog while
  the second one opens (the problem statement's one-second skew starts there). A camera that
  fails to open is reported in :attr:`Group.open_errors` and the others are read
  (``on_missing="raise"`` raises instead).
- ``sync="latest"``: each set holds the newest frame of every stream (for ``naive`` and
  ``buffered``, the next frame of each, read one after the other, as a hand-written loop would).
- ``sync="matched"``: each set holds frames whose source times agree within a tolerance
  (default: half of each stream's frame period, the best two free-running cameras allow);
  the matching itself is :func:`rtsplab.sync.match`. Frames that found no partner are counted
  in :attr:`FrameSet.unmatched`.
- A stream that is down (its state is ``stalled``, ``reconnecting`` or ``closed``, or it never
  opened) does not hold the others up: per ``on_missing`` the set leaves it out and names it
  in :attr:`FrameSet.missing` (``"partial"``, the default), repeats its last frame flagged
  :attr:`Frame.stale` (``"stale"``), or ``read_set`` raises (``"raise"``). ``read_set`` is
  bounded by its timeout and raises only when no stream at all delivers in that time.
- :meth:`Group.add` and :meth:`Group.remove` change the streams while sets are being read.

Example:
    >>> with open_group(["rtsp://127.0.0.1:8554/cam1", "rtsp://127.0.0.1:8554/cam2"],
    ...                 sync="matched") as g:  # doctest: +SKIP
    ...     fs = g.read_set()
    ...     print(fs.skew_ms, fs.missing)
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtsplab import sync as matching
from rtsplab.entities import Frame, FrameSet, OnMissing, Strategy, StreamState, Sync
from rtsplab.errors import ReadTimeout, RtspLabError, StreamClosed
from rtsplab.policies import LatestPolicy
from rtsplab.readers import Reader, ReaderOptions, Stamped, show_options, stream_name, to_frame
from rtsplab.recorder import Recorder
from rtsplab.urls import RtspUrl

if TYPE_CHECKING:
    from typing import Unpack

__all__ = ["Group", "open_group", "stream_names"]

MATCH_HISTORY = 16  # frames of history per stream for matching (0.5 s at 30 fps)
MAX_BACKOFF_S = 2.0  # a group's reconnect cap: a camera back rejoins the sets within ~3 s
POLL_S = 0.05  # how often a waiting read_set looks again at the streams it is not waiting on
DOWN = frozenset({StreamState.STALLED, StreamState.RECONNECTING, StreamState.CLOSED})


def stream_names(urls: Sequence[str | RtspUrl], names: Sequence[str] | None = None) -> list[str]:
    """The names of a group's streams: ``names`` checked, or each URL's last path segment,
    made unique by appending ``#<index>``.

    Raises:
        ValueError: ``names`` are not unique or not one per URL.

    Example:
        >>> stream_names(["rtsp://h/a/cam", "rtsp://h/b/cam", "rtsp://h/door"])
        ['cam', 'cam#1', 'door']
        >>> stream_names(["rtsp://h/a"], names=["front", "back"])
        Traceback (most recent call last):
        ...
        ValueError: names must be unique and one per URL
    """
    if names is not None:
        if len(names) != len(urls) or len(set(names)) != len(names):
            raise ValueError("names must be unique and one per URL")
        return list(names)
    out: list[str] = []
    for i, u in enumerate(urls):
        n = stream_name(u)
        out.append(n if n not in out else f"{n}#{i}")
    return out


def _down(reader: Reader) -> bool:
    return reader.state in DOWN


class Group:
    """Readers for several streams and the logic that assembles them into sets.

    Use :func:`open_group`. Closing the group closes every reader.

    Attributes:
        readers: the open readers, in set order.
        open_errors: stream name -> the typed, redacted error that kept it from opening;
            such a stream is named in every set's :attr:`FrameSet.missing` until
            :meth:`add` opens it or :meth:`remove` drops it.

    Example:
        >>> g = open_group(urls, strategy="latest")  # doctest: +SKIP
        >>> g.streams, g.open_errors  # doctest: +SKIP
        (['cam1', 'cam2', 'cam3'], {'cam3': ConnectError('rtsp://127.0.0.1:9/cam3: refused')})
    """

    def __init__(
        self,
        readers: list[Reader],
        sync: Sync | str = Sync.LATEST,
        tolerance_ms: float | None = None,
        recorder: Recorder | None = None,
        on_missing: OnMissing | str = OnMissing.PARTIAL,
        open_errors: dict[str, RtspLabError] | None = None,
        reader_options: dict[str, Any] | None = None,
    ) -> None:
        self.readers = list(readers)
        self.sync = Sync(sync)
        self.on_missing = OnMissing(on_missing)
        self.tolerance_ms = tolerance_ms
        self.recorder = recorder
        self.open_errors: dict[str, RtspLabError] = dict(open_errors or {})
        self.strategy = readers[0].strategy if readers else Strategy.LATEST
        self._reader_options = dict(reader_options or {})
        self._order = [r.name for r in readers] + [n for n in self.open_errors]
        self._set_id = -1
        self._last_seq: dict[str, int] = {r.name: -1 for r in readers}
        self._last_frame: dict[str, Frame] = {}
        self._lock = threading.Lock()  # guards membership (readers, open_errors, _order)
        self._closed = False
        if recorder is not None:
            for reader in self.readers:
                reader.record_states_to(recorder)

    # ---- membership ------------------------------------------------------------------------
    @property
    def streams(self) -> list[str]:
        """Stream names, in set order, including streams that failed to open.

        Example:
            >>> g.streams  # doctest: +SKIP
            ['cam1', 'cam2']
        """
        return list(self._order)

    @property
    def states(self) -> dict[str, StreamState]:
        """Each stream's state (``closed`` for one that failed to open).

        Example:
            >>> g.states["cam1"]  # doctest: +SKIP
            <StreamState.STREAMING: 'streaming'>
        """
        by_name = {r.name: r.state for r in self.readers}
        return {n: by_name.get(n, StreamState.CLOSED) for n in self._order}

    def add(self, url: str | RtspUrl, name: str | None = None) -> str:
        """Open one more stream with the group's reader options; it joins the next set.

        A name listed in :attr:`open_errors` is opened again (a retry).

        Returns:
            The stream's name (``name``, else the last URL path segment, made unique).

        Raises:
            ValueError: a stream of that name is already open.
            RtspLabError: the stream failed to open (the group is unchanged).
            StreamClosed: the group is closed.

        Example:
            >>> g.add("rtsp://127.0.0.1:8554/cam3")  # doctest: +SKIP
            'cam3'
        """
        if self._closed:
            raise StreamClosed("the group is closed")
        with self._lock:
            taken = {r.name for r in self.readers}
        if name is None:
            name = stream_name(url)
            base, i = name, 1
            while name in taken:
                name, i = f"{base}#{i}", i + 1
        elif name in taken:
            raise ValueError(f"a stream named {name!r} is already in the group")
        options = dict(self._reader_options)
        reader = Reader(url, strategy=options.pop("strategy", self.strategy), name=name, **options)
        if self.recorder is not None:
            reader.record_states_to(self.recorder)
        with self._lock:
            if self._closed or name in {r.name for r in self.readers}:
                late = True
            else:
                late = False
                self.readers = [*self.readers, reader]
                self.open_errors.pop(name, None)
                if name not in self._order:
                    self._order = [*self._order, name]
                self._last_seq[name] = -1
        if late:
            reader.close()
            if self._closed:
                raise StreamClosed("the group is closed")
            raise ValueError(f"a stream named {name!r} is already in the group")
        return name

    def remove(self, name: str) -> None:
        """Close one stream and drop it from the group (and from :attr:`open_errors`).

        Raises:
            KeyError: no stream of that name.

        Example:
            >>> g.remove("cam3")  # doctest: +SKIP
        """
        with self._lock:
            if name not in self._order:
                raise KeyError(f"no stream {name!r}; streams: {self._order}")
            gone = [r for r in self.readers if r.name == name]
            self.readers = [r for r in self.readers if r.name != name]
            self.open_errors.pop(name, None)
            self._order = [n for n in self._order if n != name]
            self._last_seq.pop(name, None)
            self._last_frame.pop(name, None)
        for r in gone:
            r.close()

    # ---- sets ------------------------------------------------------------------------------
    def _finish(
        self,
        frames: dict[str, Frame],
        unmatched: dict[str, int] | None = None,
    ) -> FrameSet:
        order = self._order
        missing = tuple(n for n in order if n not in frames)
        for name, frame in frames.items():
            self._last_frame[name] = frame
        if self.on_missing is OnMissing.STALE:
            now_ns = time.time_ns()
            for name in missing:
                last = self._last_frame.get(name)
                if last is not None:
                    frames[name] = dataclasses.replace(
                        last, t_read_ns=now_ns, stale=True, depth=0, dropped=0
                    )
        self._set_id += 1
        live = [f.t_source_ns for f in frames.values() if not f.stale]
        ordered = {n: frames[n] for n in order if n in frames}
        fs = FrameSet(ordered, self._set_id, matching.skew_ms(live), unmatched or {}, missing)
        if self.recorder is not None:
            bad = {r.name: r.bad_packets for r in self.readers}
            lost = {r.name: r.lost_packets for r in self.readers}
            offsets = {r.name: r.clock_offset_ms for r in self.readers}
            skipped = {r.name: r.frames_skipped for r in self.readers}
            for frame in ordered.values():
                if not frame.stale:  # a repeat is not a frame handed out: plots show a gap
                    self.recorder.add(
                        frame,
                        strategy=self.strategy.value,
                        set_id=fs.set_id,
                        skew_ms=fs.skew_ms,
                        bad_packets=bad.get(frame.stream, 0),
                        lost_packets=lost.get(frame.stream, 0),
                        clock_offset_ms=offsets.get(frame.stream),
                        skipped=skipped.get(frame.stream, 0),
                    )
        return fs

    def _missing_error(self, reader: Reader, wait_s: float) -> RtspLabError:
        """The error to raise for a stream that is down or late (``on_missing="raise"``)."""
        try:
            reader.read_frame(timeout_s=0.0, fresh=True)
        except RtspLabError as exc:
            if not isinstance(exc, ReadTimeout):
                return exc
        return ReadTimeout(
            f"{reader.url.redacted}: {reader.state.value}, no frame within {wait_s:g} s"
        )

    def _no_set(self, wait_s: float) -> RtspLabError:
        if self._closed:
            return StreamClosed("the group is closed")
        states = ", ".join(f"{n}={s.value}" for n, s in self.states.items())
        return ReadTimeout(f"no stream delivered a frame within {wait_s:g} s ({states})")

    def read_set(self, timeout_s: float | None = None, fresh: bool = False) -> FrameSet:
        """The next set of one frame per stream; streams that are down are handled per
        ``on_missing`` and never hold the others up.

        Args:
            timeout_s: how long to wait for the set (default: the readers' read timeout).
            fresh: ``sync="latest"`` only: wait for a frame newer than the previous set's in
                every stream that is up.

        Raises:
            ReadTimeout: no stream delivered a frame (or, for ``matched``, a matched set) in
                time; with ``on_missing="raise"``, a stream was down or late.
            RtspLabError: ``on_missing="raise"``: a down stream's own error.
            StreamClosed: the group was closed.

        Example:
            >>> fs = g.read_set()  # doctest: +SKIP
            >>> fs.skew_ms, fs.missing  # doctest: +SKIP
            (12.3, ('cam2',))
        """
        if self._closed:
            raise StreamClosed("the group is closed")
        readers = list(self.readers)
        default_s = readers[0].read_timeout_s if readers else 2.0
        wait_s = default_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + wait_s
        if self.sync is Sync.MATCHED:
            return self._read_matched(readers, wait_s, deadline)
        return self._read_latest(readers, wait_s, deadline, fresh)

    def _read_latest(
        self, readers: list[Reader], wait_s: float, deadline: float, fresh: bool
    ) -> FrameSet:
        frames: dict[str, Frame] = {}
        strict = self.on_missing is OnMissing.RAISE
        if strict and self.open_errors:
            raise next(iter(self.open_errors.values()))
        if self.strategy is not Strategy.LATEST:  # the next frame of each, in turn
            # A naive reader decodes only when read, so its silence says nothing: try it.
            skip_down = self.strategy is Strategy.BUFFERED and not strict
            while True:
                for r in readers:
                    if r.name in frames or (skip_down and _down(r)):
                        continue
                    try:
                        frames[r.name] = r.read_frame(max(0.0, deadline - time.monotonic()))
                    except RtspLabError:
                        if strict or self._closed:
                            raise
                remaining = deadline - time.monotonic()
                if frames or remaining <= 0:
                    break
                time.sleep(min(remaining, POLL_S))  # every stream is down: wait for one
            if not frames:
                raise self._no_set(wait_s)
            return self._finish(frames)
        while True:
            pending = []
            for r in readers:
                if r.name in frames:
                    continue
                if _down(r):
                    if strict:
                        raise self._missing_error(r, wait_s)
                    continue
                try:
                    frames[r.name] = r.read_frame(timeout_s=0.0, fresh=fresh)
                except ReadTimeout:
                    pending.append(r)
                except RtspLabError:
                    if strict or self._closed:
                        raise
            if self._closed:
                raise StreamClosed("the group is closed")
            waiting_on_down = len(frames) + len(pending) < len(readers)
            if not pending and (frames or not waiting_on_down):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if pending:  # block on one late stream, briefly, then look at all again
                try:
                    frames[pending[0].name] = pending[0].read_frame(
                        timeout_s=min(remaining, POLL_S), fresh=fresh
                    )
                except RtspLabError:
                    if self._closed:
                        raise StreamClosed("the group is closed") from None
            else:  # every stream is down: wait for one to come back
                time.sleep(min(remaining, POLL_S))
        if strict and len(frames) < len(readers):
            late = next(r for r in readers if r.name not in frames)
            raise self._missing_error(late, wait_s)
        if not frames:
            raise self._no_set(wait_s)
        return self._finish(frames)

    @staticmethod
    def _snapshot(readers: list[Reader]) -> dict[str, dict[int, Stamped]]:
        """Each reader's buffered records (stamped where decoded) by sequence number, oldest
        first."""
        out: dict[str, dict[int, Stamped]] = {}
        for r in readers:
            policy = r.policy
            assert isinstance(policy, LatestPolicy)
            out[r.name] = {record.seq: record for record in policy.history()}
        return out

    def _match(
        self, readers: list[Reader], only_delivered: bool = False
    ) -> tuple[
        matching.Match | None, dict[str, list[tuple[int, int]]], dict[str, dict[int, Stamped]]
    ]:
        """Run :func:`rtsplab.sync.match` over the readers' current histories."""
        items = self._snapshot(readers)
        by_name = {r.name: r for r in readers}
        history = {
            n: [(seq, record.t_source_ns) for seq, record in its.items()]
            for n, its in items.items()
        }
        if only_delivered:
            history = {
                n: h for n, h in history.items() if h and h[-1][0] > self._last_seq.get(n, -1)
            }
        tolerance = {n: self._tolerance_ns(by_name[n], h) for n, h in history.items()}
        return matching.match(history, self._last_seq, tolerance), history, items

    def _read_matched(self, readers: list[Reader], wait_s: float, deadline: float) -> FrameSet:
        """The newest set in which every live stream's frame lies within its stream's
        tolerance of an instant of the slowest stream (one of its frames)."""
        strict = self.on_missing is OnMissing.RAISE
        if strict and self.open_errors:
            raise next(iter(self.open_errors.values()))
        by_name = {r.name: r for r in readers}
        while True:
            live = [r for r in readers if not _down(r)]
            if strict and len(live) < len(readers):
                raise self._missing_error(next(r for r in readers if _down(r)), wait_s)
            found, history, items = self._match(live)
            if found is not None:
                return self._emit_matched(found, items)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            lag_name = matching.lagging(history, self._last_seq)
            if lag_name is None:  # every stream is down: wait for one to come back
                time.sleep(min(remaining, POLL_S))
                continue
            newest = history[lag_name][-1][0] if history[lag_name] else -1
            try:
                by_name[lag_name].wait_newer(
                    max(newest, self._last_seq.get(lag_name, -1)), min(remaining, POLL_S)
                )
            except ReadTimeout:
                pass
            except RtspLabError:
                if self._closed:
                    raise StreamClosed("the group is closed") from None
                time.sleep(min(max(0.0, deadline - time.monotonic()), POLL_S))
        if self._closed:
            raise StreamClosed("the group is closed")
        if not strict:  # at the deadline: match among the streams that did deliver
            found, _, items = self._match([r for r in readers if not _down(r)], True)
            if found is not None:
                return self._emit_matched(found, items)
        raise ReadTimeout(f"no matched set within {wait_s:g} s")

    def _emit_matched(
        self, found: matching.Match, items: dict[str, dict[int, Stamped]]
    ) -> FrameSet:
        frames: dict[str, Frame] = {}
        for name, seq in found.picks.items():
            last = self._last_seq.get(name, -1)
            dropped = max(0, seq - last - 1) if last >= 0 else 0
            frames[name] = to_frame(items[name][seq], depth=found.newer[name], dropped=dropped)
            self._last_seq[name] = seq
        return self._finish(frames, dict(found.unmatched))

    def _tolerance_ns(self, reader: Reader, hist: list[tuple[int, int]]) -> float:
        if self.tolerance_ms is not None:
            return self.tolerance_ms * 1e6
        return matching.tolerance_ns([t for _, t in hist], reader.info.fps)

    def __iter__(self) -> Iterator[FrameSet]:
        """Sets until the group is closed.

        Example:
            >>> for fs in g: break  # doctest: +SKIP
        """
        while not self._closed:
            try:
                yield self.read_set()
            except RtspLabError:
                if self._closed:
                    return
                raise

    def close(self) -> None:
        """Close every reader (in parallel). Idempotent.

        Example:
            >>> g.close(); g.close()  # doctest: +SKIP
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            readers = list(self.readers)
        _parallel(lambda r: r.close(), readers)

    def __enter__(self) -> Group:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        urls = ", ".join(r.url.redacted for r in self.readers)
        failed = f", open_errors={sorted(self.open_errors)}" if self.open_errors else ""
        return (
            f"Group([{urls}], strategy={self.strategy.value}, sync={self.sync.value}, "
            f"on_missing={self.on_missing.value}{failed})"
        )


def _parallel(fn: Any, items: Sequence[Any]) -> list[Any]:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=len(items), thread_name_prefix="rtsplab-open") as ex:
        return list(ex.map(fn, items))


@show_options(ReaderOptions)
def open_group(
    urls: Sequence[str | RtspUrl],
    strategy: Strategy | str = Strategy.LATEST,
    sync: Sync | str = Sync.LATEST,
    recorder: Recorder | None = None,
    names: Sequence[str] | None = None,
    tolerance_ms: float | None = None,
    on_missing: OnMissing | str = OnMissing.PARTIAL,
    capture_dir: str | Path | None = None,
    **reader_kwargs: Unpack[ReaderOptions],
) -> Group:
    """Open several streams in parallel and read them as sets.

    Args:
        urls: one RTSP URL per stream.
        strategy: reading strategy of every stream (``matched`` sync needs ``latest``).
        sync: ``latest`` or ``matched``.
        recorder: gets one row per live frame of every set, with the set id and skew.
        names: stream names (default: last URL path segment, made unique).
        tolerance_ms: ``matched`` only: max distance of a frame from the set's instant.
        on_missing: what a set does for a stream that is down: ``partial`` (default: leave
            it out, name it in :attr:`FrameSet.missing`), ``stale`` (repeat its last frame,
            flagged) or ``raise``. Also decides whether a stream that fails to open fails the
            whole group (``raise``) or is reported in :attr:`Group.open_errors`.
        capture_dir: write each stream's session to ``<capture_dir>/<name>.pcapng`` (see
            :mod:`rtsplab.capture`; native backend).
        **reader_kwargs: :class:`~rtsplab.readers.ReaderOptions` for every :class:`Reader`
            (backend, transport, timeouts, ``reconnect``...), and to streams added later with :meth:`Group.add`. A group
            caps the reconnect backoff at ``max_backoff_s=2`` unless told otherwise, so a
            camera that comes back is in the sets again within about 3 s.

    Raises:
        ValueError: no URL; ``sync="matched"`` with a strategy other than ``latest``.
        RtspLabError: every stream failed to open, or one did with ``on_missing="raise"``;
            whatever is raised, every reader the call opened is closed first.

    Example:
        >>> import rtsplab
        >>> with rtsplab.open_group([u1, u2], on_missing="partial") as g:  # doctest: +SKIP
        ...     fs = g.read_set()
        ...     fs.missing, g.open_errors
        ((), {})
    """
    if not urls:
        raise ValueError("open_group needs at least one URL")
    strategy = Strategy(strategy)
    sync = Sync(sync)
    on_missing = OnMissing(on_missing)
    if sync is Sync.MATCHED:
        if strategy is not Strategy.LATEST:
            raise ValueError(
                "sync='matched' pairs frames from each stream's recent history; use strategy='latest'"
            )
        reader_kwargs.setdefault("keep", MATCH_HISTORY)
    reader_kwargs.setdefault("max_backoff_s", MAX_BACKOFF_S)
    unique_names = stream_names(urls, names)

    def _open(i: int) -> Reader | Exception:
        kwargs = dict(reader_kwargs)
        if capture_dir is not None:
            kwargs["capture"] = Path(capture_dir) / f"{unique_names[i]}.pcapng"
        try:
            return Reader(urls[i], strategy=strategy, name=unique_names[i], **kwargs)  # type: ignore[arg-type]
        except Exception as exc:  # every failure is the group's to report, after cleaning up
            return exc

    results = _parallel(_open, list(range(len(urls))))
    readers = [r for r in results if isinstance(r, Reader)]
    untyped = [r for r in results if isinstance(r, Exception) and not isinstance(r, RtspLabError)]
    if untyped:  # a bad argument (ValueError) or a bug: close what did open, then raise it
        _parallel(lambda r: r.close(), readers)
        raise untyped[0]
    errors = {
        n: r for n, r in zip(unique_names, results, strict=True) if isinstance(r, RtspLabError)
    }
    if errors and (on_missing is OnMissing.RAISE or not readers):
        _parallel(lambda r: r.close(), readers)
        raise next(iter(errors.values()))
    group = Group(
        readers,
        sync=sync,
        tolerance_ms=tolerance_ms,
        recorder=recorder,
        on_missing=on_missing,
        open_errors=errors,
        reader_options={"strategy": strategy, **reader_kwargs},
    )
    group._order = list(unique_names)  # set order follows the URLs, failed streams included
    return group
