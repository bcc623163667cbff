"""``reproduce_seed``: the problem statement's one-second skew, reproduced and fixed, step by step.

On two simulated cameras (or two URLs of yours): (a) two captures opened one after the other
with OpenCV's default options and read in one naive loop, (b) the open-time backlog behind
the skew and the problem statement's list threads, (c) the decoder-threading frame, (d) a
slow consumer with naive and buffered reads, (e) the fix: parallel open, the low-latency
profile and the latest strategy (and timestamp-matched sets).

Example:
    >>> result = reproduce_seed(seconds=3)  # doctest: +SKIP
    >>> print(result.summary())  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import textwrap
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rtsplab.entities import Strategy
from rtsplab.group import open_group
from rtsplab.lab.experiment import (
    age_growth_ms_per_s,
    comparison_json,
    open_one_by_one,
    progress_bar,
    read_sets,
    run_strategy,
    simulated_cameras,
    stream_names,
    timed_first_set,
)
from rtsplab.lab.findings import signed
from rtsplab.recorder import Recorder

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["SeedResult", "reproduce_seed"]

ONE_BY_ONE = "one by one (default)"  # run label of step (a)
LISTS = "lists (buffered)"  # run label of the problem statement's list-filling threads
PARALLEL = "low latency, in parallel"  # setup of the fixed opens


@dataclass
class SeedResult:
    """What :func:`reproduce_seed` measured, step by step: DataFrames and headline numbers.

    Attributes:
        streams: stream names. seconds, consumer_ms: the run's settings.
        one_by_one: (a) recorder rows of the naive loop over captures opened one by one.
        opens: (b, e) one row per capture and setup: ``setup``, ``order``, ``stream``,
            ``open_s``, ``first_frame_s``, ``first_frame_age_ms`` (see :func:`timed_first_set`).
        lists: the list-filling threads (``buffered``), recorder rows; list length = depth + 1.
        decoder: (c) recorder rows, ``run`` = ``decoder_threads=0`` / ``decoder_threads=1``.
        consumer: (d, e) :func:`compare` rows for naive, buffered, latest, matched.
        threads_left: reader threads still alive after the list readers were closed.

    Example:
        >>> print(reproduce_seed(seconds=3).summary())  # doctest: +SKIP
    """

    streams: list[str]
    seconds: float
    consumer_ms: float
    one_by_one: pd.DataFrame
    opens: pd.DataFrame
    lists: pd.DataFrame
    decoder: pd.DataFrame
    consumer: pd.DataFrame
    threads_left: int = 0

    def numbers(self) -> dict[str, Any]:
        """The headline numbers, JSON-ready (ms unless the key says ``_s``; per stream dicts).

        Example:
            >>> reproduce_seed(seconds=3).numbers()["naive_skew_ms"]  # doctest: +SKIP
            942.4
        """
        ages = self.one_by_one.groupby("stream")["age_ms"].median()
        opens = {k: g.set_index("stream") for k, g in self.opens.groupby("setup")}
        tail = self.lists[self.lists["t_s"] >= self.lists["t_s"].max() / 2]
        transit = self.decoder.groupby("run")["transit_ms"].median()
        one = self.decoder[self.decoder["run"] == "decoder_threads=1"].sort_values("t_source_ns")
        periods = [
            float(g["t_source_ns"].diff().div(g["seq"].diff()).median()) / 1e6
            for _, g in one.groupby("stream")
        ]
        summary = comparison_json(self.consumer)["strategies"]

        def r(v: Any, digits: int = 1) -> float:
            return round(float(v), digits) + 0.0  # + 0.0: no "-0.0"

        def per_stream(setup: str, col: str, digits: int = 1) -> dict[str, float]:
            return {str(k): r(v, digits) for k, v in opens[setup][col].items()}

        return {
            "naive_skew_ms": r(self.one_by_one.drop_duplicates("set_id")["skew_ms"].median()),
            "naive_age_ms": {str(k): r(v) for k, v in ages.items()},
            "lagging_stream": str(ages.idxmax()),
            "open_s": per_stream(ONE_BY_ONE, "open_s", 3),
            "first_frame_s": per_stream(ONE_BY_ONE, "first_frame_s", 3),
            "first_frame_age_ms": per_stream(ONE_BY_ONE, "first_frame_age_ms"),
            "fixed_open_s": per_stream(PARALLEL, "open_s", 3),
            "fixed_first_frame_s": per_stream(PARALLEL, "first_frame_s", 3),
            "fixed_first_frame_age_ms": per_stream(PARALLEL, "first_frame_age_ms"),
            "list_lengths": {
                str(k): r(v + 1) for k, v in tail.groupby("stream")["depth"].median().items()
            },
            "list_skew_ms": r(self.lists.drop_duplicates("set_id")["skew_ms"].median()),
            "threads_left": self.threads_left,
            "transit_ms": {str(k): r(v) for k, v in transit.items()},
            "decoder_delay_ms": r(transit["decoder_threads=0"] - transit["decoder_threads=1"]),
            "frame_period_ms": r(sum(periods) / len(periods)),
            "age_growth_ms_per_s": age_growth_ms_per_s(self.consumer),
            "age_p50_ms": {k: v["age_ms"]["p50"] for k, v in summary.items()},
            "skew_p99_ms": {k: v["skew_ms"]["p99"] for k, v in summary.items()},
        }

    def summary(self) -> str:
        """The story in plain language, with the numbers measured in this run.

        Example:
            >>> print(result.summary())  # doctest: +SKIP
        """
        n = self.numbers()
        s1, s2 = self.streams[0], self.streams[-1]
        ffa, op, age = n["first_frame_age_ms"], n["open_s"], n["naive_age_ms"]
        lag = n["lagging_stream"]
        lead = s2 if lag == s1 else s1
        grow, p50, p99 = n["age_growth_ms_per_s"], n["age_p50_ms"], n["skew_p99_ms"]
        lists = " vs ".join(f"{v:.0f}" for v in n["list_lengths"].values())
        f_open, f_first = max(n["fixed_open_s"].values()), max(n["fixed_first_frame_s"].values())
        f_age = max(n["fixed_first_frame_age_ms"].values())
        period, delay = n["frame_period_ms"], n["decoder_delay_ms"]
        wait_note = (
            f" Its first picture came {f_first:.2f} s after the open call: decoding starts at a "
            "keyframe, and that is when the camera sent one."
            if f_first > f_open + 3 * period / 1e3
            else ""
        )
        text = [
            f"(a) Two captures opened one after the other with OpenCV's default options and read "
            f"in one loop were {n['naive_skew_ms'] / 1e3:.2f} s apart (median skew of the "
            f"burned-in capture times). {lag} was the stale one: its frames were "
            f"{age[lag] / 1e3:.2f} s old, {lead}'s {age[lead]:.0f} ms.",
            f"(b) Why: the opens took {op[s1]:.2f} s and {op[s2]:.2f} s, because FFmpeg reads "
            f"that much of the stream to probe it, and keeps what it read. {s2}'s first frame was "
            f"already {ffa[s2] / 1e3:.2f} s old; {s1}'s was {ffa[s1] / 1e3:.2f} s old: its own "
            f"probe plus the {op[s2]:.2f} s spent opening {s2}, while its frames piled up. A loop "
            "that reads one frame of each stream per pass never works that backlog off.",
            f"(b') The problem statement's list-filling threads (buffered): the lists held {lists} "
            f"frames (length before each pop, second half of the run) and the streams stayed "
            f"{n['list_skew_ms'] / 1e3:.2f} s apart: threads only move the backlog from FFmpeg "
            f"into a list. After close(), {n['threads_left']} reader threads were left running.",
            f"(c) Decoder threads: frames were decoded {n['transit_ms']['decoder_threads=0']:.0f} "
            f"ms after capture with FFmpeg's automatic threading and "
            f"{n['transit_ms']['decoder_threads=1']:.0f} ms with one thread: threading added "
            f"{signed(delay)} ms, {round(delay / period, 1) + 0.0:.1f} frame periods of "
            f"{period:.0f} ms.",
            f"(d) A consumer spending {self.consumer_ms:g} ms per set: frame age changed by "
            f"{signed(grow['naive'])} ms per second with naive reads and {signed(grow['buffered'])}"
            f" ms per second with a buffered queue; with latest it stayed at {p50['latest']:.0f} ms "
            "(median).",
            f"(e) The fix: open the streams in parallel with the low-latency profile (open "
            f"{f_open:.2f} s; first frame {f_age:.0f} ms old, {f_first:.2f} s after the open call)"
            f" and keep only the newest frame (latest): skew p99 {p99['latest']:.0f} ms instead "
            f"of {n['naive_skew_ms']:.0f} ms, and {p99['matched']:.0f} ms with timestamp-matched "
            f"sets, which can always pair frames within half a frame period ({period / 2:.0f} ms)"
            f" of two free-running cameras.{wait_note}",
        ]
        # short lines: a notebook's output area would break long ones mid-word
        return "\n\n".join(textwrap.fill(t, 88, break_on_hyphens=False) for t in text)

    def plot(self) -> Figure:
        """Before/after figure: skew, age per stream, first-frame age, decoder threads,
        the slow consumer, the lists.

        Example:
            >>> result.plot().savefig("seed.png")  # doctest: +SKIP
        """
        import pandas as pd
        from matplotlib.figure import Figure

        from rtsplab import plots

        fig = Figure(figsize=(15.0, 8.5), layout="constrained")
        axes = fig.subplots(2, 3).ravel()
        fixed = self.consumer[self.consumer["run"].isin(["latest", "matched"])]
        plots.plot_skew(pd.concat([self.one_by_one, fixed]), ax=axes[0], by="run")
        axes[0].set_yscale("symlog", linthresh=10)
        axes[0].set_ylim(0, max(10.0, float(self.one_by_one["skew_ms"].max())) * 3)
        latest = self.consumer[self.consumer["run"] == "latest"]
        plots.plot_age(pd.concat([self.one_by_one, latest]), log=True, ax=axes[1], by="run")
        axes[1].set_title("Frame age: before (one by one) and after (latest)")
        ax = axes[2]
        for i, (setup, g) in enumerate(self.opens.groupby("setup", sort=False)):
            xs = [j + 0.4 * i for j in range(len(g))]
            bars = ax.bar(xs, g["first_frame_age_ms"], width=0.38, label=setup)
            ax.bar_label(
                bars, [f"open {o:.2f} s\nfirst at {f:.2f} s" for o, f in
                       zip(g["open_s"], g["first_frame_s"], strict=True)],
                fontsize="x-small", padding=2,
            )  # fmt: skip
        # room above the tallest bar and beside the outer ones for their two-line labels
        ax.set_ylim(0, float(self.opens["first_frame_age_ms"].max()) * 1.45)
        ax.set_xlim(-0.55, len(self.streams) - 1 + 0.4 + 0.55)
        ax.set_xticks([j + 0.2 for j in range(len(self.streams))], self.streams)
        ax.set_ylabel("first frame age (ms)")
        ax.set_title("The open-time backlog")
        ax.legend(fontsize="small", loc="upper right")
        plots.plot_latency_breakdown(self.decoder, ax=axes[3], by="run")
        axes[3].set_title("Decoder threads (low-latency profile)")
        plots.plot_age(self.consumer, log=True, ax=axes[4], by="run")
        axes[4].set_title(f"A {self.consumer_ms:g} ms consumer")
        plots.plot_depth(self.lists, ax=axes[5], by="run")
        axes[5].set_title("The problem statement's lists (buffered)")
        fig.suptitle(f"Two cameras one second apart, reproduced ({', '.join(self.streams)})")
        return fig

    def __repr__(self) -> str:
        return f"SeedResult(streams={self.streams}, seconds={self.seconds:g})"


def reproduce_seed(
    urls: Sequence[str] | None = None,
    sim: bool = True,
    seconds: float = 5.0,
    consumer_ms: float = 60.0,
    progress: bool = False,
) -> SeedResult:
    """Reproduce "two ``cv2.VideoCapture`` streams end up a second apart", then fix it.

    Every step reads through OpenCV (``backend="opencv"``), the problem statement's stack.
    Steps: (a) open two captures one after the other with OpenCV's default options and read
    them in one naive loop; (b) the open-time backlog (open time, first-frame age) and the
    problem statement's list-filling threads (``buffered``); (c) decoder threads 0 vs 1;
    (d) a slow consumer with naive and buffered reads; (e) the fix: parallel open,
    low-latency profile, ``latest`` (and ``matched``) sets.

    Args:
        urls: two streams to use; default: two simulated cameras (``sim=True``).
        seconds: duration of each step's reading (steps (c) use at most 2 s).
        consumer_ms: time the consumer spends per set in steps (d) and (e).
        progress: show a progress bar over the steps.

    Example:
        >>> result = reproduce_seed(seconds=3)  # doctest: +SKIP
        >>> print(result.summary())  # doctest: +SKIP
    """
    if urls is not None and len(urls) < 2:
        raise ValueError("reproduce_seed needs two streams")
    if urls is None and not sim:
        raise ValueError("give two urls or sim=True")
    with contextlib.ExitStack() as stack:
        bar = progress_bar(4, "reproduce_seed", progress, unit="step")
        if bar is not None:
            stack.callback(bar.close)  # closed short of 4 steps: drawn as interrupted

        def step(label: str) -> None:
            if bar is not None:
                bar.update(0 if label.startswith("(a)") else 1)
                bar.set_description(f"reproduce_seed {label}")

        pair = list(urls[:2]) if urls else stack.enter_context(simulated_cameras(2))
        names = stream_names(pair)
        step("(a) one by one")
        rec, t0 = Recorder(run=ONE_BY_ONE), time.monotonic_ns()
        with open_one_by_one(pair, Strategy.NAIVE, rec) as g:
            opens = timed_first_set(g, t0, ONE_BY_ONE, one_by_one=True)
            read_sets(g, seconds)
        step("(b) lists")
        lists = Recorder(run=LISTS)
        with open_one_by_one(pair, Strategy.BUFFERED, lists) as g:
            read_sets(g, seconds)
        ours = {f"rtsplab-reader-{n}" for n in names}
        threads_left = sum(t.name in ours for t in threading.enumerate())
        step("(c) decoder threads")
        dec = Recorder()
        for threads in (0, 1):
            dec.run = f"decoder_threads={threads}"
            t0 = time.monotonic_ns()
            with open_group(  # FFmpeg's decoder threading, as cv2.VideoCapture has it
                pair, Strategy.LATEST, recorder=dec, decoder_threads=threads, backend="opencv"
            ) as g:
                rows = timed_first_set(g, t0, PARALLEL, fresh=True)
                opens += rows if threads == 1 else []
                read_sets(g, min(seconds, 2.0), fresh=True)
        step("(d, e) consumer")
        rec_c = Recorder()
        for label in ("naive", "buffered", "latest", "matched"):
            run_strategy(pair, label, seconds, consumer_ms, rec_c, backend="opencv")
        step("done")
    import pandas as pd

    return SeedResult(
        names, seconds, consumer_ms, rec.to_dataframe(), pd.DataFrame(opens),
        lists.to_dataframe(), dec.to_dataframe(), rec_c.to_dataframe(), threads_left,
    )  # fmt: skip
