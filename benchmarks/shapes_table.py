"""Render ``data/shapes.csv`` (written by the stream-shapes matrix in ``tests/shapes/``) as the
README's table: one row per stream shape, one column per backend.

Each cell reads ``rtsplab's age p50 / the independent age p50 (difference p50)`` in ms, then
the outcome when it is not ``ok``: the independent age is the server's painted send time read
off the picture by the test, so the difference is how far rtsplab's own dating is off.

Usage::

    python -m pytest tests/shapes          # runs the matrix, rewrites data/shapes.csv
    python benchmarks/shapes_table.py      # prints the table
    python benchmarks/shapes_table.py --readme README.md   # replaces it between the markers
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from readme_table import table_main

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- shapes-table:begin (benchmarks/shapes_table.py) -->"
END = "<!-- shapes-table:end -->"
BACKENDS = ("native", "pyav", "opencv", "auto")


def load(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _ms(value: str) -> str:
    if not value:
        return "–"
    number = float(value)
    if round(number, 1) == 0:
        return "0.0"
    return (
        f"{number:.3g}"
        if abs(number) >= 1e5
        else f"{number:.0f}"
        if abs(number) >= 10
        else f"{number:.1f}"
    )


def cell(row: dict[str, str]) -> str:
    text = (
        f"{_ms(row['age_p50_ms'])} / {_ms(row['independent_p50_ms'])} "
        f"({_ms(row['difference_p50_ms'])})"
    )
    if row["backend"] == "auto":
        text += f" → `{row['backend_used']}`"
    outcome = row["outcome"]
    if outcome != "ok":
        short = outcome.split(";")[0].replace("|", "/")
        text += f" · {short[:60]}"
    return text


def render(rows: list[dict[str, str]]) -> str:
    present = {r["backend"] for r in rows}
    backends = [b for b in BACKENDS if b in present] + sorted(present - set(BACKENDS))
    shapes: dict[str, dict[str, dict[str, str]]] = {}
    for r in rows:
        shapes.setdefault(r["shape"], {})[r["backend"]] = r
    lines = [
        "| shape | " + " | ".join(f"`{b}`" for b in backends) + " | clock |",
        "|---|" + "---|" * len(backends) + "---|",
    ]
    for name in sorted(shapes):
        by_backend = shapes[name]
        cells = [cell(by_backend[b]) if b in by_backend else "" for b in backends]
        clocks = sorted({r["clock"] for r in by_backend.values() if r["clock"]})
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {', '.join(clocks)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return table_main(__doc__ or "", ROOT / "data" / "shapes.csv", (BEGIN, END), render, load, argv)


if __name__ == "__main__":
    sys.exit(main())
