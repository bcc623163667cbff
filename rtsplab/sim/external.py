"""Start and stop real third-party RTSP servers on 127.0.0.1, to measure readers against.

The pytest fixtures (``tests/servers/fixtures.py``, ``tests/conftest.py``) and the benchmarks
(``benchmarks/``) both import this module, so they run the same servers the same way.
gst-rtsp-server runs from ``tests/servers/gst_rtsp_server.py`` under the system Python (it
needs PyGObject), so :func:`start_gst_server` works from a source checkout.

Example:
    >>> port = free_port()
    >>> wait_port(port, timeout_s=0.2)
    Traceback (most recent call last):
    ...
    TimeoutError: nothing listening on 127.0.0.1:... after 0.2s
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SYSTEM_PYTHON = "/usr/bin/python3"
GST_SCRIPT = Path(__file__).resolve().parents[2] / "tests" / "servers" / "gst_rtsp_server.py"
PASSWORD_ENV = "RTSPLAB_TEST_SERVER_PASSWORD"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port that is free on 127.0.0.1 right now.

    Example:
        >>> 0 < free_port() < 65536
        True
    """
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(
    port: int, timeout_s: float = 10.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port.

    Raises:
        RuntimeError: ``proc`` exited first. TimeoutError: nothing listened in time.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s}s")


def stop_pid(proc: subprocess.Popen[bytes], timeout_s: float = 5.0) -> None:
    """Stop a server process by PID: SIGTERM, then SIGKILL. Idempotent.

    Example:
        >>> import sys
        >>> proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        >>> stop_pid(proc); stop_pid(proc); proc.returncode == -signal.SIGTERM
        True
    """
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout_s)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


@dataclass
class GstServer:
    """A running gst-rtsp-server process (``gst_rtsp_server.py`` run by the system Python).

    Attributes:
        port: TCP port of the RTSP server on 127.0.0.1.
        mounts: mount names (``rtsp://127.0.0.1:<port>/<name>``).
        fps: frames per second of every mount.
        size: ``(width, height)`` of every mount.
        udp_only: whether the server refuses RTP over TCP (``461``).
        proc: the server process.

    Example:
        >>> with start_gst_server(Path("/tmp"), mounts=("cam1",), fps=15) as srv:  # doctest: +SKIP
        ...     print(srv.url("cam1"), srv.proc.poll())
        rtsp://127.0.0.1:40411/cam1 None
    """

    port: int
    mounts: tuple[str, ...]
    fps: int
    size: tuple[int, int]
    udp_only: bool
    proc: subprocess.Popen[bytes]
    credentials: tuple[str, str] | None = field(default=None, repr=False)
    stderr_path: Path | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        """Process id of the server."""
        return self.proc.pid

    def url(self, name: str, credentials: bool = False) -> str:
        """The RTSP URL of mount ``name``; with the user and percent-encoded password if asked."""
        auth = ""
        if credentials:
            if self.credentials is None:
                raise ValueError("this server was started without credentials")
            user, password = self.credentials
            auth = f"{quote(user, safe='')}:{quote(password, safe='')}@"
        return f"rtsp://{auth}127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Stop the server by PID (SIGTERM, then SIGKILL); idempotent."""
        stop_pid(self.proc)

    def __enter__(self) -> GstServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        auth = " auth=yes" if self.credentials else ""
        return f"GstServer(port={self.port}, pid={self.pid}, mounts={self.mounts!r}{auth})"


def _wait_ready(proc: subprocess.Popen[bytes], port: int, timeout_s: float) -> None:
    """Wait for ``READY <port>`` on the server's stdout."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, min(0.2, deadline - time.monotonic()))):
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            if f"READY {port}".encode() in buf:
                return
    raise RuntimeError(
        f"gst-rtsp-server did not report READY {port} within {timeout_s}s (exit code {proc.poll()})"
    )


def _tail(path: Path | None, n_chars: int = 2000) -> str:
    if path is None or not path.exists():
        return ""
    return path.read_text(errors="replace")[-n_chars:]


def start_gst_server(
    log_dir: Path,
    mounts: tuple[str, ...] | list[str] = ("cam1", "cam2"),
    fps: int = 30,
    size: tuple[int, int] = (640, 360),
    credentials: tuple[str, str] | None = None,
    udp_only: bool = False,
    auth: str = "basic",
    bitrate_kbps: int = 1000,
    ready_timeout_s: float = 15.0,
    python: str = SYSTEM_PYTHON,
    extra_args: tuple[str, ...] = (),
) -> GstServer:
    """Start gst-rtsp-server on a free port and wait until it reports ``READY``.

    The password reaches the server through an environment variable, never its command line.
    ``extra_args`` go to ``gst_rtsp_server.py`` as they are (the stream's shape: ``--audio aac``,
    ``--codec h265``, ...; see its ``--help``). A port taken between probing and binding is retried (3 attempts).

    Raises:
        RuntimeError: the server did not start; the message ends with its stderr.

    Example:
        >>> srv = start_gst_server(Path("/tmp"), credentials=("admin", "pa:ss@1"))  # doctest: +SKIP
        >>> srv.url("cam2", credentials=True)  # doctest: +SKIP
        'rtsp://admin:pa%3Ass%401@127.0.0.1:40411/cam2'
        >>> srv.stop()  # doctest: +SKIP
    """
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
    last_error: Exception | None = None
    for attempt in range(3):
        port = free_port()
        cmd = [
            python,
            str(GST_SCRIPT),
            f"--port={port}",
            f"--mounts={','.join(mounts)}",
            f"--fps={fps}",
            f"--size={size[0]}x{size[1]}",
            f"--bitrate-kbps={bitrate_kbps}",
        ]
        if credentials is not None:
            cmd += [f"--user={credentials[0]}", f"--password-env={PASSWORD_ENV}", f"--auth={auth}"]
            env[PASSWORD_ENV] = credentials[1]
        if udp_only:
            cmd.append("--udp-only")
        cmd += extra_args
        stderr_path = log_dir / f"gst_rtsp_server_{port}_{attempt}.log"
        with stderr_path.open("wb") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
        server = GstServer(port, tuple(mounts), fps, size, udp_only, proc, credentials, stderr_path)
        try:
            _wait_ready(proc, port, ready_timeout_s)
            return server
        except RuntimeError as exc:
            server.stop()
            last_error = RuntimeError(f"{exc}\n{_tail(stderr_path)}")
    assert last_error is not None
    raise last_error
