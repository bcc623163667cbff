"""RTP time: 32-bit timestamp unwrap, and RTP time to wall clock from RTCP sender reports.

An RTP timestamp is a 32-bit counter at the media clock rate (90 kHz for video) that wraps
every 13.25 hours and starts at a random value. :class:`TimestampUnwrapper` extends it to
an unbounded count. :class:`WallClock` maps a timestamp to the sender's wall clock through
the latest sender report; it re-anchors at every report, because a camera's media clock and
its NTP clock drift apart (around 100 ppm, 0.36 s an hour) and a single anchor would walk off.
Nothing here reads a clock: times come in as arguments.

Example:
    >>> u = TimestampUnwrapper()
    >>> u.unwrap(2**32 - 10), u.unwrap(5)
    (4294967286, 4294967301)
    >>> w = WallClock()
    >>> w.on_sender_report(wall_ns=1_000_000_000, rtp_ts=90_000)
    >>> w.wall_ns(180_000)
    2000000000
"""

from __future__ import annotations

__all__ = ["TimestampUnwrapper", "WallClock", "rtp_timestamp", "ts_delta"]


def ts_delta(ts: int, reference: int) -> int:
    """Signed distance from 32-bit timestamp ``reference`` to ``ts``, across the wrap.

    Example:
        >>> ts_delta(3, 2**32 - 2), ts_delta(0, 10)
        (5, -10)
    """
    return ((ts - reference + 2**31) & 0xFFFFFFFF) - 2**31


def rtp_timestamp(t_ns: int, offset: int = 0, clock_rate: int = 90_000) -> int:
    """The RTP timestamp for wall-clock time ``t_ns`` (ns since the epoch), mod 2**32.

    The simulator stamps capture times and sender-report times with this one formula, so
    the RTP <-> NTP mapping a client derives is exact.

    Example:
        >>> rtp_timestamp(1_000_000_000), rtp_timestamp(0, offset=5)
        (90000, 5)
    """
    return (offset + t_ns * clock_rate // 1_000_000_000) & 0xFFFFFFFF


class TimestampUnwrapper:
    """Extends 32-bit RTP timestamps to an unbounded count (the first one is taken as is).

    A step backwards (B-frames, a reordered packet) gives a smaller value, never a wrap.

    Example:
        >>> u = TimestampUnwrapper(); [u.unwrap(t) for t in (2**32 - 100, 2**32 - 150, 50)]
        [4294967196, 4294967146, 4294967346]
    """

    def __init__(self) -> None:
        self._last: int | None = None

    def unwrap(self, ts: int) -> int:
        """The extended value of ``ts``.

        Example:
            >>> TimestampUnwrapper().unwrap(7)
            7
        """
        if self._last is None:
            self._last = ts & 0xFFFFFFFF
        else:
            self._last += ts_delta(ts, self._last)
        return self._last


class WallClock:
    """RTP timestamp -> sender wall clock (ns since 1970), anchored at the latest sender report.

    Args:
        clock_rate: the media clock rate in Hz.

    Example:
        >>> w = WallClock(); w.wall_ns(0) is None
        True
    """

    def __init__(self, clock_rate: int = 90_000) -> None:
        self.clock_rate = clock_rate
        self._anchor: tuple[int, int] | None = None
        self.reports = 0

    def on_sender_report(self, wall_ns: int, rtp_ts: int) -> None:
        """Re-anchor at a sender report: its NTP time (as ns since 1970) and RTP timestamp.

        Example:
            >>> w = WallClock(); w.on_sender_report(0, 0); w.on_sender_report(10, 0); w.wall_ns(0)
            10
        """
        self._anchor = (wall_ns, rtp_ts & 0xFFFFFFFF)
        self.reports += 1

    def wall_ns(self, rtp_ts: int) -> int | None:
        """The sender's wall-clock time for ``rtp_ts``, or None before the first report.

        Example:
            >>> w = WallClock(); w.on_sender_report(1_000_000_000, 0)
            >>> w.wall_ns(2**32 - 90)  # 1 ms before the report, across the wrap
            999000000
        """
        if self._anchor is None:
            return None
        wall_ns, ts = self._anchor
        return wall_ns + ts_delta(rtp_ts, ts) * 1_000_000_000 // self.clock_rate
