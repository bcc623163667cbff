"""Where a native reader's CPU goes, step by step, in µs per frame.

Part 1 measures each step of the per-frame path alone, single-threaded, with
``time.process_time`` over the same stream (the simulator's scene, timecode and libx264
encoder, one keyframe per second), so every number is the step's own cost:

- ``rtsp_framing``: splitting the interleaved TCP byte stream into RTP packets
  (:class:`~rtsplab.rtsp.messages.MessageReader`, fed 64 KiB at a time like ``recv``);
- ``rtp_to_access_unit``: RTP header parsing, depacketizing and assembly
  (:class:`~rtsplab.rtsp.receiver.RtpReceiver`) and the Annex B join handed to the decoder;
- ``decode``: PyAV's H.264 decoder, one thread, low delay;
- ``timecode_luma`` / ``timecode_bgr``: the timecode read from the decoder's Y plane (what
  readers do) and from the BGR image (what they did);
- ``bgr_to_bgr`` / ``bgr_to_ndarray``: the conversion readers use (:func:`rtsplab.backends.yuv.to_bgr`)
  and PyAV's ``to_ndarray(format="bgr24")``.

Part 2 profiles a real native reader (``naive`` strategy, so the whole path runs in the
profiled thread) reading the simulator for ``--seconds`` and lists the functions with the most
own time, in µs per frame (profiling inflates Python code about 2-3x, C calls much less).

Part 3 measures, unprofiled, the whole process' CPU per *decoded* frame of a native reader
(``time.process_time``, every thread; the simulator serves from a child process, so its
encoder is not counted) in two shapes: ``naive`` (every frame handed out, so each one is
stamped and converted) and ``latest`` with a consumer taking a fresh frame every 100 ms (most
frames are decoded and stamped but dropped unconverted: the saving of keeping YUV until a
frame is handed out), and that ``latest`` again with ``timecode=False`` (what a camera
without rtsplab's timecode costs). Each is run ``--repeats`` times; the least is kept.

Results: ``data/bench_frame_path.json`` with the machine description.

Usage::

    .venv/bin/python benchmarks/frame_path.py --seconds 10
    .venv/bin/python benchmarks/frame_path.py --sizes 640x360 --seconds 3 --reader-seconds 4  # short

Example:
    >>> parse_args(["--sizes", "640x360"]).sizes
    [(640, 360)]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, machine_info


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    Example:
        >>> parse_args([]).seconds
        10.0
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--sizes",
        type=lambda s: [tuple(int(v) for v in x.split("x")) for x in s.split(",")],
        default=[(640, 360), (1920, 1080)],
    )
    p.add_argument("--frames", type=int, default=90, help="frames encoded for part 1")
    p.add_argument("--seconds", type=float, default=10.0, help="profiled seconds for part 2")
    p.add_argument(
        "--reader-seconds", type=float, default=8.0, help="seconds per reader run of part 3"
    )
    p.add_argument("--repeats", type=int, default=3, help="reader runs of part 3 per shape")
    p.add_argument("--out", type=Path, default=REPO / "data" / "bench_frame_path.json")
    return p.parse_args(argv)


def _best_us(fn: Callable[[], int], repeats: int = 5) -> float:
    """Least CPU µs per frame over ``repeats`` runs of ``fn`` (which returns its frame count)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        n = fn()
        best = min(best, (time.process_time() - t0) / max(1, n))
    return round(best * 1e6, 1)


def steps(width: int, height: int, n_frames: int) -> dict[str, Any]:
    """Part 1: each step's own CPU µs per frame at ``width`` x ``height``."""
    import av

    from rtsplab.backends.yuv import luma_plane, to_bgr
    from rtsplab.rtsp.h264 import H264Depacketizer
    from rtsplab.rtsp.messages import MessageReader, interleave
    from rtsplab.rtsp.receiver import RtpReceiver
    from rtsplab.sim.media import H264Encoder
    from rtsplab.sim.scene import Scene
    from rtsplab.timecode import read_timecode

    enc = H264Encoder(width, height, fps=30, gop=30, bitrate=max(1_000_000, width * height * 3))
    scene = Scene("cam1", width, height)
    t0_ns = time.time_ns()
    packets: list[bytes] = []
    seq = 0
    for k in range(n_frames):
        nals, _ = enc.encode(scene.render(t0_ns + k * 33_333_333, k), pts_90k=k * 3000)
        pkts = H264Encoder.packetize(nals, seq, k * 3000, 7)
        seq += len(pkts)
        packets += pkts
    wire = b"".join(interleave(0, p) for p in packets)
    chunks = [wire[i : i + 65536] for i in range(0, len(wire), 65536)]

    def framing() -> int:
        reader = MessageReader()
        for chunk in chunks:
            reader.feed(chunk)
            while reader.next() is not None:
                pass
        return n_frames

    units: list[bytes] = []

    def assemble() -> int:
        units.clear()
        rx = RtpReceiver(H264Depacketizer(), 96)
        for p in packets:
            rx.on_rtp(p)
            while (au := rx.pull()) is not None:
                units.append(au.annexb())
        return len(units)

    frames: list[Any] = []

    def decode() -> int:
        frames.clear()
        dec: Any = av.CodecContext.create("h264", "r")
        dec.thread_count = 1
        dec.thread_type = "SLICE"
        dec.flags |= av.codec.context.Flags.low_delay
        for unit in units:
            frames.extend(dec.decode(av.Packet(unit)))
        return len(frames)

    result = {
        "size": f"{width}x{height}",
        "packets_per_frame": round(len(packets) / n_frames, 1),
        "bytes_per_frame": round(len(wire) / n_frames),
        "us_per_frame": {
            "rtsp_framing": _best_us(framing),
            "rtp_to_access_unit": _best_us(assemble),
            "decode": _best_us(decode),
        },
    }
    images = [to_bgr(f) for f in frames]
    assert all(
        read_timecode(luma_plane(f)) == read_timecode(i)
        for f, i in zip(frames, images, strict=True)
    )
    us = result["us_per_frame"]
    us["timecode_luma"] = _best_us(lambda: sum(1 for f in frames if read_timecode(luma_plane(f))))
    us["timecode_bgr"] = _best_us(lambda: sum(1 for i in images if read_timecode(i)))
    us["bgr_to_bgr"] = _best_us(lambda: len([to_bgr(f) for f in frames]))
    us["bgr_to_ndarray"] = _best_us(lambda: len([f.to_ndarray(format="bgr24") for f in frames]))
    return result


def profile(width: int, height: int, seconds: float, top: int = 25) -> dict[str, Any]:
    """Part 2: a cProfile of a native ``naive`` reader; top functions by own time, µs/frame."""
    import rtsplab
    from rtsplab.sim import SimCamera, SimServer

    cam = SimCamera("cam1", size=(width, height), bitrate=max(1_000_000, width * height * 3))
    prof = cProfile.Profile(time.process_time)
    with (
        SimServer([cam], port=0, process=True) as srv,
        rtsplab.open(srv.url("cam1"), backend="native", strategy="naive", transport="tcp") as r,
    ):
        for _ in range(30):  # warm-up
            r.read_frame()
        n = 0
        cpu0, t_end = time.process_time(), time.monotonic() + seconds
        prof.enable()
        while time.monotonic() < t_end:
            r.read_frame()
            n += 1
        prof.disable()
        cpu_s = time.process_time() - cpu0
    stats: Any = pstats.Stats(prof).stats
    rows = []
    for (path, line, func), (_, calls, own_s, cum_s, _) in stats.items():
        where = f"{Path(path).name}:{line}({func})" if line else func
        own_us, cum_us = round(own_s / n * 1e6, 1), round(cum_s / n * 1e6, 1)
        rows.append(
            {
                "function": where,
                "calls_per_frame": round(calls / n, 2),
                "own_us": own_us,
                "cum_us": cum_us,
            }
        )
    rows.sort(key=lambda row: -row["own_us"])
    return {
        "size": f"{width}x{height}",
        "frames": n,
        "cpu_us_per_frame_profiled": round(cpu_s / n * 1e6, 1),
        "top": rows[:top],
    }


def reader_cpu(width: int, height: int, seconds: float, repeats: int) -> dict[str, Any]:
    """Part 3: the process' CPU µs per decoded frame of a native reader, unprofiled."""
    import rtsplab
    from rtsplab.sim import SimCamera, SimServer

    cam = SimCamera("cam1", size=(width, height), bitrate=max(1_000_000, width * height * 3))
    out: dict[str, Any] = {"size": f"{width}x{height}"}
    with SimServer([cam], port=0, process=True) as srv:
        shapes = (("naive", 0.0, True), ("latest", 0.1, True), ("latest", 0.1, False))
        for strategy, period_s, timecode in shapes:
            best, handed = float("inf"), 0
            for _ in range(repeats):
                with rtsplab.open(
                    srv.url("cam1"),
                    backend="native",
                    strategy=strategy,
                    transport="tcp",
                    timecode=timecode,
                ) as r:
                    for _ in range(15):  # warm-up: decoder, converter, first keyframe
                        r.read_frame(fresh=strategy == "latest")
                    n0, cpu0 = r.frames_decoded, time.process_time()
                    t_end, n_read = time.monotonic() + seconds, 0
                    while time.monotonic() < t_end:
                        r.read_frame(fresh=strategy == "latest")
                        n_read += 1
                        if period_s:
                            time.sleep(period_s)
                    cpu_s, n = time.process_time() - cpu0, r.frames_decoded - n0
                if n and cpu_s / n < best:
                    best, handed = cpu_s / n, n_read
            key = strategy if timecode else f"{strategy}_no_timecode"
            out[key] = {"cpu_us_per_decoded_frame": round(best * 1e6, 1), "handed_out": handed}
    return out


def main(argv: list[str] | None = None) -> int:
    """Run both parts at every size; print and write the JSON.

    Example:
        >>> main(["--sizes", "320x180", "--seconds", "1"])  # doctest: +SKIP
        0
    """
    args = parse_args(argv)
    out: dict[str, Any] = {
        "benchmark": "frame_path",
        "command": " ".join(["benchmarks/frame_path.py", *(argv or sys.argv[1:])]),
        "machine": machine_info(),
        "steps": [],
        "profiles": [],
        "reader_cpu": [],
    }
    for w, h in args.sizes:
        row = steps(w, h, args.frames)
        print(json.dumps(row), flush=True)
        out["steps"].append(row)
    for w, h in args.sizes:
        prof = profile(w, h, args.seconds)
        print(json.dumps({k: v for k, v in prof.items() if k != "top"}), flush=True)
        for item in prof["top"][:12]:
            print("   ", item, flush=True)
        out["profiles"].append(prof)
    for w, h in args.sizes:
        row = reader_cpu(w, h, args.reader_seconds, args.repeats)
        print(json.dumps(row), flush=True)
        out["reader_cpu"].append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
