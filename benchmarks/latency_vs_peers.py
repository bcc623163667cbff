"""Frame age of popular "read the latest RTSP frame" recipes, measured end to end.

Serves a timecoded 640x360@30 H.264 stream from gst-rtsp-server (a fresh server per entry),
reads it with each entry in its own subprocess (so one library's threads and FFmpeg state never
affect the next) while a consumer spends ``--consumer-ms`` per frame, and reports the true age
of every frame handed to the consumer: ``time.time_ns()`` at hand-out minus the capture time
burned into the frame.

Usage::

    .venv/bin/python benchmarks/latency_vs_peers.py --seconds 10 --out data/bench_peers.json
    .venv/bin/python benchmarks/latency_vs_peers.py --entries naive,imutils --consumer-ms 60

Example:
    >>> parse_args(["--entries", "naive,imutils"]).entries
    ['naive', 'imutils']
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, machine_info, start_gst_server
from peers import ENTRIES, PEERS, RunConfig, run_entry

RESULT_PREFIX = "RESULT "


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (``--child`` is internal: run one entry and print its result).

    Example:
        >>> parse_args([]).seconds
        10.0
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per entry")
    p.add_argument("--warmup-s", type=float, default=2.0, help="unmeasured seconds first")
    p.add_argument("--consumer-ms", type=float, default=60.0, help="work per frame")
    p.add_argument("--consumer-mode", choices=("sleep", "busy"), default="sleep")
    p.add_argument(
        "--entries",
        type=lambda s: [e.strip() for e in s.split(",") if e.strip()],
        default=list(ENTRIES),
        help=f"comma-separated, from: {','.join(ENTRIES)} (default: all; peers: {','.join(PEERS)})",
    )
    p.add_argument("--out", type=Path, default=REPO / "data" / "bench_peers.json")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--size", default="640x360")
    p.add_argument("--bitrate-kbps", type=int, default=1000)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--url", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    unknown = [e for e in args.entries if e not in ENTRIES]
    if unknown:
        p.error(f"unknown entries {unknown}; choose from {list(ENTRIES)}")
    return args


def run_child(args: argparse.Namespace) -> int:
    """Child process: run one entry against ``--url`` and print ``RESULT <json>``."""
    cfg = RunConfig(
        url=args.url,
        seconds=args.seconds,
        consumer_ms=args.consumer_ms,
        consumer_mode=args.consumer_mode,
        warmup_s=args.warmup_s,
    )
    try:
        result = run_entry(ENTRIES[args.child], cfg)
    except Exception as exc:  # reported, not raised: the parent goes on with the next entry
        result = {"entry": args.child, "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # a library's non-daemon thread must not keep the child alive


def run_parent_entry(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """Start a fresh server, run entry ``name`` in a subprocess, return its result."""
    width, _, height = args.size.lower().partition("x")
    timeout_s = args.seconds + args.warmup_s + 60
    with (
        tempfile.TemporaryDirectory() as logs,
        start_gst_server(
            Path(logs),
            mounts=("cam1",),
            fps=args.fps,
            size=(int(width), int(height)),
            bitrate_kbps=args.bitrate_kbps,
        ) as server,
        tempfile.TemporaryFile() as err,
    ):
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            f"--child={name}",
            f"--url={server.url('cam1')}",
            f"--seconds={args.seconds}",
            f"--warmup-s={args.warmup_s}",
            f"--consumer-ms={args.consumer_ms}",
            f"--consumer-mode={args.consumer_mode}",
        ]
        env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_CAPTURE_OPTIONS"}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, text=True)
        try:
            out, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return {"entry": name, "error": f"timed out after {timeout_s:.0f}s"}
        for line in out.splitlines():
            if line.startswith(RESULT_PREFIX):
                result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
                return result
        err.seek(0)
        tail = err.read()[-800:].decode(errors="replace")
        return {"entry": name, "error": f"child exited {proc.returncode}: {tail}"}


def _fmt(value: Any, spec: str = ".0f") -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, float)):
        return format(value, spec)
    return str(value)


def format_table(results: list[dict[str, Any]]) -> str:
    """A fixed-width text table of the results.

    Example:
        >>> print(format_table([{"entry": "x", "skipped": "not installed"}]))  # doctest: +ELLIPSIS
        entry ...
        x ... skipped: not installed
    """
    cols = [
        ("entry", 20),
        ("p50", 7),
        ("p95", 7),
        ("p99", 7),
        ("max", 7),
        ("slope", 7),
        ("fps", 6),
        ("open_s", 7),
        ("first_s", 8),
        ("1st_age", 8),
        ("cpu%", 6),
    ]
    lines = [
        " ".join(name.ljust(w) if i == 0 else name.rjust(w) for i, (name, w) in enumerate(cols))
    ]
    lines[0] += "   (ages in ms, slope in ms/s)"
    for r in results:
        head = r["entry"].ljust(cols[0][1])
        if "skipped" in r or "error" in r:
            kind = "skipped" if "skipped" in r else "error"
            lines.append(f"{head} {kind}: {r[kind]}")
            continue
        values = [
            _fmt(r.get("age_p50_ms")),
            _fmt(r.get("age_p95_ms")),
            _fmt(r.get("age_p99_ms")),
            _fmt(r.get("age_max_ms")),
            _fmt(r.get("age_slope_ms_per_s")),
            _fmt(r.get("handout_fps"), ".1f"),
            _fmt(r.get("open_s"), ".2f"),
            _fmt(r.get("first_frame_s"), ".2f"),
            _fmt(r.get("first_frame_age_ms")),
            _fmt(r.get("cpu_pct")),
        ]
        cells = [v.rjust(w) for v, (_, w) in zip(values, cols[1:], strict=True)]
        lines.append(" ".join([head, *cells]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the selected entries and write the JSON report."""
    args = parse_args(argv)
    if args.child:
        return run_child(args)
    results = []
    for name in args.entries:
        t0 = time.monotonic()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        result = run_parent_entry(args, name)
        result["wall_s"] = round(time.monotonic() - t0, 1)
        results.append(result)
    report = {
        "benchmark": "latency_vs_peers",
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "config": {
            "server": "gst-rtsp-server (tests/servers/gst_rtsp_server.py), fresh per entry",
            "stream": f"H.264 {args.size}@{args.fps} {args.bitrate_kbps} kbit/s, GOP 1 s",
            "transport": "RTP over TCP (OpenCV's default for RTSP)",
            "seconds": args.seconds,
            "warmup_s": args.warmup_s,
            "consumer_ms": args.consumer_ms,
            "consumer_mode": args.consumer_mode,
            "age": "time.time_ns() at hand-out minus the capture time burned into the frame",
        },
        "entries": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(format_table(results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
