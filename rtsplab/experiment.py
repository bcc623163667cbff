"""Experiments: run reading strategies on the same streams and measure what each one does.

:func:`compare` is the engine behind ``rtsplab compare`` and ``rtsplab demo``: for each
strategy it opens the streams as a group, runs a simulated consumer that spends
``consumer_ms`` on every set (as a detector or a display would), and records every frame
handed out. The result is the recorder's tidy DataFrame, one row per frame, with the
strategy in the ``run`` and ``strategy`` columns.

Strategy labels: ``naive``, ``buffered``, ``latest`` (sets of the newest frame of each
stream) and ``matched`` (``latest`` readers with timestamp-matched sets).

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

from rtsplab.entities import Strategy, Sync
from rtsplab.errors import ReadTimeout
from rtsplab.group import open_group
from rtsplab.recorder import Recorder, summarize

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["STRATEGY_LABELS", "compare", "comparison_json", "simulated_cameras"]

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


def _progress(total_s: float, label: str, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=round(total_s, 1), desc=label, unit="s", leave=False)


def run_strategy(
    urls: Sequence[str],
    label: str,
    seconds: float = 10.0,
    consumer_ms: float = 60.0,
    recorder: Recorder | None = None,
    progress: bool = False,
    **reader_kwargs: Any,
) -> Recorder:
    """Read ``urls`` with one strategy label for ``seconds``; return the filled recorder.

    Example:
        >>> rec = run_strategy(urls, "latest", seconds=2)  # doctest: +SKIP
    """
    strategy, sync = STRATEGY_LABELS[label]
    rec = recorder if recorder is not None else Recorder()
    rec.run = label
    bar = _progress(seconds, label, progress)
    with open_group(urls, strategy=strategy, sync=sync, recorder=rec, **reader_kwargs) as g:
        start = time.monotonic()
        shown = 0.0
        while (elapsed := time.monotonic() - start) < seconds:
            with contextlib.suppress(ReadTimeout):
                g.read_set()
            if consumer_ms > 0:
                time.sleep(consumer_ms / 1e3)
            if bar is not None and elapsed - shown >= 0.5:
                bar.update(round(elapsed - shown, 1))
                shown = elapsed
    if bar is not None:
        bar.close()
    return rec


def compare(
    urls: Sequence[str] | None = None,
    sim: int = 0,
    strategies: Sequence[str] = ("naive", "buffered", "latest"),
    consumer_ms: float = 60.0,
    seconds: float = 10.0,
    progress: bool = True,
    **reader_kwargs: Any,
) -> pd.DataFrame:
    """Run each strategy on the same streams with a consumer of ``consumer_ms`` per set.

    Args:
        urls: the streams; or ``sim=N`` to start N simulated cameras for the run.
        strategies: labels from :data:`STRATEGY_LABELS`, run one after the other.
        consumer_ms: time the simulated consumer spends on each set (``time.sleep``).
        seconds: duration of each strategy's run.
        progress: a tqdm progress bar per strategy (shown in notebooks and terminals).
        **reader_kwargs: backend, transport, timeouts... for every reader.

    Returns:
        The recorder DataFrame of all runs (``run`` = strategy label).

    Example:
        >>> df = compare(sim=2, seconds=3)  # doctest: +SKIP
    """
    unknown = [s for s in strategies if s not in STRATEGY_LABELS]
    if unknown:
        raise ValueError(f"unknown strategies {unknown}; choose from {list(STRATEGY_LABELS)}")
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
    {p50,p99,max}, "depth": {max, final}, "frames": n, "dropped": n, "clock": ...}}}``

    Example:
        >>> import pandas as pd
        >>> comparison_json(pd.DataFrame(columns=["run"]))["strategies"]
        {}
    """
    out: dict[str, Any] = {"config": dict(config or {}), "strategies": {}}
    for label, g in df.groupby("run", sort=False):
        sets = g.drop_duplicates("set_id")["skew_ms"].dropna()
        per_stream = summarize(g)
        out["strategies"][str(label)] = {
            "age_ms": _pcts(g["age_ms"], ("p50", "p95", "p99", "max")),
            "skew_ms": _pcts(sets, ("p50", "p99", "max")),
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
