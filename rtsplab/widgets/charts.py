"""Live charts of frame age, buffer depth and skew, drawn as inline SVG.

The live views redraw their charts a few times a second while frames keep flowing, so a
chart must cost milliseconds, not the hundreds of milliseconds a matplotlib PNG takes on a
busy machine. :class:`History` keeps the recent points of a view and renders them as one
small SVG document, shown in a plain ``ipywidgets.HTML`` (no JavaScript, no extension).

Age and skew use a log axis: a 6 s stall and a 300 ms latency both stay readable on one
chart, where a linear axis stretched by the stall would flatten everything after it. Values
below the axis floor are drawn on it. A stream with no frame in a set leaves a gap.

Example:
    >>> h = History(window_s=30.0)
    >>> h.add(0.0, "latest", {"cam1": 80.0, "cam2": None}, {"cam1": 0, "cam2": 0}, None)
    >>> h.add(0.1, "latest", {"cam1": 6000.0, "cam2": 90.0}, {"cam1": 0, "cam2": 0}, 40.0)
    >>> svg = h.render()
    >>> svg.startswith("<svg") and "Frame age" in svg and "10 s" in svg
    True
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rtsplab.plots import strategy_color
from rtsplab.widgets.panels import html_escape

__all__ = ["History", "Point", "log_ticks", "log_top", "nice_step"]

_DASHES = ("", "6 3", "2 2", "8 3 2 3")
_PANEL_W, _PANEL_H = 300, 170
_LEFT, _RIGHT, _TOP, _BOTTOM = 46, 8, 22, 26


@dataclass(frozen=True)
class Point:
    """One set as charted: when, with which strategy, and each stream's age and depth.

    ``None`` for a stream means it had no frame in the set (a gap in its line).

    Example:
        >>> Point(1.0, "latest", {"cam1": 80.0}, {"cam1": 0}, None).skew_ms is None
        True
    """

    t_s: float
    strategy: str
    age_ms: Mapping[str, float | None]
    depth: Mapping[str, int | None]
    skew_ms: float | None


def log_top(max_value: float, floor: float) -> float:
    """The top of a log axis: the power of ten at or above ``max_value`` (at least ``100×floor``).

    Example:
        >>> log_top(6012.0, 10.0), log_top(80.0, 10.0), log_top(1000.0, 10.0)
        (10000.0, 1000.0, 1000.0)
    """
    top = max(floor * 100.0, max_value)
    return float(10 ** math.ceil(math.log10(top) - 1e-9))


def log_ticks(floor: float, top: float) -> list[float]:
    """The powers of ten from ``floor`` to ``top``.

    Example:
        >>> log_ticks(10.0, 10000.0)
        [10.0, 100.0, 1000.0, 10000.0]
    """
    ticks = []
    v = floor
    while v <= top * 1.0001:
        ticks.append(v)
        v *= 10.0
    return ticks


def nice_step(raw: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50... at or above ``raw``: a readable tick step.

    Example:
        >>> nice_step(0.3), nice_step(8.25), nice_step(23.0)
        (1, 10, 50)
    """
    decade = 1
    while True:
        for m in (1, 2, 5):
            if m * decade >= raw:
                return m * decade
        decade *= 10


def _ms_label(v: float) -> str:
    return f"{v / 1000:g} s" if v >= 1000 else f"{v:g} ms"


class History:
    """The recent sets of a live view, and their chart.

    Args:
        window_s: seconds of history shown (and kept).
        max_points: bound on the points kept, whatever the rate.

    Example:
        >>> h = History(window_s=5.0)
        >>> for i in range(100):
        ...     h.add(i * 0.1, "buffered", {"a": 50.0 + i}, {"a": i}, 0.0)
        >>> len(h), h.points[0].t_s >= 4.9
        (51, True)
    """

    def __init__(self, window_s: float = 30.0, max_points: int = 2000) -> None:
        self.window_s = float(window_s)
        self.points: deque[Point] = deque(maxlen=max_points)
        self.streams: list[str] = []

    def __len__(self) -> int:
        return len(self.points)

    def add(
        self,
        t_s: float,
        strategy: str,
        age_ms: Mapping[str, float | None],
        depth: Mapping[str, int | None],
        skew_ms: float | None,
    ) -> None:
        """Append a point and forget the ones older than the window.

        Example:
            >>> h = History(); h.add(0.0, "latest", {"a": 1.0}, {"a": 0}, None); h.streams
            ['a']
        """
        self.streams.extend(n for n in age_ms if n not in self.streams)
        self.points.append(Point(t_s, strategy, dict(age_ms), dict(depth), skew_ms))
        while self.points and self.points[0].t_s < t_s - self.window_s:
            self.points.popleft()

    def render(self, columns: int = 3) -> str:
        """The age, depth and skew panels as one SVG document, ``columns`` panels per row.

        Example:
            >>> History().render(columns=1).count("<text") > 3
            True
        """
        pts = list(self.points)
        t_end = pts[-1].t_s if pts else 0.0
        x_range = (max(0.0, t_end - self.window_s), max(t_end, self.window_s))
        streams = self.streams
        ages = [[(p.t_s, p.strategy, p.age_ms.get(n)) for p in pts] for n in streams]
        depths = [[(p.t_s, p.strategy, _f(p.depth.get(n))) for p in pts] for n in streams]
        skews = [[(p.t_s, p.strategy, p.skew_ms) for p in pts]] if len(streams) > 1 else []
        panels = [
            _panel("Frame age", ages, x_range, log_floor=10.0),
            _panel("Buffer depth (frames)", depths, x_range, log_floor=None),
            _panel("Skew across streams", skews, x_range, log_floor=1.0),
        ]
        columns = max(1, min(columns, len(panels)))
        rows = math.ceil(len(panels) / columns)
        legend_h = 20
        width, height = columns * _PANEL_W, rows * _PANEL_H + legend_h
        body = [
            f'<g transform="translate({(i % columns) * _PANEL_W},{(i // columns) * _PANEL_H})">'
            f"{panel}</g>"
            for i, panel in enumerate(panels)
        ]
        body.append(_legend(streams, [p.strategy for p in pts], rows * _PANEL_H + 14))
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">'
            + "".join(body)
            + "</svg>"
        )


def _f(v: int | None) -> float | None:
    return None if v is None else float(v)


def _panel(
    title: str,
    series: Sequence[Sequence[tuple[float, str, float | None]]],
    x_range: tuple[float, float],
    log_floor: float | None,
) -> str:
    w, h = _PANEL_W - _LEFT - _RIGHT, _PANEL_H - _TOP - _BOTTOM
    x0, x1 = x_range
    values = [v for s in series for _t, _s, v in s if v is not None and math.isfinite(v)]
    if log_floor is not None:
        top = log_top(max(values, default=0.0), log_floor)
        lo, hi = math.log10(log_floor), math.log10(top)
        ticks = log_ticks(log_floor, top)
        labels = [_ms_label(t) for t in ticks]

        def y_of(v: float) -> float:
            return h - (math.log10(max(v, log_floor)) - lo) / (hi - lo) * h

    else:
        step = nice_step(max(values, default=0.0) / 4)
        top = float(max(5, step * math.ceil(max(values, default=0.0) * 1.1 / step)))
        ticks = [float(t) for t in range(0, int(top) + 1, step)]
        labels = [f"{t:g}" for t in ticks]

        def y_of(v: float) -> float:
            return h - v / top * h

    def x_of(t: float) -> float:
        return (t - x0) / max(x1 - x0, 1e-9) * w

    out = [
        f'<text x="{_PANEL_W / 2:.0f}" y="13" text-anchor="middle" font-weight="bold">{title}</text>'
    ]
    out.append(f'<g transform="translate({_LEFT},{_TOP})">')
    out.append(f'<rect width="{w}" height="{h}" fill="white" stroke="#999"/>')
    for t, label in zip(ticks, labels, strict=True):
        y = y_of(t)
        out.append(f'<line x1="0" x2="{w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="-4" y="{y + 3:.1f}" text-anchor="end">{label}</text>')
    span = x1 - x0
    step_s = 5.0 if span <= 40 else 10.0 if span <= 90 else 30.0
    t = math.ceil(x0 / step_s) * step_s
    while t <= x1 + 1e-9:
        x = x_of(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{h}" y2="{h + 3}" stroke="#999"/>')
        out.append(f'<text x="{x:.1f}" y="{h + 13}" text-anchor="middle">{t:g}</text>')
        t += step_s
    out.append(f'<text x="{w}" y="{h + 23}" text-anchor="end">time (s)</text>')
    for i, s in enumerate(series):
        dash = _DASHES[i % len(_DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        for strategy, run in _runs(s):
            coords = " ".join(f"{x_of(t):.1f},{y_of(v):.1f}" for t, v in run)
            color = strategy_color(strategy)
            if len(run) == 1:
                x, y = x_of(run[0][0]), y_of(run[0][1])
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.5" fill="{color}"/>')
            else:
                out.append(
                    f'<polyline points="{coords}" fill="none" stroke="{color}" '
                    f'stroke-width="1.5"{dash_attr}/>'
                )
    out.append("</g>")
    return "".join(out)


def _runs(
    series: Sequence[tuple[float, str, float | None]],
) -> list[tuple[str, list[tuple[float, float]]]]:
    """Runs of consecutive points with one strategy and a value; a gap > 1 s also cuts a run."""
    runs: list[tuple[str, list[tuple[float, float]]]] = []
    prev: tuple[float, str] | None = None
    for t, strategy, v in series:
        if v is None or not math.isfinite(v):
            prev = None
            continue
        if prev is None or prev[1] != strategy or t - prev[0] > 1.0:
            runs.append((strategy, []))
        runs[-1][1].append((t, v))
        prev = (t, strategy)
    return runs


def _legend(streams: Sequence[str], strategies: Sequence[str], y: float) -> str:
    out = []
    x = 8.0
    for i, name in enumerate(streams):
        dash = _DASHES[i % len(_DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{x}" x2="{x + 24}" y1="{y - 3}" y2="{y - 3}" stroke="#444" '
            f'stroke-width="1.5"{dash_attr}/><text x="{x + 28}" y="{y}">{html_escape(name)}</text>'
        )
        x += 36 + 6 * len(name)
    seen: list[str] = []
    for s in strategies:
        if s not in seen:
            seen.append(s)
    for s in seen:
        out.append(
            f'<rect x="{x}" y="{y - 8}" width="12" height="8" fill="{strategy_color(s)}"/>'
            f'<text x="{x + 16}" y="{y}">{html_escape(s)}</text>'
        )
        x += 26 + 6 * len(s)
    return "".join(out)
