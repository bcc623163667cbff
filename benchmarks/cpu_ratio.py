"""CPU per stream of each backend against a bare PyAV demux + decode loop of the same stream.

One simulated camera per frame size (child process) is read, one stream at a time, by a fresh
subprocess per entry, which reports its own CPU time (``getrusage``, all threads) over the
measured wall time, in cores. Each consumer pattern is measured (``--consumer-ms``): ``0`` is
a tight loop taking every new frame, ``60`` a consumer that spends 60 ms per frame (so
``latest`` hands out about every second frame of a 30 fps camera and drops the rest).

- ``bare``: ``av.open`` with the low-latency options, ``thread_count=1``, demux + decode,
  nothing else: the decode cost floor (the same for every consumer pattern, measured once);
- ``bare_bgr``: the same loop plus the BGR conversion (``to_ndarray(format="bgr24")``) of
  the frames a consumer of that pattern takes: every frame in a tight loop, else, every
  ``consumer_ms``, the newest frame decoded by then (what ``latest`` hands out);
- ``native``, ``pyav``, ``opencv``: ``rtsplab.open(url, backend=...)``, ``latest``,
  ``read_frame(fresh=True)`` then ``consumer_ms`` of sleep.

``ratio`` = entry cores / ``bare`` cores of the same size; ``ratio_bgr`` = entry cores /
``bare_bgr`` cores of the same size and consumer, the like-for-like comparison for a reader
that hands out BGR images. ``handed`` counts the frames taken by the consumer, ``frames`` the
frames decoded. Results: ``data/bench_cpu_ratio.json`` (with the machine description) and
``data/bench_cpu_ratio.csv``.

Usage::

    .venv/bin/python benchmarks/cpu_ratio.py --seconds 20
    .venv/bin/python benchmarks/cpu_ratio.py --sizes 640x360 --entries bare,native --seconds 5

Example:
    >>> args = parse_args(["--entries", "bare,native", "--consumer-ms", "0,60"])
    >>> args.entries, args.consumer_ms
    (['bare', 'native'], [0.0, 60.0])
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
    p.add_argument(
        "--consumer-ms",
        type=lambda s: [float(v) for v in s.split(",")],
        default=[0.0, 60.0],
        help="consumer patterns: ms spent per frame taken (0: a tight loop)",
    )
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per entry")
    p.add_argument("--warmup-s", type=float, default=2.0)
    p.add_argument("--out-dir", type=Path, default=REPO / "data")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    return p.parse_args(argv)


class _Meter:
    """Frames and CPU over the measured part of a run (after ``warmup_s``)."""

    def __init__(self, seconds: float, warmup_s: float) -> None:
        self.seconds, self.warmup_s = seconds, warmup_s
        self.t0 = time.monotonic()
        self.t_start = self.cpu0 = 0.0
        self.frames = self.handed = 0

    def tick(self, frames: int, handed: int) -> bool:
        """Count ``frames`` decoded and ``handed`` taken; True once the measured time is over."""
        now = time.monotonic()
        if now - self.t0 < self.warmup_s:
            return False
        if not self.t_start:
            self.t_start, self.cpu0 = now, cpu_seconds()
            return False
        self.frames += frames
        self.handed += handed
        return now - self.t_start >= self.seconds

    def result(self) -> tuple[int, int, float, float]:
        return self.frames, self.handed, time.monotonic() - self.t_start, cpu_seconds() - self.cpu0


def _bare(
    url: str, seconds: float, warmup_s: float, bgr: bool, consumer_ms: float
) -> tuple[int, int, float, float]:
    import av

    from rtsplab.backends.base import LOW_LATENCY_OPTIONS

    options = {"rtsp_transport": "tcp", **LOW_LATENCY_OPTIONS}
    meter = _Meter(seconds, warmup_s)
    wake_s = 0.0  # when the simulated consumer next looks for a frame (monotonic)
    newest: Any = None  # the newest frame decoded and not taken yet
    with av.open(url, options=options, timeout=(10, 5)) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        for packet in container.demux(stream):
            for frame in packet.decode():
                now = time.monotonic()
                handed = 0
                if bgr and not consumer_ms:  # a tight loop takes every frame
                    frame.to_ndarray(format="bgr24")
                    handed = 1
                elif bgr:
                    if newest is not None and now >= wake_s:
                        # the consumer woke at wake_s and took the newest frame decoded by then
                        newest.to_ndarray(format="bgr24")
                        handed = 1
                        wake_s = max(wake_s + consumer_ms / 1e3, now)
                    newest = frame
                if meter.tick(1, handed):
                    return meter.result()
    raise RuntimeError("the stream ended early")


def _reader(
    url: str, backend: str, seconds: float, warmup_s: float, consumer_ms: float
) -> tuple[int, int, float, float]:
    import rtsplab

    meter = _Meter(seconds, warmup_s)
    with rtsplab.open(url, backend=backend, transport="tcp", read_timeout_s=5) as r:
        decoded = r.frames_decoded
        while True:
            r.read_frame(fresh=True)
            if consumer_ms:
                time.sleep(consumer_ms / 1e3)
            now_decoded = r.frames_decoded
            if meter.tick(now_decoded - decoded, 1):
                return meter.result()
            decoded = now_decoded


def run_entry(
    entry: str, url: str, seconds: float, warmup_s: float, consumer_ms: float = 0.0
) -> dict[str, Any]:
    """Read ``url`` with ``entry`` in this process; frames, wall and CPU of the measured part."""
    if entry in ("bare", "bare_bgr"):
        frames, handed, wall_s, cpu_s = _bare(
            url, seconds, warmup_s, entry == "bare_bgr", consumer_ms
        )
    else:
        frames, handed, wall_s, cpu_s = _reader(url, entry, seconds, warmup_s, consumer_ms)
    return {
        "entry": entry,
        "consumer_ms": consumer_ms,
        "frames": frames,
        "handed": handed,
        "fps": round(frames / wall_s, 2),
        "cores": round(cpu_s / wall_s, 4),
        "cpu_ms_per_frame": round(1000 * cpu_s / max(1, frames), 3),
    }


def _child(entry: str, url: str, consumer_ms: float, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", entry, "--url", url]
    cmd += ["--seconds", str(args.seconds), "--warmup-s", str(args.warmup_s)]
    cmd += ["--consumer-ms", str(consumer_ms)]
    timeout_s = 60 + args.seconds + args.warmup_s
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {
            "entry": entry,
            "consumer_ms": consumer_ms,
            "error": f"timed out after {timeout_s:.0f} s",
        }
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    error = proc.stderr.strip()[-300:] or "no result"
    return {"entry": entry, "consumer_ms": consumer_ms, "error": error}


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Set ``ratio`` (vs ``bare``) and ``ratio_bgr`` (vs ``bare_bgr`` of the same consumer).

    Example:
        >>> rows = [{"entry": "bare", "consumer_ms": 0, "cores": 0.02},
        ...         {"entry": "bare_bgr", "consumer_ms": 0, "cores": 0.03},
        ...         {"entry": "native", "consumer_ms": 0, "cores": 0.033}]
        >>> add_ratios(rows); rows[2]["ratio"], rows[2]["ratio_bgr"]
        (1.65, 1.1)
    """
    bare = next((r["cores"] for r in rows if r["entry"] == "bare" and "cores" in r), None)
    bgr = {r["consumer_ms"]: r["cores"] for r in rows if r["entry"] == "bare_bgr" and "cores" in r}
    for r in rows:
        cores = r.get("cores")
        with_bgr = bgr.get(r["consumer_ms"])
        r["ratio"] = round(cores / bare, 2) if bare and cores is not None else None
        r["ratio_bgr"] = round(cores / with_bgr, 2) if with_bgr and cores is not None else None


def main(argv: list[str] | None = None) -> int:
    """Measure every entry at every size; write JSON and CSV.

    Example:
        >>> main(["--sizes", "320x180", "--seconds", "1"])  # doctest: +SKIP
        0
    """
    args = parse_args(argv)
    if args.child:
        result = run_entry(args.child, args.url, args.seconds, args.warmup_s, args.consumer_ms[0])
        print(RESULT_PREFIX + json.dumps(result))
        return 0
    from rtsplab.sim import SimCamera, SimServer

    rows: list[dict[str, Any]] = []
    for w, h in args.sizes:
        cam = SimCamera("cam1", size=(w, h), bitrate=max(1_000_000, w * h * 3))
        size_rows: list[dict[str, Any]] = []
        with SimServer([cam], port=0, process=True) as srv:
            bare: dict[str, Any] | None = None
            for consumer_ms in args.consumer_ms:
                for entry in args.entries:
                    if entry == "bare" and bare is not None:  # no consumer: measured once
                        size_rows.append({**bare, "consumer_ms": consumer_ms})
                        continue
                    row = {"size": f"{w}x{h}", **_child(entry, srv.url("cam1"), consumer_ms, args)}
                    if entry == "bare":
                        bare = row
                    size_rows.append(row)
        add_ratios(size_rows)
        for r in size_rows:
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
    columns = [
        "size",
        "consumer_ms",
        "entry",
        "frames",
        "handed",
        "fps",
        "cores",
        "cpu_ms_per_frame",
        "ratio",
        "ratio_bgr",
        "error",
    ]
    with (args.out_dir / "bench_cpu_ratio.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: r.get(k, "") for k in columns} for r in rows)
    print(f"wrote {args.out_dir}/bench_cpu_ratio.json, .csv", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
