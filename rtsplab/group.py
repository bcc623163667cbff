"""Several streams read together, as sets of one frame per stream.

- Streams are opened **in parallel**, so the first camera does not build a backlog while
  the second one opens (the problem statement's one-second skew starts there).
- ``sync="latest"``: each set holds the newest frame of every stream (for ``naive`` and
  ``buffered``, the next frame of each, read one after the other, as a hand-written loop would).
- ``sync="matched"``: each set holds frames whose source times agree within a tolerance
  (default: half of each stream's frame period, the best two free-running cameras allow).
  Frames that found no partner are counted in :attr:`FrameSet.unmatched`.

Example:
    >>> with open_group(["rtsp://127.0.0.1:8554/cam1", "rtsp://127.0.0.1:8554/cam2"],
    ...                 sync="matched") as g:  # doctest: +SKIP
    ...     fs = g.read_set()
    ...     print(fs.skew_ms)
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rtsplab.entities import Frame, FrameSet, Strategy, StreamState, Sync
from rtsplab.errors import ReadTimeout, RtspLabError
from rtsplab.policies import LatestPolicy
from rtsplab.readers import Item, Reader, stream_name
from rtsplab.recorder import Recorder
from rtsplab.urls import RtspUrl

__all__ = ["Group", "open_group"]

MATCH_HISTORY = 16  # frames of history per stream for matching (0.5 s at 30 fps)


def _unique_names(urls: Sequence[str | RtspUrl], names: Sequence[str] | None) -> list[str]:
    if names is not None:
        if len(names) != len(urls) or len(set(names)) != len(names):
            raise ValueError("names must be unique and one per URL")
        return list(names)
    out: list[str] = []
    for i, u in enumerate(urls):
        n = stream_name(u)
        out.append(n if n not in out else f"{n}#{i}")
    return out


class Group:
    """Readers for several streams and the logic that assembles them into sets.

    Use :func:`open_group`. Closing the group closes every reader.

    Example:
        >>> g = open_group(urls, strategy="latest")  # doctest: +SKIP
        >>> g.streams  # doctest: +SKIP
        ['cam1', 'cam2']
    """

    def __init__(
        self,
        readers: list[Reader],
        sync: Sync | str = Sync.LATEST,
        tolerance_ms: float | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.readers = readers
        self.sync = Sync(sync)
        self.tolerance_ms = tolerance_ms
        self.recorder = recorder
        self.strategy = readers[0].strategy if readers else Strategy.LATEST
        self._set_id = -1
        self._last_seq: dict[str, int] = {r.name: -1 for r in readers}
        self._closed = False

    @property
    def streams(self) -> list[str]:
        """Stream names, in set order.

        Example:
            >>> g.streams  # doctest: +SKIP
            ['cam1', 'cam2']
        """
        return [r.name for r in self.readers]

    @property
    def states(self) -> dict[str, StreamState]:
        """Each stream's state.

        Example:
            >>> g.states["cam1"]  # doctest: +SKIP
            <StreamState.STREAMING: 'streaming'>
        """
        return {r.name: r.state for r in self.readers}

    def _finish(
        self, frames: dict[str, Frame], unmatched: dict[str, int] | None = None
    ) -> FrameSet:
        self._set_id += 1
        times = [f.t_source_ns for f in frames.values()]
        skew_ms = (max(times) - min(times)) / 1e6 if times else 0.0
        fs = FrameSet(frames, self._set_id, skew_ms, unmatched or {})
        if self.recorder is not None:
            bad = {r.name: r.bad_packets for r in self.readers}
            self.recorder.add_set(fs, strategy=self.strategy.value, bad_packets=bad)
        return fs

    def read_set(self, timeout_s: float | None = None, fresh: bool = False) -> FrameSet:
        """The next set of one frame per stream.

        Args:
            timeout_s: how long to wait for the set (default: the readers' read timeout).
            fresh: ``sync="latest"`` only: wait for a frame newer than the previous set's in
                every stream.

        Raises:
            ReadTimeout: a stream had no frame (or no partner) in time.
            StreamClosed: the group was closed.

        Example:
            >>> fs = g.read_set()  # doctest: +SKIP
            >>> fs.skew_ms  # doctest: +SKIP
            12.3
        """
        wait_s = self.readers[0].read_timeout_s if timeout_s is None else timeout_s
        if self.sync is Sync.MATCHED:
            return self._read_matched(wait_s)
        frames = {r.name: r.read_frame(wait_s, fresh=fresh) for r in self.readers}
        return self._finish(frames)

    def _timed_history(self, reader: Reader) -> list[tuple[Item, int]]:
        """The reader's retained frames with their source times, oldest first."""
        policy = reader.policy
        assert isinstance(policy, LatestPolicy)
        return [(item, reader.source_time_ns(item)) for item in policy.history()]

    def _read_matched(self, wait_s: float) -> FrameSet:
        """The newest set in which every frame lies within its stream's tolerance of an
        instant of the slowest stream (one of its frames)."""
        deadline = time.monotonic() + wait_s
        while True:
            full = {r.name: self._timed_history(r) for r in self.readers}
            fresh = {
                name: [e for e in h if e[0][0] > self._last_seq[name]] for name, h in full.items()
            }
            if all(fresh.values()):
                tol = {r.name: self._tolerance_ns(r, full[r.name]) for r in self.readers}
                anchor = max(self.readers, key=lambda r: tol[r.name])
                for item, t in reversed(fresh[anchor.name]):
                    picks = {anchor.name: (item, t)}
                    for r in self.readers:
                        if r is anchor:
                            continue
                        best = min(fresh[r.name], key=lambda e: abs(e[1] - t))
                        if abs(best[1] - t) > tol[r.name]:
                            break
                        picks[r.name] = best
                    else:
                        return self._emit_matched(picks, fresh)
            # No set yet: wait for the stream that is furthest behind to deliver a frame.
            lagging = min(
                self.readers,
                key=lambda r: fresh[r.name][-1][1] if fresh[r.name] else -1,
            )
            newest_seq = full[lagging.name][-1][0][0] if full[lagging.name] else -1
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise ReadTimeout("deadline")
                lagging.wait_newer(max(newest_seq, self._last_seq[lagging.name]), remaining)
            except ReadTimeout:
                raise ReadTimeout(f"no matched set within {wait_s:g} s") from None

    def _emit_matched(
        self, picks: dict[str, tuple[Item, int]], fresh: dict[str, list[tuple[Item, int]]]
    ) -> FrameSet:
        frames: dict[str, Frame] = {}
        unmatched: dict[str, int] = {}
        for r in self.readers:
            item, _ = picks[r.name]
            seq = item[0]
            unmatched[r.name] = sum(1 for e in fresh[r.name] if e[0][0] < seq)
            newer = sum(1 for e in fresh[r.name] if e[0][0] > seq)
            frames[r.name] = r.make_frame(item, depth=newer)
            self._last_seq[r.name] = seq
        return self._finish(frames, unmatched)

    def _tolerance_ns(self, reader: Reader, hist: list[tuple[Item, int]]) -> float:
        if self.tolerance_ms is not None:
            return self.tolerance_ms * 1e6
        period_ns = 0.0
        if len(hist) >= 3:
            gaps = sorted(b[1] - a[1] for a, b in itertools.pairwise(hist))
            period_ns = float(gaps[len(gaps) // 2])
        if period_ns <= 0:
            fps = reader.info.fps if 0 < reader.info.fps < 1000 else 30.0
            period_ns = 1e9 / fps
        return period_ns / 2 + 1e6  # half a frame period, plus 1 ms of clock granularity

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
        if self._closed:
            return
        self._closed = True
        _parallel(lambda r: r.close(), self.readers)

    def __enter__(self) -> Group:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        urls = ", ".join(r.url.redacted for r in self.readers)
        return f"Group([{urls}], strategy={self.strategy.value}, sync={self.sync.value})"


def _parallel(fn: Any, items: Sequence[Any]) -> list[Any]:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=len(items), thread_name_prefix="rtsplab-open") as ex:
        return list(ex.map(fn, items))


def open_group(
    urls: Sequence[str | RtspUrl],
    strategy: Strategy | str = Strategy.LATEST,
    sync: Sync | str = Sync.LATEST,
    recorder: Recorder | None = None,
    names: Sequence[str] | None = None,
    tolerance_ms: float | None = None,
    **reader_kwargs: Any,
) -> Group:
    """Open several streams in parallel and read them as sets.

    Args:
        urls: one RTSP URL per stream.
        strategy: reading strategy of every stream (``matched`` sync needs ``latest``).
        sync: ``latest`` or ``matched``.
        recorder: gets one row per frame of every set, with the set id and skew.
        names: stream names (default: last URL path segment, made unique).
        tolerance_ms: ``matched`` only: max distance of a frame from the set's instant.
        **reader_kwargs: passed to every :class:`Reader` (backend, transport, timeouts...).

    Raises:
        ValueError: ``sync="matched"`` with a strategy other than ``latest``.
        RtspLabError: a stream failed to open (the others are closed again).

    Example:
        >>> import rtsplab
        >>> with rtsplab.open_group([u1, u2], strategy="latest", sync="latest") as g:  # doctest: +SKIP
        ...     fs = g.read_set()
    """
    strategy = Strategy(strategy)
    sync = Sync(sync)
    if sync is Sync.MATCHED:
        if strategy is not Strategy.LATEST:
            raise ValueError(
                "sync='matched' pairs frames from each stream's recent history; use strategy='latest'"
            )
        reader_kwargs.setdefault("keep", MATCH_HISTORY)
    stream_names = _unique_names(urls, names)

    def _open(i: int) -> Reader | RtspLabError:
        try:
            return Reader(urls[i], strategy=strategy, name=stream_names[i], **reader_kwargs)
        except RtspLabError as exc:
            return exc

    results = _parallel(_open, list(range(len(urls))))
    errors = [r for r in results if isinstance(r, RtspLabError)]
    readers = [r for r in results if isinstance(r, Reader)]
    if errors:
        _parallel(lambda r: r.close(), readers)
        raise errors[0]
    return Group(readers, sync=sync, tolerance_ms=tolerance_ms, recorder=recorder)
