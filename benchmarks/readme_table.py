"""One command line for the scripts that turn a CSV of test rows into a README table.

``faults_table.py`` and ``shapes_table.py`` each load their CSV and render a Markdown table;
this module prints it, or replaces the README's text between the script's two markers.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def replace_between(readme: Path, begin: str, end: str, table: str) -> None:
    """Put ``table`` between the ``begin`` and ``end`` markers of ``readme``."""
    text = readme.read_text()
    start, stop = text.index(begin) + len(begin), text.index(end)
    readme.write_text(text[:start] + "\n" + table + "\n" + text[stop:])


def table_main(
    doc: str,
    default_csv: Path,
    markers: tuple[str, str],
    render: Callable[[Any], str],
    load: Callable[[Path], Any],
    argv: list[str] | None = None,
) -> int:
    """Parse ``--csv`` and ``--readme``; print the table or write it into the README."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=default_csv)
    parser.add_argument("--readme", type=Path, help="replace the table between the markers")
    args = parser.parse_args(argv)
    table = render(load(args.csv))
    if args.readme:
        replace_between(args.readme, *markers, table)
    else:
        print(table)
    return 0
