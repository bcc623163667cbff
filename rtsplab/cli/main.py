"""The ``rtsplab`` command: ``demo``, ``sim``, ``probe``, ``compare``, ``doctor``, ``record``.

Each subcommand lives in a module of :mod:`rtsplab.cli` and registers itself through two
functions, ``add_arguments(parser)`` and ``run(args) -> int``, so this file only dispatches.

Example:
    >>> main(["--version"])  # doctest: +SKIP
    rtsplab 0.1.0
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from rtsplab import __version__

DESCRIPTION = (
    "Pull several RTSP cameras at once and measure what each way of reading them does to "
    "latency. Start with: rtsplab demo"
)
"""What ``rtsplab --help`` says first: plain text, as every help string here."""

# subcommand -> (module providing add_arguments/run, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "rtsplab.cli.lab",
        "why two cameras end up a second apart, and each fix, row by row (simulated cameras)",
    ),
    "sim": ("rtsplab.cli.sim", "serve simulated RTSP cameras with burned-in timecodes"),
    "probe": ("rtsplab.cli.lab", "open one stream and report codec, open time and frame age"),
    "compare": ("rtsplab.cli.lab", "run reading strategies on the same streams"),
    "doctor": ("rtsplab.cli.lab", "diagnose latency problems of your own cameras"),
    "record": ("rtsplab.cli.record", "record each camera's session as pcapng, to replay or share"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; ``only`` imports just that subcommand's module (faster start).

    Example:
        >>> build_parser().prog
        'rtsplab'
    """
    parser = argparse.ArgumentParser(prog="rtsplab", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"rtsplab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is not None and name != only:
            continue
        mod = importlib.import_module(module)
        add = getattr(mod, f"add_{name}_arguments", None) or mod.add_arguments
        add(p)
        p.set_defaults(_run=getattr(mod, f"run_{name}", None) or mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rtsplab`` console script.

    Example:
        >>> main(["sim", "--help"])  # doctest: +SKIP
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    only = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    args = build_parser(only).parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
