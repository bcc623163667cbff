"""A group that loses a camera: sets per second from the live cameras, time back to whole sets.

Serves ``--cameras`` simulated cameras (rtsplab's simulator in child processes; the last one
on a server of its own), reads them as a group with ``read_set(fresh=True)``, kills the last
camera's server (SIGKILL) for ``--down-s`` seconds, restarts it on the same port, and
measures, per backend and ``on_missing``:

- ``sets_per_s_down``: sets handed out while the camera was dead (each with a fresh frame
  from every live camera);
- ``detect_s``: kill -> first set that names the dead camera missing;
- ``live_age_p50_ms`` before and during the outage (the live cameras must not suffer);
- ``back_s``: server listening again -> first whole set.

Usage::

    .venv/bin/python benchmarks/degraded_group.py --out data/degraded_group.json
    .venv/bin/python benchmarks/degraded_group.py --backends native --repeats 1 --down-s 3

Example:
    >>> parse_args(["--backends", "native,pyav"]).backends
    ['native', 'pyav']
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, free_port, machine_info

import rtsplab
from rtsplab.errors import RtspLabError
from rtsplab.sim import SimCamera, SimServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    Example:
        >>> parse_args([]).cameras
        2
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", type=lambda s: s.split(","), default=["opencv", "pyav", "native"])
    p.add_argument("--on-missing", type=lambda s: s.split(","), default=["partial", "stale"])
    p.add_argument("--cameras", type=int, default=2)
    p.add_argument("--down-s", type=float, default=5.0, help="how long the camera stays dead")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-backoff-s", type=float, default=None, help="reconnect cap (group's)")
    p.add_argument("--size", default="640x360")
    p.add_argument("--out", type=Path, default=REPO / "data" / "degraded_group.json")
    return p.parse_args(argv)


def _ages(fs: rtsplab.FrameSet) -> list[float]:
    return [f.age_ms for f in fs if not f.stale]


def run_once(backend: str, on_missing: str, args: argparse.Namespace) -> dict[str, Any]:
    """One kill-and-return cycle; returns its measurements."""
    w, h = (int(v) for v in args.size.split("x"))
    names = [f"cam{i + 1}" for i in range(args.cameras)]
    port = free_port()
    live_srv = SimServer([SimCamera(n, size=(w, h)) for n in names[:-1]], process=True)
    victim = SimServer([SimCamera(names[-1], size=(w, h))], port=port, process=True)
    backoff = {} if args.max_backoff_s is None else {"max_backoff_s": args.max_backoff_s}
    g = rtsplab.open_group(
        [*live_srv.urls, victim.url(names[-1])], backend=backend, on_missing=on_missing,
        reconnect=True, read_timeout_s=1.0, **backoff,
    )  # fmt: skip
    try:
        t_end = time.monotonic() + 10
        while not g.read_set(fresh=True, timeout_s=3).whole and time.monotonic() < t_end:
            pass
        before: list[float] = []
        t_end = time.monotonic() + 2.0
        while time.monotonic() < t_end:
            before += _ages(g.read_set(fresh=True, timeout_s=1.0))
        victim.kill()
        t_kill = time.monotonic()
        sets, detect_s, during = 0, None, []
        while time.monotonic() - t_kill < args.down_s:
            fs = g.read_set(fresh=True, timeout_s=1.0)
            sets += 1
            if fs.missing and detect_s is None:
                detect_s = time.monotonic() - t_kill
            during += _ages(fs)
        victim = SimServer([SimCamera(names[-1], size=(w, h))], port=port, process=True)
        t_back = time.monotonic()
        back_s = None
        while time.monotonic() - t_back < 20:
            try:
                if g.read_set(fresh=True, timeout_s=1.0).whole:
                    back_s = time.monotonic() - t_back
                    break
            except RtspLabError:
                continue
        return {
            "backend": backend,
            "on_missing": on_missing,
            "sets_per_s_down": sets / args.down_s,
            "detect_s": detect_s,
            "live_age_p50_ms_before": statistics.median(before),
            "live_age_p50_ms_down": statistics.median(during),
            "back_s": back_s,
        }
    finally:
        g.close()
        live_srv.close()
        victim.close()


def main(argv: list[str] | None = None) -> int:
    """Run every (backend, on_missing) ``--repeats`` times; write runs and medians as JSON."""
    args = parse_args(argv)
    runs: list[dict[str, Any]] = []
    for backend in args.backends:
        for on_missing in args.on_missing:
            for _ in range(args.repeats):
                r = run_once(backend, on_missing, args)
                print(json.dumps(r), flush=True)
                runs.append(r)
    summary = []
    for backend in args.backends:
        for on_missing in args.on_missing:
            rs = [r for r in runs if r["backend"] == backend and r["on_missing"] == on_missing]
            row: dict[str, Any] = {"backend": backend, "on_missing": on_missing}
            for key in ("sets_per_s_down", "detect_s", "back_s", "live_age_p50_ms_down"):
                values = [r[key] for r in rs if r[key] is not None]
                row[f"{key}_median"] = statistics.median(values) if values else None
            row["back_s_max"] = max(
                (r["back_s"] for r in rs if r["back_s"] is not None), default=None
            )
            summary.append(row)
    result = {
        "benchmark": "degraded_group",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine_info(),
        "summary": summary,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for row in summary:
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
