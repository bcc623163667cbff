"""The fault matrix's record: one row per (case, backend), written to data/faults.csv.

Rows collected in a session replace the rows of the same (case, backend) already in the file,
so running a subset of the fault tests updates only those rows. The file is sorted by
(case, backend), columns in the order of :data:`COLUMNS`.
"""

from __future__ import annotations

import atexit
import csv
import threading
from pathlib import Path

COLUMNS = ("case", "backend", "outcome", "error_type", "recovery_s", "threads_after", "fds_after")
CSV_PATH = Path(__file__).resolve().parents[2] / "data" / "faults.csv"

_rows: dict[tuple[str, str], tuple[str, ...]] = {}
_lock = threading.Lock()


def record(
    case: str,
    backend: str,
    outcome: str,
    error_type: str,
    recovery_s: float | None,
    threads_after: int,
    fds_after: int,
) -> None:
    """Append one row (the last one of a (case, backend) wins); written at session end."""
    row = (
        case,
        backend,
        outcome,
        error_type,
        "" if recovery_s is None else f"{recovery_s:.3f}",
        str(threads_after),
        str(fds_after),
    )
    with _lock:
        _rows[(case, backend)] = row


def write(path: Path = CSV_PATH) -> Path | None:
    """Merge the rows recorded so far into ``path``; None when nothing was recorded."""
    with _lock:
        if not _rows:
            return None
        merged: dict[tuple[str, str], tuple[str, ...]] = {}
        if path.exists():
            with path.open(newline="") as f:
                for old in csv.DictReader(f):
                    merged[(old["case"], old["backend"])] = tuple(old.get(c, "") for c in COLUMNS)
        merged.update(_rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for key in sorted(merged):
            w.writerow(merged[key])
    return path


atexit.register(write)
