"""The demo's story: the problem statement's second of skew, then one fix per row.

``rtsplab demo`` (:func:`run_story`) reads the same two cameras once per :class:`StoryStep`.
The first row reads them the way the problem statement's loop does: OpenCV's default
options, the cameras opened one after the other, one frame of each read in turn in one loop.
Each later row adds one fix: the low-latency profile, open the cameras at the same time, keep
only the newest frame (``latest``), pair frames by capture time (``matched``), and rtsplab's
own RTSP client. :func:`story_table` prints the result and :func:`plot_story` draws it.

Example:
    >>> [step.label for step in STORY][:3]
    ['naive, one by one', 'naive, parallel', 'naive, low latency']
    >>> df = run_story(seconds=3)  # doctest: +SKIP
    >>> print(story_table(comparison_json(df)))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rtsplab.backends import Profile
from rtsplab.lab.experiment import comparison_json, parse_label, run_strategy, simulated_cameras
from rtsplab.lab.findings import signed
from rtsplab.plots import strategy_color
from rtsplab.recorder import Recorder

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["STORY", "StoryStep", "plot_story", "run_story", "story_table"]


@dataclass(frozen=True)
class StoryStep:
    """One row of the demo's story: how the cameras are read, and what the row adds.

    Attributes:
        label: the run label of its rows (and the table's first column).
        adds: what this row changes, in a few words.
        strategy: a strategy label (``naive``, ``latest``, ``matched``..., optionally
            ``@backend``), as :func:`rtsplab.lab.experiment.compare` takes.
        one_by_one: open the cameras one after the other instead of in parallel.
        profile: the FFmpeg option set (``Profile.DEFAULT`` is OpenCV's own).

    Example:
        >>> STORY[0].one_by_one, STORY[0].profile, STORY[0].strategy, STORY[-1].strategy
        (True, 'default', 'naive@opencv', 'latest@native')
    """

    label: str
    adds: str
    strategy: str
    one_by_one: bool = False
    profile: str = Profile.LOW_LATENCY


STORY: tuple[StoryStep, ...] = (
    StoryStep("naive, one by one", "the symptom: two captures read in one loop", "naive@opencv",
              one_by_one=True, profile=Profile.DEFAULT),
    StoryStep("naive, parallel", "+ open the cameras at the same time", "naive@opencv",
              profile=Profile.DEFAULT),
    StoryStep("naive, low latency", "+ low-latency profile (no probe backlog)", "naive@opencv"),
    StoryStep("latest", "+ keep only the newest frame", "latest@opencv"),
    StoryStep("matched", "+ pair frames by capture time", "matched@opencv"),
    StoryStep("latest, native", "+ rtsplab's RTSP client, backend='auto' (no parser wait)",
              "latest@native"),
)  # fmt: skip
"""The demo's rows: the symptom, then one fix at a time."""

NAIVE_ROW = (
    "naive, one by one: OpenCV's default options, the cameras opened one after the other, "
    "one frame of each read in turn in one loop"
)


def run_story(
    urls: Sequence[str] | None = None,
    sim: int = 2,
    steps: Sequence[StoryStep] = STORY,
    consumer_ms: float = 60.0,
    seconds: float = 8.0,
    progress: bool = True,
    **reader_kwargs: Any,
) -> pd.DataFrame:
    """Run the story's steps on the same streams, one after the other (``rtsplab demo``).

    Args:
        urls: the streams; default: ``sim`` simulated cameras.
        steps: the rows, :data:`STORY` by default.
        consumer_ms: time the simulated consumer spends on each set.
        seconds: reading time of each step.
        progress: a progress bar per step.
        **reader_kwargs: transport, timeouts... for every reader.

    Returns:
        The recorder DataFrame of all steps (``run`` = the step's label).

    Raises:
        ValueError: an unknown strategy label, or neither ``urls`` nor ``sim``.

    Example:
        >>> run_story(sim=0)
        Traceback (most recent call last):
        ...
        ValueError: give urls or sim=N
        >>> df = run_story(seconds=3)  # doctest: +SKIP
    """
    for step in steps:
        parse_label(step.strategy)  # fail before opening anything
    if not urls and not sim:
        raise ValueError("give urls or sim=N")
    rec = Recorder()
    with contextlib.ExitStack() as stack:
        stream_urls = list(urls or []) or stack.enter_context(simulated_cameras(sim))
        for step in steps:
            run_strategy(
                stream_urls, step.strategy, seconds, consumer_ms, rec, progress,
                one_by_one=step.one_by_one, run=step.label, profile=step.profile,
                **reader_kwargs,
            )  # fmt: skip
    return rec.to_dataframe()


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.0f} ms" if v < 10_000 else f"{v / 1000:.1f} s"


def _growth(v: float | None) -> str:
    return "-" if v is None else f"{signed(v)} ms/s"


def story_table(summary: dict[str, Any], steps: Sequence[StoryStep] = STORY) -> str:
    """The story as a table: skew and age per row, and what each row adds.

    ``summary`` is :func:`rtsplab.lab.experiment.comparison_json` of :func:`run_story`'s
    DataFrame; rows not in ``steps`` are listed with an empty "adds" column.

    Example:
        >>> row = {"skew_ms": {"p50": 951.2, "p99": 990.0}, "age_ms": {"p50": 2400.0},
        ...        "age_growth_ms_per_s": 452.4}
        >>> print(story_table({"strategies": {"naive, one by one": row}}))
        reading             skew p50  skew p99   age p50  age growth  what the row adds
        ---------------------------------------------------------------------------------------------------
        naive, one by one     951 ms    990 ms   2400 ms   +452 ms/s  the symptom: two captures read in one loop
    """
    adds = {s.label: s.adds for s in steps}
    head = (
        f"{'reading':<18}{'skew p50':>10}{'skew p99':>10}{'age p50':>10}{'age growth':>12}"
        "  what the row adds"
    )
    lines = [head, "-" * 99]
    for label, s in summary["strategies"].items():
        lines.append(
            f"{label:<18}{_ms(s['skew_ms']['p50']):>10}{_ms(s['skew_ms']['p99']):>10}"
            f"{_ms(s['age_ms']['p50']):>10}{_growth(s.get('age_growth_ms_per_s')):>12}"
            f"  {adds.get(label, '')}"
        )
    return "\n".join(lines)


def plot_story(df: pd.DataFrame, steps: Sequence[StoryStep] = STORY) -> Figure:
    """The story in one picture: skew between the cameras and frame age, one bar per row.

    Bars are medians; the whisker reaches the 99th percentile. Both axes are logarithmic, so
    a second and a few milliseconds fit on one scale. Rows keep :func:`run_story`'s order,
    the first at the top.

    Args:
        df: :func:`run_story`'s DataFrame (any recorder DataFrame with group sets and ``run``).
        steps: the steps, for the "adds" text under each row's label.

    Raises:
        ValueError: ``df`` holds no group sets.

    Example:
        >>> fig = plot_story(run_story(seconds=3))  # doctest: +SKIP
        >>> fig.savefig("demo.png")  # doctest: +SKIP
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator

    summary = comparison_json(df)["strategies"]
    if not summary or all(s["skew_ms"]["p50"] is None for s in summary.values()):
        raise ValueError("no group sets in the DataFrame: the story needs two cameras")
    by_label = {s.label: s for s in steps}
    labels = list(summary)
    fig = Figure(figsize=(12.0, 0.75 * len(labels) + 2.2), layout="constrained")
    ax_skew, ax_age = fig.subplots(1, 2, sharey=True)
    ys = list(range(len(labels)))
    for ax, key, title in (
        (ax_skew, "skew_ms", "Skew between the cameras (capture times of a set)"),
        (ax_age, "age_ms", "Frame age when read"),
    ):
        for y, label in zip(ys, labels, strict=True):
            s = summary[label]
            p50, p99 = s[key]["p50"], s[key]["p99"]
            if p50 is None:
                continue
            color = strategy_color(by_label[label].strategy if label in by_label else label)
            bar = max(p50, 0.5)  # a log axis: 0 ms is drawn as 0.5 ms
            ax.barh(y, bar, color=color, alpha=0.85, height=0.6)
            ax.plot([bar, max(p99, bar)], [y, y], color="0.25", linewidth=1.2)
            ax.plot([max(p99, bar)], [y], marker="|", color="0.25", markersize=9)
            note = _ms(p50)
            growth = s.get("age_growth_ms_per_s")
            if key == "age_ms" and growth is not None and growth > 50:
                note += f", growing {growth:.0f} ms/s"
            ax.annotate(
                note, (max(p99, bar), y), xytext=(6, 0), textcoords="offset points",
                va="center", fontsize="small",
            )  # fmt: skip
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0,)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _tick(v)))
        ax.set_xlim(0.5, _right_limit(summary, key))
        ax.set_xlabel("log scale; bar: median, whisker: 99th percentile")
        ax.set_title(title, fontsize="medium")
        ax.grid(True, axis="x", alpha=0.3)
    ax_skew.set_yticks(
        ys, [f"{lb}\n{by_label[lb].adds}" if lb in by_label else lb for lb in labels],
        fontsize="small",
    )  # fmt: skip
    ax_skew.invert_yaxis()
    streams = ", ".join(str(s) for s in df["stream"].drop_duplicates())
    first = summary[labels[0]]["skew_ms"]["p50"]
    fig.suptitle(f"{streams}: read as {labels[0]}, {_ms(first)} apart; each row below adds one fix")
    return fig


def _tick(v: float) -> str:
    return f"{v / 1000:g} s" if v >= 1000 else f"{v:g} ms" if v >= 1 else f"{v:g}"


def _right_limit(summary: dict[str, Any], key: str) -> float:
    """Room right of the longest whisker for its label (a log axis: a factor, not an offset)."""
    top = max((s[key]["p99"] or 0.0) for s in summary.values())
    return max(100.0, top) * 12.0
