"""The native client's CPU per frame, measured without load-sensitive timing.

A scripted RTSP server in this process answers the handshake (OPTIONS, DESCRIBE, SETUP,
PLAY, keep-alives), then the benchmark itself writes a pre-encoded stream (the simulator's
scene, timecode and libx264 encoder, 640x360 at 1 Mbit/s, one keyframe a second, an RTCP
sender report a second) into the connection, one frame's interleaved packets at a time, paced
at ``--fps`` as a camera sends them. Two shapes:

- ``backend``: one :class:`~rtsplab.backends.native.NativeBackend`'s ``read()`` in a loop,
  CPU of that thread alone (``time.thread_time``): the whole per-packet and per-frame path of
  the backend (socket read, RTSP framing, session, RTP parsing, depacketizing, assembly, the
  overload guard, decode) and nothing else;
- ``reader``: ``rtsplab.open(..., backend="native")`` (``latest``, its decode thread) with
  a consumer taking a fresh frame every 100 ms, as the scale benchmark's readers do: adds the
  stamping (source clock, camera clock estimate), the policy and the hand-out.

CPU is divided by the frames the backend decoded; for ``reader`` it is ``time.process_time``
of the whole process (the writer thread's ``sendall`` included, which every version pays
alike). The pacing means sleeping
between frames, so the process does not compete with itself, and the CPU per frame does not
depend on how loaded the machine is the way a frame age does (a busy machine still inflates
it somewhat: compare versions run back to back). Each shape runs ``--repeats`` times; the
least is kept. The same script runs on an older checkout (``PYTHONPATH=<checkout>``), so two
versions of the client can be compared.

Results: ``data/bench_client_cpu.json`` with the machine description.

Usage::

    .venv/bin/python benchmarks/client_cpu.py --seconds 8 --repeats 3

Example:
    >>> parse_args(["--fps", "15"]).fps
    15.0
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_info

SSRC = 0x1234ABCD
CLOCK_RATE = 90_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    Example:
        >>> parse_args([]).repeats
        3
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="640x360", help="WxH of the stream")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--shapes", default="backend,reader")
    p.add_argument(
        "--no-catch-up",
        action="store_true",
        help="backend shape without the overload guard (rtsplab.rtsp.overload), to see its cost",
    )
    p.add_argument("--label", default="", help="the checkout's name in the results (its commit)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="merge the results into this JSON (one entry per label), e.g. data/bench_client_cpu.json",
    )
    return p.parse_args(argv)


def encode_stream(
    width: int, height: int, fps: float, n_frames: int
) -> tuple[str, list[list[bytes]]]:
    """The fmtp line and each frame's NAL units (libx264, a keyframe every ``fps`` frames).

    Example:
        >>> fmtp, frames = encode_stream(320, 180, 30.0, 2)  # doctest: +SKIP
        >>> len(frames)  # doctest: +SKIP
        2
    """
    from rtsplab.sim.media import H264Encoder
    from rtsplab.sim.scene import Scene

    gop = max(1, round(fps))
    enc = H264Encoder(width, height, fps=fps, gop=gop, bitrate=max(1_000_000, width * height * 3))
    scene = Scene("cam1", width, height)
    t0_ns = time.time_ns()
    frames: list[list[bytes]] = []
    fmtp = ""
    for k in range(n_frames):
        image = scene.render(t0_ns + round(k * 1e9 / fps), k)
        nals, key = enc.encode(image, pts_90k=round(k * CLOCK_RATE / fps))
        if key and not fmtp:
            fmtp = H264Encoder.fmtp(H264Encoder.parameter_sets(nals))
        frames.append(nals)
    return fmtp, frames


class ScriptedServer:
    """A one-connection RTSP server: it answers the handshake and keep-alives, and lets the
    caller write the media (:meth:`send`) once the client has sent PLAY."""

    def __init__(self, fmtp: str) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sdp = (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=client_cpu\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
            f"a=fmtp:96 {fmtp}\r\na=control:track1\r\n"
        ).encode()
        self._conn: socket.socket | None = None
        self._lock = threading.Lock()
        self.playing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scripted-rtsp", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam1"

    def _answer(self, method: str, cseq: int | None) -> bytes:
        from rtsplab.rtsp.messages import format_response

        headers: list[tuple[str, str]] = [("Session", "42;timeout=60")]
        body = b""
        if method == "OPTIONS":
            headers.append(("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN"))
        elif method == "DESCRIBE":
            headers = [("Content-Base", self.url + "/"), ("Content-Type", "application/sdp")]
            body = self._sdp
        elif method == "SETUP":
            headers.append(("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"))
        elif method == "PLAY":
            headers.append(("RTP-Info", f"url={self.url}/track1;seq=0;rtptime=0"))
        if body:
            headers.append(("Content-Length", str(len(body))))
        return (
            format_response(200, cseq, headers, body)
            if body
            else format_response(200, cseq, headers)
        )

    def _run(self) -> None:
        from rtsplab.rtsp.messages import InterleavedFrame, MessageReader, parse_request

        self._listener.settimeout(30)
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        self._conn = conn
        reader = MessageReader()
        with contextlib.suppress(OSError):
            while data := conn.recv(65536):
                reader.feed(data)
                while (item := reader.next()) is not None:
                    if isinstance(item, InterleavedFrame):
                        continue  # receiver reports
                    req = parse_request(item)
                    with self._lock:
                        conn.sendall(self._answer(req.method, req.cseq))
                    if req.method == "PLAY":
                        self.playing.set()

    def send(self, data: bytes) -> None:
        """Write media bytes to the client (after PLAY)."""
        assert self._conn is not None
        with self._lock:
            self._conn.sendall(data)

    def close(self) -> None:
        for sock in (self._conn, self._listener):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()


class Feed:
    """The stream as wire bytes: frame ``k``'s interleaved RTP packets (RTP timestamp and
    sequence numbers running on), with an RTCP sender report first once a second."""

    def __init__(self, frames: list[list[bytes]], fps: float) -> None:
        self.frames, self.fps = frames, fps
        self.k = 0
        self.seq = 0
        self._next_sr = 0

    def next(self) -> bytes:
        from rtsplab.rtsp.h264 import packetize_h264
        from rtsplab.rtsp.messages import interleave
        from rtsplab.rtsp.rtcp import build_sender_report, unix_ns_to_ntp

        k, self.k = self.k, self.k + 1
        ts = round(k * CLOCK_RATE / self.fps) & 0xFFFFFFFF
        packets = packetize_h264(self.frames[k % len(self.frames)], self.seq, ts, SSRC)
        self.seq = (self.seq + len(packets)) & 0xFFFF
        wire = b"".join(interleave(0, p) for p in packets)
        if k >= self._next_sr:
            self._next_sr = k + round(self.fps)
            sr = build_sender_report(SSRC, unix_ns_to_ntp(time.time_ns()), ts, k, k * 1000)
            wire = interleave(1, sr) + wire
        return wire


class TimedDecoder:
    """The backend's PyAV decoder, with the thread CPU spent in ``decode`` added up: the rest
    of a frame's CPU is the client's own code (Python and system calls)."""

    def __init__(self, decoder: Any) -> None:
        self._decoder = decoder
        self.spent_s = 0.0

    def decode(self, packet: Any) -> Any:
        t0 = time.thread_time()
        try:
            return self._decoder.decode(packet)
        finally:
            self.spent_s += time.thread_time() - t0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._decoder, name)


class Writer:
    """Writes the feed into the connection at ``fps`` from a thread, as a camera sends."""

    def __init__(self, server: ScriptedServer, feed: Feed, fps: float) -> None:
        self._server, self._feed, self._fps = server, feed, fps
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)

    def _run(self) -> None:
        self._server.playing.wait(5)
        period, t_next = 1 / self._fps, time.monotonic()
        while not self._stop.is_set():
            try:
                self._server.send(self._feed.next())
            except OSError:
                return
            t_next += period
            time.sleep(max(0.0, t_next - time.monotonic()))

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)


def run_backend(
    url: str, server: ScriptedServer, feed: Feed, seconds: float, fps: float, catch_up: bool = True
) -> dict[str, Any]:
    """Shape ``backend``: the backend's ``read()`` in a loop, nothing else."""
    from rtsplab.backends.base import OpenOptions
    from rtsplab.backends.native import NativeBackend
    from rtsplab.urls import RtspUrl

    backend = NativeBackend(RtspUrl.parse(url), OpenOptions(read_timeout_s=5.0))
    timed = backend._decoder = TimedDecoder(backend._decoder)
    if not catch_up:
        backend.catchup = None
    try:
        with Writer(server, feed, fps):
            for _ in range(round(fps)):  # warm-up: first keyframe, decoder
                backend.read()
            n, cpu0, decode0 = 0, time.thread_time(), timed.spent_s
            t_end = time.monotonic() + seconds
            while time.monotonic() < t_end:
                backend.read()
                n += 1
            cpu_s, decode_s = time.thread_time() - cpu0, timed.spent_s - decode0
    finally:
        backend.close()
    return {
        "frames": n,
        "skipped": getattr(backend, "frames_skipped", 0),
        "cpu_us_per_frame": round(cpu_s / n * 1e6, 1),
        "decode_us_per_frame": round(decode_s / n * 1e6, 1),
        "rest_us_per_frame": round((cpu_s - decode_s) / n * 1e6, 1),
    }


def run_reader(
    url: str, server: ScriptedServer, feed: Feed, seconds: float, fps: float
) -> dict[str, Any]:
    """Shape ``reader``: a ``latest`` reader decoding in its thread, a consumer every 100 ms."""
    import rtsplab

    with rtsplab.open(url, backend="native", read_timeout_s=5.0) as r, Writer(server, feed, fps):
        end_warmup = time.monotonic() + 1.5
        while time.monotonic() < end_warmup:
            r.read_frame(fresh=True)
        n0, cpu0 = r.frames_decoded, time.process_time()
        t_end = time.monotonic() + seconds
        handed = 0
        while time.monotonic() < t_end:
            r.read_frame(fresh=True)
            handed += 1
            time.sleep(0.1)
        cpu_s, n = time.process_time() - cpu0, r.frames_decoded - n0
    skipped = getattr(r, "frames_skipped", 0)
    return {
        "frames": n, "handed_out": handed, "skipped": skipped,
        "cpu_us_per_frame": round(cpu_s / n * 1e6, 1),
    }  # fmt: skip


def version() -> str:
    """The checkout's commit (short), or ``unknown``.

    Example:
        >>> len(version()) > 0
        True
    """
    import rtsplab

    root = Path(rtsplab.__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    dirty = subprocess.run(["git", "-C", str(root), "diff", "--quiet", "HEAD"], check=False)
    return out.stdout.strip() + ("+" if dirty.returncode else "")


def main(argv: list[str] | None = None) -> int:
    """Run the shapes and print (and maybe write) the least CPU per frame of each.

    Example:
        >>> main(["--seconds", "2", "--repeats", "1"])  # doctest: +SKIP
        0
    """
    args = parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    fmtp, frames = encode_stream(w, h, args.fps, round(2 * args.fps))
    command = ["benchmarks/client_cpu.py", *(argv if argv is not None else sys.argv[1:])]
    result: dict[str, Any] = {
        "command": " ".join(command),
        "version": version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "shapes": {},
    }
    for shape in args.shapes.split(","):
        runs = []
        for _ in range(args.repeats):
            server = ScriptedServer(fmtp)
            try:
                feed = Feed(frames, args.fps)
                if shape == "backend":
                    run = run_backend(
                        server.url, server, feed, args.seconds, args.fps, not args.no_catch_up
                    )
                else:
                    run = run_reader(server.url, server, feed, args.seconds, args.fps)
                runs.append(run)
            finally:
                server.close()
        key = "rest_us_per_frame" if shape == "backend" else "cpu_us_per_frame"
        best = min(runs, key=lambda r: r[key])
        result["shapes"][shape] = {**best, "runs_us": [r[key] for r in runs]}
        print(json.dumps({"shape": shape, **result["shapes"][shape]}), flush=True)
    if args.out is not None:
        merged: dict[str, Any] = {}
        if args.out.exists():
            merged = json.loads(args.out.read_text())
        merged.update(benchmark="client_cpu", size=args.size, fps=args.fps, machine=machine_info())
        merged.setdefault("versions", {})[args.label or result["version"]] = result
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(merged, indent=1))
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
