"""Matplotlib plots of a recorder DataFrame: frame age, buffer depth, skew, latency breakdown.

Every function takes the DataFrame of :meth:`rtsplab.recorder.Recorder.to_dataframe` and
draws into ``ax`` when given, else into a new :class:`matplotlib.figure.Figure` (no pyplot
state, so it works headless and in notebooks; show a figure with ``display(ax.figure)``).
Single plots return their ``Axes``; :func:`plot_comparison` returns the ``Figure``.

A stream that handed out no frame for a while (a dead camera, left out of a group's sets)
shows as a break in its line and a grey span labelled with the stream's recorded state, never
as a line drawn through the outage.

Series are grouped by the ``strategy`` column (``by="run"`` groups by run label instead) and
each label keeps one colour everywhere (:data:`STRATEGY_COLORS`, then a fallback cycle).
Streams of the same label differ by line style. Time on the x axis is ``t_s`` re-based so
each label's run starts at 0 s, so runs recorded one after another overlay.

Example:
    >>> import numpy as np
    >>> from rtsplab.entities import Clock, Frame
    >>> from rtsplab.recorder import Recorder
    >>> rec = Recorder()
    >>> for i in range(3):
    ...     f = Frame(np.zeros((2, 2, 3), np.uint8), "cam1", i, i * 10**8, Clock.TIMECODE,
    ...               i * 10**8 + 10**7, i * 10**8 + 2 * 10**7)
    ...     rec.add(f, strategy="latest")
    >>> ax = plot_age(rec.to_dataframe())
    >>> ax.get_ylabel()
    'frame age (ms)'
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from rtsplab.urls import redact

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "STRATEGY_COLORS",
    "plot_age",
    "plot_comparison",
    "plot_depth",
    "plot_latency_breakdown",
    "plot_skew",
    "plot_skew_cdf",
    "strategy_color",
]

STRATEGY_COLORS: dict[str, str] = {
    "naive": "#d62728",
    "buffered": "#ff7f0e",
    "latest": "#2ca02c",
    "matched": "#1f77b4",
    "latest@native": "#9467bd",
}
"""One colour per strategy label, used by every plot and by the live view."""

_FALLBACK_COLORS = ("#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_LINE_STYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_extra_colors: dict[str, str] = {}
_extra_lock = threading.Lock()

_AGE_LABEL = "frame age (ms)"
_TIME_LABEL = "time since run start (s)"


def strategy_color(label: str) -> str:
    """The colour of a strategy (or run) label: fixed for known ones, stable for the rest.

    Unknown labels get the next colour of a fallback cycle the first time they are seen and
    keep it for the life of the process, so every plot agrees.

    Example:
        >>> strategy_color("latest") == STRATEGY_COLORS["latest"]
        True
        >>> strategy_color("my-run") == strategy_color("my-run")
        True
        >>> strategy_color("latest@opencv") == STRATEGY_COLORS["latest"]  # the strategy's colour
        True
    """
    if label in STRATEGY_COLORS:
        return STRATEGY_COLORS[label]
    if label.partition("@")[0] in STRATEGY_COLORS:
        return STRATEGY_COLORS[label.partition("@")[0]]
    with _extra_lock:
        if label not in _extra_colors:
            _extra_colors[label] = _FALLBACK_COLORS[len(_extra_colors) % len(_FALLBACK_COLORS)]
        return _extra_colors[label]


def _check(df: pd.DataFrame, columns: Iterable[str]) -> None:
    if df is None or len(df) == 0:
        raise ValueError("the DataFrame is empty: record some frames before plotting")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"the DataFrame lacks column(s) {missing}: pass Recorder.to_dataframe() output"
        )


def _axes(ax: Axes | None, figsize: tuple[float, float] = (7.0, 4.0)) -> Axes:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def _marks(label: str, labels: list[str]) -> dict[str, Any]:
    """Sparse markers, one shape per label and staggered along the line, so that two labels
    whose lines coincide (naive and buffered ages, depths of 0) both stay visible."""
    i = labels.index(label) if label in labels else 0
    return {
        "marker": _MARKERS[i % len(_MARKERS)],
        "markevery": (0.02 + 0.03 * i, 0.12),
        "markersize": 5,
        "markerfacecolor": "none",
    }


def _labels(df: pd.DataFrame, by: str) -> list[str]:
    """Labels in a fixed order: the known strategies first, then others as they appear."""
    seen = [str(v) for v in df[by].drop_duplicates()]
    known = [k for k in STRATEGY_COLORS if k in seen]
    return known + [s for s in seen if s not in STRATEGY_COLORS]


def _with_time(df: pd.DataFrame, by: str) -> pd.DataFrame:
    """A copy with ``x_s``: ``t_s`` re-based to 0 at the start of each (run, label)."""
    out = df.copy()
    if "t_s" not in out.columns:
        out["t_s"] = (out["t_read_ns"] - out["t_read_ns"].min()) / 1e9
    # one clock per run: labels within a run (a live view switching strategy) stay where
    # they happened instead of being drawn over each other from 0
    keys = ["run"] if "run" in out.columns else [by]
    out["x_s"] = out["t_s"] - out.groupby(keys)["t_s"].transform("min")
    return out.sort_values("t_read_ns", kind="stable")


def _series(df: pd.DataFrame, by: str) -> Iterator[tuple[str, str, str, pd.DataFrame]]:
    """(label, stream, line style, frame rows) for each label and stream (rows that are not
    frames, such as state changes, have no age and are left out)."""
    if "age_ms" in df.columns:
        df = df[df["age_ms"].notna()]
    streams = [str(s) for s in df["stream"].drop_duplicates()]
    styles = {s: _LINE_STYLES[i % len(_LINE_STYLES)] for i, s in enumerate(streams)}
    for label in _labels(df, by):
        sub = df[df[by].astype(str) == label]
        for stream in streams:
            rows = sub[sub["stream"].astype(str) == stream]
            if len(rows):
                yield label, stream, styles[stream], rows


def _gap_starts(xs: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Indices ``i`` where a pause in frames ends between ``xs[i-1]`` and ``xs[i]``: longer
    than 0.5 s and five times the median spacing (a dead camera, a reopen, another run)."""
    import numpy as np

    if len(xs) < 3:
        return np.array([], dtype=int)
    dx = np.diff(xs)
    gap_s = max(0.5, 5.0 * float(np.median(dx)))
    return np.flatnonzero(dx > gap_s) + 1


def _gapped(x: pd.Series, y: pd.Series) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """x and y as arrays with a NaN inserted wherever frames paused, so a line does not
    bridge an outage."""
    import numpy as np

    xs, ys = x.to_numpy(float), y.to_numpy(float)
    cut = _gap_starts(xs)
    return np.insert(xs, cut, np.nan), np.insert(ys, cut, np.nan)


def _outages(data: pd.DataFrame, by: str) -> list[tuple[str, float, float, str]]:
    """(stream, x0, x1, what) for every span in which a stream handed out no frame while its
    run went on: pauses between its frames, and its absence before its first or after its
    last frame. ``what`` is the states recorded for the stream in the span (rows with a
    ``state`` column, e.g. ``stalled → reconnecting``), else ``"no frames"``."""
    frames = data[data["age_ms"].notna()] if "age_ms" in data.columns else data
    states = None
    if "state" in data.columns:
        states = data[data["state"].notna() & (data["state"].astype(str) != "")]
    out: list[tuple[str, float, float, str]] = []
    keys = ["run"] if "run" in frames.columns else [by]
    for _, run in frames.groupby(keys, sort=False):
        run = run.sort_values("x_s")
        start, end = float(run["x_s"].min()), float(run["x_s"].max())
        for stream in [str(s) for s in run["stream"].drop_duplicates()]:
            rows = run[run["stream"].astype(str) == stream]
            xs = rows["x_s"].to_numpy(float)
            labels = rows[by].astype(str).to_numpy() if by in rows.columns else None
            if len(xs) < 2:
                continue
            gaps = list(_gap_starts(xs))
            spans = [(float(xs[i - 1]), float(xs[i])) for i in gaps]
            # a pause where the label changes is the reopen of a strategy switch
            switches = {
                (float(xs[i - 1]), float(xs[i])): f"switch to {labels[i]}"
                for i in gaps
                if labels is not None and labels[i - 1] != labels[i]
            }
            margin = max(0.5, 5.0 * float(_median_step(xs)))
            if xs[0] - start > margin:
                spans.insert(0, (start, float(xs[0])))
            if end - xs[-1] > margin:
                spans.append((float(xs[-1]), end))
            for x0, x1 in spans:
                what = switches.get((x0, x1), "no frames")
                if states is not None and (x0, x1) not in switches:
                    s = states[
                        (states["stream"].astype(str) == stream)
                        & states["x_s"].between(x0 - 0.5, x1)
                    ]["state"].astype(str)
                    named = list(dict.fromkeys(s))
                    what = " → ".join(named) if named else what
                out.append((stream, x0, x1, what))
    return out


def _median_step(xs: npt.NDArray[Any]) -> float:
    import numpy as np

    return float(np.median(np.diff(xs))) if len(xs) >= 2 else 0.0


def _shade_outages(ax: Axes, data: pd.DataFrame, by: str) -> None:
    """Grey spans where a stream was down, labelled ``stream: state``; labels that would
    start close to an earlier one go one line lower, so none is drawn over another."""
    outages = _outages(data, by)
    span_s = float(data["x_s"].max() - data["x_s"].min()) if len(data) else 0.0
    placed: list[tuple[float, int]] = []
    for stream, x0, x1, what in outages:
        ax.axvspan(x0, x1, color="0.5", alpha=0.12, linewidth=0, gid=f"outage:{stream}")
        near = {line for x, line in placed if abs(x - x0) < 0.2 * span_s}
        line = next(i for i in range(len(placed) + 1) if i not in near)
        placed.append((x0, line))
        ax.text(
            x0, 0.98 - 0.05 * line, f" {redact(stream)}: {what}", transform=ax.get_xaxis_transform(),
            ha="left", va="top", fontsize="x-small", color="0.3", clip_on=True,
            gid=f"outage:{stream}",
        )  # fmt: skip


def _log_scale(ax: Axes, which: str, max_value: float = 0.0) -> None:
    """Log scale with ticks at 1-2-5 in plain numbers.

    The x axis (skew, which can be exactly 0) is symlog, linear below 1 ms; the y axis (age)
    is a true log scale on which values <= 0 are masked (callers say how many). Horizontal
    axes spanning more than three decades get ticks at powers of ten only, so labels fit.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, SymmetricalLogLocator

    formatter = FuncFormatter(lambda v, _pos: f"{v:g}")
    if which == "x":
        ax.set_xscale("symlog", linthresh=1.0)
        subs = (1.0,) if max_value > 1000.0 else (1.0, 2.0, 5.0)
        ax.xaxis.set_major_locator(SymmetricalLogLocator(subs=subs, linthresh=1.0, base=10.0))
        ax.xaxis.set_major_formatter(formatter)
    else:
        ax.set_yscale("log", nonpositive="mask")
        ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(formatter)
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda _v, _pos: ""))


def _legend(ax: Axes) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", framealpha=0.8)


def _merge_states(df: pd.DataFrame, states: pd.DataFrame | None, by: str) -> pd.DataFrame:
    """``df`` with the recorder's state rows (:meth:`Recorder.states`) appended as rows that
    have a ``state`` and no age, labelled like the frames of their run."""
    import pandas as pd

    if states is None or not len(states):
        return df
    rows = states.rename(columns={"t_ns": "t_read_ns"})
    labels = df.drop_duplicates("run")[["run", by]] if by != "run" else None
    if labels is not None:
        rows = rows.merge(labels, on="run", how="inner")
    keep = [c for c in ("run", "stream", by, "t_read_ns", "t_s", "state") if c in rows.columns]
    return pd.concat([df.assign(state=None), rows[keep]], ignore_index=True)


def plot_age(
    df: pd.DataFrame,
    log: bool = False,
    ax: Axes | None = None,
    by: str = "strategy",
    states: pd.DataFrame | None = None,
) -> Axes:
    """Frame age (capture -> read) over time, one line per strategy and stream.

    Args:
        df: a recorder DataFrame.
        log: log-scaled age axis; ages <= 0 (possible only with a fallback clock) are left out
            and counted in a note.
        ax: draw into this Axes instead of a new figure.
        by: the column that names a series: ``"strategy"`` or ``"run"``.
        states: the recorder's state changes (:meth:`Recorder.states`), to name what a stream
            was doing while it handed out no frame (``stalled → reconnecting``).

    Returns:
        The Axes; each line's label is ``"<strategy> · <stream>"`` and its ``gid`` the strategy.
        A span where a stream had no frames is shaded, with gid ``"outage:<stream>"``.

    Raises:
        ValueError: ``df`` is empty or is not a recorder DataFrame.

    Example:
        >>> plot_age(df, log=True).figure.savefig("age.png")  # doctest: +SKIP
    """
    _check(df, ("stream", "age_ms", "t_read_ns", by))
    ax = _axes(ax)
    data = _with_time(_merge_states(df, states, by), by)
    negative = int((data["age_ms"] < 0).sum())
    data["age_ms"] = data["age_ms"].clip(lower=0.0)
    labels = _labels(data, by)
    for label, stream, style, rows in _series(data, by):
        ax.plot(
            *_gapped(rows["x_s"], rows["age_ms"]), linestyle=style, color=strategy_color(label),
            label=f"{label} · {redact(stream)}", gid=label, linewidth=1.4,
            **_marks(label, labels),
        )  # fmt: skip
    _shade_outages(ax, data, by)
    note = ""
    if negative:  # only a clock anchored at arrival (pts, none) can put capture after read
        note = f"{negative} frame(s) with a negative age (no source clock) drawn at 0 ms"
    if log:
        _log_scale(ax, "y")
        hidden = int((data["age_ms"] <= 0).sum())
        if hidden:
            note = f"{hidden} frame(s) with age ≤ 0 ms (no source clock) not shown"
    if note:
        ax.text(
            0.99, 0.01, note, ha="right", va="bottom", transform=ax.transAxes,
            fontsize="small", color="0.4",
        )  # fmt: skip
    ax.set_xlabel(_TIME_LABEL)
    ax.set_ylabel(_AGE_LABEL)
    ax.set_title("Frame age at read" + (" (log scale)" if log else ""))
    ax.grid(True, which="major", alpha=0.3)
    _legend(ax)
    return ax


def plot_depth(df: pd.DataFrame, ax: Axes | None = None, by: str = "strategy") -> Axes:
    """Buffer depth (frames waiting behind the one read) over time, per strategy and stream.

    Args:
        df: a recorder DataFrame.
        ax: draw into this Axes instead of a new figure.
        by: the column that names a series: ``"strategy"`` or ``"run"``.

    Raises:
        ValueError: ``df`` is empty or is not a recorder DataFrame.

    Example:
        >>> plot_depth(df).get_ylabel()  # doctest: +SKIP
        'buffer depth (frames)'
    """
    _check(df, ("stream", "depth", "t_read_ns", by))
    ax = _axes(ax)
    data = _with_time(df, by)
    labels = _labels(data, by)
    for label, stream, style, rows in _series(data, by):
        ax.plot(
            *_gapped(rows["x_s"], rows["depth"]), linestyle=style, color=strategy_color(label),
            drawstyle="steps-post", label=f"{label} · {redact(stream)}", gid=label, linewidth=1.4,
            **_marks(label, labels),
        )  # fmt: skip
    _shade_outages(ax, data, by)
    ax.set_xlabel(_TIME_LABEL)
    ax.set_ylabel("buffer depth (frames)")
    ax.set_title("Frames waiting in the buffer")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    _legend(ax)
    return ax


def _sets(df: pd.DataFrame, by: str) -> pd.DataFrame:
    """One row per group set (set_id >= 0), the first frame's row, with ``x_s``."""
    _check(df, ("set_id", "skew_ms", "t_read_ns", by))
    rows = df[(df["set_id"] >= 0) & df["skew_ms"].notna()]
    if rows.empty:
        raise ValueError(
            "no group sets in the DataFrame (every set_id is -1): skew needs a multi-stream group"
        )
    data = _with_time(rows, by)
    keys = list(dict.fromkeys([c for c in ("run", "strategy", by) if c in data.columns]))
    return data.drop_duplicates([*keys, "set_id"], keep="first")


def plot_skew(df: pd.DataFrame, ax: Axes | None = None, by: str = "strategy") -> Axes:
    """Skew across streams (max - min capture time in a set) over time, per strategy.

    Args:
        df: a recorder DataFrame with group sets (``set_id >= 0``).
        ax: draw into this Axes instead of a new figure.
        by: the column that names a series: ``"strategy"`` or ``"run"``.

    Raises:
        ValueError: ``df`` is empty or holds no group sets.

    Example:
        >>> plot_skew(df).get_ylabel()  # doctest: +SKIP
        'skew across streams (ms)'
    """
    import numpy as np

    sets = _sets(df, by)
    ax = _axes(ax)
    labels = _labels(sets, by)
    for label in labels:
        rows = sets[sets[by].astype(str) == label]
        ax.plot(
            *_gapped(rows["x_s"], rows["skew_ms"]), color=strategy_color(label), label=label, gid=label,
            linewidth=1.4, **_marks(label, labels),
        )  # fmt: skip
    ax.set_xlabel(_TIME_LABEL)
    ax.set_ylabel("skew across streams (ms)")
    ax.set_title("Capture-time skew within each set")
    # explicit limits from the data: a flat line (a constant skew) sits below the top
    top = float(np.nanmax(sets["skew_ms"].to_numpy(float)))
    ax.set_ylim(0, top * 1.1 + 1.0)
    ax.grid(True, alpha=0.3)
    _legend(ax)
    return ax


def plot_skew_cdf(
    df: pd.DataFrame, ax: Axes | None = None, log: bool = False, by: str = "strategy"
) -> Axes:
    """Cumulative distribution of the per-set skew, one step line per strategy.

    Args:
        df: a recorder DataFrame with group sets (``set_id >= 0``).
        ax: draw into this Axes instead of a new figure.
        log: log-scaled skew axis (symlog, linear below 1 ms).
        by: the column that names a series: ``"strategy"`` or ``"run"``.

    Raises:
        ValueError: ``df`` is empty or holds no group sets.

    Example:
        >>> plot_skew_cdf(df).get_ylabel()  # doctest: +SKIP
        'fraction of sets ≤ skew'
    """
    import numpy as np

    sets = _sets(df, by)
    ax = _axes(ax)
    labels = _labels(sets, by)
    for label in labels:
        values = np.sort(sets.loc[sets[by].astype(str) == label, "skew_ms"].to_numpy(float))
        frac = np.arange(1, len(values) + 1) / len(values)
        p50 = float(np.median(values))
        ax.step(
            values, frac, where="post", color=strategy_color(label), gid=label, linewidth=1.6,
            label=f"{label} (median {p50:.0f} ms, n={len(values)})", **_marks(label, labels),
        )  # fmt: skip
    if log:
        _log_scale(ax, "x", float(sets["skew_ms"].max()))
    ax.set_xlabel("skew across streams (ms)")
    ax.set_ylabel("fraction of sets ≤ skew")
    ax.set_title("Skew distribution (CDF)")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    # the curves sweep the whole panel (each rises from 0 to 1 at its own skew): the legend
    # goes under the axis label, where it covers none of them
    n = len(ax.get_legend_handles_labels()[0])
    if n:
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=min(n, 2), fontsize="small",
            frameon=False,
        )  # fmt: skip
    return ax


def plot_latency_breakdown(df: pd.DataFrame, ax: Axes | None = None, by: str = "strategy") -> Axes:
    """Where the latency goes: per strategy, median transit and buffer wait as stacked bars.

    The lower (hatched) part is ``transit_ms`` (capture -> decoded: encoder, network, socket
    and decoder backlog); the upper part is ``wait_ms`` (decoded -> read: time in rtsplab's
    buffer). The number on top is the median frame age.

    Args:
        df: a recorder DataFrame.
        ax: draw into this Axes instead of a new figure.
        by: the column that names a bar: ``"strategy"`` or ``"run"``.

    Raises:
        ValueError: ``df`` is empty or is not a recorder DataFrame.

    Example:
        >>> plot_latency_breakdown(df).get_ylabel()  # doctest: +SKIP
        'median latency (ms)'
    """
    from matplotlib.patches import Patch

    _check(df, ("transit_ms", "wait_ms", "age_ms", by))
    ax = _axes(ax)
    labels = _labels(df, by)
    for i, label in enumerate(labels):
        rows = df[df[by].astype(str) == label]
        # a clock anchored at arrival (pts, none) can make transit negative: not a true
        # transit, so drawn as 0 and the age written as unknown
        transit_p50 = float(rows["transit_ms"].median())
        transit = max(transit_p50, 0.0)
        wait = max(float(rows["wait_ms"].median()), 0.0)
        age = float(rows["age_ms"].median())
        color = strategy_color(label)
        ax.bar(i, transit, color=color, alpha=0.45, hatch="//", edgecolor=color, gid=label)
        ax.bar(i, wait, bottom=transit, color=color, edgecolor=color, gid=label)
        ax.annotate(
            f"{age:.0f} ms" if age >= 0 and transit_p50 >= 0 else "n/a\n(no source clock)",
            (i, transit + wait), xytext=(0, 3), textcoords="offset points", ha="center",
            va="bottom", fontsize="small",
        )  # fmt: skip
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel(by)
    ax.set_ylabel("median latency (ms)")
    ax.set_title("Where the latency goes")
    ax.margins(y=0.12)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(
        handles=[
            Patch(facecolor="0.6", alpha=0.45, hatch="//", edgecolor="0.4",
                  label="transit: capture → decoded"),
            Patch(facecolor="0.4", label="wait: in the buffer"),
        ],
        fontsize="small", framealpha=0.8,
    )  # fmt: skip
    return ax


def plot_comparison(
    df: pd.DataFrame,
    by: str = "strategy",
    title: str | None = None,
    states: pd.DataFrame | None = None,
) -> Figure:
    """One-call dashboard: frame age (log), buffer depth, skew CDF and latency breakdown.

    The skew panel says so when the DataFrame holds no group sets instead of failing.

    Args:
        df: a recorder DataFrame.
        by: the column that names a series: ``"strategy"`` or ``"run"``.
        title: the suptitle; a summary of streams, strategies and duration by default.
        states: the recorder's state changes (:meth:`Recorder.states`), to name what a stream
            was doing while it handed out no frame, in the age panel.

    Returns:
        A 2x2 :class:`matplotlib.figure.Figure`.

    Raises:
        ValueError: ``df`` is empty or is not a recorder DataFrame.

    Example:
        >>> plot_comparison(df).savefig("comparison.png")  # doctest: +SKIP
    """
    from matplotlib.figure import Figure

    _check(df, ("stream", "age_ms", "depth", "transit_ms", "wait_ms", "t_read_ns", by))
    fig = Figure(figsize=(13.0, 8.5), layout="constrained")
    (ax_age, ax_depth), (ax_skew, ax_bar) = fig.subplots(2, 2)
    plot_age(df, log=True, ax=ax_age, by=by, states=states)
    plot_depth(df, ax=ax_depth, by=by)
    try:
        plot_skew_cdf(df, ax=ax_skew, log=True, by=by)
    except ValueError:
        ax_skew.set_title("Skew distribution (CDF)")
        ax_skew.text(
            0.5, 0.5, "no multi-stream sets recorded", ha="center", va="center",
            transform=ax_skew.transAxes, color="0.4",
        )  # fmt: skip
        ax_skew.set_axis_off()
    plot_latency_breakdown(df, ax=ax_bar, by=by)
    if title is None:
        n_streams = df["stream"].nunique()
        span_s = (df["t_read_ns"].max() - df["t_read_ns"].min()) / 1e9
        title = (
            f"rtsplab: {', '.join(_labels(df, by))} on {n_streams} stream(s), "
            f"{len(df)} frames over {span_s:.1f} s"
        )
    fig.suptitle(title)
    return fig
