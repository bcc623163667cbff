"""What hostile input costs the client's sans-IO parsers: memory held, CPU spent.

Three floods, each fed straight into the parsers (no sockets, so the numbers are the
parsers' own):

- **fragment flood**: FU-A fragments with a start bit and then never an end bit, 64 MB in
  1400-byte packets, into an :class:`~rtsplab.rtsp.receiver.RtpReceiver`; once with one RTP
  timestamp for all packets, once with a new timestamp on every packet. Memory held is the
  traced Python heap (``tracemalloc``) at the end of the flood and at its peak, and the
  growth of the process' resident set over an untraced run.
- **tiny NAL units**: STAP-A packets of 64 NAL units of 2 bytes each, 3.2 MB on the wire,
  one access unit (no marker bit): memory held by the receiver at the end.
- **dribbled head**: a 64 KB RTSP reply head (just under the 64 KiB cap) fed to
  :class:`~rtsplab.rtsp.messages.MessageReader` one byte at a time, ``next()`` after each
  byte, against the same number of bytes dribbled as the reply's body: process CPU time.

Usage::

    .venv/bin/python benchmarks/hostile_input.py --out data/bench_hostile.json
    .venv/bin/python benchmarks/hostile_input.py --flood-mb 8 --head-bytes 16000   # quick

Example:
    >>> parse_args(["--flood-mb", "8"]).flood_mb
    8
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, machine_info

from rtsplab.rtsp.h264 import H264Depacketizer
from rtsplab.rtsp.messages import MessageReader
from rtsplab.rtsp.receiver import RtpReceiver
from rtsplab.rtsp.rtp import RtpHeader

PACKET_BYTES = 1400
NALS_PER_STAP = 64
MB = 1_000_000


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _held(run: Callable[[], object]) -> dict[str, float]:
    """Traced heap held by what ``run`` returns (and its peak while running), in MB; and the
    growth of the resident set over a second run without tracing, what ``top`` shows."""
    rss0 = _rss_bytes()
    keep = run()
    rss_growth = _rss_bytes() - rss0
    del keep
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        t0 = time.process_time()
        keep = run()
        cpu_s = time.process_time() - t0
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del keep
    return {
        "held_mb": round((current - base) / MB, 2),
        "peak_mb": round((peak - base) / MB, 2),
        "cpu_s": round(cpu_s, 2),
        "rss_growth_mb": round(rss_growth / MB, 2),
    }


def fragment_flood(total_bytes: int, new_timestamp_each: bool) -> RtpReceiver:
    """Feed ``total_bytes`` of FU-A fragments that never end; return the receiver.

    Example:
        >>> fragment_flood(20_000, False).bad_packets
        0
    """
    rx = RtpReceiver(H264Depacketizer(), payload_type=96)
    body = bytes(PACKET_BYTES - 12 - 2)
    sent, seq = 0, 0
    while sent < total_bytes:
        fu = 0x85 if seq == 0 else 0x05  # start bit on the first, never an end bit
        ts = seq * 3000 if new_timestamp_each else 0
        packet = RtpHeader(96, seq & 0xFFFF, ts, 7).pack() + bytes((0x7C, fu)) + body
        rx.on_rtp(packet)
        sent += len(packet)
        seq += 1
    return rx


def tiny_nal_flood(total_bytes: int) -> RtpReceiver:
    """Feed ``total_bytes`` of STAP-A packets holding 2-byte NAL units, no marker bit.

    Example:
        >>> tiny_nal_flood(10_000).pull() is None
        True
    """
    rx = RtpReceiver(H264Depacketizer(), payload_type=96)
    stap = b"\x18" + b"\x00\x02\x41\x9a" * NALS_PER_STAP
    sent, seq = 0, 0
    while sent < total_bytes:
        packet = RtpHeader(96, seq & 0xFFFF, 0, 7).pack() + stap
        rx.on_rtp(packet)
        sent += len(packet)
        seq += 1
    return rx


def dribble(head_bytes: int, as_body: bool) -> float:
    """CPU seconds to feed a reply of ``head_bytes`` one byte at a time, reading after each.

    With ``as_body`` the same bytes are the reply's body (behind a short head) instead of
    header lines.

    Example:
        >>> dribble(2000, as_body=False) >= 0
        True
    """
    if as_body:
        body = b"x" * head_bytes
        data = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    else:
        lines, size = [b"RTSP/1.0 200 OK", b"CSeq: 1"], 26
        while size < head_bytes:
            line = b"X-Pad-%05d: %s" % (len(lines), b"y" * 60)
            lines.append(line)
            size += len(line) + 2
        data = b"\r\n".join(lines) + b"\r\n\r\n"
    reader = MessageReader()
    t0 = time.process_time()
    got = None
    for i in range(len(data)):
        reader.feed(data[i : i + 1])
        got = reader.next() or got
    cpu_s = time.process_time() - t0
    assert got is not None, "the reply never completed"
    return cpu_s


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    Example:
        >>> parse_args([]).head_bytes
        64000
    """
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--flood-mb", type=int, default=64, help="size of each fragment flood, MB")
    p.add_argument("--tiny-mb", type=float, default=3.2, help="size of the STAP-A flood, MB")
    p.add_argument("--head-bytes", type=int, default=64_000, help="size of the dribbled head")
    p.add_argument("--out", type=Path, default=REPO / "data" / "bench_hostile.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the three floods and write the JSON.

    Example:
        >>> main(["--flood-mb", "1", "--tiny-mb", "0.1", "--head-bytes", "999", "--out", "/dev/null"])["head_bytes"]
        999
    """
    args = parse_args(argv)
    flood = args.flood_mb * MB
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "flood_bytes": flood,
        "fragment_flood_one_timestamp": _held(lambda: fragment_flood(flood, False)),
        "fragment_flood_new_timestamps": _held(lambda: fragment_flood(flood, True)),
        "tiny_nal_bytes": int(args.tiny_mb * MB),
        "tiny_nal_flood": _held(lambda: tiny_nal_flood(int(args.tiny_mb * MB))),
        "head_bytes": args.head_bytes,
        "dribbled_head_cpu_s": round(dribble(args.head_bytes, as_body=False), 3),
        "dribbled_body_cpu_s": round(dribble(args.head_bytes, as_body=True), 3),
    }
    if str(args.out) != "/dev/null":
        args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    return result


if __name__ == "__main__":
    main()
