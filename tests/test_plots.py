"""Unit tests of rtsplab.plots on recorder DataFrames built from real Frame objects."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from rtsplab import plots
from rtsplab.entities import Clock, Frame, FrameSet
from rtsplab.recorder import Recorder

STREAMS = ("cam1", "cam2")
STRATEGIES = ("naive", "buffered", "latest")
T0_NS = 1_700_000_000_000_000_000
MS = 1_000_000


def _frame(
    stream: str, seq: int, t_source_ns: int, transit_ms: float, wait_ms: float, depth: int
) -> Frame:
    t_recv = t_source_ns + int(transit_ms * MS)
    return Frame(
        np.zeros((4, 4, 3), np.uint8), stream, seq, t_source_ns, Clock.TIMECODE, t_recv,
        t_recv + int(wait_ms * MS), depth=depth, dropped=1 if wait_ms == 0 else 0,
    )  # fmt: skip


def _record(rec: Recorder, strategy: str, n_sets: int, start_ns: int, with_sets: bool) -> None:
    """Synthetic timings with each strategy's signature: naive backlog grows in transit,
    buffered in the queue, latest stays flat; cam2 lags cam1 by a strategy-dependent skew."""
    for i in range(n_sets):
        frames = {}
        for k, stream in enumerate(STREAMS):
            t_src = (
                start_ns
                + i * 33 * MS
                + k * {"naive": 3 * i, "buffered": 2 * i, "latest": 5}[strategy] * MS
            )
            transit, wait, depth = {
                "naive": (40.0 + 10.0 * i, 0.1, 0),
                "buffered": (40.0, 8.0 * i, i // 2),
                "latest": (40.0, 0.0, 0),
            }[strategy]
            frames[stream] = _frame(stream, i, t_src, transit, wait, depth)
        if with_sets:
            ts = [f.t_source_ns for f in frames.values()]
            rec.add_set(FrameSet(frames, i, (max(ts) - min(ts)) / MS), strategy=strategy)
        else:
            for f in frames.values():
                rec.add(f, strategy=strategy)


def make_df(with_sets: bool = True, n_sets: int = 30) -> pd.DataFrame:
    rec = Recorder()
    for j, strategy in enumerate(STRATEGIES):
        rec.run = strategy  # one run per strategy, as compare() records them
        _record(rec, strategy, n_sets, T0_NS + j * 10**9 * 5, with_sets)
    return rec.to_dataframe()


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return make_df()


def _line_colors(ax: Axes) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for line in ax.get_lines():
        if line.get_gid():
            out.setdefault(str(line.get_gid()), set()).add(to_hex(line.get_color()))
    return out


def test_backend_is_headless() -> None:
    assert matplotlib.get_backend().lower() == "agg"


def test_plot_age_lines_per_strategy_and_stream(df: pd.DataFrame) -> None:
    ax = plots.plot_age(df)
    assert isinstance(ax, Axes)
    assert isinstance(ax.figure, Figure)
    assert ax.get_ylabel() == "frame age (ms)"
    assert "(s)" in ax.get_xlabel()
    labels = [line.get_label() for line in ax.get_lines()]
    for strategy in STRATEGIES:
        assert sum(lbl.startswith(f"{strategy} · ") for lbl in labels) == len(STREAMS)
    # Streams of one strategy differ by line style, not colour.
    naive = [line for line in ax.get_lines() if line.get_gid() == "naive"]
    assert len({line.get_linestyle() for line in naive}) == len(STREAMS)
    # The data plotted is the recorder's age_ms, in time order, re-based to 0 s per run.
    cam1 = next(line for line in naive if line.get_label() == "naive · cam1")
    expected = df[(df.strategy == "naive") & (df.stream == "cam1")]["age_ms"].to_numpy()
    np.testing.assert_allclose(np.asarray(cam1.get_ydata(), float), expected)
    assert float(np.asarray(cam1.get_xdata(), float)[0]) == 0.0
    assert ax.get_legend() is not None


def test_plot_age_log_scale(df: pd.DataFrame) -> None:
    ax = plots.plot_age(df, log=True)
    assert ax.get_yscale() == "log"
    assert "log" in ax.get_title()
    assert not ax.texts  # every age is positive: nothing hidden


def test_log_age_says_how_many_nonpositive_ages_it_hides() -> None:
    rec = Recorder()
    for i in range(5):  # a fallback clock can put the source time after the read
        rec.add(_frame("cam1", i, T0_NS + i * 33 * MS, -60.0 if i == 2 else 40.0, 5.0, 0))
    ax = plots.plot_age(rec.to_dataframe(), log=True)
    assert [t.get_text() for t in ax.texts] == [
        "1 frame(s) with age ≤ 0 ms (no source clock) not shown"
    ]


def test_no_plot_shows_a_negative_age() -> None:
    rec = Recorder()
    for i in range(5):  # a clock anchored at arrival: capture "after" decode for some frames
        transit_ms = -60.0 if i % 2 else 40.0
        rec.add(_frame("cam1", i, T0_NS + i * 33 * MS, transit_ms, 5.0, 0), strategy="naive")
        rec.add(_frame("cam1", i, T0_NS + i * 33 * MS, -60.0, 5.0, 0), strategy="latest")
    df = rec.to_dataframe()
    ax = plots.plot_age(df[df.strategy == "naive"])
    ages = np.concatenate([np.asarray(line.get_ydata(), float) for line in ax.lines])
    assert sorted(ages) == [0.0, 0.0, 45.0, 45.0, 45.0]  # clamped, not dropped
    assert [t.get_text() for t in ax.texts] == [
        "2 frame(s) with a negative age (no source clock) drawn at 0 ms"
    ]
    bars = plots.plot_latency_breakdown(df)
    assert min(patch.get_height() for patch in bars.patches) >= 0
    assert [t.get_text() for t in bars.texts] == ["45 ms", "n/a\n(no source clock)"]


def test_lines_break_where_reads_paused() -> None:
    rec = Recorder()
    for i in range(20):  # 10 reads, a 5 s pause (a reopen), 10 more reads
        t_src = T0_NS + i * 33 * MS + (5 * 10**9 if i >= 10 else 0)
        rec.add(_frame("cam1", i, t_src, 40.0, 1.0, 0), strategy="latest")
    df = rec.to_dataframe()
    for ax in (plots.plot_age(df), plots.plot_depth(df)):
        (line,) = ax.get_lines()
        y = np.asarray(line.get_ydata(), float)
        assert len(y) == 21 and np.isnan(y[10]) and np.isnan(y).sum() == 1


def test_plot_depth(df: pd.DataFrame) -> None:
    ax = plots.plot_depth(df)
    assert ax.get_ylabel() == "buffer depth (frames)"
    counts = {s: sum(line.get_gid() == s for line in ax.get_lines()) for s in STRATEGIES}
    assert counts == dict.fromkeys(STRATEGIES, len(STREAMS))
    buffered = next(line for line in ax.get_lines() if line.get_label() == "buffered · cam1")
    assert max(np.asarray(buffered.get_ydata(), float)) == df[df.strategy == "buffered"].depth.max()


def test_plot_skew_dedupes_one_value_per_set(df: pd.DataFrame) -> None:
    ax = plots.plot_skew(df)
    assert ax.get_ylabel() == "skew across streams (ms)"
    lines = {str(line.get_gid()): line for line in ax.get_lines()}
    assert set(lines) == set(STRATEGIES)
    n_sets = df[df.strategy == "buffered"].set_id.nunique()
    assert len(lines["buffered"].get_ydata()) == n_sets  # two rows per set, one point
    assert float(np.asarray(lines["latest"].get_ydata(), float).max()) == pytest.approx(5.0)


def test_plot_skew_cdf(df: pd.DataFrame) -> None:
    ax = plots.plot_skew_cdf(df, log=True)
    assert ax.get_xlabel() == "skew across streams (ms)"
    assert ax.get_xscale() == "symlog"
    for line in ax.get_lines():
        y = np.asarray(line.get_ydata(), float)
        assert y[-1] == pytest.approx(1.0)
        assert np.all(np.diff(y) >= 0)


def test_skew_without_sets_is_a_clear_error() -> None:
    single = make_df(with_sets=False, n_sets=5)
    with pytest.raises(ValueError, match="no group sets"):
        plots.plot_skew(single)
    with pytest.raises(ValueError, match="no group sets"):
        plots.plot_skew_cdf(single)
    fig = plots.plot_comparison(single)  # the dashboard says so instead of failing
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "no multi-stream sets recorded" in texts


def test_latency_breakdown_stacks_median_transit_and_wait(df: pd.DataFrame) -> None:
    ax = plots.plot_latency_breakdown(df)
    assert ax.get_ylabel() == "median latency (ms)"
    assert [t.get_text() for t in ax.get_xticklabels()] == list(STRATEGIES)
    bars = [p for p in ax.patches if p.get_gid() in STRATEGIES]
    assert len(bars) == 2 * len(STRATEGIES)
    for strategy in STRATEGIES:
        rows = df[df.strategy == strategy]
        transit, wait = (p for p in bars if p.get_gid() == strategy)
        assert transit.get_height() == pytest.approx(rows.transit_ms.median(), abs=1e-6)
        assert wait.get_height() == pytest.approx(rows.wait_ms.median(), abs=1e-6)
        assert wait.get_y() == pytest.approx(transit.get_height(), abs=1e-6)


def test_colours_are_consistent_across_functions(df: pd.DataFrame) -> None:
    per_plot = [
        _line_colors(plots.plot_age(df)),
        _line_colors(plots.plot_depth(df)),
        _line_colors(plots.plot_skew(df)),
        _line_colors(plots.plot_skew_cdf(df)),
    ]
    bar_ax = plots.plot_latency_breakdown(df)
    bars: dict[str, set[str]] = {}
    for p in bar_ax.patches:
        if p.get_gid():
            bars.setdefault(str(p.get_gid()), set()).add(
                to_hex(p.get_facecolor(), keep_alpha=False)
            )
    for colours in [*per_plot, bars]:
        assert colours == {s: {plots.STRATEGY_COLORS[s]} for s in STRATEGIES}
    assert len({plots.STRATEGY_COLORS[s] for s in (*STRATEGIES, "matched")}) == 4


def test_unknown_labels_get_stable_distinct_colours(df: pd.DataFrame) -> None:
    relabelled = df.assign(run=df["strategy"].map(lambda s: f"run-{s}"))
    ax = plots.plot_age(relabelled, by="run")
    colours = _line_colors(ax)
    assert set(colours) == {f"run-{s}" for s in STRATEGIES}
    assert all(len(c) == 1 for c in colours.values())
    assert len({next(iter(c)) for c in colours.values()}) == len(STRATEGIES)
    assert _line_colors(plots.plot_depth(relabelled, by="run")) == colours


@pytest.mark.parametrize(
    "fn",
    [
        plots.plot_age,
        plots.plot_depth,
        plots.plot_skew,
        plots.plot_skew_cdf,
        plots.plot_latency_breakdown,
        plots.plot_comparison,
    ],
)
def test_empty_dataframe_is_a_clear_error(fn: object) -> None:
    assert callable(fn)
    with pytest.raises(ValueError, match="empty"):
        fn(Recorder().to_dataframe())


def test_not_a_recorder_dataframe_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="lacks column"):
        plots.plot_age(pd.DataFrame({"x": [1.0]}))


def test_draws_into_given_axes(df: pd.DataFrame) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.plot_depth(df, ax=ax) is ax
    assert len(fig.axes) == 1


def test_comparison_dashboard_png(df: pd.DataFrame, tmp_path: Path) -> None:
    fig = plots.plot_comparison(df)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4
    assert fig.get_suptitle().startswith("rtsplab: naive, buffered, latest on 2 stream(s)")
    titles = {ax.get_title() for ax in fig.axes}
    assert {"Frames waiting in the buffer", "Where the latency goes"} <= titles
    out = tmp_path / "comparison.png"
    fig.savefig(out, dpi=80)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000


def test_credentials_never_reach_a_plot(tmp_path: Path) -> None:
    rec = Recorder()
    url = "rtsp://admin:s3cret@127.0.0.1:8554/cam1"
    for i in range(3):
        rec.add(_frame(url, i, T0_NS + i * 33 * MS, 40.0, 1.0, 0), strategy="latest")
    ax = plots.plot_age(rec.to_dataframe())
    labels = " ".join(str(line.get_label()) for line in ax.get_lines())
    assert "s3cret" not in labels
    assert "***" in labels


def _outage_recorder() -> Recorder:
    """Two streams in sets at 30 fps for 4 s; cam2 is left out of the sets from 1 s to 3 s."""
    rec = Recorder(run="outage")
    for i in range(120):
        t_src = T0_NS + i * 33 * MS
        frames = {"cam1": _frame("cam1", i, t_src, 40.0, 1.0, 0)}
        if not 30 <= i < 90:
            frames["cam2"] = _frame("cam2", i, t_src + 2 * MS, 40.0, 1.0, 0)
        rec.add_set(FrameSet(frames, i, 2.0 if len(frames) == 2 else 0.0), strategy="latest")
    return rec


def test_the_recorders_state_rows_name_the_outage() -> None:
    rec = _outage_recorder()
    t_ns = T0_NS + 31 * 33 * MS + 41 * MS
    rec.add_state("cam2", "stalled", "no frame for 1 s", t_ns=t_ns)
    rec.add_state("cam2", "reconnecting", "stalled", t_ns=t_ns + MS)
    rec.add_state("cam1", "streaming", "", t_ns=t_ns)  # a stream with no gap gets no span
    ax = plots.plot_age(rec.to_dataframe(), states=rec.states())
    texts = [t.get_text().strip() for t in ax.texts if str(t.get_gid()).startswith("outage:")]
    assert texts == ["cam2: stalled → reconnecting"]


def _outage_df(with_state: bool) -> pd.DataFrame:
    """:func:`_outage_recorder`'s rows, with state rows in the frame rows if ``with_state``."""
    df = _outage_recorder().to_dataframe()
    if with_state:  # state rows as a recorder may hold them: a stream, a time and a state
        t_ns = T0_NS + 31 * 33 * MS + 41 * MS
        rows = pd.DataFrame(
            {"run": "outage", "stream": "cam2", "strategy": "latest", "t_read_ns": [t_ns, t_ns + MS],
             "state": ["stalled", "reconnecting"]}
        )  # fmt: skip
        rows["t_s"] = (rows["t_read_ns"] - df["t_read_ns"].min()) / 1e9
        df = pd.concat([df.assign(state=pd.NA), rows], ignore_index=True)
    return df


@pytest.mark.parametrize("with_state", [False, True])
def test_a_dead_camera_is_a_labelled_gap_not_a_line(with_state: bool) -> None:
    ax = plots.plot_age(_outage_df(with_state))
    cam2 = next(line for line in ax.get_lines() if "cam2" in str(line.get_label()))
    xs = np.asarray(cam2.get_xdata(), float)
    assert np.isnan(xs).sum() == 1  # the line breaks once, at the outage
    before = xs[: int(np.flatnonzero(np.isnan(xs))[0])]
    assert before.max() < 1.0
    spans = [p for p in ax.patches if p.get_gid() == "outage:cam2"]
    assert len(spans) == 1 and not [p for p in ax.patches if p.get_gid() == "outage:cam1"]
    x0, x1 = spans[0].get_x(), spans[0].get_x() + spans[0].get_width()
    assert 0.9 < x0 < 1.05 and 2.9 < x1 < 3.05
    texts = [t.get_text().strip() for t in ax.texts if t.get_gid() == "outage:cam2"]
    assert texts == ["cam2: stalled → reconnecting" if with_state else "cam2: no frames"]


# -- every figure shows its data (tests/figure_checks.py) ----------------------------------


def _coinciding_df() -> pd.DataFrame:
    """naive and buffered with the same ages and depths 0, and a constant skew of 938 ms: the
    cases where a line used to hide under another or leave its axes."""
    rec = Recorder(run="same")
    for strategy in ("naive", "buffered", "latest"):
        for i in range(60):
            frames = {
                s: _frame(s, i, T0_NS + i * 33 * MS + k * 938 * MS, 40.0 + 10.0 * i, 0.0, 0)
                for k, s in enumerate(STREAMS)
            }
            rec.add_set(FrameSet(frames, i, 938.0), strategy=strategy)
    return rec.to_dataframe()


FIGURES = {
    "age": lambda d: plots.plot_age(d).figure,
    "age-log": lambda d: plots.plot_age(d, log=True).figure,
    "depth": lambda d: plots.plot_depth(d).figure,
    "skew": lambda d: plots.plot_skew(d).figure,
    "skew-cdf": lambda d: plots.plot_skew_cdf(d, log=True).figure,
    "breakdown": lambda d: plots.plot_latency_breakdown(d).figure,
    "comparison": lambda d: plots.plot_comparison(d),
}


@pytest.mark.parametrize("data", ["synthetic", "coinciding"])
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_figure_shows_every_named_line(name: str, data: str, df: pd.DataFrame) -> None:
    from figure_checks import problems

    frame = df if data == "synthetic" else _coinciding_df()
    assert problems(FIGURES[name](frame)) == []


def test_the_figure_check_sees_hidden_and_off_axes_lines() -> None:
    from figure_checks import problems

    ax = Figure().add_subplot()
    ax.plot([0, 1, 2], [1, 2, 3], color="r", label="a")
    ax.plot([0, 1, 2], [1, 2, 3], color="b", label="b")  # exactly under "a"
    ax.plot([0, 1, 2], [9, 9, 9], label="c")
    ax.set_ylim(0, 5)
    found = problems(ax.figure)
    assert found == [
        "'c': no point inside the axes (x -0.1..2.1, y 0..5)",
        "'a' and 'b' are drawn on top of each other",
    ]
    ax.lines[1].set_linestyle("--")  # a different style, or a note, makes them readable
    assert problems(ax.figure) == ["'c': no point inside the axes (x -0.1..2.1, y 0..5)"]


def test_one_run_keeps_one_clock_across_a_strategy_switch() -> None:
    """A live view that switches latest -> buffered -> latest: buffered is drawn where it
    happened, not from 0 over the first latest stretch, and the reopen is named a switch."""
    rec = Recorder(run="liveview")
    t = T0_NS
    for strategy in ("latest", "buffered", "latest"):
        for i in range(40):
            t += 100 * MS
            frames = {s: _frame(s, i, t, 20.0, 0.0, 0) for s in STREAMS}
            rec.add_set(FrameSet(frames, i, 0.0), strategy=strategy)
        t += 1000 * MS  # the reopen
    ax = plots.plot_age(rec.to_dataframe())
    starts = {str(line.get_gid()): [] for line in ax.get_lines()}
    for line in ax.get_lines():
        starts[str(line.get_gid())].append(float(np.nanmin(line.get_xdata())))
    assert min(starts["latest"]) == 0.0
    assert min(starts["buffered"]) == pytest.approx(5.0, abs=0.2)
    labels = [t.get_text().strip() for t in ax.texts]
    assert not [t for t in labels if "no frames" in t], labels
    assert "cam1: switch to buffered" in labels and "cam2: switch to latest" in labels, labels
    lines_of = {t.get_text(): t.get_position()[1] for t in ax.texts}
    assert len(set(lines_of.values())) > 1, "labels at one switch are drawn on one line"
