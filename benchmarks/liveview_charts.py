"""What a live chart costs to draw: a matplotlib PNG against the inline SVG of the live views.

The live views redraw their charts a few times a second while the pictures flow at 10 or more
sets a second, on a kernel shared with the readers. This script draws the same 30 s of history
(two streams at 10 sets/s: 300 points each, age and skew) both ways and times it, then runs a
:class:`~rtsplab.widgets.LiveView` on two simulated cameras in a child process and reports the
rate it achieves with its charts on. Results go to ``data/bench_liveview_charts.json`` with the
machine description.

Usage::

    .venv/bin/python benchmarks/liveview_charts.py --repeat 20 --seconds 8

Example:
    >>> parse_args(["--repeat", "3"]).repeat
    3
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, machine_info

from rtsplab.widgets.charts import History


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    Example:
        >>> parse_args([]).seconds
        8.0
    """
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=20, help="draws of each chart to time")
    p.add_argument("--seconds", type=float, default=8.0, help="live view run to time its rate")
    p.add_argument("--out", type=Path, default=REPO / "data" / "bench_liveview_charts.json")
    return p.parse_args(argv)


def history_of(points: int = 300) -> History:
    """30 s of a two-stream view at 10 sets/s, with a 6 s stall in the middle.

    Example:
        >>> len(history_of(50))
        50
    """
    h = History(window_s=30.0)
    for i in range(points):
        t_s = i / 10.0
        stall_ms = 1000.0 * (t_s - 10.0) if 10.0 <= t_s < 16.0 else 0.0
        ages = {"cam1": 60.0 + stall_ms + (i % 7), "cam2": 55.0 + (i % 5)}
        h.add(t_s, "latest", ages, {"cam1": 0, "cam2": 0}, 10.0 + stall_ms)
    return h


def time_svg(history: History, repeat: int) -> list[float]:
    """Milliseconds per SVG draw.

    Example:
        >>> len(time_svg(history_of(10), 2))
        2
    """
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        history.render()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def time_matplotlib(history: History, repeat: int) -> list[float]:
    """Milliseconds per matplotlib draw of the same age and skew lines, saved as PNG.

    Example:
        >>> len(time_matplotlib(history_of(10), 1))
        1
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 2.4), dpi=80, layout="constrained")
    ax_age, ax_skew = fig.subplots(1, 2)
    pts = list(history.points)
    t = [p.t_s for p in pts]
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        ax_age.clear()
        ax_skew.clear()
        for name in history.streams:
            ax_age.plot(t, [p.age_ms.get(name) or float("nan") for p in pts])
        ax_skew.plot(t, [p.skew_ms or float("nan") for p in pts])
        ax_age.set_yscale("log")
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        out.append((time.perf_counter() - t0) * 1000)
    return out


def live_rate(seconds: float) -> dict[str, Any]:
    """Sets per second a LiveView at fps=10 achieves on two simulated cameras (child process).

    Example:
        >>> live_rate(3.0)["sets_per_s"] > 0  # doctest: +SKIP
        True
    """
    from rtsplab.sim import SimServer
    from rtsplab.widgets import LiveView

    with SimServer(2, process=True) as srv:
        view = LiveView(srv.urls, fps=10)
        try:
            deadline = time.monotonic() + 20.0
            while view.sets_shown < 5 and time.monotonic() < deadline:
                time.sleep(0.1)
            n0, t0 = view.sets_shown, time.monotonic()
            time.sleep(seconds)
            rate = (view.sets_shown - n0) / (time.monotonic() - t0)
        finally:
            view.stop()
    return {"fps": 10, "sets_per_s": round(rate, 2), "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    """Time both charts and the live view; write the JSON result.

    Example:
        >>> main(["--repeat", "5", "--out", "/tmp/bench_liveview_charts.json"])  # doctest: +SKIP
        0
    """
    args = parse_args(argv)
    history = history_of()
    svg = time_svg(history, args.repeat)
    mpl = time_matplotlib(history, args.repeat)
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "points_per_stream": len(history),
        "svg_ms": {"median": round(statistics.median(svg), 2), "max": round(max(svg), 2)},
        "matplotlib_png_ms": {
            "median": round(statistics.median(mpl), 1),
            "max": round(max(mpl), 1),
        },
        "liveview": live_rate(args.seconds),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
