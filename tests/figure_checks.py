"""Checks that a matplotlib figure shows its data: every named line has points inside its
axes' limits, and no two named lines are drawn indistinguishably on top of each other.

Used by tests/test_plots.py on every ``rtsplab.plots`` figure and, inside the kernel, by
tests/test_notebooks.py on every figure a notebook displays (see :func:`install`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

# two lines "coincide" when this share of one line's points lies within COINCIDE_PX
# of the other's, on screen
COINCIDE_PX = 1.5
COINCIDE_SHARE = 0.8


def _named_lines(ax: Axes) -> list[Line2D]:
    return [
        line
        for line in ax.get_lines()
        if line.get_visible() and not str(line.get_label()).startswith("_")
    ]


def _points(line: Line2D) -> Any:
    xy = np.asarray(line.get_xydata(), dtype=float)
    if xy.ndim != 2 or not len(xy):
        return np.empty((0, 2))
    return xy[np.isfinite(xy).all(axis=1)]


def _inside(ax: Axes, xy: Any) -> Any:
    x0, x1 = sorted(ax.get_xlim())
    y0, y1 = sorted(ax.get_ylim())
    ok = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    if ax.get_yscale() == "log":
        ok &= xy[:, 1] > 0
    if ax.get_xscale() == "log":
        ok &= xy[:, 0] > 0
    return ok


def _style(line: Line2D) -> tuple[str, str]:
    marker = str(line.get_marker())
    return str(line.get_linestyle()), "" if marker in ("None", "", " ") else marker


def _coincide(ax: Axes, a: Any, b: Any) -> bool:
    """Whether most of ``b``'s on-screen points lie on ``a``'s (or the reverse)."""
    if not len(a) or not len(b):
        return False
    pa, pb = ax.transData.transform(a), ax.transData.transform(b)

    def share(p: Any, q: Any) -> float:
        p = p[np.linspace(0, len(p) - 1, min(len(p), 200)).astype(int)]
        q = q[np.linspace(0, len(q) - 1, min(len(q), 2000)).astype(int)]
        d = np.sqrt(((p[:, None, :] - q[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
        return float((d <= COINCIDE_PX).mean())

    return max(share(pa, pb), share(pb, pa)) >= COINCIDE_SHARE


def _noted(ax: Axes, a: str, b: str) -> bool:
    """Whether a text in the axes says that lines ``a`` and ``b`` coincide."""
    texts = [str(t.get_text()) for t in ax.texts]
    return any("overlap" in t or "coincide" in t for t in texts if a in t or b in t)


def problems(fig: Figure) -> list[str]:
    """What a figure fails to show; an empty list when every named line can be seen.

    Example:
        >>> from matplotlib.figure import Figure
        >>> ax = Figure().add_subplot()
        >>> _ = ax.plot([0, 1], [5, 5], label="a")
        >>> _ = ax.set_ylim(0, 1)
        >>> problems(ax.figure)
        ["'a': no point inside the axes (x 0..1, y 0..1)"]
    """
    fig.draw_without_rendering()
    out: list[str] = []
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        lines = _named_lines(ax)
        points = {id(line): _points(line) for line in lines}
        for line in lines:
            xy = points[id(line)]
            if len(xy) and not _inside(ax, xy).any():
                x0, x1 = ax.get_xlim()
                y0, y1 = ax.get_ylim()
                out.append(
                    f"{line.get_label()!r}: no point inside the axes "
                    f"(x {x0:g}..{x1:g}, y {y0:g}..{y1:g})"
                )
        for i, a in enumerate(lines):
            for b in lines[i + 1 :]:
                if _style(a) != _style(b):
                    continue
                if _coincide(ax, points[id(a)], points[id(b)]):
                    la, lb = str(a.get_label()), str(b.get_label())
                    if not _noted(ax, la, lb):
                        out.append(f"{la!r} and {lb!r} are drawn on top of each other")
    return out


def install() -> None:
    """In an IPython kernel: check every figure as it is displayed (PNG), and collect what
    fails in ``figure_checks.FOUND`` (the notebook test reads it at the end of the run).

    ``%matplotlib inline`` registers IPython's ``print_figure`` for figures when it runs, so
    that function is wrapped, and the formatter already registered too.
    """
    from IPython import get_ipython
    from IPython.core import pylabtools

    original = pylabtools.print_figure

    def checked(fig: Figure, *args: Any, **kwargs: Any) -> Any:
        title = fig._suptitle.get_text() if fig._suptitle is not None else ""
        title = title or next((ax.get_title() for ax in fig.axes if ax.get_title()), "")
        FOUND.extend(f"figure {title!r}: {p}" for p in problems(fig))
        return original(fig, *args, **kwargs)

    pylabtools.print_figure = checked
    shell = get_ipython()
    if shell is not None:
        pylabtools.select_figure_formats(shell, {"png"})


FOUND: list[str] = []
