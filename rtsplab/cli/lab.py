"""``rtsplab compare``, ``rtsplab demo``, ``rtsplab doctor`` and ``rtsplab probe``.

Example:
    >>> from rtsplab.cli import main
    >>> main(["compare", "--sim", "2", "--seconds", "3", "--json"])  # doctest: +SKIP
    >>> main(["doctor", "rtsp://admin:pw@192.168.1.64/stream1"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from rtsplab.backends import BACKENDS, Profile
from rtsplab.entities import Transport
from rtsplab.errors import RtspLabError
from rtsplab.lab.experiment import STRATEGY_LABELS, compare, comparison_json
from rtsplab.lab.probe import probe
from rtsplab.urls import redact

__all__ = [
    "add_compare_arguments",
    "add_demo_arguments",
    "add_doctor_arguments",
    "add_probe_arguments",
    "format_table",
    "open_options",
    "run_compare",
    "run_demo",
    "run_doctor",
    "run_probe",
]


def _print_error(exc: Exception, as_json: bool, **context: str) -> int:
    """Print a failed command's typed error (one JSON object with ``--json``); exit code 2.

    Example:
        >>> _print_error(ValueError("bad label"), as_json=True, url="rtsp://h/x")
        {"url": "rtsp://h/x", "error": "ValueError", "message": "bad label"}
        2
    """
    if as_json:
        print(json.dumps({**context, "error": type(exc).__name__, "message": str(exc)}))
    else:
        print(f"error: {type(exc).__name__}: {exc}")
    return 2


def _common(parser: argparse.ArgumentParser, seconds: float, strategies: str) -> None:
    parser.add_argument(
        "--strategies",
        default=strategies,
        help=f"comma-separated, from {','.join(STRATEGY_LABELS)}, each optionally "
        f"@backend (e.g. latest@native); default {strategies}",
    )
    parser.add_argument("--consumer-ms", type=float, default=60.0, help="consumer time per set")
    parser.add_argument("--seconds", type=float, default=seconds, help="duration per strategy")
    parser.add_argument("--backend", choices=BACKENDS, default="auto")
    parser.add_argument("--transport", choices=[t.value for t in Transport], default="auto")
    parser.add_argument(
        "--profile", choices=[Profile.LOW_LATENCY, Profile.DEFAULT], default=Profile.LOW_LATENCY
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    parser.add_argument("--csv", type=Path, help="write every frame's record to this CSV")


def _tls_arguments(parser: argparse.ArgumentParser) -> None:
    """The certificate checks of ``rtsps://`` URLs: the reader options ``tls_verify`` and
    ``tls_fingerprint``, checked by the native backend only (``auto`` then means native)."""
    parser.add_argument(
        "--tls-verify",
        action="store_true",
        help="rtsps://: check the server's certificate against the system trust store and the "
        "host name (default: not checked, as cameras use self-signed ones; still encrypted)",
    )
    parser.add_argument(
        "--tls-fingerprint",
        metavar="SHA256",
        help="rtsps://: accept only the certificate with this SHA-256 fingerprint, "
        "'sha256:AB:CD:...' as 'openssl x509 -noout -fingerprint -sha256' prints it",
    )


def open_options(args: argparse.Namespace) -> dict[str, Any]:
    """The reader options of ``probe``'s and ``doctor``'s timeouts and certificate checks.

    Example:
        >>> p = argparse.ArgumentParser(); add_probe_arguments(p)
        >>> open_options(p.parse_args(["rtsps://h/x", "--tls-fingerprint", "sha256:AB"]))
        {'open_timeout_s': 5.0, 'read_timeout_s': 2.0, 'tls_verify': False, 'tls_fingerprint': 'sha256:AB'}
    """
    keys = ("open_timeout_s", "read_timeout_s", "tls_verify", "tls_fingerprint")
    return {k: getattr(args, k) for k in keys}


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``rtsplab compare`` arguments.

    Example:
        >>> p = argparse.ArgumentParser(); add_compare_arguments(p)
        >>> p.parse_args(["--sim", "2"]).sim
        2
    """
    parser.add_argument("urls", nargs="*", help="RTSP URLs (or --sim N)")
    parser.add_argument("--sim", type=int, default=0, help="start N simulated cameras instead")
    parser.add_argument(
        "--no-timecode",
        action="store_true",
        help="ignore timecodes burned into the picture (a replay shows the recorded ones): "
        "ages from the RTCP sender reports",
    )
    parser.add_argument("--plot", type=Path, help="write the comparison dashboard to this PNG")
    _common(parser, seconds=10.0, strategies="naive,buffered,latest,matched")


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``rtsplab demo`` arguments.

    Example:
        >>> p = argparse.ArgumentParser(); add_demo_arguments(p)
        >>> args = p.parse_args([])
        >>> args.out, args.plot, args.seconds
        (PosixPath('rtsplab-demo'), None, 8.0)
    """
    parser.add_argument("--cameras", type=int, default=2, help="simulated cameras (default 2)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("rtsplab-demo"),
        help="output folder (default rtsplab-demo)",
    )
    parser.add_argument("--plot", type=Path, help="write the picture here (default OUT/demo.png)")
    parser.add_argument("--csv", type=Path, help="write every frame here (default OUT/demo.csv)")
    parser.add_argument("--consumer-ms", type=float, default=60.0, help="consumer time per set")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each row")
    parser.add_argument("--transport", choices=[t.value for t in Transport], default="auto")
    parser.add_argument("--json", action="store_true", help="print one JSON object, nothing else")


def format_table(summary: dict[str, Any]) -> str:
    """A readable table of :func:`rtsplab.lab.experiment.comparison_json` output.

    Example:
        >>> print(format_table({"strategies": {}}).splitlines()[0].split()[:2])
        ['strategy', 'frames']
    """
    head = (
        f"{'strategy':<15}{'frames':>7}{'age p50':>10}{'age p99':>10}{'age max':>10}"
        f"{'skew p50':>10}{'skew p99':>10}{'depth max':>10}{'dropped':>9}  clock"
    )
    lines = [head, "-" * len(head)]

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f} ms" if v < 10000 else f"{v / 1000:.1f} s"

    for label, s in summary["strategies"].items():
        lines.append(
            f"{label:<15}{s['frames']:>7}{ms(s['age_ms']['p50']):>10}{ms(s['age_ms']['p99']):>10}"
            f"{ms(s['age_ms']['max']):>10}{ms(s['skew_ms']['p50']):>10}{ms(s['skew_ms']['p99']):>10}"
            f"{s['depth']['max']:>10}{s['dropped']:>9}  {s['clock']}"
        )
    return "\n".join(lines)


def _run(args: argparse.Namespace, urls: list[str], sim: int, plot: Path | None) -> int:
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    config = {
        "urls": [redact(u) for u in urls],
        "sim": sim,
        "strategies": strategies,
        "consumer_ms": args.consumer_ms,
        "seconds": args.seconds,
        "backend": args.backend,
        "transport": args.transport,
        "profile": args.profile,
    }
    try:
        df = compare(
            urls or None,
            sim=sim,
            strategies=strategies,
            consumer_ms=args.consumer_ms,
            seconds=args.seconds,
            progress=not args.json and sys.stderr.isatty(),
            backend=args.backend,
            transport=args.transport,
            profile=args.profile,
            timecode=not getattr(args, "no_timecode", False),
        )
    except (RtspLabError, ValueError) as exc:
        return _print_error(exc, args.json)
    summary = comparison_json(df, config)
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(args.csv, index=False)
    if plot is not None:
        from rtsplab.plots import plot_comparison

        plot.parent.mkdir(parents=True, exist_ok=True)
        plot_comparison(df, by="run").savefig(plot, dpi=110)
    if args.json:
        print(json.dumps(summary))
        return 0
    src = f"{sim} simulated cameras" if sim else ", ".join(config["urls"])
    print(f"{src}; consumer {args.consumer_ms:g} ms per set; {args.seconds:g} s per strategy")
    print(format_table(summary))
    for path in (args.csv, plot):
        if path:
            print(f"wrote {path}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """Run ``rtsplab compare``.

    Example:
        >>> from rtsplab.cli import main
        >>> main(["compare"])  # doctest: +SKIP
        2
    """
    if not args.urls and not args.sim:
        print("error: give RTSP URLs or --sim N", file=sys.stderr)
        return 2
    return _run(args, list(args.urls), args.sim, args.plot)


def run_demo(args: argparse.Namespace) -> int:
    """Run ``rtsplab demo``: the story of :data:`rtsplab.lab.story.STORY` on simulated cameras.

    Prints the table (or the JSON) and writes every frame's record (CSV) and the picture.

    Example:
        >>> from rtsplab.cli import main
        >>> main(["demo", "--seconds", "3"])  # doctest: +SKIP
        0
    """
    from rtsplab.lab.story import NAIVE_ROW, STORY, plot_story, run_story, story_table

    csv = args.csv or args.out / "demo.csv"
    plot = args.plot or args.out / "demo.png"
    config = {
        "sim": args.cameras,
        "steps": {s.label: s.adds for s in STORY},
        "consumer_ms": args.consumer_ms,
        "seconds": args.seconds,
        "transport": args.transport,
    }
    try:
        df = run_story(
            sim=args.cameras,
            consumer_ms=args.consumer_ms,
            seconds=args.seconds,
            progress=not args.json and sys.stderr.isatty(),
            transport=args.transport,
        )
    except (RtspLabError, ValueError) as exc:
        return _print_error(exc, args.json)
    summary = comparison_json(df, config)
    for path in (csv, plot):
        path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(csv, index=False)
    plot_story(df).savefig(plot, dpi=100)
    if args.json:
        print(json.dumps(summary))
        return 0
    intro = (
        f"{args.cameras} simulated cameras at 30 fps; a loop that spends {args.consumer_ms:g} ms "
        f"on each set of frames; {args.seconds:g} s per row.",
        f"{NAIVE_ROW}.",
        "skew: capture-time difference within a set; age: capture to read; both decoded from "
        "the timecode in every frame.",
    )
    print("\n".join(textwrap.fill(line, 99, subsequent_indent="  ") for line in intro), "\n")
    print(story_table(summary))
    print(f"\nwrote {csv}\nwrote {plot}")
    return 0


def add_doctor_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``rtsplab doctor`` arguments.

    Example:
        >>> p = argparse.ArgumentParser(); add_doctor_arguments(p)
        >>> p.parse_args(["rtsp://h/a", "rtsp://h/b", "--json"]).urls
        ['rtsp://h/a', 'rtsp://h/b']
    """
    parser.add_argument("urls", nargs="+", help="rtsp://[user:password@]host[:port]/path ...")
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="reading time of each measurement (default 2)"
    )
    parser.add_argument(
        "--consumer-ms", type=float, default=60.0, help="slow-consumer test: ms per frame"
    )
    parser.add_argument("--backend", choices=BACKENDS, default="auto")
    parser.add_argument("--open-timeout-s", type=float, default=5.0)
    parser.add_argument("--read-timeout-s", type=float, default=2.0)
    _tls_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object, nothing else")


def run_doctor(args: argparse.Namespace) -> int:
    """Run ``rtsplab doctor``: exit 0 when every stream was measured, 2 when one failed.

    Progress goes to stderr; the findings (or the JSON) to stdout.

    Example:
        >>> from rtsplab.cli import main
        >>> main(["doctor", "rtsp://127.0.0.1:1/cam1", "--json"])  # doctest: +SKIP
        2
    """
    from rtsplab.lab.diagnose import diagnose

    def say(line: str) -> None:
        print(f"measuring {line}", file=sys.stderr, flush=True)

    try:
        result = diagnose(
            args.urls,
            seconds=args.seconds,
            consumer_ms=args.consumer_ms,
            backend=args.backend,
            progress=None if args.json else say,
            **open_options(args),
        )
    except ValueError as exc:  # a malformed fingerprint, or a check FFmpeg cannot make
        return _print_error(exc, args.json)
    print(json.dumps(result.to_dict()) if args.json else result.report())
    return 0 if result.ok else 2


# ---- rtsplab probe ----------------------------------------------------------------------
def add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``rtsplab probe`` arguments.

    Example:
        >>> p = argparse.ArgumentParser(); add_probe_arguments(p)
        >>> p.parse_args(["rtsp://h/x", "--json"]).json
        True
    """
    parser.add_argument("url", help="rtsp://[user:password@]host[:port]/path")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to read (default 5)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto")
    parser.add_argument("--transport", choices=[t.value for t in Transport], default="auto")
    parser.add_argument(
        "--profile", choices=[Profile.LOW_LATENCY, Profile.DEFAULT], default=Profile.LOW_LATENCY
    )
    parser.add_argument("--open-timeout-s", type=float, default=5.0)
    parser.add_argument("--read-timeout-s", type=float, default=2.0)
    _tls_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object, nothing else")


def run_probe(args: argparse.Namespace) -> int:
    """Run ``rtsplab probe``; exit code 0, or 2 with a one-line reason when the stream fails.

    Example:
        >>> run_probe(argparse.Namespace(url="rtsp://127.0.0.1:1/x", seconds=1, backend="opencv",
        ...     transport="tcp", profile="low_latency", open_timeout_s=1, read_timeout_s=1,
        ...     tls_verify=False, tls_fingerprint=None, json=True))  # doctest: +SKIP
        2
    """
    try:
        report = probe(
            args.url,
            seconds=args.seconds,
            backend=args.backend,
            transport=args.transport,
            profile=args.profile,
            **open_options(args),
        )
    except (RtspLabError, ValueError) as exc:  # ValueError: not a URL (redacted message)
        return _print_error(exc, args.json, url=redact(args.url))
    if args.json:
        print(json.dumps(report))
        return 0
    from rtsplab.lab.diagnose import has_source_clock

    true_ages = has_source_clock(report)  # else anchored at arrival: not ages, maybe < 0
    for key, value in report.items():
        shown = (
            ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
        )
        if key in ("first_frame_age_ms", "age_ms") and not true_ages:
            shown = "n/a (no source clock)"
        print(f"{key:>20}: {shown}")
    return 0
