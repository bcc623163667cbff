"""``rtsplab probe``: open one stream, report what it is and how fresh its frames are.

Example:
    >>> from rtsplab.cli import main
    >>> main(["probe", "rtsp://127.0.0.1:8554/cam1", "--seconds", "2"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json

from rtsplab.backends import BACKENDS, Profile
from rtsplab.entities import Transport
from rtsplab.errors import RtspLabError
from rtsplab.lab.probe import probe
from rtsplab.urls import redact

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``rtsplab probe`` arguments.

    Example:
        >>> p = argparse.ArgumentParser(); add_arguments(p)
        >>> p.parse_args(["rtsp://h/x", "--json"]).json
        True
    """
    parser.add_argument("url", help="rtsp://[user:password@]host[:port]/path")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to read (default 5)")
    parser.add_argument("--backend", choices=BACKENDS, default="opencv")
    parser.add_argument("--transport", choices=[t.value for t in Transport], default="auto")
    parser.add_argument(
        "--profile", choices=[Profile.LOW_LATENCY, Profile.DEFAULT], default=Profile.LOW_LATENCY
    )
    parser.add_argument("--open-timeout-s", type=float, default=5.0)
    parser.add_argument("--read-timeout-s", type=float, default=2.0)
    parser.add_argument("--json", action="store_true", help="print one JSON object, nothing else")


def run(args: argparse.Namespace) -> int:
    """Run ``rtsplab probe``; exit code 0, or 2 with a one-line reason when the stream fails.

    Example:
        >>> run(argparse.Namespace(url="rtsp://127.0.0.1:1/x", seconds=1, backend="opencv",
        ...     transport="tcp", profile="low_latency", open_timeout_s=1, read_timeout_s=1,
        ...     json=True))  # doctest: +SKIP
        2
    """
    try:
        report = probe(
            args.url,
            seconds=args.seconds,
            backend=args.backend,
            transport=args.transport,
            profile=args.profile,
            open_timeout_s=args.open_timeout_s,
            read_timeout_s=args.read_timeout_s,
        )
    except RtspLabError as exc:
        if args.json:
            print(
                json.dumps(
                    {"url": redact(args.url), "error": type(exc).__name__, "message": str(exc)}
                )
            )
        else:
            print(f"error: {type(exc).__name__}: {exc}")
        return 2
    if args.json:
        print(json.dumps(report))
        return 0
    for key, value in report.items():
        shown = (
            ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
        )
        print(f"{key:>20}: {shown}")
    return 0
