"""Set matching across streams, as pure functions over frame times (no I/O, no threads).

A group keeps a short history of ``(key, t_source_ns)`` per stream (``key`` is the reader's
frame number) and asks :func:`match` for the newest set whose frames agree in capture time.
The rule: anchor on the stream with the widest tolerance (the slowest camera), walk its
unused frames newest first, and pair each other stream's closest unused frame; the set holds
when every pick lies within *its* stream's tolerance of the anchor frame.

The times are the frames' ``t_source_ns`` on this machine's timeline: a camera clock that is
off by seconds (never set, no NTP) has already been corrected by the reader
(:mod:`rtsplab.camera_clock`, ``Clock.CORRECTED``), so cameras whose clocks disagree still
pair the frames they captured together.

Example:
    >>> history = {"a": [(0, 0), (1, 33_000_000)], "b": [(5, 2_000_000), (6, 31_000_000)]}
    >>> m = match(history, after={"a": -1, "b": -1}, tolerance_ns={"a": 17e6, "b": 17e6})
    >>> m.picks, m.unmatched, m.skew_ms
    ({'a': 1, 'b': 6}, {'a': 1, 'b': 1}, 2.0)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Match", "lagging", "match", "skew_ms", "tolerance_ns"]

Entry = tuple[int, int]  # (key, t_source_ns), oldest first in a history


@dataclass(frozen=True)
class Match:
    """The frames :func:`match` picked, one per stream.

    Attributes:
        picks: the picked frame's key per stream.
        t_ns: the picked frame's source time per stream.
        unmatched: unused frames per stream older than the pick (passed over, no partner).
        newer: unused frames per stream newer than the pick (still waiting behind it).

    Example:
        >>> Match({"a": 3}, {"a": 10}, {"a": 0}, {"a": 1}).skew_ms
        0.0
    """

    picks: dict[str, int]
    t_ns: dict[str, int]
    unmatched: dict[str, int]
    newer: dict[str, int]

    @property
    def skew_ms(self) -> float:
        """Max - min source time of the picks, in ms.

        Example:
            >>> Match({"a": 0, "b": 0}, {"a": 0, "b": 5_000_000}, {}, {}).skew_ms
            5.0
        """
        return skew_ms(self.t_ns.values())


def skew_ms(times_ns: Iterable[int]) -> float:
    """Max - min of source times in ms; 0 for fewer than two.

    Example:
        >>> skew_ms([10_000_000, 4_000_000, 7_000_000])
        6.0
        >>> skew_ms([])
        0.0
    """
    values = list(times_ns)
    return (max(values) - min(values)) / 1e6 if len(values) >= 2 else 0.0


def tolerance_ns(times_ns: Sequence[int], fps: float) -> float:
    """Half a frame period plus 1 ms of clock granularity.

    The period is the median gap of ``times_ns`` when there are at least three, else
    ``1 / fps`` (30 fps when ``fps`` is not plausible).

    Example:
        >>> tolerance_ns([0, 100_000_000, 200_000_000, 300_000_000], fps=30)
        51000000.0
        >>> round(tolerance_ns([], fps=0))
        17666667
    """
    period_ns = 0.0
    if len(times_ns) >= 3:
        gaps = sorted(b - a for a, b in itertools.pairwise(times_ns))
        period_ns = float(gaps[len(gaps) // 2])
    if period_ns <= 0:
        period_ns = 1e9 / (fps if 0 < fps < 1000 else 30.0)
    return period_ns / 2 + 1e6


def _fresh(
    history: Mapping[str, Sequence[Entry]], after: Mapping[str, int]
) -> dict[str, list[Entry]]:
    return {name: [e for e in h if e[0] > after.get(name, -1)] for name, h in history.items()}


def match(
    history: Mapping[str, Sequence[Entry]],
    after: Mapping[str, int],
    tolerance_ns: Mapping[str, float],
) -> Match | None:
    """The newest set of unused frames, one per stream, that agree in source time.

    Args:
        history: per stream, ``(key, t_source_ns)`` entries, oldest first (keys increasing).
        after: per stream, the key of the frame used in the previous set; only newer frames
            are candidates (missing: every frame is).
        tolerance_ns: per stream, how far its pick may lie from the anchor frame.

    Returns:
        The :class:`Match`, or None when some stream has no unused frame or no anchor frame
        has a partner within tolerance in every stream. An empty ``history`` gives None.

    Example:
        >>> match({"a": [(0, 0)], "b": [(0, 50_000_000)]}, {}, {"a": 17e6, "b": 17e6}) is None
        True
        >>> match({"a": [(0, 0)], "b": [(0, 10_000_000)]}, {}, {"a": 17e6, "b": 17e6}).picks
        {'a': 0, 'b': 0}
    """
    if not history:
        return None
    fresh = _fresh(history, after)
    if not all(fresh.values()):
        return None
    names = list(history)
    anchor = max(names, key=lambda n: tolerance_ns[n])  # first of equals: stable
    for key, t in reversed(fresh[anchor]):
        picks: dict[str, Entry] = {anchor: (key, t)}
        for name in names:
            if name == anchor:
                continue
            best = min(fresh[name], key=lambda e: abs(e[1] - t))
            if abs(best[1] - t) > tolerance_ns[name]:
                break
            picks[name] = best
        else:
            return Match(
                picks={n: picks[n][0] for n in names},
                t_ns={n: picks[n][1] for n in names},
                unmatched={n: sum(1 for e in fresh[n] if e[0] < picks[n][0]) for n in names},
                newer={n: sum(1 for e in fresh[n] if e[0] > picks[n][0]) for n in names},
            )
    return None


def lagging(history: Mapping[str, Sequence[Entry]], after: Mapping[str, int]) -> str | None:
    """The stream furthest behind: the one whose newest unused frame is oldest (a stream with
    none comes first). A group waits on it when :func:`match` finds no set.

    Example:
        >>> lagging({"a": [(0, 5), (1, 9)], "b": [(0, 7)]}, after={"a": -1, "b": -1})
        'b'
        >>> lagging({"a": [(0, 5)], "b": [(0, 7)]}, after={"a": 0})
        'a'
    """
    if not history:
        return None
    fresh = _fresh(history, after)
    return min(fresh, key=lambda n: fresh[n][-1][1] if fresh[n] else -(2**63))
