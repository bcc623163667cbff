"""Pytest fixtures that start real RTSP servers on 127.0.0.1 and stop them by PID.

* ``gst_server``: gst-rtsp-server (GStreamer, from Debian) serving timecoded H.264 mounts; see
  ``tests/servers/gst_rtsp_server.py``. Run by ``/usr/bin/python3``, which has PyGObject.
* ``perl_relay``: ``rtsp-server-perl``, a relay that accepts a published stream (ANNOUNCE +
  RECORD) and serves it to readers. It speaks RTP over UDP only (a TCP-interleaved SETUP gets
  ``400``), in both directions.

Both fail in CI (``CI=true``) and skip locally when the server is not installed.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import IN_CI, free_port, require_tool, stop_pid, wait_port

from rtsplab.sim.external import SYSTEM_PYTHON, GstServer, start_gst_server

PERL_RELAY = "/usr/bin/rtsp-server-perl"
GST_APT = "gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-ugly python3-numpy"
_GI_CHECK = (
    "import gi; gi.require_version('GstRtspServer', '1.0'); "
    "from gi.repository import Gst, GstRtspServer; import numpy; Gst.init(None); "
    "assert Gst.ElementFactory.find('x264enc'), 'x264enc'"
)


def _missing(msg: str) -> None:
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


_gi_status: dict[str, str] = {}


def require_gst_rtsp_server() -> str:
    """``/usr/bin/python3`` if it can run gst-rtsp-server with x264enc; fail in CI, else skip.

    Example:
        >>> require_gst_rtsp_server()  # doctest: +SKIP
        '/usr/bin/python3'
    """
    python = require_tool(SYSTEM_PYTHON, "python3")
    if "result" not in _gi_status:
        proc = subprocess.run(
            [python, "-c", _GI_CHECK], capture_output=True, text=True, timeout=30, check=False
        )
        _gi_status["result"] = "" if proc.returncode == 0 else proc.stderr.strip()[-300:]
    if _gi_status["result"]:
        _missing(
            f"{python} cannot run gst-rtsp-server ({_gi_status['result']}): "
            f"sudo apt-get install -y {GST_APT}"
        )
    return python


@pytest.fixture
def gst_server(tmp_path: Path) -> Iterator[Callable[..., GstServer]]:
    """Factory: ``start(mounts, fps, size, credentials, udp_only, auth, ..., extra_args)``.

    Every server started is stopped by PID at teardown. ``credentials=(user, password)``
    protects all mounts (``auth="basic"`` or ``"digest"``); the password reaches the server
    through an environment variable, never its command line.

    Example:
        >>> def test_x(gst_server):  # doctest: +SKIP
        ...     srv = gst_server(mounts=("cam1",), credentials=("admin", "p@ss:w/rd"))
        ...     url = srv.url("cam1", credentials=True)
    """
    started: list[GstServer] = []

    def start(
        mounts: tuple[str, ...] | list[str] = ("cam1", "cam2"),
        fps: int = 30,
        size: tuple[int, int] = (640, 360),
        credentials: tuple[str, str] | None = None,
        udp_only: bool = False,
        auth: str = "basic",
        bitrate_kbps: int = 1000,
        ready_timeout_s: float = 15.0,
        extra_args: tuple[str, ...] = (),
    ) -> GstServer:
        python = require_gst_rtsp_server()
        server = start_gst_server(
            tmp_path, mounts, fps, size, credentials, udp_only, auth, bitrate_kbps,
            ready_timeout_s, python, extra_args,
        )  # fmt: skip
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@dataclass
class PerlRelay:
    """A running ``rtsp-server-perl`` relay (RTP over UDP only).

    Attributes:
        client_port: port readers connect to (``read_url``).
        source_port: port publishers connect to (``publish_url``).
        proc: the relay process.

    Example:
        >>> relay = perl_relay()  # doctest: +SKIP
        >>> relay.read_url("cam1")  # doctest: +SKIP
        'rtsp://127.0.0.1:40001/cam1'
    """

    client_port: int
    source_port: int
    proc: subprocess.Popen[bytes]
    publishers: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    @property
    def pid(self) -> int:
        """Process id of the relay.

        Example:
            >>> relay.pid > 0  # doctest: +SKIP
            True
        """
        return self.proc.pid

    def publish_url(self, name: str) -> str:
        """Where a publisher sends stream ``name`` (ANNOUNCE/RECORD, ``rtsp_transport=udp``).

        Example:
            >>> relay.publish_url("cam1")  # doctest: +SKIP
            'rtsp://127.0.0.1:40002/cam1'
        """
        return f"rtsp://127.0.0.1:{self.source_port}/{name}"

    def read_url(self, name: str) -> str:
        """Where a reader plays stream ``name`` (UDP transport only).

        Example:
            >>> relay.read_url("cam1")  # doctest: +SKIP
            'rtsp://127.0.0.1:40001/cam1'
        """
        return f"rtsp://127.0.0.1:{self.client_port}/{name}"

    def publish_testsrc(
        self, name: str, fps: int = 30, size: tuple[int, int] = (640, 360), timeout_s: float = 10
    ) -> subprocess.Popen[bytes]:
        """Publish FFmpeg's test pattern (no timecode) as ``name``; wait until it is readable.

        The publisher is stopped by PID with the relay.

        Example:
            >>> relay.publish_testsrc("cam1")  # doctest: +SKIP
            <Popen: returncode: None args: [...]>
        """
        ffmpeg = require_tool("ffmpeg", "ffmpeg")
        cmd = [
            ffmpeg, "-nostdin", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", f"testsrc=size={size[0]}x{size[1]}:rate={fps}",
            "-c:v", "libx264", "-tune", "zerolatency", "-preset", "ultrafast",
            "-g", str(fps), "-pix_fmt", "yuv420p",
            "-f", "rtsp", "-rtsp_transport", "udp", self.publish_url(name),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self.publishers.append(proc)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"publisher exited with code {proc.returncode}")
            if rtsp_setup_status(self.read_url(name)) == 200:
                return proc
            time.sleep(0.1)
        raise TimeoutError(f"{self.read_url(name)} not readable after {timeout_s}s")

    def stop(self) -> None:
        """Stop the publishers and the relay by PID; idempotent.

        Example:
            >>> relay.stop()  # doctest: +SKIP
        """
        for proc in self.publishers:
            stop_pid(proc)
        stop_pid(self.proc)


def _rtsp_request(sock: socket.socket, request: str) -> tuple[int, str]:
    """Send one RTSP request; return the status code and the body (``Content-Length``)."""
    sock.sendall(request.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return 0, ""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, body.decode("latin-1")


def rtsp_setup_status(url: str, timeout_s: float = 2.0) -> int:
    """Status of ``SETUP`` (UDP) for the first track of ``url`` after a ``DESCRIBE``.

    Returns the ``DESCRIBE`` status if that is not 200, and 0 when the server does not answer.
    A relay answers ``DESCRIBE`` as soon as a publisher has announced the stream, but
    ``SETUP`` only once the publisher's own ``SETUP`` is done, so 200 here means readable.

    Example:
        >>> rtsp_setup_status("rtsp://127.0.0.1:1/x")
        0
    """
    hostport = url.split("://", 1)[1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            status, sdp = _rtsp_request(
                sock, f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n"
            )
            if status != 200:
                return status
            controls = [ln[10:].strip() for ln in sdp.splitlines() if ln.startswith("a=control:")]
            tracks = [c for c in controls if c != "*"]
            track = tracks[0] if tracks else ""
            track_url = track if "://" in track else f"{url.rstrip('/')}/{track}"
            status, _ = _rtsp_request(
                sock,
                f"SETUP {track_url} RTSP/1.0\r\nCSeq: 2\r\n"
                "Transport: RTP/AVP;unicast;client_port=9-10\r\n\r\n",
            )
            return status
    except (OSError, ValueError):
        return 0


@pytest.fixture
def perl_relay() -> Iterator[Callable[[], PerlRelay]]:
    """Factory: ``start() -> PerlRelay`` on free ports; everything stopped by PID at teardown.

    Example:
        >>> def test_x(perl_relay):  # doctest: +SKIP
        ...     relay = perl_relay()
        ...     relay.publish_testsrc("cam1")
    """
    started: list[PerlRelay] = []

    def start() -> PerlRelay:
        exe = require_tool(PERL_RELAY, "rtsp-server-perl")
        client_port, source_port = free_port(), free_port()
        while source_port == client_port:
            source_port = free_port()
        rtp_start = free_port(socket.SOCK_DGRAM) & ~1
        cmd = [
            exe, "--clientport", str(client_port), "--serverport", str(source_port),
            "--client_listen_address", "127.0.0.1", "--source_listen_address", "127.0.0.1",
            "--rtp_start_port", str(rtp_start), "--loglevel", "1",
        ]  # fmt: skip
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        relay = PerlRelay(client_port, source_port, proc)
        started.append(relay)
        wait_port(client_port, 10.0, proc)
        wait_port(source_port, 10.0, proc)
        return relay

    yield start
    for relay in started:
        relay.stop()


__all__ = [
    "GstServer",
    "PerlRelay",
    "gst_server",
    "perl_relay",
    "require_gst_rtsp_server",
    "rtsp_setup_status",
]
