"""Shared benchmark plumbing: the test server, frame-age sampling, statistics, machine info.

Frame age is always measured the same way, whatever the reader: the source burns its
wall-clock capture time into every frame (:mod:`rtsplab.timecode`), and the age of a frame
is ``time.time_ns()`` at the moment the reader hands it to the consumer minus that time.
Nothing here trusts RTP/RTCP timestamps or a reader's own bookkeeping.

Example:
    >>> summarize_ages([10.0, 20.0, 30.0], [0.0, 1.0, 2.0])["age_p50_ms"]
    20.0
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rtsplab.sim.external import GstServer, free_port, start_gst_server

REPO = Path(__file__).resolve().parents[1]

__all__ = [
    "GstServer",
    "Sampler",
    "busy_wait",
    "cpu_seconds",
    "free_port",
    "machine_info",
    "start_gst_server",
    "summarize_ages",
    "write_result",
]


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (all its threads), in seconds.

    Example:
        >>> cpu_seconds() > 0
        True
    """
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def busy_wait(duration_s: float) -> None:
    """Spin (holding the GIL) for ``duration_s``: a consumer doing pure-Python work.

    Example:
        >>> busy_wait(0.001)
    """
    end_ns = time.monotonic_ns() + int(duration_s * 1e9)
    while time.monotonic_ns() < end_ns:
        pass


@dataclass
class Sampler:
    """Records the true age of every frame handed to the consumer.

    Attributes:
        warmup_s: samples in the first ``warmup_s`` after the first frame are not kept.
        t0_ns: ``time.monotonic_ns()`` of the first frame (set by :meth:`add`).

    Example:
        >>> import numpy as np
        >>> from rtsplab.timecode import write_timecode
        >>> s = Sampler(warmup_s=0.0)
        >>> img = np.zeros((360, 640, 3), np.uint8)
        >>> write_timecode(img, time.time_ns(), 7)
        >>> s.add(img)
        True
        >>> s.seqs
        [7]
    """

    warmup_s: float = 2.0
    t0_ns: int | None = None
    t_s: list[float] = field(default_factory=list)
    ages_ms: list[float] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    handouts: int = 0
    undecodable: int = 0
    cpu_start_s: float = 0.0
    cpu_end_s: float = 0.0
    wall_start_ns: int = 0
    wall_end_ns: int = 0

    def add(self, image: npt.NDArray[np.uint8] | None) -> bool:
        """Record one hand-out; ``False`` if the image is missing or has no readable timecode.

        Example:
            >>> Sampler().add(None)
            False
        """
        from rtsplab.timecode import read_timecode

        now_wall_ns = time.time_ns()
        now_ns = time.monotonic_ns()
        if image is None:
            return False
        tc = read_timecode(image)
        if self.t0_ns is None:
            self.t0_ns = now_ns
        t_s = (now_ns - self.t0_ns) / 1e9
        if t_s < self.warmup_s:
            return tc is not None
        if not self.handouts:
            self.cpu_start_s, self.wall_start_ns = cpu_seconds(), now_ns
        self.handouts += 1
        self.cpu_end_s, self.wall_end_ns = cpu_seconds(), now_ns
        if tc is None:
            self.undecodable += 1
            return False
        self.t_s.append(t_s)
        self.ages_ms.append((now_wall_ns - tc.t_ns) / 1e6)
        self.seqs.append(tc.seq)
        return True

    def measured_s(self) -> float:
        """Seconds since the end of the warm-up (0 before it ends).

        Example:
            >>> Sampler().measured_s()
            0.0
        """
        if self.t0_ns is None:
            return 0.0
        return max(0.0, (time.monotonic_ns() - self.t0_ns) / 1e9 - self.warmup_s)

    def result(self) -> dict[str, Any]:
        """Statistics of the kept samples (see :func:`summarize_ages`) plus frame counts.

        Example:
            >>> Sampler().result()["frames"]
            0
        """
        out = summarize_ages(self.ages_ms, self.t_s)
        seqs = self.seqs
        unique = len(set(seqs))
        skipped = sum(max(0, b - a - 1) for a, b in itertools.pairwise(seqs))
        wall_s = (self.wall_end_ns - self.wall_start_ns) / 1e9
        out.update(
            frames=self.handouts,
            unique_frames=unique,
            repeated_frames=len(seqs) - unique,
            skipped_source_frames=skipped,
            undecodable=self.undecodable,
            handout_fps=round(self.handouts / wall_s, 2) if wall_s > 0 else None,
            cpu_s=round(self.cpu_end_s - self.cpu_start_s, 3),
            cpu_pct=round(100 * (self.cpu_end_s - self.cpu_start_s) / wall_s, 1)
            if wall_s > 0
            else None,
            measured_s=round(wall_s, 3),
        )
        return out


def summarize_ages(ages_ms: list[float], t_s: list[float]) -> dict[str, Any]:
    """Percentiles of frame age and its growth (least-squares slope of age over time, ms/s).

    Example:
        >>> summarize_ages([100.0, 600.0, 1100.0], [0.0, 1.0, 2.0])["age_slope_ms_per_s"]
        500.0
        >>> summarize_ages([], [])["age_p50_ms"] is None
        True
    """
    if not ages_ms:
        keys = ("age_p50_ms", "age_p95_ms", "age_p99_ms", "age_max_ms", "age_min_ms")
        return {**dict.fromkeys(keys), "age_last_ms": None, "age_slope_ms_per_s": None}
    a = np.asarray(ages_ms, dtype=float)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    slope = None
    if len(a) >= 3 and max(t_s) - min(t_s) > 0.5:
        slope = round(float(np.polyfit(np.asarray(t_s, dtype=float), a, 1)[0]), 1)
    return {
        "age_p50_ms": round(float(p50), 1),
        "age_p95_ms": round(float(p95), 1),
        "age_p99_ms": round(float(p99), 1),
        "age_max_ms": round(float(a.max()), 1),
        "age_min_ms": round(float(a.min()), 1),
        "age_last_ms": round(float(a[-1]), 1),
        "age_slope_ms_per_s": slope,
    }


def _first_match(pattern: str, text: str) -> str | None:
    m = re.search(pattern, text, re.MULTILINE)
    return m.group(1).strip() if m else None


def machine_info() -> dict[str, Any]:
    """CPU, cores, kernel, Python and the versions of the video libraries in use.

    Example:
        >>> "cores" in machine_info()
        True
    """
    info: dict[str, Any] = {
        "cpu_model": None,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu_model"] = _first_match(r"^model name\s*:\s*(.+)$", cpuinfo)
    except OSError:
        pass
    try:
        import cv2

        build = cv2.getBuildInformation()
        info["cv2"] = cv2.__version__
        info["cv2_avcodec"] = _first_match(r"avcodec:\s*(.+)$", build)
        info["cv2_avformat"] = _first_match(r"avformat:\s*(.+)$", build)
    except ImportError:
        info["cv2"] = None
    try:
        import av

        info["av"] = av.__version__
        info["av_ffmpeg"] = ".".join(str(x) for x in av.library_versions.get("libavformat", ()))
    except ImportError:
        info["av"] = None
    try:
        gst = subprocess.run(
            ["gst-launch-1.0", "--version"], capture_output=True, text=True, timeout=10
        ).stdout
        info["gstreamer"] = _first_match(r"GStreamer\s+(\S+)", gst)
    except (OSError, subprocess.TimeoutExpired):
        info["gstreamer"] = None
    return info


def write_result(
    name: str, args: argparse.Namespace, summary: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """Write ``<args.out_dir>/bench_<name>.json`` (when, config, machine, summary, ``extra``),
    print the summary, return what was written.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     out = write_result("x", argparse.Namespace(out_dir=Path(d)), {"p50": 1.0})
        ...     sorted(json.loads((Path(d) / "bench_x.json").read_text()))
        {
         "p50": 1.0
        }
        ['benchmark', 'config', 'machine', 'summary', 'when']
    """
    result = {
        "benchmark": name,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine_info(),
        "summary": summary,
        **extra,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"bench_{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return result
