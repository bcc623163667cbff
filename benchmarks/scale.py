"""Scale curve: N readers of one simulated camera, per backend: frame age, CPU, open time.

One simulated camera per frame size is encoded once, in a child process
(``SimServer(process=True)``), and served to every reader. For each backend and each N, a
fresh subprocess opens N streams of it as one group (``rtsplab.open_group``, ``latest``,
opened in parallel), reads fresh sets for ``--seconds`` after ``--warmup-s``, and reports:

- ``age_p50_ms`` / ``age_p99_ms``: frame age at hand-out, from the timecode burned into each
  frame (every frame of every set);
- ``cores``: CPU time of the reading process (all threads, ``getrusage``) over the measured
  wall time, and ``cores_per_stream`` = ``cores / N``; ``server_cores`` is the simulator's
  (encode once + send N times), measured over the same interval with psutil;
- ``open_s``: wall time of ``open_group`` (all N opens, in parallel);
- past the knee: ``worst_stream_p99_ms`` (the worst stream's own age p99),
  ``streams_delivering`` (streams that decoded a frame while measured), ``frames_skipped`` /
  ``skipped_pct`` (frames skipped undecoded to keyframes, :mod:`rtsplab.rtsp.overload`),
  ``overloaded_streams``, and for the native backend ``decode_cores`` / ``policy_cores``
  (CPU inside the decoder, the interpreter lock released, and inside the skip decision).
  ``--no-catch-up`` measures the readers without the skipping.

Results: ``data/bench_scale.json`` (with the machine description), ``data/bench_scale.csv``
and ``data/bench_scale.png``.

Usage::

    .venv/bin/python benchmarks/scale.py                       # the full curve (long)
    .venv/bin/python benchmarks/scale.py --sizes 640x360:1,2 --backends native --seconds 3

Example:
    >>> parse_sizes("640x360:1,2;1920x1080:4")
    [((640, 360), [1, 2]), ((1920, 1080), [4])]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, cpu_seconds, machine_info, summarize_ages

RESULT_PREFIX = "RESULT "
DEFAULT_SIZES = "640x360:1,2,4,8,16,24,32,48,64,96,128;1920x1080:1,2,4,8,12,16,24,32,40"
CSV_COLUMNS = (
    "size", "backend", "n", "open_s", "sets", "frames", "age_p50_ms", "age_p99_ms",
    "age_max_ms", "worst_stream_p99_ms", "streams_delivering", "frames_decoded",
    "frames_skipped", "skipped_pct", "overloaded_streams", "cores", "cores_per_stream",
    "decode_cores", "policy_cores", "server_cores", "error",
)  # fmt: skip


def parse_sizes(text: str) -> list[tuple[tuple[int, int], list[int]]]:
    """``"WxH:n1,n2;WxH:n3"`` -> ``[((W, H), [n1, n2]), ((W, H), [n3])]``.

    Example:
        >>> parse_sizes("320x180:1")
        [((320, 180), [1])]
    """
    out = []
    for part in text.split(";"):
        size, _, ns = part.strip().partition(":")
        w, h = (int(v) for v in size.lower().split("x"))
        out.append(((w, h), [int(n) for n in ns.split(",") if n.strip()]))
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (``--child`` is internal: run one point and print its result).

    Example:
        >>> parse_args([]).backends
        ['native', 'pyav', 'opencv']
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES))
    p.add_argument("--backends", type=lambda s: s.split(","), default=["native", "pyav", "opencv"])
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per point")
    p.add_argument("--warmup-s", type=float, default=2.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--out-dir", type=Path, default=REPO / "data")
    p.add_argument("--name", default="bench_scale", help="file name stem of the results")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--backend", default="native", help=argparse.SUPPRESS)
    p.add_argument("--server-pid", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument(
        "--no-catch-up",
        action="store_true",
        help="readers decode their whole backlog (the behaviour before rtsplab.rtsp.overload)",
    )
    return p.parse_args(argv)


def run_point(
    url: str,
    n: int,
    backend: str,
    seconds: float,
    warmup_s: float,
    server_pid: int = 0,
    catch_up: bool = True,
) -> dict[str, Any]:
    """Open ``n`` streams of ``url`` as a group with ``backend``; measure (in this process)."""
    import psutil

    import rtsplab
    from rtsplab.errors import ReadTimeout

    server = psutil.Process(server_pid) if server_pid else None
    spent = _time_native_steps() if backend == "native" else None
    if not catch_up:
        from rtsplab.readers import Reader

        def adopt(self: Any, opened: Any) -> Any:
            opened.catchup = None
            return opened

        Reader._adopt = adopt  # type: ignore[method-assign]
    t0 = time.monotonic_ns()
    names = [f"r{i}" for i in range(n)]
    with rtsplab.open_group(
        [url] * n, names=names, backend=backend, open_timeout_s=30.0, read_timeout_s=5.0
    ) as g:
        open_s = (time.monotonic_ns() - t0) / 1e9
        end_warmup = time.monotonic() + warmup_s
        while time.monotonic() < end_warmup:
            with contextlib.suppress(ReadTimeout):
                g.read_set(fresh=True)
        ages: list[float] = []
        t_s: list[float] = []
        by_stream: dict[str, list[float]] = {name: [] for name in names}
        sets = 0
        skipped0 = sum(r.frames_skipped for r in g.readers)
        decoded0 = sum(r.frames_decoded for r in g.readers)
        before = {r.name: r.frames_decoded for r in g.readers}
        cpu0, srv0 = cpu_seconds(), _cpu_of(server)
        spent0 = dict(spent) if spent is not None else {}
        start_ns = time.monotonic_ns()
        while (now_ns := time.monotonic_ns()) - start_ns < seconds * 1e9:
            try:
                fs = g.read_set(fresh=True)
            except ReadTimeout:
                continue
            sets += 1
            for name, f in fs.frames.items():
                if f.clock.value == "timecode":
                    ages.append(f.age_ms)
                    by_stream[name].append(f.age_ms)
                    t_s.append((now_ns - start_ns) / 1e9)
        wall_s = (time.monotonic_ns() - start_ns) / 1e9
        cores = (cpu_seconds() - cpu0) / wall_s
        server_cores = (_cpu_of(server) - srv0) / wall_s if server else None
        used = sorted({r.backend_used for r in g.readers})
        skipped = sum(r.frames_skipped for r in g.readers) - skipped0
        decoded = sum(r.frames_decoded for r in g.readers) - decoded0
        delivering = sum(r.frames_decoded > before[r.name] for r in g.readers)
        overloaded = sum(r.state.value == "overloaded" for r in g.readers)
        steps = {
            f"{k}_cores": round((v - spent0[k]) / 1e9 / wall_s, 3) for k, v in (spent or {}).items()
        }
    stats = summarize_ages(ages, t_s)
    p99s = [summarize_ages(a, a)["age_p99_ms"] for a in by_stream.values() if a]
    return {
        "n": n, "backend": backend, "backend_used": ",".join(used), "open_s": round(open_s, 3),
        "sets": sets, "frames": len(ages), "age_p50_ms": stats["age_p50_ms"],
        "age_p99_ms": stats["age_p99_ms"], "age_max_ms": stats["age_max_ms"],
        "cores": round(cores, 3), "cores_per_stream": round(cores / n, 4),
        "server_cores": None if server_cores is None else round(server_cores, 3),
        "worst_stream_p99_ms": max(p99s) if p99s else None,
        "streams_delivering": delivering,
        "frames_decoded": decoded, "frames_skipped": skipped,
        "skipped_pct": round(100 * skipped / (skipped + decoded), 1) if skipped + decoded else 0.0,
        "overloaded_streams": overloaded, **steps,
    }  # fmt: skip


def _time_native_steps() -> dict[str, int]:
    """Count the CPU time (of the calling thread, ns) the native readers spend decoding (FFmpeg,
    the interpreter lock released) and in the catch-up decision, for ``decode_cores`` and
    ``policy_cores``: the rest of the process's CPU is Python per packet, the policy, the
    group and the consumer."""
    from rtsplab.backends.native import NativeBackend

    spent = {"decode": 0, "policy": 0}
    clock = time.thread_time_ns

    def timed(name: str, method: Any) -> Any:
        def wrapper(*args: Any) -> Any:
            t0 = clock()
            try:
                return method(*args)
            finally:
                spent[name] += clock() - t0  # one reader thread at a time holds the lock here

        return wrapper

    NativeBackend._decode = timed("decode", NativeBackend._decode)  # type: ignore[method-assign]
    NativeBackend._admit = timed("policy", NativeBackend._admit)  # type: ignore[method-assign]
    return spent


def _cpu_of(proc: Any) -> float:
    if proc is None:
        return 0.0
    t = proc.cpu_times()
    return float(t.user + t.system)


def _child_point(
    args: argparse.Namespace, url: str, n: int, backend: str, pid: int
) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--url", url, "--n", str(n), "--backend", backend]
    cmd += ["--seconds", str(args.seconds), "--warmup-s", str(args.warmup_s)]
    cmd += ["--server-pid", str(pid)] + (["--no-catch-up"] if args.no_catch_up else [])
    timeout_s = 120 + args.seconds + args.warmup_s
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"n": n, "backend": backend, "error": f"timed out after {timeout_s:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    return {"n": n, "backend": backend, "error": proc.stderr.strip()[-300:] or "no result"}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Age p99, cores per stream, open time and frames skipped against N, one panel row per
    frame size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r["size"] for r in rows}, key=lambda s: int(s.split("x")[0]))
    fig, axes = plt.subplots(len(sizes), 4, figsize=(17, 3.6 * len(sizes)), squeeze=False)
    for row_axes, size in zip(axes, sizes, strict=True):
        for k, backend in enumerate(sorted({r["backend"] for r in rows})):
            color = f"C{k}"
            pts = [
                r
                for r in rows
                if r["size"] == size and r["backend"] == backend and not r.get("error")
            ]
            pts.sort(key=lambda r: r["n"])
            ns = [r["n"] for r in pts]
            row_axes[0].plot(
                ns, [r["age_p99_ms"] for r in pts], "o-", c=color, label=f"{backend} p99"
            )
            row_axes[0].plot(
                ns, [r["age_p50_ms"] for r in pts], "x--", c=color, label=f"{backend} p50"
            )
            row_axes[1].plot(ns, [r["cores_per_stream"] for r in pts], "o-", c=color, label=backend)
            row_axes[2].plot(ns, [r["open_s"] for r in pts], "o-", c=color, label=backend)
            skipped = [r.get("skipped_pct", 0.0) or 0.0 for r in pts]
            row_axes[3].plot(ns, skipped, "o-", c=color, label=backend)
        row_axes[0].axhline(100, color="grey", lw=0.8, ls=":")
        row_axes[0].set(title=f"{size}: frame age", xlabel="streams", ylabel="ms")
        row_axes[1].set(title=f"{size}: reader CPU per stream", xlabel="streams", ylabel="cores")
        row_axes[2].set(title=f"{size}: open time (parallel)", xlabel="streams", ylabel="s")
        row_axes[3].set(
            title=f"{size}: frames skipped to keyframes", xlabel="streams", ylabel="% of frames"
        )
        for ax in row_axes:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the curve (or, with ``--child``, one point) and write the results.

    Example:
        >>> main(["--sizes", "320x180:1", "--seconds", "1"])  # doctest: +SKIP
        0
    """
    args = parse_args(argv)
    if args.child:
        result = run_point(
            args.url,
            args.n,
            args.backend,
            args.seconds,
            args.warmup_s,
            args.server_pid,
            not args.no_catch_up,
        )
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0
    from rtsplab.sim import SimCamera, SimServer

    rows: list[dict[str, Any]] = []
    for (w, h), ns in args.sizes:
        bitrate = max(1_000_000, w * h * 3)  # ~0.7 Mbit/s at 640x360 ... 6 Mbit/s at 1080p
        cam = SimCamera("cam1", fps=args.fps, size=(w, h), bitrate=bitrate)
        with SimServer([cam], port=0, process=True) as srv:
            pid = srv.pid
            for backend in args.backends:
                for n in ns:
                    row = {
                        "size": f"{w}x{h}",
                        **_child_point(args, srv.url("cam1"), n, backend, pid),
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = args.out_dir / args.name
    result = {
        "benchmark": "scale",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["benchmarks/scale.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_info(),
        "seconds": args.seconds,
        "warmup_s": args.warmup_s,
        "fps": args.fps,
        "catch_up": not args.no_catch_up,
        "rows": rows,
    }
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1))
    with stem.with_suffix(".csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r.get(k, "") for k in CSV_COLUMNS})
    plot(rows, stem.with_suffix(".png"))
    print(f"wrote {stem}.json, .csv, .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
