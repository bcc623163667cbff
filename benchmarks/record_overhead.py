"""What recording a session costs the reader: frame age and CPU, recorded against unrecorded.

One simulated camera (child process, 640x360, 30 fps, 1 Mbit/s) is read by a fresh
subprocess per run with the native backend over ``--transport``, strategy ``latest``, taking
every new frame (``read_frame(fresh=True)``). Runs alternate *plain* and *recorded*
(``capture=`` a pcapng file), ``--pairs`` times, so a change of load on the machine hits both
alike. Age is measured from the timecode burned into each frame (``benchmarks/common.py``),
CPU with ``getrusage`` over the measured part of the run (all threads). The result gives the
median of each and the recorded/plain ratios, and the capture's size per minute.

Results: ``data/bench_record_overhead.json`` (with the machine description).

Usage::

    .venv/bin/python benchmarks/record_overhead.py --pairs 5 --seconds 20
    .venv/bin/python benchmarks/record_overhead.py --pairs 2 --seconds 5   # a quick look

Example:
    >>> parse_args(["--pairs", "2"]).pairs
    2
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Sampler, cpu_seconds, write_result

RESULT_PREFIX = "RESULT "


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (``--child`` is internal: one run, its result on stdout).

    Example:
        >>> parse_args([]).seconds
        20.0
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=5, help="plain/recorded run pairs")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run")
    p.add_argument("--warmup-s", type=float, default=2.0)
    p.add_argument("--transport", choices=("tcp", "udp"), default="tcp")
    p.add_argument("--out-dir", type=Path, default=REPO / "data")
    p.add_argument("--child", choices=("plain", "recorded"), help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--capture", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    """One run in this process: read for warm-up + ``seconds``, sample age and CPU."""
    import rtsplab

    capture = args.capture if args.child == "recorded" else None
    sampler = Sampler(warmup_s=args.warmup_s)
    with rtsplab.open(
        args.url, backend="native", transport=args.transport, capture=capture, read_timeout_s=5
    ) as reader:
        started = False
        while True:
            frame = reader.read_frame(fresh=True)
            sampler.add(frame.image)
            if not started and sampler.measured_s() > 0:
                started = True
                sampler.cpu_start_s, sampler.wall_start_ns = cpu_seconds(), time.monotonic_ns()
            if sampler.measured_s() >= args.seconds:
                sampler.cpu_end_s, sampler.wall_end_ns = cpu_seconds(), time.monotonic_ns()
                break
        cap = reader.capture
    out = sampler.result()
    out["mode"] = args.child
    if cap is not None and cap.path is not None:
        out["capture_bytes"] = cap.path.stat().st_size
        out["rtp_packets"] = cap.rtp_packets
    return out


def _run(mode: str, url: str, capture: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", mode, "--url", url, "--capture", str(capture)]
    cmd += ["--seconds", str(args.seconds), "--warmup-s", str(args.warmup_s)]
    cmd += ["--transport", args.transport]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=90 + args.seconds, check=False
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    return {"mode": mode, "error": proc.stderr.strip()[-300:] or "no result"}


def main(argv: list[str] | None = None) -> int:
    """Run the pairs, print a summary, write ``data/bench_record_overhead.json``."""
    args = parse_args(argv)
    if args.child:
        print(RESULT_PREFIX + json.dumps(run_child(args)), flush=True)
        return 0
    from rtsplab.sim import SimCamera, SimServer

    rows: list[dict[str, Any]] = []
    camera = SimCamera("cam1", fps=30, size=(640, 360), bitrate=1_000_000)
    with SimServer([camera], process=True) as srv, tempfile.TemporaryDirectory() as tmp:
        for i in range(args.pairs):
            for mode in ("plain", "recorded") if i % 2 == 0 else ("recorded", "plain"):
                row = _run(mode, srv.urls[0], Path(tmp) / f"run{i}.pcapng", args)
                row["pair"] = i
                rows.append(row)
                print(
                    json.dumps(
                        {k: row.get(k) for k in ("pair", "mode", "age_p50_ms", "cpu_pct", "error")}
                    )
                )
    ok = [r for r in rows if "error" not in r]

    def med(mode: str, key: str) -> float | None:
        values = [r[key] for r in ok if r["mode"] == mode and r.get(key) is not None]
        return statistics.median(values) if values else None

    summary: dict[str, Any] = {}
    for key in ("age_p50_ms", "age_p95_ms", "cpu_pct"):
        plain, recorded = med("plain", key), med("recorded", key)
        summary[key] = {"plain": plain, "recorded": recorded}
        if plain and recorded:
            summary[key]["ratio"] = round(recorded / plain, 3)
    rec = [r for r in ok if r["mode"] == "recorded" and r.get("capture_bytes")]
    if rec:
        mb_per_min = [r["capture_bytes"] / 1e6 / ((args.seconds + args.warmup_s) / 60) for r in rec]
        summary["capture_mb_per_min"] = round(statistics.median(mb_per_min), 2)
    write_result("record_overhead", args, summary, runs=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
