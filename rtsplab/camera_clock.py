"""A camera's clock, checked against this machine's from the frames' arrivals (pure logic).

A camera says when it captured each frame in *its* clock: the RTCP sender reports map RTP
time to the camera's wall clock, and ONVIF cameras put an NTP capture time in an RTP header
extension. Most cameras are never given NTP, or keep local time in it, so that clock can be
seconds or hours off this machine's, and an age counted from it is off by as much.

What can be measured: every frame arrives after it was captured, so for each frame
``arrival - capture = transit - offset`` (``offset``: camera clock minus host clock,
``transit`` >= 0). The least ``arrival - capture`` seen bounds the offset from below:
``offset >= -min(arrival - capture - hold)``, where ``hold`` is the time the backend is known
to have held the frame: 0 for the native backend, and for FFmpeg's demuxer, which emits an
H.264/H.265 frame only when the next one's first packet arrives, the capture interval to the
next frame (known one frame later: :meth:`CameraClock.hold`). :class:`CameraClock` keeps that
least value as a sliding lower envelope: each older sample is allowed to have drifted since
by up to :data:`MAX_DRIFT_PPM`, so a camera clock that drifts is followed, while a backlog that
builds behind a slow consumer (which raises ``arrival - capture`` far faster) does not move it.

The verdict (:attr:`CameraClockEstimate.verdict`):

- ``ahead``: *impossible*: some frame was decoded here before the camera says it was
  captured (``min(arrival - capture) < 0``, whatever the hold).
- ``behind``: *implausible*: ``offset < -BOUND_MS``, every frame took more than
  :data:`BOUND_MS` to arrive, which no live RTSP path read as it comes does; a camera clock
  that far behind (or never set: 1970) is far more likely.
- ``ok``: neither. The camera's clock is trusted as it is. An offset this small cannot be
  told from latency: a camera 40 ms behind looks exactly like 40 ms more encoding or network
  delay, and its ages are 40 ms too high; one 10 ms ahead makes them 10 ms too low.

An ``ahead`` or ``behind`` clock is corrected: capture times are shifted by the estimated
offset, so the fastest frame's transit beyond its hold counts as 0. Corrected ages are a
lower bound on the true ones, short by the camera's least encode-and-network time, which no
receiver can measure without a clock it trusts (a few ms on a LAN, more for slow encoders).
Nothing here reads a clock: times come in as arguments.

Example:
    >>> c = CameraClock()
    >>> for i in range(5):   # a camera 3 s ahead; frames take 2..6 ms to arrive
    ...     c.observe(t_camera_ns=i * 10**8 + 3 * 10**9, t_recv_ns=i * 10**8 + (2 + i) * 10**6)
    >>> e = c.estimate   # 2998 ms, less 0.08 ms the envelope may have drifted up since
    >>> e.verdict, round(e.offset_ms, 1), e.corrected
    ('ahead', 2997.9, True)
    >>> round(c.correct(3 * 10**9 + 5 * 10**8) / 1e6, 1)   # capture on this machine's clock
    502.1
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["BOUND_MS", "MAX_DRIFT_PPM", "CameraClock", "CameraClockEstimate"]

BOUND_MS = 1000.0
"""Past this, a camera clock behind the host is implausible rather than latency: 1 s."""

MAX_DRIFT_PPM = 200.0
"""How fast a camera clock may drift from the host's (crystals are within about 100 ppm)."""

DRIFT_BUCKET_S = 1.0  # the drift fit uses the least arrival - capture of each second ...
DRIFT_WINDOW_S = 60.0  # ... over the last minute
MIN_DRIFT_SPAN_S = 10.0  # and says nothing before it spans this long
_BUCKET_NS = int(DRIFT_BUCKET_S * 1e9)
_HISTORY = 4096  # (t_recv_ns, offset_ns) estimates kept for plots


@dataclass(frozen=True)
class CameraClockEstimate:
    """What :class:`CameraClock` measured of one camera's clock.

    Attributes:
        offset_ms: the camera's clock minus this machine's, in ms (positive: ahead), from the
            least ``arrival - capture``; a lower bound (the camera's least latency is unknown).
        drift_ppm: how fast the camera's clock runs against this machine's, in ppm (positive:
            fast), once a fit over :data:`MIN_DRIFT_SPAN_S` exists; else None.
        verdict: ``ok``, ``ahead`` (impossible: a frame arrived before its capture) or
            ``behind`` (implausible: offset past :data:`BOUND_MS`).
        corrected: ages count from the corrected timeline (``verdict != "ok"``).
        source: the clock checked: ``rtcp`` or ``onvif``.
        samples: frames observed.

    Example:
        >>> e = CameraClockEstimate(-3000.0, None, "behind", True, "rtcp", 90)
        >>> e.describe("cam1")
        "cam1's clock (rtcp) is 3.0 s behind this machine; set NTP on the camera; ages are corrected"
    """

    offset_ms: float
    drift_ppm: float | None
    verdict: str
    corrected: bool
    source: str
    samples: int

    def describe(self, stream: str) -> str:
        """One sentence for the doctor and the probe.

        Example:
            >>> CameraClockEstimate(-4.2, 3.0, "ok", False, "rtcp", 10).describe("cam1")
            "cam1's clock (rtcp) agrees with this machine's (offset -4 ms, which cannot be told from latency; drift 3 ppm)"
        """
        drift = f"; drift {self.drift_ppm:.0f} ppm" if self.drift_ppm is not None else ""
        if not self.corrected:
            return (
                f"{stream}'s clock ({self.source}) agrees with this machine's (offset "
                f"{self.offset_ms:.0f} ms, which cannot be told from latency{drift})"
            )
        return (
            f"{stream}'s clock ({self.source}) is {_span(abs(self.offset_ms))} "
            f"{'ahead of' if self.offset_ms > 0 else 'behind'} this machine"
            f"{drift}; set NTP on the camera; ages are corrected"
        )


def _span(ms: float) -> str:
    """A duration for people: ms, s, hours or days."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 3_600_000:
        return f"{ms / 1000:.1f} s"
    if ms < 172_800_000:
        return f"{ms / 3_600_000:.1f} hours"
    return f"{ms / 86_400_000:,.0f} days"


class _Envelope:
    """A least value over time that may rise by ``max_drift_ppm`` of the time since."""

    def __init__(self, max_drift_ppm: float) -> None:
        self.max_drift_ppm = max_drift_ppm
        self.value_ns: int | None = None
        self._t_ns = 0

    def add(self, d_ns: int, t_ns: int) -> None:
        v, last = self.value_ns, self._t_ns
        if v is None:
            self.value_ns = d_ns
        else:  # (once per frame: plain comparisons rather than min/max calls)
            if t_ns > last:
                v += round((t_ns - last) * self.max_drift_ppm / 1e6)
            self.value_ns = d_ns if d_ns < v else v
        if t_ns > last:
            self._t_ns = t_ns


class CameraClock:
    """The offset and drift of one camera's clock against this machine's (see module doc).

    Args:
        bound_ms: past this, a camera behind the host is implausible and corrected.
        max_drift_ppm: how fast the lower envelope may rise (a drifting camera clock).

    Example:
        >>> c = CameraClock(); c.estimate is None
        True
        >>> c.observe(t_camera_ns=10_000_000, t_recv_ns=15_000_000)   # 5 ms to arrive: fine
        >>> c.estimate.verdict, c.correct(10_000_000)
        ('ok', 10000000)
    """

    def __init__(self, bound_ms: float = BOUND_MS, max_drift_ppm: float = MAX_DRIFT_PPM) -> None:
        self.bound_ms = bound_ms
        self.max_drift_ppm = max_drift_ppm
        self.history: deque[tuple[int, int]] = deque(maxlen=_HISTORY)
        self.reset()

    def reset(self) -> None:
        """Forget everything (a reconnect: the camera may have been reset).

        Example:
            >>> c = CameraClock(); c.observe(0, 5); c.reset(); c.estimate is None
            True
        """
        self._raw: _Envelope = _Envelope(self.max_drift_ppm)  # least arrival - capture
        self._held: _Envelope = _Envelope(self.max_drift_ppm)  # ... less each frame's hold
        self._source = "rtcp"
        self._samples = 0
        self._buckets: deque[tuple[int, int]] = deque()  # (bucket start, least d) per second
        self._drift: float | None = None
        self.history.clear()

    def observe(
        self, t_camera_ns: int, t_recv_ns: int, source: str = "rtcp", held: bool = False
    ) -> None:
        """Take one frame: its capture time by the camera's clock and its arrival here.

        Args:
            t_camera_ns: capture time by the camera's clock (ns since 1970).
            t_recv_ns: when the frame was decoded here (``time.time_ns()``).
            source: which camera clock this is (``rtcp`` or ``onvif``).
            held: the backend held the frame for a time known only later: pass it to
                :meth:`hold` then (FFmpeg's demuxer: until the next frame came).

        Example:
            >>> c = CameraClock(); c.observe(0, 2_000_000_000); c.estimate.verdict
            'behind'
        """
        d = t_recv_ns - t_camera_ns
        self._raw.add(d, t_recv_ns)
        if not held:
            self._held.add(d, t_recv_ns)
        self._source = source
        self._samples += 1
        self._bucket(t_recv_ns, d)
        self.history.append((t_recv_ns, self._offset_ns()))

    def hold(self, t_camera_ns: int, t_recv_ns: int, hold_ns: int) -> None:
        """The time the backend held a frame observed with ``held=True``, now known: that
        frame's ``arrival - capture`` less ``hold_ns`` bounds the offset more tightly.

        Example:
            >>> c = CameraClock()
            >>> c.observe(0, 40_000_000, held=True)   # decoded 40 ms after capture ...
            >>> c.hold(0, 40_000_000, hold_ns=33_000_000)  # ... 33 ms of it waiting
            >>> round(c.estimate.offset_ms)   # 7 ms of transit left: the offset bound
            -7
        """
        self._held.add(t_recv_ns - t_camera_ns - hold_ns, t_recv_ns)

    def _bucket(self, t_ns: int, d: int) -> None:
        start = t_ns - t_ns % _BUCKET_NS
        b = self._buckets
        if b and b[-1][0] == start:
            b[-1] = (start, min(b[-1][1], d))
        elif not b or start > b[-1][0]:
            b.append((start, d))
            while b and b[0][0] < start - DRIFT_WINDOW_S * 1e9:
                b.popleft()
            self._drift = self._fit_drift()  # once a second: when a bucket opens

    def _offset_ns(self) -> int:
        """Minus the least ``arrival - capture`` (less the hold where known), never less than
        minus the least raw one, so no corrected frame ever arrives before its capture."""
        raw, held = self._raw.value_ns, self._held.value_ns
        assert raw is not None
        return -(raw if held is None else min(raw, held))

    @property
    def drift_ppm(self) -> float | None:
        """The camera clock's rate against the host's in ppm (positive: fast), fitted each
        second (:meth:`_fit_drift`); None before :data:`MIN_DRIFT_SPAN_S` of data.

        Example:
            >>> CameraClock().drift_ppm is None
            True
        """
        return self._drift

    def _fit_drift(self) -> float | None:
        """Least-squares slope of each second's least ``arrival - capture``, as the camera
        clock's rate against the host's in ppm (positive: fast); None before
        :data:`MIN_DRIFT_SPAN_S` of data.

        Example:
            >>> c = CameraClock()
            >>> for s in range(13):   # a camera clock 100 ppm fast, 1 ms transit
            ...     c.observe(s * 10**9 + s * 100_000, s * 10**9 + 10**6)
            >>> round(c.drift_ppm)
            100
        """
        b = list(self._buckets)[:-1]  # the newest second is still open
        if len(b) < 3 or (b[-1][0] - b[0][0]) / 1e9 < MIN_DRIFT_SPAN_S - DRIFT_BUCKET_S:
            return None
        xs = [(t - b[0][0]) / 1e9 for t, _ in b]
        ys = [d / 1e3 for _, d in b]  # µs
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        if sxx == 0:
            return None
        slope_us_per_s = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
        return -slope_us_per_s  # d falls as the camera clock gains

    @property
    def estimate(self) -> CameraClockEstimate | None:
        """The current estimate, or None before the first frame.

        Example:
            >>> c = CameraClock(); c.observe(5_000_000_000, 1_000_000)
            >>> e = c.estimate; e.offset_ms, e.verdict
            (4999.0, 'ahead')
        """
        verdict = self._verdict()
        if verdict is None:
            return None
        offset_ms = self._offset_ns() / 1e6
        return CameraClockEstimate(
            offset_ms, self.drift_ppm, verdict, verdict != "ok", self._source, self._samples
        )

    @property
    def offset_ms(self) -> float | None:
        """The estimated offset alone (cheap: for a value per frame), None before a frame.

        Example:
            >>> c = CameraClock(); c.observe(0, 7_000_000); c.offset_ms
            -7.0
        """
        return self._offset_ns() / 1e6 if self._raw.value_ns is not None else None

    @property
    def corrected(self) -> bool:
        """Whether capture times are being shifted (the clock is ahead or behind).

        Example:
            >>> CameraClock().corrected
            False
        """
        verdict = self._verdict()
        return verdict is not None and verdict != "ok"

    def _verdict(self) -> str | None:
        raw = self._raw.value_ns
        if raw is None:
            return None
        if raw < 0:
            return "ahead"
        return "behind" if self._offset_ns() < -self.bound_ms * 1e6 else "ok"

    def correct(self, t_camera_ns: int) -> int:
        """A capture time by the camera's clock on this machine's timeline: shifted by the
        estimated offset when the clock is corrected, else as it is.

        Example:
            >>> c = CameraClock(); c.observe(t_camera_ns=0, t_recv_ns=3_600 * 10**9)
            >>> c.correct(0)   # an hour behind: counted from the arrival
            3600000000000
        """
        if not self.corrected:
            return t_camera_ns
        return t_camera_ns - self._offset_ns()

    def __repr__(self) -> str:
        e = self.estimate
        if e is None:
            return "CameraClock(no frames)"
        return f"CameraClock(offset_ms={e.offset_ms:.1f}, verdict={e.verdict})"
