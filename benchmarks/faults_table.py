"""Render ``data/faults.csv`` (written by the fault matrix in ``tests/faults/``) as the README's
reliability table: one row per case, one column per backend.

Each cell reads ``outcome · error the consumer saw · seconds``: for a stream fault the seconds
from the end of the fault to the first fresh frame, for a bad input the seconds until the
typed error, for ``close()`` how long it took. The last column is the worst count of threads
and file descriptors left over after the case, over all backends (0/0: nothing leaked).

Usage::

    python -m pytest tests/faults          # runs the matrix, rewrites data/faults.csv
    python benchmarks/faults_table.py      # prints the table
    python benchmarks/faults_table.py --readme README.md   # replaces it between the markers
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from readme_table import table_main

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- faults-table:begin (benchmarks/faults_table.py) -->"
END = "<!-- faults-table:end -->"


def load(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def cell(row: dict[str, str]) -> str:
    parts = [row["outcome"].replace("|", "/")]
    if row["error_type"]:
        parts.append(f"`{row['error_type']}`")
    if row["recovery_s"]:
        parts.append(f"{float(row['recovery_s']):.2f} s")
    return " · ".join(parts)


def render(rows: list[dict[str, str]]) -> str:
    backends = sorted({r["backend"] for r in rows})
    cases: dict[str, dict[str, dict[str, str]]] = {}
    for r in rows:
        cases.setdefault(r["case"], {})[r["backend"]] = r
    lines = [
        "| case | " + " | ".join(f"`{b}`" for b in backends) + " | threads/fds left |",
        "|---|" + "---|" * len(backends) + "---|",
    ]
    for name in sorted(cases):
        by_backend = cases[name]
        cells = [cell(by_backend[b]) if b in by_backend else "" for b in backends]
        threads = max(int(r["threads_after"]) for r in by_backend.values())
        fds = max(int(r["fds_after"]) for r in by_backend.values())
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {threads}/{fds} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return table_main(__doc__ or "", ROOT / "data" / "faults.csv", (BEGIN, END), render, load, argv)


if __name__ == "__main__":
    sys.exit(main())
