"""Frame age of the FFmpeg backends over lossy UDP, for several RTP reorder-wait settings.

When a UDP packet is missing, FFmpeg's RTSP demuxer holds the packets behind it in its
reorder queue until the gap is filled, ``reorder_queue_size`` packets have queued, or
``max_delay`` microseconds have passed. A lost packet is never filled, so each loss costs a
wait of up to ``max_delay``: that wait shows up in the p99 of the frame age.

For each loss rate, a simulated camera (child process, UDP only) is read with ``latest`` and
fresh reads by each FFmpeg backend, once per setting of the low-latency profile. Ages come
from the timecode burned into each frame.

Usage::

    .venv/bin/python benchmarks/reorder_wait.py --seconds 8 --out data/bench_reorder_wait.json
    .venv/bin/python benchmarks/reorder_wait.py --max-delay-us 500000,50000 --loss 0,0.02

Example:
    >>> parse_args(["--loss", "0,0.02"]).loss
    [0.0, 0.02]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, machine_info, summarize_ages


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    Example:
        >>> parse_args([]).backends
        ['pyav', 'opencv']
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=8.0, help="measured seconds per setting")
    p.add_argument("--warmup-s", type=float, default=1.0)
    p.add_argument("--loss", type=_floats, default=[0.0, 0.02], help="UDP loss rates")
    p.add_argument(
        "--max-delay-us", type=_ints, default=[500_000, 100_000, 50_000], help="max_delay values"
    )
    p.add_argument(
        "--reorder-queue", type=_ints, default=[-1], help="reorder_queue_size values (-1: FFmpeg's)"
    )
    p.add_argument("--backends", type=lambda s: s.split(","), default=["pyav", "opencv"])
    p.add_argument("--out", type=Path, default=REPO / "data" / "bench_reorder_wait.json")
    return p.parse_args(argv)


def measure(url: str, backend: str, seconds: float, warmup_s: float) -> dict[str, Any]:
    """Fresh ``latest`` reads of ``url`` over UDP; age statistics after ``warmup_s``."""
    import rtsplab
    from rtsplab.errors import ReadTimeout

    ages: list[float] = []
    t_s: list[float] = []
    with rtsplab.open(url, backend=backend, transport="udp", open_timeout_s=10) as r:
        t0 = time.monotonic()
        while (now := time.monotonic() - t0) < warmup_s + seconds:
            try:
                f = r.read_frame(fresh=True)
            except ReadTimeout:
                continue
            if now >= warmup_s and f.clock.value == "timecode":
                ages.append(f.age_ms)
                t_s.append(now)
    return {"frames": len(ages), **summarize_ages(ages, t_s)}


def main(argv: list[str] | None = None) -> int:
    """Run every (loss, max_delay, reorder_queue_size, backend) setting; write JSON.

    Example:
        >>> main(["--seconds", "0"])  # doctest: +SKIP
        0
    """
    args = parse_args(argv)
    from rtsplab.backends import base
    from rtsplab.sim import SimCamera, SimServer

    saved = dict(base.LOW_LATENCY_OPTIONS)
    rows: list[dict[str, Any]] = []
    try:
        for loss in args.loss:
            cam = SimCamera("cam1", loss=loss)
            with SimServer([cam], port=0, allow_tcp=False, process=True) as srv:
                for max_delay in args.max_delay_us:
                    for queue in args.reorder_queue:
                        base.LOW_LATENCY_OPTIONS.clear()
                        base.LOW_LATENCY_OPTIONS.update(saved, max_delay=str(max_delay))
                        if queue >= 0:
                            base.LOW_LATENCY_OPTIONS["reorder_queue_size"] = str(queue)
                        for backend in args.backends:
                            res = measure(srv.url("cam1"), backend, args.seconds, args.warmup_s)
                            row = dict(
                                backend=backend, loss=loss, max_delay_us=max_delay,
                                reorder_queue_size=queue, **res,
                            )  # fmt: skip
                            rows.append(row)
                            print(json.dumps(row), flush=True)
    finally:
        base.LOW_LATENCY_OPTIONS.clear()
        base.LOW_LATENCY_OPTIONS.update(saved)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "reorder_wait",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["benchmarks/reorder_wait.py", *(argv or sys.argv[1:])]),
        "machine": machine_info(),
        "seconds": args.seconds,
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
