"""The ``rtsplab`` command: one module per group of subcommands, dispatched by :mod:`.main`.

* :mod:`~rtsplab.cli.lab`: ``demo``, ``compare``, ``doctor`` and ``probe``.
* :mod:`~rtsplab.cli.sim`: ``sim`` (``--replay`` serves captures).
* :mod:`~rtsplab.cli.record`: ``record``.

Example:
    >>> from rtsplab.cli import SUBCOMMANDS
    >>> sorted(SUBCOMMANDS)
    ['compare', 'demo', 'doctor', 'probe', 'record', 'sim']
"""

from __future__ import annotations

from rtsplab.cli.main import SUBCOMMANDS, build_parser, main

__all__ = ["SUBCOMMANDS", "build_parser", "main"]
