"""How faithfully a replay reproduces a recorded session, measured on the wire.

A simulated camera (child process; 640x360, 30 fps, 1 Mbit/s) is recorded for ``--seconds``
by rtsplab's native reader (``capture=``; arrival times are the kernel's receive timestamps,
:mod:`rtsplab.backends.rxtime`). The capture is then served by ``rtsplab sim --replay`` (its
own process) and read again by a plain reader. Both sessions are also captured off the
loopback interface by Wireshark's ``dumpcap`` (kernel timestamps; needs root or
``cap_net_raw``), an independent witness of what was sent when. Compared packet by packet
(RTP sequence number, within the first loop):

- ``gap_error_ms``: |inter-arrival time on the wire during the replay - the same in the
  capture file|: what the replay was asked to reproduce against what it did;
- ``age_ms``: each frame's age, its arrival (time of its marker packet) minus its source
  time from the RTCP sender report before it: in the capture file and on the wire during the
  replay (the replay moves the reports to its clock, so the ages should agree);
- ``stamp_error_ms``: |arrival time in the capture file - time on the wire while recording|:
  how exactly the recorder stamps (TCP: a read's stamp is its last segment's).

Nothing of the readers' scheduling enters these numbers: the reader's own timing is neither
in the capture file (kernel stamps) nor on the wire. Results: ``data/bench_replay_timing.json``
(with the machine description).

Usage::

    .venv/bin/python benchmarks/replay_timing.py --seconds 20
    .venv/bin/python benchmarks/replay_timing.py --seconds 5 --transport udp

Example:
    >>> parse_args(["--seconds", "5"]).seconds
    5.0
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from capture.analysis import arrival_gaps_ms, arrival_times_ns, frame_times, wire_filter
from capture.wire import WireCapture
from common import REPO, free_port, write_result

from rtsplab.capture_file import load_session
from rtsplab.sim.external import stop_pid, wait_port


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


def read_recorded(url: str, path: Path | None, seconds: float, transport: str) -> None:
    """Read ``url`` for ``seconds``, taking every new frame, recording to ``path`` (if any)."""
    import rtsplab

    with rtsplab.open(url, capture=path, transport=transport, timecode=False) as reader:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            reader.read_frame(fresh=True)


def pct(values: np.ndarray) -> dict[str, float]:
    """p50, p90 and p99 of ``values``, rounded to µs.

    Example:
        >>> pct(np.arange(101.0))
        {'p50': 50.0, 'p90': 90.0, 'p99': 99.0}
    """
    return {f"p{q}": round(float(np.percentile(values, q)), 3) for q in (50, 90, 99)}


def main(argv: list[str] | None = None) -> int:
    """Record, replay, compare; print and write ``data/bench_replay_timing.json``."""
    args = parse_args(argv)
    from rtsplab.sim import SimCamera, SimServer

    dumpcap = shutil.which("dumpcap")
    if dumpcap is None:
        print("dumpcap is missing: sudo apt-get install -y tshark", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        original = Path(tmp) / "cam1.pcapng"
        camera = SimCamera("cam1", fps=30, size=(640, 360), bitrate=1_000_000)
        with SimServer([camera], process=True) as srv:
            live_filter = wire_filter(srv.port, args.transport)
            with WireCapture(dumpcap, Path(tmp) / "wire-live.pcapng", live_filter) as live:
                read_recorded(srv.urls[0], original, args.seconds, args.transport)
        port = free_port()
        cmd = [sys.executable, "-m", "rtsplab.cli", "sim", "--port", str(port)]
        proc = subprocess.Popen([*cmd, "--replay", str(original)], stdout=subprocess.PIPE)
        try:
            wait_port(port, 20, proc)
            url = f"rtsp://127.0.0.1:{port}/cam1"
            replay_filter = wire_filter(port, args.transport)
            with WireCapture(dumpcap, Path(tmp) / "wire-replay.pcapng", replay_filter) as wire:
                read_recorded(url, None, args.seconds * 0.95, args.transport)
        finally:
            stop_pid(proc)
        rec, on_wire, live_wire = (
            load_session(original),
            load_session(wire.path),
            load_session(live.path),
        )
        g_rec, g_wire = arrival_gaps_ms(rec), arrival_gaps_ms(on_wire)
        common = sorted(set(g_rec) & set(g_wire))
        error = np.abs(np.array([g_wire[s] - g_rec[s] for s in common]))
        t_rec, t_live = arrival_times_ns(rec), arrival_times_ns(live_wire)
        stamped = sorted(set(t_rec) & set(t_live))
        stamp_error = np.abs(np.array([t_rec[s] - t_live[s] for s in stamped])) / 1e6
        age_rec, age_wire = frame_times(rec).age_ms, frame_times(on_wire).age_ms
        size = original.stat().st_size
    summary = {
        "packets_compared": len(common),
        "gap_error_ms": pct(error),
        "age_ms": {"recorded": pct(age_rec), "replayed_on_wire": pct(age_wire)},
        "age_p50_difference_ms": round(float(np.median(age_wire) - np.median(age_rec)), 3),
        "stamp_error_ms": pct(stamp_error),
        "capture_mb_per_min": round(size / 1e6 / (rec.duration_s / 60), 2),
    }
    write_result("replay_timing", args, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
