"""The catch-up guard: a decoder that falls behind skips to the next keyframe, and no more.

Streams are synthetic (30 fps, a keyframe every 30 units) with a decoder of a given cost per
unit simulated on a virtual clock, so each outcome is exact: the guard's only inputs are
media times, look-at times and keyframe flags.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtsplab.rtsp import overload
from rtsplab.rtsp.overload import BEHIND_MS, REBASE_S, STEP_PROBE_MS, WALL_BEHIND_MS, CatchUp

MS = 1_000_000
PERIOD_NS = 33_333_333  # 30 fps
GOP = 30


@dataclass
class Run:
    ages_ms: list[float]  # age of each decoded unit when its decode ended
    decoded: int
    skipped: int
    guard: CatchUp


def simulate(
    cost_ms: float,
    seconds: float,
    key_cost_ms: float | None = None,
    stall: tuple[float, float] = (0, 0),
    step: tuple[float, float] = (0, 0),
    jitter_ms: list[int] | None = None,
) -> Run:
    """One stream through a decoder that takes ``cost_ms`` per unit (``key_cost_ms`` for a
    keyframe; skipping is free); ``stall`` = (at_s, for_s) stops the decoder once; ``step``
    = (at_s, ms): from the unit captured at ``at_s`` on, every unit arrives ``ms`` later (the
    network or camera became later); ``jitter_ms``: added to each unit's arrival in turn
    (never reordering)."""
    guard = CatchUp()
    now = 0
    ages: list[float] = []
    decoded = 0
    stalled = False
    last_arrival = 0
    for i in range(int(seconds * 30)):
        arrival = i * PERIOD_NS + 5 * MS  # network delay 5 ms
        if step[1] and i * PERIOD_NS >= step[0] * 1e9:
            arrival += int(step[1] * MS)
        if jitter_ms:
            arrival += jitter_ms[i % len(jitter_ms)] * MS
        arrival = last_arrival = max(arrival, last_arrival)
        now = max(now, arrival)
        if not stalled and stall[1] and now >= stall[0] * 1e9:
            now += int(stall[1] * 1e9)
            stalled = True
        key = i % GOP == 0
        if guard.admit(keyframe=key, media_ns=i * PERIOD_NS, now_ns=now):
            now += int((key_cost_ms if key and key_cost_ms else cost_ms) * MS)
            ages.append((now - i * PERIOD_NS) / MS)
            decoded += 1
    return Run(ages, decoded, guard.skipped, guard)


def test_a_decoder_that_keeps_up_decodes_everything() -> None:
    run = simulate(cost_ms=20, seconds=10)
    assert run.skipped == 0 and run.decoded == 300
    assert max(run.ages_ms) < 30
    assert not run.guard.overloaded(10**10)


def test_a_decoder_twice_too_slow_stays_within_a_gop_and_keeps_delivering() -> None:
    run = simulate(cost_ms=66, seconds=20)
    assert max(run.ages_ms) < 1000 + BEHIND_MS + 2 * 66  # a GOP, the bound, a frame or two
    assert run.skipped > 0 and run.decoded > 20 * 2  # every second: its keyframe at least
    assert 0.2 < run.guard.skip_fraction < 0.9
    assert run.guard.overloaded(20 * 10**9)
    assert "% of frames skipped at keyframes" in run.guard.reason()


def test_without_the_guard_the_same_decoder_falls_seconds_behind() -> None:
    """What the guard prevents: 66 ms per 33 ms frame, decoded in order, for 20 s."""
    now, worst = 0, 0.0
    for i in range(600):
        now = max(now, i * PERIOD_NS) + 66 * MS
        worst = max(worst, (now - i * PERIOD_NS) / MS)
    assert worst > 9000


def test_a_stall_is_skipped_to_the_next_keyframe_then_decoding_resumes() -> None:
    run = simulate(cost_ms=5, seconds=10, stall=(3.1, 0.5))
    assert run.guard.episodes == 1
    assert not run.guard.behind
    assert not run.guard.overloaded(int(3.7e9))  # a burst caught up once is not overload
    # the units of the stall and up to the next keyframe (at 3.6 s at the latest) only
    assert 10 <= run.skipped <= 30
    assert max(run.ages_ms[-100:]) < 20


@pytest.mark.parametrize("at_s", [6.0, 6.3, 6.6, 6.9, 6.97])  # the step before a keyframe
def test_a_step_in_the_upstream_delay_costs_one_skip_to_a_keyframe_at_most(at_s: float) -> None:
    """300 ms later all at once, nothing queued: the skip gains nothing, so the baseline moves
    and decoding resumes at the next keyframe; then no skip, every unit decoded."""
    run = simulate(cost_ms=5, seconds=18, step=(at_s, 300))
    g = run.guard
    assert g.delay_steps == 1 and g.episodes == 0 and not g.behind
    assert not g.overloaded(18 * 10**9)
    # the probe (STEP_PROBE_MS of the stream) and the rest of its GOP, once
    assert 0 < run.skipped <= GOP + STEP_PROBE_MS / 33.3 + 1
    assert run.decoded == 18 * 30 - run.skipped
    assert all(300 <= a < 320 for a in run.ages_ms[-10 * 30 :])  # the step, and no more


def test_without_the_step_probe_a_delay_step_skips_for_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the probe prevents: judged by the lag alone, every unit 300 ms over the least
    transit is behind, and the stream skips to each keyframe until REBASE_S re-anchors it."""
    monkeypatch.setattr(overload, "STEP_PROBE_MS", 1e9)  # never judged
    run = simulate(cost_ms=5, seconds=18, step=(6.0, 300))
    assert run.guard.delay_steps == 0
    assert run.skipped > (REBASE_S - 1) * 29  # seconds of the stream, keyframes only


def test_a_delay_step_with_jitter_is_still_a_step() -> None:
    run = simulate(cost_ms=5, seconds=18, step=(6.5, 300), jitter_ms=[0, 60, 10, 80, 30])
    assert run.guard.delay_steps >= 1 and run.guard.episodes == 0
    assert run.skipped <= 2 * GOP
    assert max(run.ages_ms[-9 * 30 :]) < 300 + 80 + 20


@pytest.mark.parametrize("cost_ms", [37.0, 45.0, 66.0])  # 10 %, 35 %, 100 % too slow
def test_a_growing_backlog_is_still_skipped_after_a_delay_step(cost_ms: float) -> None:
    """The skip through a backlog gains the time skipped: never taken for a delay step, the
    age stays within a GOP plus the bound, before and after the stream became 300 ms later."""
    run = simulate(cost_ms=cost_ms, seconds=20, step=(8.0, 300))
    g = run.guard
    assert run.skipped > 0 and g.episodes >= 2
    assert g.overloaded(20 * 10**9)
    assert max(run.ages_ms) < 1000 + BEHIND_MS + 300 + 2 * cost_ms
    assert g.delay_steps <= 1  # the step itself, at most
    assert max(run.ages_ms[-5 * 30 :]) < 300 + 1000 + BEHIND_MS  # not seconds behind


def test_a_growing_backlog_without_a_step_is_never_a_delay_step() -> None:
    for cost_ms in (37.0, 45.0, 66.0, 200.0):
        run = simulate(cost_ms=cost_ms, seconds=20)
        assert run.skipped > 0 and run.guard.delay_steps == 0, cost_ms


def test_a_queue_seen_behind_the_unit_is_never_a_delay_step() -> None:
    """Units arriving as the stream makes them but each one second behind the newest
    received: the skip gains nothing, yet the queue says they wait."""
    g = CatchUp()
    for i in range(10 * 30):
        t = i * PERIOD_NS
        newest = t + 10**9 if i >= 60 else t
        g.admit(keyframe=i % GOP == 0, media_ns=t, now_ns=t + 5 * MS, newest_ns=newest)
    assert g.delay_steps == 0 and g.behind and g.skipped > 200


def test_keyframes_only_is_still_decoded_when_keyframes_are_all_it_can_afford() -> None:
    run = simulate(cost_ms=200, key_cost_ms=200, seconds=20)
    assert run.decoded >= 20  # the keyframes
    assert max(run.ages_ms) < 1000 + BEHIND_MS + 400


def test_jitter_under_the_bound_skips_nothing() -> None:
    guard = CatchUp()
    jitter = [0, 150, 20, 180, 0, 90] * 50
    for i, j in enumerate(jitter):
        assert guard.admit(
            keyframe=i % GOP == 0, media_ns=i * PERIOD_NS, now_ns=i * PERIOD_NS + j * MS
        )
    assert guard.skipped == 0


def test_a_backlog_seen_in_the_socket_counts_even_when_late_from_the_start() -> None:
    """Every unit is 3 s late from the first one: transit alone cannot tell, the newest
    packet already received can."""
    guard = CatchUp()
    newest = 90 * PERIOD_NS
    admitted = [
        guard.admit(
            keyframe=i % GOP == 0, media_ns=i * PERIOD_NS, now_ns=3 * 10**9, newest_ns=newest
        )
        for i in range(60)
    ]
    assert admitted[0] and not any(admitted[1:30]) and admitted[30]
    assert guard.skipped == 58


def test_a_timestamp_jump_back_rebases_instead_of_skipping_for_ever() -> None:
    guard = CatchUp()
    for i in range(30):
        guard.admit(keyframe=i == 0, media_ns=i * PERIOD_NS, now_ns=i * PERIOD_NS)
    # the sender restarts its clock at 0 without a new SSRC: every unit now looks 1 s late
    t0 = 30 * PERIOD_NS
    for i in range(400):
        guard.admit(
            keyframe=i % GOP == 0, media_ns=i * PERIOD_NS, now_ns=t0 + i * PERIOD_NS, pending=False
        )
    assert not guard.behind
    assert guard.skipped < 6 * 30  # at most the rebase time's worth


def test_clock_drift_is_not_lag() -> None:
    guard = CatchUp()
    for i in range(30 * 600):  # ten minutes, the sender's clock 200 ppm slow
        media = i * PERIOD_NS
        guard.admit(keyframe=i % GOP == 0, media_ns=media, now_ns=media + media // 5000)
    assert guard.skipped == 0


def test_units_skipped_by_a_reopen_are_counted_and_the_baseline_restarts() -> None:
    guard = CatchUp()
    guard.admit(keyframe=True, media_ns=0, now_ns=0)
    guard.note_skipped(45, now_ns=10)
    assert guard.skipped == 45 and not guard.behind
    assert not guard.overloaded(11)  # once is a burst
    guard.note_skipped(30, now_ns=4 * 10**9)
    assert guard.overloaded(4 * 10**9 + 1)  # twice within the window: overload
    # the new session's times start anywhere: not lag
    assert guard.admit(keyframe=False, media_ns=0, now_ns=5 * 10**9)
    assert guard.lag_ns == 0


@settings(max_examples=60, deadline=None)
@given(
    cost_ms=st.floats(1, 400),
    delays_ms=st.lists(st.integers(0, 3000), min_size=1, max_size=300),
    keys=st.lists(st.booleans(), min_size=1, max_size=300),
)
def test_any_schedule_keeps_counts_consistent_and_keyframes_decoded(
    cost_ms: float, delays_ms: list[int], keys: list[bool]
) -> None:
    guard = CatchUp()
    now = 0
    n = min(len(delays_ms), len(keys))
    for i in range(n):
        now = max(now, i * PERIOD_NS + delays_ms[i] * MS)
        admitted = guard.admit(keyframe=keys[i], media_ns=i * PERIOD_NS, now_ns=now)
        if keys[i]:
            assert admitted  # a keyframe is never skipped: the stream keeps delivering
        if admitted:
            now += int(cost_ms * MS)
        assert guard.lag_ns >= 0
    assert guard.skipped + guard.admitted == n
    assert 0.0 <= guard.skip_fraction <= 1.0


def drain_backlog(start_s: float, cost_ms: float, seconds: float, offset_s: float | None) -> Run:
    """A reader that starts ``start_s`` late (the stream's units waited since), decodes at
    ``cost_ms`` per unit (looking at a unit costs 1 ms) and, unless ``offset_s`` is None, gives
    the guard each unit's age by the sender's clock, ``offset_s`` off."""
    guard = CatchUp()
    now = int(start_s * 1e9)
    ages: list[float] = []
    decoded = 0
    for i in range(int(seconds * 30)):
        media = i * PERIOD_NS
        now = max(now, media + 5 * MS) + MS  # arrives 5 ms after capture; a look costs 1 ms
        age = None if offset_s is None else now - media + int(offset_s * 1e9)
        if guard.admit(keyframe=i % GOP == 0, media_ns=media, now_ns=now, age_ns=age):
            now += int(cost_ms * MS)
            ages.append((now - media) / MS)
            decoded += 1
    return Run(ages, decoded, guard.skipped, guard)


def test_a_backlog_older_than_the_baseline_stays_unseen_without_the_senders_clock() -> None:
    """What ``age_ns`` is for: 7 s of backlog before the first look, a decoder a little faster
    than the stream (30 ms per 33 ms unit): the baseline takes the backlog for the delay."""
    run = drain_backlog(start_s=7.0, cost_ms=30, seconds=20, offset_s=None)
    assert run.skipped == 0
    assert min(run.ages_ms[-30:]) > 4000  # still seconds behind after 20 s


def test_a_backlog_older_than_the_baseline_is_drained_by_the_senders_clock() -> None:
    run = drain_backlog(start_s=7.0, cost_ms=30, seconds=20, offset_s=0.0)
    assert run.guard.episodes == 1 and not run.guard.behind and not run.guard.wants_age
    # drained to under WALL_BEHIND_MS at once; the decoder's own spare time does the rest
    assert max(run.ages_ms[-300:]) < WALL_BEHIND_MS
    assert max(run.ages_ms[-30:]) < 50
    assert 6 * 30 <= run.skipped <= 7 * 30  # the backlog, to a keyframe under WALL_BEHIND_MS


def test_a_camera_clock_behind_costs_at_most_a_gop_at_the_start() -> None:
    """Live from the start, but the camera's clock is 3 s behind: every age reads 3 s old."""
    run = drain_backlog(start_s=0.0, cost_ms=10, seconds=10, offset_s=3.0)
    assert not run.guard.wants_age and not run.guard.behind
    assert run.skipped <= GOP  # the first GOP drained, no nearer: the rest is the clock
    assert run.decoded >= 300 - GOP


def test_a_camera_clock_ahead_or_right_costs_nothing() -> None:
    for offset_s in (-3.0, 0.0, 0.5):
        run = drain_backlog(start_s=0.0, cost_ms=10, seconds=5, offset_s=offset_s)
        assert run.skipped == 0 and not run.guard.wants_age


@settings(max_examples=60, deadline=None)
@given(
    ages_ms=st.lists(st.integers(-5000, 20000), min_size=1, max_size=300),
    keys=st.lists(st.booleans(), min_size=1, max_size=300),
)
def test_any_sender_clock_keeps_keyframes_decoded_and_ends_its_say(
    ages_ms: list[int], keys: list[bool]
) -> None:
    """Whatever the sender's clock says, keyframes are decoded, the counts add up, and the
    clock has no say once a unit was near-live by it."""
    guard = CatchUp()
    n = min(len(ages_ms), len(keys))
    for i in range(n):
        t = i * PERIOD_NS
        admitted = guard.admit(keyframe=keys[i], media_ns=t, now_ns=t, age_ns=ages_ms[i] * MS)
        assert admitted or not keys[i]
    assert guard.skipped + guard.admitted == n
    if min(ages_ms[:n]) <= WALL_BEHIND_MS:
        assert not guard.wants_age


def test_a_first_unit_looked_at_soon_after_the_open_makes_the_senders_clock_unneeded() -> None:
    """No backlog older than the wait since the open can be there: a camera clock 3 s behind
    then costs nothing at all."""
    guard = CatchUp(opened_ns=0)
    for i in range(300):
        media = i * PERIOD_NS
        now = 100 * MS + media
        age = now - media + 3 * 10**9
        assert guard.admit(keyframe=i % GOP == 0, media_ns=media, now_ns=now, age_ns=age)
    assert guard.skipped == 0 and not guard.wants_age


def test_a_first_unit_looked_at_late_after_the_open_still_drains_by_the_senders_clock() -> None:
    guard = CatchUp(opened_ns=0)
    late = 7 * 10**9  # the reader came to its first unit 7 s after asking for the stream
    admitted = [  # the backlog, all there at once: each unit a frame younger
        guard.admit(
            keyframe=i % GOP == 0, media_ns=i * PERIOD_NS, now_ns=late, age_ns=late - i * PERIOD_NS
        )
        for i in range(31)
    ]
    assert admitted[0] and not any(admitted[1:30]) and admitted[30] and guard.behind
