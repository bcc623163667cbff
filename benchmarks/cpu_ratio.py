"""CPU per stream of each backend against a bare PyAV demux + decode loop of the same stream.

One simulated camera per frame size (child process) is read, one stream at a time, by a fresh
subprocess per entry, which reports its own CPU time (``getrusage``, all threads) over the
measured wall time, in cores:

- ``bare``: ``av.open`` with the low-latency options, ``thread_count=1``, demux + decode,
  nothing else: the decode cost floor;
- ``bare_bgr``: the same plus ``to_ndarray(format="bgr24")`` of every frame (what any reader
  handing out BGR images must add);
- ``native``, ``pyav``, ``opencv``: ``rtsplab.open(url, backend=...)``, ``latest``, the
  consumer takes every new frame (``read_frame(fresh=True)``).

``ratio`` = entry cores / ``bare`` cores of the same size. Results:
``data/bench_cpu_ratio.json`` (with the machine description) and ``data/bench_cpu_ratio.csv``.

Usage::

    .venv/bin/python benchmarks/cpu_ratio.py --seconds 20
    .venv/bin/python benchmarks/cpu_ratio.py --sizes 640x360 --entries bare,native --seconds 5

Example:
    >>> parse_args(["--entries", "bare,native"]).entries
    ['bare', 'native']
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, cpu_seconds, machine_info

RESULT_PREFIX = "RESULT "
ENTRIES = ("bare", "bare_bgr", "native", "pyav", "opencv")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (``--child`` is internal: run one entry and print its result).

    Example:
        >>> parse_args([]).sizes
        [(640, 360), (1920, 1080)]
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--sizes",
        type=lambda s: [tuple(int(v) for v in x.split("x")) for x in s.split(",")],
        default=[(640, 360), (1920, 1080)],
    )
    p.add_argument("--entries", type=lambda s: s.split(","), default=list(ENTRIES))
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per entry")
    p.add_argument("--warmup-s", type=float, default=2.0)
    p.add_argument("--out-dir", type=Path, default=REPO / "data")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _bare(url: str, seconds: float, warmup_s: float, bgr: bool) -> tuple[int, float, float]:
    import av

    from rtsplab.backends.base import LOW_LATENCY_OPTIONS

    options = {"rtsp_transport": "tcp", **LOW_LATENCY_OPTIONS}
    frames, t_start, cpu0 = 0, 0.0, 0.0
    t0 = time.monotonic()
    with av.open(url, options=options, timeout=(10, 5)) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        for packet in container.demux(stream):
            for frame in packet.decode():
                if bgr:
                    frame.to_ndarray(format="bgr24")
                now = time.monotonic()
                if now - t0 < warmup_s:
                    continue
                if not t_start:
                    t_start, cpu0 = now, cpu_seconds()
                    continue
                frames += 1
                if now - t_start >= seconds:
                    return frames, now - t_start, cpu_seconds() - cpu0
    raise RuntimeError("the stream ended early")


def _reader(url: str, backend: str, seconds: float, warmup_s: float) -> tuple[int, float, float]:
    import rtsplab

    frames, t_start, cpu0 = 0, 0.0, 0.0
    t0 = time.monotonic()
    with rtsplab.open(url, backend=backend, transport="tcp", read_timeout_s=5) as r:
        while True:
            r.read_frame(fresh=True)
            now = time.monotonic()
            if now - t0 < warmup_s:
                continue
            if not t_start:
                t_start, cpu0 = now, cpu_seconds()
                continue
            frames += 1
            if now - t_start >= seconds:
                return frames, now - t_start, cpu_seconds() - cpu0


def run_entry(entry: str, url: str, seconds: float, warmup_s: float) -> dict[str, Any]:
    """Read ``url`` with ``entry`` in this process; frames, wall and CPU of the measured part."""
    if entry in ("bare", "bare_bgr"):
        frames, wall_s, cpu_s = _bare(url, seconds, warmup_s, bgr=entry == "bare_bgr")
    else:
        frames, wall_s, cpu_s = _reader(url, entry, seconds, warmup_s)
    return {
        "entry": entry,
        "frames": frames,
        "fps": round(frames / wall_s, 2),
        "cores": round(cpu_s / wall_s, 4),
        "cpu_ms_per_frame": round(1000 * cpu_s / max(1, frames), 3),
    }


def _child(entry: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", entry, "--url", url]
    cmd += ["--seconds", str(args.seconds), "--warmup-s", str(args.warmup_s)]
    timeout_s = 60 + args.seconds + args.warmup_s
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"entry": entry, "error": f"timed out after {timeout_s:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    return {"entry": entry, "error": proc.stderr.strip()[-300:] or "no result"}


def main(argv: list[str] | None = None) -> int:
    """Measure every entry at every size; write JSON and CSV.

    Example:
        >>> main(["--sizes", "320x180", "--seconds", "1"])  # doctest: +SKIP
        0
    """
    args = parse_args(argv)
    if args.child:
        print(
            RESULT_PREFIX + json.dumps(run_entry(args.child, args.url, args.seconds, args.warmup_s))
        )
        return 0
    from rtsplab.sim import SimCamera, SimServer

    rows: list[dict[str, Any]] = []
    for w, h in args.sizes:
        cam = SimCamera("cam1", size=(w, h), bitrate=max(1_000_000, w * h * 3))
        with SimServer([cam], port=0, process=True) as srv:
            size_rows = [
                {"size": f"{w}x{h}", **_child(e, srv.url("cam1"), args)} for e in args.entries
            ]
        bare = next((r["cores"] for r in size_rows if r["entry"] == "bare" and "cores" in r), None)
        for r in size_rows:
            r["ratio"] = round(r["cores"] / bare, 2) if bare and "cores" in r else None
            print(json.dumps(r), flush=True)
        rows += size_rows
    args.out_dir.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "cpu_ratio",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(
            ["benchmarks/cpu_ratio.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": machine_info(),
        "seconds": args.seconds,
        "rows": rows,
    }
    (args.out_dir / "bench_cpu_ratio.json").write_text(json.dumps(result, indent=1))
    columns = ["size", "entry", "frames", "fps", "cores", "cpu_ms_per_frame", "ratio", "error"]
    with (args.out_dir / "bench_cpu_ratio.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: r.get(k, "") for k in columns} for r in rows)
    print(f"wrote {args.out_dir}/bench_cpu_ratio.json, .csv", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
