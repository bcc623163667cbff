"""The camera clock check (rtsplab.camera_clock) as pure logic: offset bound, verdicts, drift."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rtsplab.camera_clock import BOUND_MS, CameraClock
from rtsplab.entities import Clock
from rtsplab.source_clock import SourceClock

S = 1_000_000_000
MS = 1_000_000
NOW = 1_800_000_000 * S
NEVER_SET = 86_400 * S - NOW  # a clock that started at 1970-01-02 when the camera booted


def _feed(offset_ns: int, transits_ms: list[float], period_ms: float = 33.3) -> CameraClock:
    c = CameraClock()
    for i, transit_ms in enumerate(transits_ms):
        capture = NOW + round(i * period_ms * MS)
        c.observe(capture + offset_ns, capture + round(transit_ms * MS))
    return c


def test_verdicts_for_cameras_ahead_behind_and_never_set() -> None:
    transits = [9.0, 4.0, 6.0, 3.0, 5.0, 7.0]
    ahead, behind, never = (_feed(o, transits) for o in (3 * S, -3 * S, NEVER_SET))
    assert ahead.estimate is not None and behind.estimate is not None
    assert never.estimate is not None
    assert (ahead.estimate.verdict, behind.estimate.verdict) == ("ahead", "behind")
    assert never.estimate.verdict == "behind" and never.corrected
    # the offset is bounded by the fastest frame: 3 ms of its transit cannot be seen
    assert abs(ahead.estimate.offset_ms - 2997.0) < 0.1
    assert abs(behind.estimate.offset_ms + 3003.0) < 0.1
    assert abs(never.estimate.offset_ms - (NEVER_SET / MS - 3.0)) < 0.1
    assert "3.0 s ahead of this machine" in ahead.estimate.describe("cam1")
    assert "days behind this machine" in never.estimate.describe("cam1")


def test_a_small_offset_is_trusted_as_latency() -> None:
    for offset_ns in (-40 * MS, 0, 2 * MS):  # 2 ms ahead: still no frame before capture
        c = _feed(offset_ns, [9.0, 4.0, 6.0, 3.0, 5.0])
        assert c.estimate is not None and c.estimate.verdict == "ok" and not c.corrected
        assert c.correct(123) == 123
    assert _feed(-round((BOUND_MS + 50) * MS), [3.0, 4.0]).corrected


@settings(max_examples=150, deadline=None)
@given(
    st.integers(-(2**62), 2**62),  # camera clock - host clock, ns
    st.lists(st.floats(0.0, 400.0), min_size=1, max_size=60),  # transit of each frame, ms
)
def test_corrected_ages_are_never_negative_nor_above_the_truth(
    offset_ns: int, transits_ms: list[float]
) -> None:
    """Whatever the offset and the arrivals, a corrected capture time lies between the true
    capture and the arrival: the age never goes negative and never exceeds the true one."""
    c = CameraClock()
    for i, transit_ms in enumerate(transits_ms):
        capture = NOW + i * 33 * MS
        arrival = capture + round(transit_ms * MS)
        c.observe(capture + offset_ns, arrival)
        corrected = c.correct(capture + offset_ns)
        e = c.estimate
        assert e is not None
        assert e.offset_ms * MS <= offset_ns + 1  # a lower bound on the true offset
        if e.corrected:
            assert capture - 1 <= corrected <= arrival
        else:
            assert corrected <= arrival  # a trusted clock never puts capture after arrival


def test_a_growing_backlog_does_not_move_the_estimate() -> None:
    """A slow consumer (naive reads) makes arrival - capture grow by 100 ms/s: that is
    latency, and the estimate rises only by the drift allowance."""
    c = CameraClock()
    for i in range(300):  # 10 s at 30 fps
        capture = NOW + i * 33 * MS
        c.observe(capture, capture + 3 * MS + i * 3_300_000)
    assert c.estimate is not None and c.estimate.verdict == "ok"
    assert -6.0 < c.estimate.offset_ms < -3.0  # 3 ms, plus at most 200 ppm of 10 s


def test_drift_is_measured() -> None:
    c = CameraClock()
    for i in range(30 * 15):  # 15 s, a camera clock 80 ppm slow
        capture = NOW + i * 33 * MS
        c.observe(capture - i * 33 * 80, capture + 2 * MS + (i % 7) * MS)
    assert c.estimate is not None and c.estimate.drift_ppm is not None
    assert abs(c.estimate.drift_ppm + 80) < 10


def test_source_clock_says_corrected_and_prefers_onvif() -> None:
    c = SourceClock()
    t, clock, _ = c.stamp(0.0, NOW + 5 * MS, t_rtcp_ns=NOW + 3 * S)
    assert (t, clock) == (NOW + 5 * MS, Clock.CORRECTED)  # the fastest frame: no transit
    t, clock, _ = c.stamp(0.033, NOW + 40 * MS, t_rtcp_ns=NOW + 3 * S + 33 * MS)
    assert clock is Clock.CORRECTED and abs(t - (NOW + 38 * MS)) < 0.01 * MS  # 2 ms later
    c.reset()
    t, clock, _ = c.stamp(0.0, NOW + 5 * MS, t_rtcp_ns=NOW, t_camera_ns=NOW + MS)
    assert (t, clock) == (NOW + MS, Clock.ONVIF)
    assert c.camera_clock is not None and c.camera_clock.source == "onvif"


def test_held_frames_set_the_floor() -> None:
    """FFmpeg's demuxer holds each frame one period: the floor keeps that in the age."""
    c = SourceClock()
    for i in range(10):
        capture = NOW + i * 33 * MS
        t, clock, _ = c.stamp(
            i * 0.033, capture + 36 * MS, t_rtcp_ns=capture - 3 * S, held_frames=1
        )
    assert clock is Clock.CORRECTED
    assert t == NOW + 9 * 33 * MS + 3 * MS  # 33 ms of the 36 ms kept, 3 ms unknowable


def test_a_camera_clock_set_while_streaming_starts_the_check_over() -> None:
    """A camera 3 s ahead gets NTP mid-stream: its clock steps back 3 s against the PTS, and
    rtsplab trusts it from the next frame on, instead of shifting it by a stale 3 s."""
    c = SourceClock()
    for i in range(40):
        capture = NOW + i * 33 * MS
        offset = 3 * S if i < 20 else 0
        t, clock, _ = c.stamp(i * 0.033, capture + 4 * MS, t_rtcp_ns=capture + offset)
        assert clock is (Clock.CORRECTED if i < 20 else Clock.RTCP), i
        if i >= 20:
            assert t == capture  # the camera's time, trusted
        elif i == 0:
            assert t == capture + 4 * MS  # corrected: the fastest frame so far, no transit
    assert c.clock_steps == 1
    assert c.camera_clock is not None and c.camera_clock.verdict == "ok"


def test_a_backlog_is_not_a_clock_step() -> None:
    c = SourceClock()
    for i in range(100):  # arrivals fall behind by 30 ms a frame: a slow consumer
        capture = NOW + i * 33 * MS
        c.stamp(i * 0.033, capture + 3 * MS + i * 30 * MS, t_rtcp_ns=capture)
    assert c.clock_steps == 0
    assert c.camera_clock is not None and c.camera_clock.verdict == "ok"


def test_a_hold_is_taken_only_from_the_frame_decoded_next() -> None:
    """Frames stamped with gaps (``latest`` skipped some): the PTS step to the next stamped
    frame is not the hold, and must not shrink the transit (ages would read a frame high)."""
    gapped, consecutive = SourceClock(), SourceClock()
    for i in range(0, 60, 2):  # every other frame stamped
        capture = NOW + i * 33 * MS
        t, _, _ = gapped.stamp(
            i * 0.033, capture + 36 * MS, t_rtcp_ns=capture + 3 * S, held_frames=1, seq=i
        )
    assert t <= capture + 36 * MS  # never after the arrival
    assert t >= capture  # a 66 ms step taken as the hold would put it 30 ms early
    for i in range(60):
        capture = NOW + i * 33 * MS
        t, _, _ = consecutive.stamp(
            i * 0.033, capture + 36 * MS, t_rtcp_ns=capture + 3 * S, held_frames=1, seq=i
        )
    assert t == capture + 3 * MS  # the 33 ms hold known: 3 ms of transit left unseen
