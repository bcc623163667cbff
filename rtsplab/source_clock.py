"""A frame's capture time at the source, from the best clock it carries (pure logic).

Best first: the timecode burned into the image, the RTCP sender-report wall clock, the
stream's PTS, the arrival time. The PTS is calibrated: whenever a frame carries a timecode or
an RTCP time, the offset between that clock and its PTS is remembered, so a later frame whose
timecode was damaged (UDP loss) still gets a true time. Without any calibration the PTS is
anchored at the first frame's arrival. After a reconnect the PTS restarts: call
:meth:`SourceClock.reset`.

Example:
    >>> c = SourceClock()
    >>> c.stamp(pts_s=1.0, t_recv_ns=5_000, timecode=(900, 7))   # timecode: calibrates
    (900, <Clock.TIMECODE: 'timecode'>, 7)
    >>> c.stamp(pts_s=1.5, t_recv_ns=9_000)                       # no timecode: PTS + offset
    (500000900, <Clock.PTS: 'pts'>, None)
"""

from __future__ import annotations

from rtsplab.entities import Clock

__all__ = ["SourceClock", "Stamp"]

Stamp = tuple[int, Clock, int | None]  # (t_source_ns, clock, source_seq)


class SourceClock:
    """Turns one stream's per-frame clocks into ``(t_source_ns, clock, source_seq)``.

    One instance per stream; not thread-safe (the reader calls it from one place).

    Example:
        >>> SourceClock().stamp(pts_s=None, t_recv_ns=42)
        (42, <Clock.NONE: 'none'>, None)
    """

    def __init__(self) -> None:
        self._pts_offset_ns: int | None = None

    @property
    def calibrated(self) -> bool:
        """Whether a PTS offset is known (from a calibrating clock or the first arrival).

        Example:
            >>> c = SourceClock(); c.calibrated
            False
            >>> _ = c.stamp(pts_s=0.0, t_recv_ns=10); c.calibrated
            True
        """
        return self._pts_offset_ns is not None

    def reset(self) -> None:
        """Forget the PTS offset (the stream was reopened; its PTS starts again).

        Example:
            >>> c = SourceClock(); _ = c.stamp(pts_s=0.0, t_recv_ns=10); c.reset(); c.calibrated
            False
        """
        self._pts_offset_ns = None

    def stamp(
        self,
        pts_s: float | None,
        t_recv_ns: int,
        t_rtcp_ns: int | None = None,
        timecode: tuple[int, int] | None = None,
    ) -> Stamp:
        """The source time of one frame by the best clock it carries.

        Args:
            pts_s: presentation time in seconds, if the backend gives one.
            t_recv_ns: wall-clock arrival of the decoded frame.
            t_rtcp_ns: wall-clock capture time from RTCP sender reports, if known.
            timecode: ``(t_ns, seq)`` decoded from the image, if any.

        Example:
            >>> c = SourceClock()
            >>> c.stamp(pts_s=2.0, t_recv_ns=3_000_000_000)   # anchored at arrival
            (3000000000, <Clock.PTS: 'pts'>, None)
            >>> c.stamp(pts_s=2.1, t_recv_ns=3_500_000_000)   # the PTS step, not the arrival
            (3100000000, <Clock.PTS: 'pts'>, None)
            >>> c.stamp(pts_s=2.2, t_recv_ns=0, t_rtcp_ns=7_000)
            (7000, <Clock.RTCP: 'rtcp'>, None)
        """
        pts_ns = round(pts_s * 1e9) if pts_s is not None else None
        found: Stamp | None = None
        if timecode is not None:
            found = (timecode[0], Clock.TIMECODE, timecode[1])
        elif t_rtcp_ns is not None:
            found = (t_rtcp_ns, Clock.RTCP, None)
        if found is not None:
            if pts_ns is not None:
                self._pts_offset_ns = found[0] - pts_ns
            return found
        if pts_ns is not None:
            if self._pts_offset_ns is None:
                self._pts_offset_ns = t_recv_ns - pts_ns
            return pts_ns + self._pts_offset_ns, Clock.PTS, None
        return t_recv_ns, Clock.NONE, None

    def __repr__(self) -> str:
        return f"SourceClock(pts_offset_ns={self._pts_offset_ns})"
