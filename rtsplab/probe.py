"""``rtsplab probe``: open one stream, report what it is and how fresh its frames are.

Example:
    >>> probe("rtsp://127.0.0.1:8554/cam1", seconds=2)["open_s"]  # doctest: +SKIP
    0.071
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from rtsplab.backends import BACKENDS, Profile
from rtsplab.entities import Transport
from rtsplab.errors import ReadTimeout, RtspLabError
from rtsplab.readers import Reader
from rtsplab.urls import redact

__all__ = ["add_arguments", "probe", "run"]


def probe(
    url: str,
    seconds: float = 5.0,
    backend: str = "opencv",
    transport: Transport | str = Transport.AUTO,
    profile: str = Profile.LOW_LATENCY,
    **reader_kwargs: Any,
) -> dict[str, Any]:
    """Open ``url``, read the newest frame as fast as frames come for ``seconds``, report.

    Returns a dict with ``url`` (redacted), ``backend``, ``profile``, ``codec``, ``width``,
    ``height``, ``fps``, ``transport``, ``open_s``, ``first_frame_age_ms``, ``clock``,
    ``frames`` and ``age_ms`` (``p50``, ``p99``).

    Raises:
        RtspLabError: the stream could not be opened or read.

    Example:
        >>> probe("rtsp://127.0.0.1:8554/cam1", seconds=1)["clock"]  # doctest: +SKIP
        'timecode'
    """
    t0 = time.monotonic()
    with Reader(
        url,
        strategy="latest",
        backend=backend,
        transport=transport,
        profile=profile,
        **reader_kwargs,
    ) as r:
        frames = [r.read_frame(fresh=True)]
        while time.monotonic() - t0 < seconds:
            try:
                frames.append(r.read_frame(fresh=True))
            except ReadTimeout:
                break
        ages = np.array([f.age_ms for f in frames])
        fps_measured = (len(frames) - 1) / max(
            1e-9, (frames[-1].t_read_ns - frames[0].t_read_ns) / 1e9
        )
        return {
            "url": r.url.redacted,
            "backend": backend,
            "profile": profile,
            "codec": r.info.codec,
            "width": r.info.width or int(frames[0].image.shape[1]),
            "height": r.info.height or int(frames[0].image.shape[0]),
            "fps": round(r.info.fps, 3) if r.info.fps and r.info.fps < 1000 else None,
            "fps_measured": round(fps_measured, 2),
            "transport": r.transport_used.value,
            "open_s": round(r.open_s, 3),
            "first_frame_age_ms": round(frames[0].age_ms, 1),
            "clock": frames[-1].clock.value,
            "frames": len(frames),
            "age_ms": {
                "p50": round(float(np.percentile(ages, 50)), 1),
                "p99": round(float(np.percentile(ages, 99)), 1),
            },
        }


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
    from rtsplab.diagnose import has_source_clock

    true_ages = has_source_clock(report)  # else anchored at arrival: not ages, maybe < 0
    for key, value in report.items():
        shown = (
            ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
        )
        if key in ("first_frame_age_ms", "age_ms") and not true_ages:
            shown = "n/a (no source clock)"
        print(f"{key:>20}: {shown}")
    return 0
