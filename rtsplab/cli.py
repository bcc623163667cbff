"""The ``rtsplab`` command: ``demo``, ``sim``, ``probe``, ``compare``, ``doctor``.

Each subcommand lives next to the code it drives and registers itself through two functions,
``add_arguments(parser)`` and ``run(args) -> int``, so this file only dispatches.

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

# subcommand -> (module providing add_arguments/run, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "rtsplab.experiment_cli",
        "compare naive, buffered and latest on two simulated cameras",
    ),
    "sim": ("rtsplab.sim.cli", "serve simulated RTSP cameras with burned-in timecodes"),
    "probe": ("rtsplab.probe", "open one stream and report codec, open time and frame age"),
    "compare": ("rtsplab.experiment_cli", "run reading strategies on the same streams"),
    "doctor": ("rtsplab.experiment_cli", "diagnose latency problems of your own cameras"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered.

    Example:
        >>> build_parser().prog
        'rtsplab'
    """
    parser = argparse.ArgumentParser(prog="rtsplab", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"rtsplab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(module)
        getattr(mod, f"add_{name}_arguments", mod.add_arguments)(p)
        p.set_defaults(_run=getattr(mod, f"run_{name}", getattr(mod, "run", None)))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rtsplab`` console script.

    Example:
        >>> main(["sim", "--help"])  # doctest: +SKIP
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
