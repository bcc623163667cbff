"""Frame age of the native client over interleaved TCP and over UDP, H.264 and H.265, clean
and with UDP packet loss.

A simulated camera (child process, so its encoder does not share our GIL) is read with the
``latest`` strategy in a tight loop of ``read_frame(fresh=True)``: each read returns the next
frame as soon as it is decoded, so its age (from the timecode burned into the picture) is the
whole path, encoder + network + reorder wait + decode. Also counts frames whose timecode does
not read back (a smeared picture) and the packets lost.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/native_transports.py --seconds 8
    PYTHONPATH=. .venv/bin/python benchmarks/native_transports.py --loss 0,0.02 --backends native,pyav

Example:
    >>> parse_args(["--loss", "0,0.02"]).loss
    [0.0, 0.02]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, machine_info, summarize_ages


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    Example:
        >>> parse_args([]).transports
        ['tcp', 'udp']
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=8.0, help="measured seconds per case")
    p.add_argument("--warmup-s", type=float, default=1.0)
    p.add_argument("--codecs", type=lambda t: t.split(","), default=["h264", "h265"])
    p.add_argument("--transports", type=lambda t: t.split(","), default=["tcp", "udp"])
    p.add_argument("--backends", type=lambda t: t.split(","), default=["native"])
    p.add_argument("--loss", type=lambda t: [float(x) for x in t.split(",")], default=[0.0])
    p.add_argument("--out", type=Path, default=REPO / "data" / "bench_native_transports.json")
    return p.parse_args(argv)


def measure(
    url: str, backend: str, transport: str, seconds: float, warmup_s: float
) -> dict[str, Any]:
    """Ages of fresh frames read in a tight loop, and the frames that did not read back."""
    import rtsplab
    from rtsplab.errors import ReadTimeout

    with rtsplab.open(url, backend=backend, transport=transport, strategy="latest") as r:
        t_end_warmup = time.monotonic() + warmup_s
        while time.monotonic() < t_end_warmup:
            with contextlib.suppress(ReadTimeout):
                r.read_frame(fresh=True, timeout_s=2.0)
        lost0 = r.lost_packets
        ages, t_s, smeared, stalls = [], [], 0, 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            try:
                f = r.read_frame(fresh=True, timeout_s=2.0)
            except ReadTimeout:
                stalls += 1
                continue
            if f.clock.value == "timecode":
                ages.append(f.age_ms)
                t_s.append(time.monotonic() - t0)
            else:
                smeared += 1
        return {
            "backend_used": r.backend_used,
            "frames": len(ages) + smeared,
            "fps": round((len(ages) + smeared) / seconds, 1),
            "smeared_frames": smeared,
            "read_timeouts": stalls,
            "lost_packets": r.lost_packets - lost0,
            **summarize_ages(ages, t_s),
        }


def main(argv: list[str] | None = None) -> None:
    """Run every case and write the JSON."""
    from rtsplab.sim import SimCamera, SimServer

    args = parse_args(argv)
    rows = []
    for codec in args.codecs:
        for loss in args.loss:
            cam = SimCamera("cam1", codec=codec, loss=loss)
            with SimServer([cam], process=True) as srv:
                for transport in args.transports:
                    if loss and transport == "tcp":
                        continue  # TCP does not lose packets
                    for backend in args.backends:
                        row = {
                            "codec": codec,
                            "loss": loss,
                            "transport": transport,
                            "backend": backend,
                        }
                        row.update(
                            measure(
                                srv.url("cam1"), backend, transport, args.seconds, args.warmup_s
                            )
                        )
                        print(json.dumps(row), flush=True)
                        rows.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "native_transports",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "seconds": args.seconds,
        "rows": rows,
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
