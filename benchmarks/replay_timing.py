"""How faithfully a replay reproduces a recorded session: inter-arrival times and frame ages.

A simulated camera (child process; 640x360, 30 fps, 1 Mbit/s) is recorded for ``--seconds``
by rtsplab's native reader (``capture=``). The capture is then served by ``rtsplab sim
--replay`` (its own process) and read again the same way, recorded too. Both files are
compared packet by packet (matched by RTP sequence number, within the first loop):

- ``gap_error_ms``: |inter-arrival time in the replay - the same in the recording|;
- ``age_ms``: each frame's age, its arrival (capture time of its marker packet) minus its
  source time from the RTCP sender report before it, in both files: the replay moves the
  reports to its clock, so the ages should agree.

Both files carry the reading thread's own scheduling noise (arrival stamps are taken where
the reader parses each packet), so the error is an upper bound on the replay's. Results:
``data/bench_replay_timing.json`` (with the machine description).

Usage::

    .venv/bin/python benchmarks/replay_timing.py --seconds 20
    .venv/bin/python benchmarks/replay_timing.py --seconds 5 --transport udp

Example:
    >>> parse_args(["--seconds", "5"]).seconds
    5.0
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, free_port, machine_info

from rtsplab.capture_file import CapturedSession, load_session
from rtsplab.sim.external import stop_pid, wait_port

NTP_UNIX_S = 2_208_988_800


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    Example:
        >>> parse_args([]).transport
        'tcp'
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="recorded (and replayed) seconds")
    p.add_argument("--transport", choices=("tcp", "udp"), default="tcp")
    p.add_argument("--out-dir", type=Path, default=REPO / "data")
    return p.parse_args(argv)


def frame_ages_ms(session: CapturedSession) -> np.ndarray:
    """Age of each frame: marker packet's capture time - source time from the last SR.

    Example:
        >>> frame_ages_ms(load_session("cam1.pcapng")).size > 0  # doctest: +SKIP
        True
    """
    clock = session.tracks[0].clock_rate
    sr: tuple[int, int] | None = None
    ages = []
    for p in session.packets:
        if p.track != 0:
            continue
        if p.rtcp:
            off = 0
            while off + 20 <= len(p.payload):
                size = (struct.unpack_from(">H", p.payload, off + 2)[0] + 1) * 4
                if p.payload[off + 1] == 200:
                    ntp, rtp_ts = struct.unpack_from(">QI", p.payload, off + 8)
                    unix = ((ntp >> 32) - NTP_UNIX_S) * 10**9 + ((ntp & 0xFFFFFFFF) * 10**9 >> 32)
                    sr = (unix, rtp_ts)
                off += size
        elif sr is not None and len(p.payload) >= 12 and p.payload[1] & 0x80:
            (ts,) = struct.unpack_from(">I", p.payload, 4)
            delta = ((ts - sr[1] + 2**31) % 2**32) - 2**31
            ages.append((p.t_ns - sr[0] - delta * 10**9 // clock) / 1e6)
    return np.array(ages)


def gaps_by_seq(session: CapturedSession) -> dict[int, float]:
    """Inter-arrival time (ms) before each RTP packet, by sequence number.

    Example:
        >>> gaps_by_seq(load_session("cam1.pcapng"))  # doctest: +SKIP
        {1235: 0.01, ...}
    """
    out: dict[int, float] = {}
    last = None
    for p in session.packets:
        if p.track == 0 and not p.rtcp and len(p.payload) >= 12:
            seq = struct.unpack_from(">H", p.payload, 2)[0]
            if last is not None:
                out[seq] = (p.t_ns - last) / 1e6
            last = p.t_ns
    return out


def read_recorded(url: str, path: Path, seconds: float, transport: str) -> None:
    """Read ``url`` for ``seconds``, taking every new frame, recording to ``path``."""
    import rtsplab

    with rtsplab.open(url, capture=path, transport=transport, timecode=False) as reader:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            reader.read_frame(fresh=True)


def pct(values: np.ndarray) -> dict[str, float]:
    return {f"p{q}": round(float(np.percentile(values, q)), 3) for q in (50, 90, 99)}


def main(argv: list[str] | None = None) -> int:
    """Record, replay, compare; print and write ``data/bench_replay_timing.json``."""
    args = parse_args(argv)
    from rtsplab.sim import SimCamera, SimServer

    with tempfile.TemporaryDirectory() as tmp:
        original, replayed = Path(tmp) / "cam1.pcapng", Path(tmp) / "replay" / "cam1.pcapng"
        camera = SimCamera("cam1", fps=30, size=(640, 360), bitrate=1_000_000)
        with SimServer([camera], process=True) as srv:
            read_recorded(srv.urls[0], original, args.seconds, args.transport)
        port = free_port()
        cmd = [sys.executable, "-m", "rtsplab.cli", "sim", "--port", str(port)]
        proc = subprocess.Popen([*cmd, "--replay", str(original)], stdout=subprocess.PIPE)
        try:
            wait_port(port, 20, proc)
            url = f"rtsp://127.0.0.1:{port}/cam1"
            read_recorded(url, replayed, args.seconds * 0.95, args.transport)
        finally:
            stop_pid(proc)
        a, b = load_session(original), load_session(replayed)
        ga, gb = gaps_by_seq(a), gaps_by_seq(b)
        common = sorted(set(ga) & set(gb))
        error = np.abs(np.array([gb[s] - ga[s] for s in common]))
        age_a, age_b = frame_ages_ms(a), frame_ages_ms(b)
        sizes = original.stat().st_size
    summary = {
        "packets_compared": len(common),
        "gap_error_ms": pct(error),
        "age_ms": {"recorded": pct(age_a), "replayed": pct(age_b)},
        "age_p50_difference_ms": round(float(np.median(age_b) - np.median(age_a)), 3),
        "capture_mb_per_min": round(sizes / 1e6 / (a.duration_s / 60), 2),
    }
    result = {
        "benchmark": "replay_timing",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine_info(),
        "summary": summary,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "bench_replay_timing.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
