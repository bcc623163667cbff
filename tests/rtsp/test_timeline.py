"""RTP timestamps: capture-time stamping, unwrap, and the sender-report wall clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rtsplab.rtsp.timeline import TimestampUnwrapper, WallClock, rtp_timestamp, ts_delta


def test_timestamp_is_90khz_of_capture_time() -> None:
    t_ns = 1_700_000_000_123_456_789
    assert rtp_timestamp(t_ns) == (t_ns * 90_000 // 1_000_000_000) & 0xFFFFFFFF
    assert rtp_timestamp(t_ns + 1_000_000_000) - rtp_timestamp(t_ns) in (90_000, 90_000 - 2**32)
    assert rtp_timestamp(t_ns + 33_333_333, offset=10) == rtp_timestamp(t_ns, offset=10) + 3000


@given(st.integers(0, 2**32 - 1), st.lists(st.integers(-(2**30), 2**30), max_size=50))
def test_unwrap_follows_signed_steps(start: int, steps: list[int]) -> None:
    u = TimestampUnwrapper()
    expected = start
    assert u.unwrap(start) == start
    for step in steps:
        expected += step
        assert u.unwrap(expected & 0xFFFFFFFF) == expected


def test_wall_clock_re_anchors_at_every_report() -> None:
    # a media clock running 100 ppm fast: one anchor drifts, re-anchoring keeps it exact
    w = WallClock()
    t0_ns, ts0 = 1_700_000_000_000_000_000, 4_294_000_000
    w.on_sender_report(t0_ns, ts0)
    ts_1h = (ts0 + int(3600 * 90_000 * 1.0001)) & 0xFFFFFFFF
    wall_ns = w.wall_ns(ts_1h)
    assert wall_ns is not None
    drift_ms = (wall_ns - (t0_ns + 3600 * 10**9)) / 1e6
    assert 355 < drift_ms < 365  # 100 ppm of an hour
    w.on_sender_report(t0_ns + 3600 * 10**9, ts_1h)
    assert w.wall_ns((ts_1h + 9000) & 0xFFFFFFFF) == t0_ns + 3600 * 10**9 + 100_000_000
    assert w.reports == 2
    assert ts_delta(5, 2**32 - 5) == 10
