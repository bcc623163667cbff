"""The source clock (rtsplab.source_clock) as pure logic: clock choice and PTS calibration."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rtsplab.entities import Clock
from rtsplab.source_clock import SourceClock

S = 1_000_000_000


def test_best_clock_first() -> None:
    c = SourceClock()
    assert c.stamp(0.0, 5 * S, t_rtcp_ns=3 * S, timecode=(2 * S, 9)) == (2 * S, Clock.TIMECODE, 9)
    assert c.stamp(0.0, 3 * S + 9_000_000, t_rtcp_ns=3 * S) == (3 * S, Clock.RTCP, None)
    assert c.stamp(None, 5 * S) == (5 * S, Clock.NONE, None)


def test_damaged_timecode_falls_back_to_calibrated_pts() -> None:
    """UDP loss damaged the timecode of frame 2: its time follows the PTS, not the arrival."""
    c = SourceClock()
    capture0 = 1_700_000_000 * S
    c.stamp(10.0, capture0 + 40_000_000, timecode=(capture0, 0))
    t, clock, seq = c.stamp(10.1, capture0 + 900_000_000)  # arrived late (a burst)
    assert (t, clock, seq) == (capture0 + 100_000_000, Clock.PTS, None)


def test_reset_reanchors_after_a_reconnect() -> None:
    c = SourceClock()
    c.stamp(100.0, 50 * S)
    c.reset()
    assert not c.calibrated
    assert c.stamp(0.0, 60 * S) == (60 * S, Clock.PTS, None)  # new PTS origin, new anchor


def test_rtcp_recalibrates_after_drift() -> None:
    c = SourceClock()
    c.stamp(1.0, 10 * S + 30_000_000, t_rtcp_ns=10 * S)
    c.stamp(2.0, 11 * S + 30_000_000, t_rtcp_ns=11 * S + 5_000_000)  # the camera drifted 5 ms
    assert c.stamp(3.0, 12 * S + 30_000_000)[0] == 12 * S + 5_000_000


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 10**6),  # pts origin, ms
    st.integers(0, 2 * 10**9),  # wall clock of the first capture, ms
    st.lists(st.tuples(st.integers(1, 200), st.booleans(), st.integers(0, 500)), max_size=30),
)
def test_pts_frames_keep_the_calibrated_offset(
    pts0_ms: int, wall0_ms: int, steps: list[tuple[int, bool, int]]
) -> None:
    """Whatever the mix of timecoded and damaged frames and arrival delays, a frame without a
    timecode is stamped at the last timecoded frame's time plus the PTS step since it."""
    c = SourceClock()
    pts_ms, wall_ms = pts0_ms, wall0_ms
    c.stamp(pts_ms / 1e3, wall_ms * 10**6, timecode=(wall_ms * 10**6, 0))
    for step_ms, has_tc, delay_ms in steps:
        pts_ms += step_ms
        wall_ms += step_ms
        recv_ns = (wall_ms + delay_ms) * 10**6
        tc = (wall_ms * 10**6, 1) if has_tc else None
        t, clock, _ = c.stamp(pts_ms / 1e3, recv_ns, timecode=tc)
        assert clock is (Clock.TIMECODE if has_tc else Clock.PTS)
        assert abs(t - wall_ms * 10**6) <= 1, (t, wall_ms)
