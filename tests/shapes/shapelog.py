"""Rows of the stream-shapes matrix: one per (shape, backend), written to ``data/shapes.csv``.

Columns, in order: ``shape``, ``backend`` (as asked), ``backend_used`` (what ``auto``
picked), ``transport``, ``n_frames`` (timecoded frames measured, after the clock settled),
``age_p50_ms``/``age_p99_ms`` (``Frame.age_ms``, rtsplab's own),
``independent_p50_ms``/``independent_p99_ms`` (from the timecode the server painted, read by
the test), ``difference_p50_ms`` (rtsplab minus independent, per frame, then the median),
``clock`` (the ``Clock`` values of the measured frames), ``offset_ms`` (the camera clock
offset the reader reports, empty when it reports none) and ``outcome`` (``ok``, ``n/a: ...``
or ``FAIL: ...``).

:func:`record` keeps a row; at the end of the session :func:`flush` merges the rows into the
CSV (rows of shapes that did not run are kept), sorted by (shape, backend).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from faults.faultlog import merge_into_csv

__all__ = ["COLUMNS", "CSV_PATH", "Row", "flush", "record"]

COLUMNS = (
    "shape",
    "backend",
    "backend_used",
    "transport",
    "n_frames",
    "age_p50_ms",
    "age_p99_ms",
    "independent_p50_ms",
    "independent_p99_ms",
    "difference_p50_ms",
    "clock",
    "offset_ms",
    "outcome",
)
CSV_PATH = Path(__file__).resolve().parents[2] / "data" / "shapes.csv"

_rows: dict[tuple[str, str], tuple[str, ...]] = {}
_lock = threading.Lock()


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


@dataclass
class Row:
    """One measured (shape, backend) pair."""

    shape: str
    backend: str
    backend_used: str
    transport: str
    n_frames: int
    age_p50_ms: float | None
    age_p99_ms: float | None
    independent_p50_ms: float | None
    independent_p99_ms: float | None
    difference_p50_ms: float | None
    clock: str
    offset_ms: float | None
    outcome: str = "ok"

    def cells(self) -> tuple[str, ...]:
        """The CSV cells, in :data:`COLUMNS` order."""
        return (
            self.shape,
            self.backend,
            self.backend_used,
            self.transport,
            str(self.n_frames),
            _ms(self.age_p50_ms),
            _ms(self.age_p99_ms),
            _ms(self.independent_p50_ms),
            _ms(self.independent_p99_ms),
            _ms(self.difference_p50_ms),
            self.clock,
            _ms(self.offset_ms),
            self.outcome,
        )


def record(row: Row) -> None:
    """Keep one row of the matrix (the last one wins for a (shape, backend) pair)."""
    with _lock:
        _rows[(row.shape, row.backend)] = row.cells()


def flush(path: Path = CSV_PATH) -> Path | None:
    """Merge the rows recorded in this session into ``path``; None when there were none."""
    with _lock:
        rows = dict(_rows)
    return merge_into_csv(path, tuple(COLUMNS), ("shape", "backend"), rows)
