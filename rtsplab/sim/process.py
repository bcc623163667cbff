"""Serve simulated cameras from a child process, so tests can kill it like a crashing camera.

:class:`ChildProcessServer` starts ``python -m rtsplab.sim --child`` (a fresh interpreter,
not ``multiprocessing``: a plain script needs no ``if __name__ == "__main__":`` guard) and
talks to it over its stdin and stdout, one JSON object a line: first the server's settings
(the password travels there, never on a command line), then camera commands (``set``,
``stall``, ``disconnect``, ``config``), ``connections`` and ``close``. The child
(:mod:`rtsplab.sim.child`) runs an in-process server and exits when its stdin closes, so it
never outlives its parent. :meth:`ChildProcessServer.kill` sends SIGKILL.

The cameras given to the server stay the handles: their knob calls are forwarded to the
child (:meth:`~rtsplab.sim.camera.SimCamera.forward_to`) until the server is closed.

Example:
    >>> from rtsplab.sim import SimServer
    >>> srv = SimServer(1, process=True)  # doctest: +SKIP
    >>> srv.cameras[0].set(latency_ms=200)  # acts in the child  # doctest: +SKIP
    >>> srv.kill()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rtsplab.rtsp.auth import Authenticator
from rtsplab.sim.base import Server, cameras_of
from rtsplab.sim.camera import CameraConfig, SimCamera
from rtsplab.sim.connection import ServerLimits

__all__ = ["CHILD_COMMAND", "ChildProcessServer"]

START_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 10.0
CHILD_COMMAND = ("-m", "rtsplab.sim", "--child")
"""Arguments of the child's interpreter (after ``sys.executable``)."""

_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds rtsplab/


class ChildProcessServer(Server):
    """An RTSP server for simulated cameras running in a child process; a context manager.

    Takes the same arguments as :class:`~rtsplab.sim.server.InProcessServer` (see
    :func:`~rtsplab.sim.server.SimServer`). ``srv.cameras`` are the caller's cameras, which
    forward their knobs to the child; ``srv.connections`` asks the child.

    Raises:
        ValueError: bad cameras or credentials, or a camera already running in this process.
        OSError: the child could not start serving (e.g. the port is taken).
        TimeoutError: the child did not report within ``START_TIMEOUT_S``.

    Example:
        >>> with ChildProcessServer(1) as srv:  # doctest: +SKIP
        ...     srv.pid != os.getpid(), srv.connections
        (True, 0)
    """

    process = True

    def __init__(
        self,
        cameras: int | Sequence[SimCamera] = 2,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: tuple[str, str] | None = None,
        auth: str = "digest",
        allow_tcp: bool = True,
        allow_udp: bool = True,
        session_timeout_s: float = 60.0,
        send_timeout_s: float = 10.0,
        limits: ServerLimits | None = None,
    ) -> None:
        self.cameras = cameras_of(cameras)
        running = [c.name for c in self.cameras if c.running]
        if running:
            raise ValueError(f"cameras {running} run in this process; stop them first")
        if credentials is not None:
            Authenticator(credentials[0], credentials[1], auth)  # validate here, not in the child
        self.host = host
        self.credentials = credentials
        self.auth_scheme = auth
        self._closed = False
        self._lock = threading.Lock()
        self._buf = b""
        settings = {
            "cameras": [asdict(c.config()) for c in self.cameras],
            "host": host,
            "port": port,
            "credentials": list(credentials) if credentials else None,
            "auth": auth,
            "options": dict(
                allow_tcp=allow_tcp,
                allow_udp=allow_udp,
                session_timeout_s=session_timeout_s,
                send_timeout_s=send_timeout_s,
                limits=asdict(limits or ServerLimits()),
            ),
        }
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_SOURCE_ROOT, env.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(
            [sys.executable, *CHILD_COMMAND], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        try:
            self._send(settings)
            reply = self._recv(START_TIMEOUT_S, "start")
        except BaseException:
            self._reap()
            raise
        if "error" in reply:
            self._reap()
            raise OSError(f"simulator child failed to start: {reply['error']}")
        self.port = int(reply["ready"])
        for cam in self.cameras:
            cam.forward_to(self._forwarder(cam.name))

    # ---- the Server surface -----------------------------------------------------------
    @property
    def pid(self) -> int:
        """PID of the child process.

        Example:
            >>> ChildProcessServer(1).pid != os.getpid()  # doctest: +SKIP
            True
        """
        return self._proc.pid

    @property
    def alive(self) -> bool:
        """True while the child runs.

        Example:
            >>> srv = ChildProcessServer(1); srv.kill(); srv.alive  # doctest: +SKIP
            False
        """
        return self._proc.poll() is None

    @property
    def connections(self) -> int:
        """Number of open RTSP connections in the child.

        Raises:
            RuntimeError: the child is gone.

        Example:
            >>> ChildProcessServer(1).connections  # doctest: +SKIP
            0
        """
        return int(self.call("connections"))

    def call(self, cmd: str, name: str = "", arg: Any = None) -> Any:
        """Run ``cmd`` in the child and return its answer (a camera's config as a dict).

        Raises:
            RuntimeError: the child is gone or did not answer within ``CALL_TIMEOUT_S``.
            ValueError, KeyError: the child rejected the command.

        Example:
            >>> srv.call("set", "cam1", {"fps": 15})["fps"]  # doctest: +SKIP
            15.0
        """
        with self._lock:
            if self._closed or not self.alive:
                raise RuntimeError("the simulator child process is not running")
            try:
                self._send({"cmd": cmd, "name": name, "arg": arg})
                reply = self._recv(CALL_TIMEOUT_S, cmd)
            except (OSError, ValueError) as e:
                raise RuntimeError(f"the simulator child process did not answer {cmd!r}") from e
        if "error" in reply:
            kind = {"ValueError": ValueError, "KeyError": KeyError}.get(reply.get("type", ""))
            raise (kind or RuntimeError)(reply["error"])
        return reply["ok"]

    def kill(self) -> None:
        """Simulate a crash: SIGKILL the child and reap it. Idempotent.

        Example:
            >>> ChildProcessServer(1).kill()  # doctest: +SKIP
        """
        self._closed = True
        self._reap()

    def close(self, timeout_s: float = 5.0) -> None:
        """Ask the child to stop; SIGKILL it if it has not exited after ``timeout_s``. Idempotent.

        Example:
            >>> ChildProcessServer(1).close()  # doctest: +SKIP
        """
        if self._closed:
            return
        self._closed = True
        if self.alive:
            with contextlib.suppress(OSError, ValueError), self._lock:
                self._send({"cmd": "close"})
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout_s)
        self._reap()

    # ---- internals ----------------------------------------------------------------------
    def _forwarder(self, name: str) -> Any:
        def forward(cmd: str, arg: Any) -> CameraConfig:
            return CameraConfig(**self.call(cmd, name, arg))

        return forward

    def _reap(self) -> None:
        for cam in self.cameras:
            cam.forward_to(None)
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(5.0)
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def _send(self, message: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(message).encode() + b"\n")
        self._proc.stdin.flush()

    def _recv(self, timeout_s: float, what: str) -> dict[str, Any]:
        """The child's next line as a dict; RuntimeError when it exits, TimeoutError when slow."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"simulator child did not answer {what!r} in {timeout_s:g} s")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"simulator child exited (code {self._proc.poll()}) on {what!r}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        reply = json.loads(line)
        assert isinstance(reply, dict)
        return reply
