"""Experiments: run reading strategies on the same streams and measure what each one does.

:func:`compare` is the engine behind ``rtsplab compare`` and ``rtsplab demo``: for each
strategy it opens the streams as a group, runs a simulated consumer that spends
``consumer_ms`` on every set (as a detector or a display would), and records every frame
handed out. The result is the recorder's tidy DataFrame, one row per frame, with the
strategy in the ``run`` and ``strategy`` columns.

Strategy labels: ``naive``, ``buffered``, ``latest`` (sets of the newest frame of each
stream) and ``matched`` (``latest`` readers with timestamp-matched sets), optionally with a
backend: ``latest@native`` runs ``latest`` on rtsplab's own RTSP client.

:func:`rtsplab.lab.seed.reproduce_seed` replays the problem statement (two captures opened one
after the other end up a second apart) step by step and then fixes it;
:func:`rtsplab.lab.diagnose.diagnose` measures the same effects on your own cameras.

Example:
    >>> df = compare(sim=2, strategies=["naive", "latest"], seconds=3)  # doctest: +SKIP
    >>> summarize(df)[["strategy", "stream", "age_p50"]]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rtsplab.backends import BACKENDS, Profile
from rtsplab.entities import Strategy, Sync
from rtsplab.errors import ReadTimeout
from rtsplab.group import Group, open_group, stream_names
from rtsplab.readers import Reader, ReaderOptions, show_options
from rtsplab.recorder import Recorder, summarize

if TYPE_CHECKING:
    from typing import Unpack

    import pandas as pd

__all__ = [
    "STRATEGY_LABELS",
    "advance",
    "age_growth_ms_per_s",
    "compare",
    "comparison_json",
    "open_one_by_one",
    "parse_label",
    "progress_bar",
    "read_sets",
    "run_strategy",
    "simulated_cameras",
    "stream_names",
    "timed_first_set",
]

# label -> (reader strategy, group sync)
STRATEGY_LABELS: dict[str, tuple[Strategy, Sync]] = {
    "naive": (Strategy.NAIVE, Sync.LATEST),
    "buffered": (Strategy.BUFFERED, Sync.LATEST),
    "latest": (Strategy.LATEST, Sync.LATEST),
    "matched": (Strategy.LATEST, Sync.MATCHED),
}


@contextlib.contextmanager
def simulated_cameras(n: int, process: bool = True, **camera_kwargs: Any) -> Iterator[list[str]]:
    """Serve ``n`` simulated cameras (``cam1``...) and yield their URLs.

    ``process=True`` runs the encoders in a child process, so they do not compete with the
    readers being measured for the GIL.

    Example:
        >>> with simulated_cameras(2) as urls:  # doctest: +SKIP
        ...     print(urls)
    """
    from rtsplab.sim import SimCamera, SimServer

    cams = [SimCamera(f"cam{i + 1}", **camera_kwargs) for i in range(n)]
    with SimServer(cams, process=process) as srv:
        yield [srv.url(c.name) for c in cams]


def progress_bar(total: float, label: str, enabled: bool, unit: str = "s") -> Any:
    """A tqdm progress bar (notebook or terminal) counting to ``total`` (whole units), or ``None``.

    Advance it with :func:`advance`; a bar closed short of its total (an error or an
    interrupt) is drawn as failed, so finish a completed task with ``advance(bar, bar.total)``.

    Example:
        >>> progress_bar(10, "latest", enabled=False) is None
        True
    """
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(
        total=max(1, math.ceil(total)), desc=label, unit=unit, leave=True,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}]",
    )  # fmt: skip


def advance(bar: Any, done: float) -> None:
    """Move ``bar`` (from :func:`progress_bar`, or ``None``) to ``done`` whole units, never past
    its total and never backwards.

    Example:
        >>> bar = progress_bar(2.5, "latest", enabled=True)  # drawn on stderr
        >>> advance(bar, 1.7); bar.n
        1
        >>> advance(bar, math.inf); bar.n, bar.total
        (3, 3)
        >>> bar.close(); advance(None, 3.7)  # no bar: nothing to do
    """
    if bar is None:
        return
    n = int(min(done, bar.total))
    if n > bar.n:
        bar.update(n - bar.n)


def parse_label(label: str) -> tuple[Strategy, Sync, str | None]:
    """``"strategy[@backend]"`` -> (reader strategy, group sync, backend or ``None``).

    Raises:
        ValueError: an unknown strategy label or backend.

    Example:
        >>> parse_label("latest@native")
        (<Strategy.LATEST: 'latest'>, <Sync.LATEST: 'latest'>, 'native')
    """
    name, _, backend = label.partition("@")
    if name not in STRATEGY_LABELS:
        raise ValueError(f"unknown strategy {name!r}; choose from {list(STRATEGY_LABELS)}")
    if backend and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {list(BACKENDS)}")
    strategy, sync = STRATEGY_LABELS[name]
    return strategy, sync, backend or None


def run_strategy(
    urls: Sequence[str],
    label: str,
    seconds: float = 10.0,
    consumer_ms: float = 60.0,
    recorder: Recorder | None = None,
    progress: bool = False,
    one_by_one: bool = False,
    run: str | None = None,
    **reader_kwargs: Any,
) -> Recorder:
    """Read ``urls`` with one strategy label for ``seconds``; return the filled recorder.

    ``seconds`` counts from the first set, so streams that wait for their first keyframe
    after opening (up to one GOP) still get the full duration.

    Args:
        urls: the streams.
        label: a strategy label (:data:`STRATEGY_LABELS`, optionally ``@backend``).
        seconds: reading time after the first set.
        consumer_ms: time the simulated consumer spends on each set.
        recorder: record into this recorder (a new one by default).
        progress: a progress bar counting the seconds.
        one_by_one: open the streams one after the other (:func:`open_one_by_one`, which
            defaults to OpenCV's own options) instead of in parallel.
        run: the run label of the recorded rows (default: ``label``).
        **reader_kwargs: backend, profile, transport, timeouts... for every reader.

    Example:
        >>> rec = run_strategy(urls, "latest", seconds=2)  # doctest: +SKIP
    """
    strategy, sync, backend = parse_label(label)
    if backend is not None:
        reader_kwargs = {**reader_kwargs, "backend": backend}
    rec = recorder if recorder is not None else Recorder()
    rec.run = run or label
    with contextlib.ExitStack() as stack:
        bar = progress_bar(seconds, rec.run, progress)
        if bar is not None:
            stack.callback(bar.close)  # closed short of its total: drawn as interrupted
        if one_by_one:
            names = reader_kwargs.pop("names", None)
            g = open_one_by_one(urls, strategy, rec, sync=sync, names=names, **reader_kwargs)
        else:
            g = open_group(urls, strategy=strategy, sync=sync, recorder=rec, **reader_kwargs)
        stack.enter_context(g)
        with contextlib.suppress(ReadTimeout):  # the first set; the clock starts after it
            g.read_set(timeout_s=max(5.0, g.readers[0].read_timeout_s))
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            with contextlib.suppress(ReadTimeout):
                g.read_set()
            if consumer_ms > 0:
                time.sleep(consumer_ms / 1e3)
            advance(bar, elapsed)
        advance(bar, math.inf)  # completed: the bar ends at 100 %
    return rec


@show_options(ReaderOptions)
def compare(
    urls: Sequence[str] | None = None,
    sim: int = 0,
    strategies: Sequence[str] = ("naive", "buffered", "latest"),
    consumer_ms: float = 60.0,
    seconds: float = 10.0,
    progress: bool = True,
    **reader_kwargs: Unpack[ReaderOptions],
) -> pd.DataFrame:
    """Run each strategy on the same streams with a consumer of ``consumer_ms`` per set.

    Args:
        urls: the streams; or ``sim=N`` to start N simulated cameras for the run.
        strategies: labels from :data:`STRATEGY_LABELS`, run one after the other.
        consumer_ms: time the simulated consumer spends on each set (``time.sleep``).
        seconds: duration of each strategy's run.
        progress: a tqdm progress bar per strategy (shown in notebooks and terminals).
        **reader_kwargs: :class:`~rtsplab.readers.ReaderOptions` for every reader (backend,
            transport, timeouts...).

    Returns:
        The recorder DataFrame of all runs (``run`` = strategy label).

    Example:
        >>> df = compare(sim=2, seconds=3)  # doctest: +SKIP
    """
    for label in strategies:
        parse_label(label)  # fail before opening anything
    if not urls and not sim:
        raise ValueError("give urls or sim=N")
    rec = Recorder()
    with contextlib.ExitStack() as stack:
        stream_urls = list(urls or []) or stack.enter_context(simulated_cameras(sim))
        for label in strategies:
            run_strategy(stream_urls, label, seconds, consumer_ms, rec, progress, **reader_kwargs)
    return rec.to_dataframe()


def _pcts(values: Any, keys: Sequence[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k in keys:
        if len(values) == 0:
            out[k] = None
        elif k == "max":
            out[k] = round(float(values.max()), 2)
        else:
            out[k] = round(float(values.quantile(int(k[1:]) / 100)), 2)
    return out


def comparison_json(df: pd.DataFrame, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Summarise a :func:`compare` DataFrame per strategy, in the ``rtsplab compare --json`` shape.

    ``{"config": {...}, "strategies": {label: {"age_ms": {p50,p95,p99,max}, "skew_ms":
    {p50,p99,max}, "age_growth_ms_per_s": x, "depth": {max, final}, "frames": n,
    "dropped": n, "clock": ...}}}`` (``age_growth_ms_per_s``: see :func:`age_growth_ms_per_s`;
    ``None`` when too few frames).

    Example:
        >>> import pandas as pd
        >>> comparison_json(pd.DataFrame(columns=["run"]))["strategies"]
        {}
    """
    out: dict[str, Any] = {"config": dict(config or {}), "strategies": {}}
    growth = age_growth_ms_per_s(df) if len(df) else {}
    for label, g in df.groupby("run", sort=False):
        sets = g.drop_duplicates("set_id")["skew_ms"].dropna()
        per_stream = summarize(g)
        out["strategies"][str(label)] = {
            "age_ms": _pcts(g["age_ms"], ("p50", "p95", "p99", "max")),
            "skew_ms": _pcts(sets, ("p50", "p99", "max")),
            "age_growth_ms_per_s": None
            if math.isnan(growth.get(str(label), math.nan))
            else growth[str(label)],
            "depth": {
                "max": int(g["depth"].max()),
                "final": int(per_stream["depth_final"].max()),
            },
            "frames": len(g),
            "sets": int(g["set_id"].nunique()),
            "dropped": int(g["dropped"].sum()),
            "fps": round(float(per_stream["fps"].mean()), 2)
            if not math.isnan(per_stream["fps"].mean())
            else None,
            "clock": str(g["clock"].mode().iloc[0]),
        }
    return out


# ---- the problem statement, reproduced ------------------------------------------------------


def open_one_by_one(
    urls: Sequence[str],
    strategy: Strategy | str,
    recorder: Recorder | None = None,
    sync: Sync | str = Sync.LATEST,
    names: Sequence[str] | None = None,
    **kwargs: Any,
) -> Group:
    """Open ``urls`` one after the other (as consecutive ``cv2.VideoCapture`` calls do).

    Unlike :func:`rtsplab.open_group`, which opens in parallel, each stream starts streaming
    while the next one is still opening. Defaults to OpenCV with its own options
    (``backend="opencv"``, ``profile="default"``).

    Example:
        >>> g = open_one_by_one(urls, "naive")  # doctest: +SKIP
        >>> g.read_set().skew_ms  # doctest: +SKIP
        941.2
    """
    kwargs.setdefault("profile", Profile.DEFAULT)
    kwargs.setdefault("backend", "opencv")
    readers: list[Reader] = []
    try:
        for url, name in zip(urls, names or stream_names(urls), strict=True):
            readers.append(Reader(url, strategy=strategy, name=name, **kwargs))
    except BaseException:
        for r in readers:
            r.close()
        raise
    return Group(readers, sync=sync, recorder=recorder)


def read_sets(group: Group, seconds: float, consumer_ms: float = 0.0, fresh: bool = False) -> int:
    """Read sets from ``group`` for ``seconds``, spending ``consumer_ms`` on each; count them.

    Example:
        >>> read_sets(g, seconds=2)  # doctest: +SKIP
        60
    """
    n, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        with contextlib.suppress(ReadTimeout):
            group.read_set(fresh=fresh)
            n += 1
        if consumer_ms > 0:
            time.sleep(consumer_ms / 1e3)
    return n


def timed_first_set(
    group: Group, t0_ns: int, setup: str, one_by_one: bool = False, fresh: bool = False
) -> list[dict[str, Any]]:
    """Read the group's first set and describe each stream's open, one row per stream.

    ``t0_ns`` is ``time.monotonic_ns()`` when the first open started. Columns: ``setup``,
    ``order``, ``stream``, ``open_s``, ``first_frame_s`` (open call -> first frame handed
    out; with ``one_by_one`` each stream's own open call) and ``first_frame_age_ms``.

    Example:
        >>> t0 = time.monotonic_ns(); g = open_group(urls)  # doctest: +SKIP
        >>> timed_first_set(g, t0, "parallel")[0]["first_frame_s"]  # doctest: +SKIP
        0.11
    """
    fs = group.read_set(timeout_s=max(5.0, group.readers[0].read_timeout_s), fresh=fresh)
    first_s, rows, opened_s = (time.monotonic_ns() - t0_ns) / 1e9, [], 0.0
    for i, r in enumerate(group.readers):
        first = fs.frames.get(r.name)
        rows.append(
            {"setup": setup, "order": i + 1, "stream": r.name, "open_s": r.open_s,
             "first_frame_s": first_s - opened_s,
             "first_frame_age_ms": first.age_ms if first is not None else r.first_frame_age_ms}
        )  # fmt: skip
        opened_s += r.open_s if one_by_one else 0.0
    return rows


def age_growth_ms_per_s(df: pd.DataFrame) -> dict[str, float]:
    """Per run label: how fast frame age grows, in ms per second (slope of a linear fit,
    averaged over streams). Near 0 for a reader that keeps up; ~``1000 * (1 - consumed/produced)``
    for one that falls behind.

    Example:
        >>> age_growth_ms_per_s(compare(sim=2, seconds=3))  # doctest: +SKIP
        {'naive': 452.1, 'buffered': 455.3, 'latest': 0.4}
    """
    import numpy as np

    out: dict[str, float] = {}
    for label, g in df.groupby("run", sort=False):
        slopes = [
            float(np.polyfit(s["t_s"], s["age_ms"], 1)[0])
            for _, s in g.groupby("stream")
            if len(s) > 2 and s["t_s"].nunique() > 2
        ]
        out[str(label)] = round(sum(slopes) / len(slopes), 1) + 0.0 if slopes else math.nan
    return out
