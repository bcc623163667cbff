"""Pytest fixtures that start rtsplab's own simulated RTSP cameras.

* ``sim_server``: two cameras (``cam1``, ``cam2``; 640x360, 30 fps), in-process, no auth.
* ``make_sim``: a factory, ``make_sim(**SimServer kwargs) -> SimServer``; every server it
  started is closed at teardown (process-mode children included).
"""

from __future__ import annotations

import itertools
import os
import select
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest
from conftest import require_tool, stop_pid

from rtsplab.rtsp.messages import (
    InterleavedFrame,
    MessageReader,
    RtspResponse,
    format_request,
    parse_response,
)
from rtsplab.sim import SimServer
from rtsplab.timecode import read_timecode


@pytest.fixture
def sim_server() -> Iterator[SimServer]:
    """Two simulated cameras served in-process on a free port.

    Example:
        >>> def test_x(sim_server): sim_server.url("cam1")  # doctest: +SKIP
    """
    with SimServer(2) as srv:
        yield srv


@pytest.fixture
def make_sim() -> Iterator[Callable[..., SimServer]]:
    """Factory for SimServers (``make_sim(cameras, **kwargs)``), all closed at teardown.

    Example:
        >>> def test_x(make_sim): make_sim(1, allow_tcp=False)  # doctest: +SKIP
    """
    servers: list[SimServer] = []

    def make(*args: Any, **kwargs: Any) -> SimServer:
        srv = SimServer(*args, **kwargs)
        servers.append(srv)
        return srv

    yield make
    for srv in reversed(servers):
        srv.close()


# ---- clients that read a stream and decode the timecodes (real FFmpeg/GStreamer code) ------


@dataclass
class Reading:
    """What a client saw: one entry per decoded frame.

    Attributes:
        seqs: source frame numbers from the timecodes (None where the code did not decode).
        ages_ms: capture -> decoded-in-the-client, from the timecodes.
        arrivals_ns: ``time.monotonic_ns()`` when each frame was decoded.
        error: why reading stopped early, if it did.
    """

    seqs: list[int | None] = field(default_factory=list)
    ages_ms: list[float] = field(default_factory=list)
    arrivals_ns: list[int] = field(default_factory=list)
    error: str | None = None

    @property
    def frames(self) -> int:
        return len(self.seqs)

    @property
    def decoded(self) -> list[int]:
        return [s for s in self.seqs if s is not None]

    def add(self, image: npt.NDArray[np.uint8]) -> None:
        now = time.time_ns()
        self.arrivals_ns.append(time.monotonic_ns())
        tc = read_timecode(image)
        self.seqs.append(tc.seq if tc else None)
        if tc:
            self.ages_ms.append((now - tc.t_ns) / 1e6)

    def check(self, n: int) -> None:
        """Assert the outcome the simulator promises: >= n frames, >= 95% timecodes,
        strictly increasing source seq, ages positive and below 2 s."""
        assert self.frames >= n, f"only {self.frames} frames ({self.error})"
        assert len(self.decoded) >= 0.95 * self.frames, f"{len(self.decoded)}/{self.frames}"
        assert all(b > a for a, b in itertools.pairwise(self.decoded)), self.decoded
        assert min(self.ages_ms) > 0, min(self.ages_ms)
        assert max(self.ages_ms) < 2000, max(self.ages_ms)


def read_pyav(
    url: str, n: int, transport: str = "tcp", timeout_s: float = 10.0, gray: bool = False
) -> Reading:
    """Decode ``n`` frames with PyAV (``av.open``); decode errors are skipped, not fatal."""
    out = Reading()
    try:
        with av.open(
            url, options={"rtsp_transport": transport}, timeout=(timeout_s, timeout_s)
        ) as c:
            for packet in c.demux(video=0):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    continue
                for frame in frames:
                    out.add(
                        np.asarray(frame.to_ndarray(format="gray" if gray else "bgr24"), np.uint8)
                    )
                if out.frames >= n:
                    break
    except av.error.FFmpegError as e:
        out.error = f"{type(e).__name__}: {e}"
    return out


def read_opencv(url: str, n: int, timeout_s: float = 10.0) -> Reading:
    """Read ``n`` frames with ``cv2.VideoCapture(url, cv2.CAP_FFMPEG)`` (one decode thread).

    The transport comes from ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` (set it before calling)."""
    out = Reading()
    params = [cv2.CAP_PROP_N_THREADS, 1, cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(timeout_s * 1000)]
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    try:
        if not cap.isOpened():
            out.error = "VideoCapture did not open"
            return out
        deadline = time.monotonic() + timeout_s
        while out.frames < n and time.monotonic() < deadline:
            ok, img = cap.read()
            if not ok:
                out.error = "read() returned False"
                break
            out.add(np.asarray(img, np.uint8))
    finally:
        cap.release()
    return out


def _read_exact(fd: int, size: int, deadline: float) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, size - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def read_gst(
    url: str, n: int, protocol: str, size: tuple[int, int] = (640, 360), timeout_s: float = 10.0
) -> Reading:
    """Decode ``n`` frames with ``gst-launch-1.0 rtspsrc`` writing raw GRAY8 to stdout."""
    gst = require_tool("gst-launch-1.0", "gstreamer1.0-tools")
    w, h = size
    cmd = [
        gst, "-q", "rtspsrc", f"location={url}", f"protocols={protocol}", "latency=100", "!",
        "rtph264depay", "!", "avdec_h264", "!", "videoconvert", "!",
        "video/x-raw,format=GRAY8", "!", "fdsink", "fd=1", "sync=false",
    ]  # fmt: skip
    out = Reading()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while out.frames < n:
            buf = _read_exact(proc.stdout.fileno(), w * h, deadline)
            if len(buf) < w * h:
                out.error = "gst-launch stopped or timed out"
                break
            out.add(np.frombuffer(buf, np.uint8).reshape(h, w))
    finally:
        stop_pid(proc)
        if out.error and proc.stderr is not None:
            out.error += ": " + proc.stderr.read().decode(errors="replace")[-300:]
    return out


def ffprobe_frames(url: str, transport: str, seconds: float = 2.5) -> list[float]:
    """Frame pts (seconds) that ``ffprobe`` decodes in the first ``seconds`` of the stream."""
    ffprobe = require_tool("ffprobe", "ffmpeg")
    cmd = [
        ffprobe, "-v", "error", "-rtsp_transport", transport, "-select_streams", "v",
        "-show_entries", "frame=pts_time", "-of", "csv=p=0", "-read_intervals", f"%+{seconds}",
        url,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr[-500:]
    return [float(x) for x in proc.stdout.split() if x.strip() not in ("", "N/A")]


def in_parallel(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads (e.g. one reader per camera); return their results in order."""
    results: list[Any] = [None] * len(calls)

    def run(i: int, fn: Callable[[], Any]) -> None:
        results[i] = fn()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


class RawRtsp:
    """A minimal RTSP client on a raw socket, built on rtsplab.rtsp.messages (for protocol tests)."""

    def __init__(self, port: int, timeout_s: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.reader = MessageReader()
        self.cseq = 0
        self.frames: list[InterleavedFrame] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, uri: str, headers: dict[str, str] | None = None) -> RtspResponse:
        self.cseq += 1
        self.send(format_request(method, uri, self.cseq, headers or {}))
        return self.response()

    def response(self, timeout_s: float = 5.0) -> RtspResponse:
        """The next response; interleaved frames met on the way are kept in ``frames``."""
        deadline = time.monotonic() + timeout_s
        while True:
            item = self.reader.next()
            if isinstance(item, InterleavedFrame):
                self.frames.append(item)
                continue
            if item is not None:
                return parse_response(item)
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.reader.feed(data)

    def read_frames(self, n: int, timeout_s: float = 5.0) -> list[InterleavedFrame]:
        """Collect at least ``n`` interleaved frames (RTP and RTCP)."""
        deadline = time.monotonic() + timeout_s
        while len(self.frames) < n and time.monotonic() < deadline:
            item = self.reader.next()
            if isinstance(item, InterleavedFrame):
                self.frames.append(item)
                continue
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            self.reader.feed(data)
        return self.frames

    def closed_by_server(self, timeout_s: float = 3.0) -> bool:
        """True if the server closes the connection (EOF or reset) within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                if not self.sock.recv(65536):
                    return True
        except TimeoutError:
            return False
        except OSError:
            return True
        return False

    def play_tcp(self, url: str) -> str:
        """DESCRIBE, SETUP (interleaved TCP) and PLAY; return the session id."""
        assert self.request("DESCRIBE", url).status == 200
        r = self.request(
            "SETUP", url + "/track1", {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
        )
        assert r.status == 200, r
        session = (r.get("Session") or "").split(";")[0]
        assert self.request("PLAY", url + "/", {"Session": session}).status == 200
        return session

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawRtsp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
