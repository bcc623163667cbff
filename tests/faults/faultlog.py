"""Rows of the fault matrix: one per (case, backend), written to ``data/faults.csv``.

Columns, in order: ``case``, ``backend``, ``outcome`` (``ok``, ``n/a: ...`` or ``FAIL: ...``),
``error_type`` (what the consumer was raised, empty when nothing), ``recovery_s`` (seconds from
the end of the fault to the first fresh frame; for bad inputs, seconds until the typed error;
empty when it does not apply), ``threads_after`` and ``fds_after`` (threads and file
descriptors of the test process left over once the case is closed, against the count before
it; 0 means nothing leaked).

:func:`record` keeps a row; at the end of the session :func:`flush` merges the rows into the
CSV (rows of cases that did not run are kept), sorted by (case, backend).
"""

from __future__ import annotations

import csv
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "COLUMNS",
    "CSV_PATH",
    "Case",
    "case",
    "flush",
    "open_fds",
    "os_threads",
    "record",
    "settle",
    "thread_names",
]

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
    """Keep one row of the matrix (the last one wins for a (case, backend) pair)."""
    row = (
        case,
        backend,
        outcome,
        error_type,
        "" if recovery_s is None else f"{recovery_s:.2f}",
        str(threads_after),
        str(fds_after),
    )
    with _lock:
        _rows[(case, backend)] = row


def merge_into_csv(
    path: Path, columns: tuple[str, ...], keys: tuple[str, str], rows: dict[Any, tuple[str, ...]]
) -> Path | None:
    """Write ``rows`` (keyed by the values of the two ``keys`` columns) to ``path``, keeping
    the rows already there that this session did not rerun; None when ``rows`` is empty."""
    if not rows:
        return None
    rows = dict(rows)
    if path.exists():
        with path.open(newline="") as f:
            for old in csv.DictReader(f):
                if set(columns) <= set(old):
                    rows.setdefault((old[keys[0]], old[keys[1]]), tuple(old[c] for c in columns))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows[k] for k in sorted(rows))
    tmp.replace(path)
    return path


def flush(path: Path = CSV_PATH) -> Path | None:
    """Merge the rows recorded in this session into ``path``; None when there were none."""
    with _lock:
        rows = dict(_rows)
    return merge_into_csv(path, tuple(COLUMNS), ("case", "backend"), rows)


def open_fds() -> int:
    """File descriptors open in this process."""
    return len(os.listdir("/proc/self/fd"))


# Process-wide helper threads that a library starts once, on first use, and keeps for the
# life of the process (not per stream): the allocator's background purger.
GLOBAL_THREADS = frozenset({"jemalloc_bg_thd"})


def os_threads() -> int:
    """Threads of this process as the kernel sees them (FFmpeg's native threads included),
    except the process-wide :data:`GLOBAL_THREADS`."""
    return sum(1 for n in thread_names() if n not in GLOBAL_THREADS)


def thread_names() -> list[str]:
    """Names of this process's threads (Python threads by name, native ones by their comm)."""
    names = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                names.append(f.read().strip())
        except OSError:  # the thread ended meanwhile
            continue
    return sorted(names)


def settle(threads_before: int, fds_before: int, timeout_s: float) -> tuple[int, int]:
    """Wait (up to ``timeout_s``) for threads and fds to fall back; return what is left over."""
    deadline = time.monotonic() + timeout_s
    while True:
        extra = (os_threads() - threads_before, open_fds() - fds_before)
        if (extra[0] <= 0 and extra[1] <= 0) or time.monotonic() >= deadline:
            return max(0, extra[0]), max(0, extra[1])
        time.sleep(0.05)


@dataclass
class Case:
    """What a running case reports; the test fills it in."""

    name: str
    backend: str
    outcome: str = "ok"
    error_type: str = ""
    recovery_s: float | None = None
    settle_s: float = 6.0


@contextmanager
def case(name: str, backend: str, settle_s: float = 6.0) -> Iterator[Case]:
    """Run one case: count threads and fds before, settle after, record the row, and fail the
    test when a thread or fd was left behind."""
    threads_before, fds_before = os_threads(), open_fds()
    names_before = thread_names()
    c = Case(name, backend, settle_s=settle_s)
    try:
        yield c
    except BaseException as exc:
        left = settle(threads_before, fds_before, c.settle_s)
        detail = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
        record(name, backend, f"FAIL: {detail}", c.error_type, c.recovery_s, *left)
        raise
    threads_after, fds_after = settle(threads_before, fds_before, c.settle_s)
    record(name, backend, c.outcome, c.error_type, c.recovery_s, threads_after, fds_after)
    left = [n for n in thread_names() if n not in names_before or names_before.remove(n)]
    py_left = [t.name for t in threading.enumerate()]
    assert threads_after == 0, f"{name}/{backend}: thread(s) left behind: {left} ({py_left})"
    assert fds_after == 0, f"{name}/{backend}: {fds_after} fd(s) left behind"
