"""CPU cost of the native backend's packet path (parse, validate, depacketize, assemble).

Feeds a packetized H.264 stream (sizes like the simulator's 640x360 at 1 Mbit/s, and a
4 Mbit/s 1080p-like one) through :class:`rtsplab.rtsp.receiver.RtpReceiver` in a loop and
reports microseconds per packet and per frame, clean and with 5 % malformed packets mixed in.
Writes ``data/bench_packet_path.json``.

Run: ``PYTHONPATH=. python benchmarks/packet_path.py [--seconds 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

from common import machine_info

from rtsplab.rtsp.h264 import H264Depacketizer, packetize_h264
from rtsplab.rtsp.receiver import RtpReceiver
from rtsplab.sim.malformed import KINDS, malformed_packet

OUT = Path(__file__).resolve().parents[1] / "data" / "bench_packet_path.json"


def stream(frame_bytes: int, gop: int, frames: int, bad_fraction: float) -> list[bytes]:
    """RTP packets for ``frames`` frames (an IDR 8x the size every ``gop``)."""
    rnd = random.Random(1)
    out: list[bytes] = []
    seq = 0
    for k in range(frames):
        size = frame_bytes * (8 if k % gop == 0 else 1)
        nal = (b"\x65" if k % gop == 0 else b"\x41") + os.urandom(size)
        pkts = packetize_h264([nal], seq, 3000 * k, 7)
        seq += len(pkts)
        out += pkts
        if rnd.random() < bad_fraction * len(pkts):
            bad = malformed_packet(rnd.choice(KINDS[:3] + KINDS[6:7]), 7, seq, 3000 * k)
            if not bad.rtcp:
                out.append(bad.data)
    return out


def run(seconds: float) -> dict[str, object]:
    cases = {
        "640x360@30 1 Mbit/s": (3_000, 30),
        "1080p@30 4 Mbit/s": (12_000, 30),
    }
    results: dict[str, object] = {}
    for name, (frame_bytes, gop) in cases.items():
        for bad_fraction in (0.0, 0.05):
            packets = stream(frame_bytes, gop, 300, bad_fraction)
            n_packets = n_frames = 0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                rx = RtpReceiver(H264Depacketizer(), payload_type=96)
                for p in packets:
                    rx.on_rtp(p)
                    while rx.pull() is not None:
                        n_frames += 1
                n_packets += len(packets)
            elapsed = time.perf_counter() - t0
            key = f"{name}, {bad_fraction:.0%} malformed"
            results[key] = {
                "us_per_packet": round(elapsed / n_packets * 1e6, 2),
                "us_per_frame": round(elapsed / max(1, n_frames) * 1e6, 1),
                "packets": n_packets,
            }
            print(f"{key:40s} {results[key]}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    report = {"machine": machine_info(), "results": run(args.seconds)}
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
