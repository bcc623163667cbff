"""A frame's capture time at the source, from the best clock it carries (pure logic).

Best first: the timecode burned into the image, the camera's own capture time (the ONVIF RTP
header extension), the RTCP sender-report wall clock, the stream's PTS, the arrival time. A
camera's clock (ONVIF or RTCP) is never trusted blindly: every frame's is checked against its
arrival by a :class:`~rtsplab.camera_clock.CameraClock`, and a clock that is impossible
(frames arriving before capture) or implausible (more than a second behind) is corrected;
those frames say :attr:`Clock.CORRECTED`. A camera clock that jumps (set by NTP while the
stream runs) moves unlike the PTS between two frames, and its check starts over. The PTS is
calibrated: whenever a frame carries a
timecode or a camera time, the offset between that clock and its PTS is remembered, so a
later frame whose timecode was damaged (UDP loss) still gets a true time. Without any
calibration the PTS is anchored at the first frame's arrival. After a reconnect the PTS
restarts: call :meth:`SourceClock.reset`.

Example:
    >>> c = SourceClock()
    >>> c.stamp(pts_s=1.0, t_recv_ns=5_000, timecode=(900, 7))   # timecode: calibrates
    (900, <Clock.TIMECODE: 'timecode'>, 7)
    >>> c.stamp(pts_s=1.5, t_recv_ns=9_000)                       # no timecode: PTS + offset
    (500000900, <Clock.PTS: 'pts'>, None)
"""

from __future__ import annotations

from rtsplab.camera_clock import CameraClock, CameraClockEstimate
from rtsplab.entities import Clock

__all__ = ["CLOCK_STEP_NS", "SourceClock", "Stamp"]

CLOCK_STEP_NS = 50_000_000
"""A camera clock that moves this much more (or less) than the PTS between two frames jumped."""

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
        self.camera = CameraClock()
        # a held frame waiting for its successor: (t_camera, t_recv, pts, seq)
        self._pending: tuple[int, int, int, int | None] | None = None
        self._last_camera: tuple[int, int, str] | None = None  # (t_camera_ns, pts_ns, source)
        self.clock_steps = 0  # times the camera's clock jumped (the check started over)

    @property
    def camera_clock(self) -> CameraClockEstimate | None:
        """What the check of the camera's clock found so far (None: no camera clock yet).

        Example:
            >>> c = SourceClock(); _ = c.stamp(0.0, t_recv_ns=3_000_000_000, t_rtcp_ns=0)
            >>> c.camera_clock.verdict, c.camera_clock.offset_ms
            ('behind', -3000.0)
        """
        return self.camera.estimate

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
        self._pending = None
        self._last_camera = None
        self.camera.reset()

    def _hold(
        self, t_camera_ns: int | None, t_recv_ns: int, pts_ns: int | None, seq: int | None
    ) -> None:
        """A held frame's hold is the capture interval to the frame decoded after it: tell
        the check for the previous frame (when this one is its successor), keep this one."""
        last, self._pending = self._pending, None
        if (
            last is not None
            and pts_ns is not None
            and pts_ns > last[2]
            and (seq is None or last[3] is None or seq == last[3] + 1)
        ):
            self.camera.hold(last[0], last[1], pts_ns - last[2])
        if t_camera_ns is not None and pts_ns is not None:
            self._pending = (t_camera_ns, t_recv_ns, pts_ns, seq)

    def _check_step(self, t_camera_ns: int, pts_ns: int | None, source: str) -> None:
        """Start the camera clock check over when that clock jumped (set by NTP meanwhile,
        or the camera restarted): its step between two frames then differs from the PTS
        step by more than :data:`CLOCK_STEP_NS`. A backlog never does that."""
        last, self._last_camera = self._last_camera, None
        if pts_ns is not None:
            self._last_camera = (t_camera_ns, pts_ns, source)
        if last is None or pts_ns is None:
            return
        jump = (t_camera_ns - last[0]) - (pts_ns - last[1])
        if source != last[2] or abs(jump) > CLOCK_STEP_NS:
            self.camera.reset()
            self.clock_steps += 1

    def stamp(
        self,
        pts_s: float | None,
        t_recv_ns: int,
        t_rtcp_ns: int | None = None,
        timecode: tuple[int, int] | None = None,
        *,
        t_camera_ns: int | None = None,
        held_frames: int = 0,
        seq: int | None = None,
    ) -> Stamp:
        """The source time of one frame by the best clock it carries.

        Args:
            pts_s: presentation time in seconds, if the backend gives one.
            t_recv_ns: wall-clock arrival of the decoded frame.
            t_rtcp_ns: wall-clock capture time from RTCP sender reports, if known.
            timecode: ``(t_ns, seq)`` decoded from the image, if any.
            t_camera_ns: the camera's own capture time (ONVIF RTP header extension), if any.
            held_frames: 1 when the backend holds each frame until the next one arrives
                (FFmpeg's H.264/H.265 demuxer), 0 when it does not (the native backend): the
                camera clock check then takes each frame's hold into account.
            seq: the reader's frame number, when frames may be stamped with gaps (a frame's
                hold is known from the frame decoded right after it); None: consecutive.

        Example:
            >>> c = SourceClock()
            >>> c.stamp(pts_s=2.0, t_recv_ns=3_000_000_000)   # anchored at arrival
            (3000000000, <Clock.PTS: 'pts'>, None)
            >>> c.stamp(pts_s=2.1, t_recv_ns=3_500_000_000)   # the PTS step, not the arrival
            (3100000000, <Clock.PTS: 'pts'>, None)
            >>> c.stamp(pts_s=2.2, t_recv_ns=8_000, t_rtcp_ns=7_000)
            (7000, <Clock.RTCP: 'rtcp'>, None)
            >>> c.stamp(pts_s=2.3, t_recv_ns=9_000, t_rtcp_ns=5 * 10**9)  # arrived before capture
            (9000, <Clock.CORRECTED: 'corrected'>, None)
        """
        pts_ns = round(pts_s * 1e9) if pts_s is not None else None
        found: Stamp | None = None
        camera = (t_camera_ns, "onvif") if t_camera_ns is not None else (t_rtcp_ns, "rtcp")
        if camera[0] is not None:
            self._check_step(camera[0], pts_ns, camera[1])
            self.camera.observe(camera[0], t_recv_ns, camera[1], held=held_frames > 0)
        if held_frames > 0:
            self._hold(camera[0], t_recv_ns, pts_ns, seq)
        if timecode is not None:
            found = (timecode[0], Clock.TIMECODE, timecode[1])
        elif camera[0] is not None:
            if self.camera.corrected:
                found = (self.camera.correct(camera[0]), Clock.CORRECTED, None)
            else:
                found = (camera[0], Clock.ONVIF if t_camera_ns is not None else Clock.RTCP, None)
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
        return f"SourceClock(pts_offset_ns={self._pts_offset_ns}, camera={self.camera!r})"
