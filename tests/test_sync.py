"""Set matching (rtsplab.sync) as pure logic: examples and properties, no server."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rtsplab.sync import lagging, match, skew_ms, tolerance_ns

MS = 1_000_000


def _stream(t0_ms: float, period_ms: float, n: int, key0: int = 0) -> list[tuple[int, int]]:
    return [(key0 + i, round((t0_ms + i * period_ms) * MS)) for i in range(n)]


def test_two_free_running_cameras_pair_within_half_a_period() -> None:
    hist = {"a": _stream(0, 33.3, 10), "b": _stream(12, 33.3, 10)}
    tol = {n: tolerance_ns([t for _, t in h], fps=30) for n, h in hist.items()}
    m = match(hist, {}, tol)
    assert m is not None
    assert m.picks == {"a": 9, "b": 9} or m.picks == {"a": 9, "b": 8}
    assert m.skew_ms <= 17.7


def test_thirty_and_fifteen_fps_anchor_on_the_slow_stream() -> None:
    hist = {"fast": _stream(0, 33.3, 16), "slow": _stream(5, 66.7, 8)}
    tol = {n: tolerance_ns([t for _, t in h], fps=30) for n, h in hist.items()}
    assert tol["slow"] > tol["fast"]
    m = match(hist, {}, tol)
    assert m is not None
    assert m.picks["slow"] == 7  # the newest slow frame
    assert m.unmatched["fast"] >= 14  # fast frames older than the pick, passed over
    assert m.skew_ms < 17.7


def test_used_frames_are_not_matched_again() -> None:
    hist = {"a": _stream(0, 33, 3), "b": _stream(0, 33, 3)}
    tol = {"a": 17e6, "b": 17e6}
    assert match(hist, {"a": 2, "b": 1}, tol) is None  # a has nothing new
    m = match(hist, {"a": 1, "b": 1}, tol)
    assert m is not None and m.picks == {"a": 2, "b": 2}


def test_no_partner_within_tolerance_gives_none_and_names_the_lagging_stream() -> None:
    hist = {"a": _stream(1000, 33, 5), "b": _stream(0, 33, 5)}  # b runs 1 s behind
    tol = {"a": 17e6, "b": 17e6}
    assert match(hist, {}, tol) is None
    assert lagging(hist, {}) == "b"


def test_live_subset_matches_without_the_dead_stream() -> None:
    hist = {"a": _stream(0, 33, 5), "b": _stream(3, 33, 5), "dead": []}
    tol = {"a": 17e6, "b": 17e6, "dead": 17e6}
    assert match(hist, {}, tol) is None  # the dead stream blocks a full set
    live = {k: v for k, v in hist.items() if v}
    m = match(live, {}, tol)
    assert m is not None and set(m.picks) == {"a", "b"}
    assert lagging(hist, {}) == "dead"


def test_empty_and_edge_inputs() -> None:
    assert match({}, {}, {}) is None
    assert lagging({}, {}) is None
    assert skew_ms([5 * MS]) == 0.0
    assert tolerance_ns([0, 0, 0], fps=10) == 51 * MS  # no period in the times: 1/fps


history_st = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d"]),
    st.lists(st.integers(0, 2_000), min_size=0, max_size=12).map(
        lambda ts: [(i, t * MS) for i, t in enumerate(sorted(ts))]
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(history_st, st.integers(1, 80), st.integers(-1, 6))
def test_match_is_exactly_the_brute_force_rule(
    hist: dict[str, list[tuple[int, int]]], tol_ms: int, after_key: int
) -> None:
    tol = {n: float(tol_ms * MS) * (1 + i) for i, n in enumerate(hist)}
    after = dict.fromkeys(hist, after_key)
    m = match(hist, after, tol)
    fresh = {n: [e for e in h if e[0] > after_key] for n, h in hist.items()}
    anchor = max(hist, key=lambda n: tol[n])

    def partners(t: int) -> bool:
        return all(any(abs(e[1] - t) <= tol[n] for e in fresh[n]) for n in hist if n != anchor)

    if not all(fresh.values()):
        assert m is None
        return
    possible = [e for e in fresh[anchor] if partners(e[1])]
    if not possible:
        assert m is None
        return
    assert m is not None
    assert m.picks[anchor] == possible[-1][0]  # the newest anchor frame that has partners
    t = m.t_ns[anchor]
    for n in hist:
        assert any(e == (m.picks[n], m.t_ns[n]) for e in fresh[n])  # an unused frame
        assert abs(m.t_ns[n] - t) <= tol[n]
        assert m.unmatched[n] + m.newer[n] + 1 == len(fresh[n])
    assert m.skew_ms == skew_ms(m.t_ns.values())


@settings(max_examples=200, deadline=None)
@given(history_st)
def test_lagging_stream_has_the_oldest_newest_frame(hist: dict[str, list[tuple[int, int]]]) -> None:
    name = lagging(hist, {})
    assert name in hist
    newest = {n: h[-1][1] if h else -1 for n, h in hist.items()}
    assert newest[name] == min(newest.values())
