"""Run a SimServer in a child process, so tests can kill it like a crashing camera.

The child (``multiprocessing`` *spawn*) builds an in-process :class:`SimServer` from camera
configs, reports its port over a ``Pipe`` and then serves commands: knob changes, stall,
disconnect, close. :meth:`ChildServer.kill` sends SIGKILL; :meth:`ChildServer.close` asks
the child to stop and SIGKILLs it after a timeout. The child also exits when the parent dies
(its end of the pipe sees EOF).

Example:
    >>> from rtsplab.sim import SimServer
    >>> srv = SimServer(1, process=True)  # doctest: +SKIP
    >>> srv.camera("cam1").set(latency_ms=200)  # doctest: +SKIP
    >>> srv.kill()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
from multiprocessing.connection import Connection
from typing import Any

from rtsplab.sim.camera import CameraConfig, SimCamera, knob_kwargs

__all__ = ["CameraProxy", "ChildServer"]

START_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 10.0


def _child_main(
    conn: Connection,
    configs: list[CameraConfig],
    host: str,
    port: int,
    credentials: tuple[str, str] | None,
    auth: str,
    options: dict[str, Any],
) -> None:
    """Entry point of the child process."""
    from rtsplab.sim.server import SimServer

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        cams = [SimCamera.from_config(c) for c in configs]
        srv = SimServer(cams, host, port, credentials, auth, process=False, **options)
    except Exception as e:  # report why we could not start (bind error...), then exit
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    try:
        conn.send(("ready", srv.port))
        while True:
            if not conn.poll(1.0):
                continue
            cmd, name, arg = conn.recv()
            if cmd == "close":
                break
            try:
                cam = srv.camera(name)
                assert isinstance(cam, SimCamera)
                if cmd == "set":
                    cam.set(**arg)
                elif cmd == "stall":
                    cam.stall(float(arg))
                elif cmd == "disconnect":
                    cam.disconnect()
                elif cmd != "config":
                    raise ValueError(f"unknown command {cmd!r}")
                conn.send(("ok", cam.config()))
            except Exception as e:
                conn.send(("error", f"{type(e).__name__}: {e}"))
    except (EOFError, OSError):
        pass  # the parent is gone
    finally:
        srv.close()
        with contextlib.suppress(OSError):
            conn.send(("closed", None))


class ChildServer:
    """The parent's handle on a SimServer running in a child process.

    Example:
        >>> ChildServer([CameraConfig("cam1")], "127.0.0.1", 0, None, "digest", {})  # doctest: +SKIP
    """

    def __init__(
        self,
        configs: list[CameraConfig],
        host: str,
        port: int,
        credentials: tuple[str, str] | None,
        auth: str,
        options: dict[str, Any],
    ) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._lock = threading.Lock()
        self.names = [c.name for c in configs]
        self._proc = ctx.Process(
            target=_child_main,
            args=(child_conn, configs, host, port, credentials, auth, options),
            name="rtsplab-sim-child",
            daemon=True,
        )
        self._proc.start()
        child_conn.close()
        if not self._conn.poll(START_TIMEOUT_S):
            self.kill()
            raise TimeoutError(f"simulator child did not start within {START_TIMEOUT_S:g} s")
        try:
            status, value = self._conn.recv()
        except EOFError:
            self.kill()
            raise RuntimeError("simulator child exited while starting") from None
        if status != "ready":
            self.kill()
            raise OSError(f"simulator child failed to start: {value}")
        self.port = int(value)
        assert self._proc.pid is not None
        self.pid: int = self._proc.pid

    @property
    def alive(self) -> bool:
        """True while the child runs.

        Example:
            >>> ChildServer.alive  # doctest: +ELLIPSIS
            <property ...>
        """
        return self._proc.is_alive()

    def call(self, cmd: str, name: str, arg: Any = None) -> CameraConfig:
        """Run a camera command in the child; return the camera's config afterwards.

        Raises:
            RuntimeError: the child is gone or did not answer.
            ValueError: the child rejected the command (bad knob value...).

        Example:
            >>> child.call("set", "cam1", {"fps": 15})  # doctest: +SKIP
        """
        with self._lock:
            if not self._proc.is_alive():
                raise RuntimeError("the simulator child process is not running")
            try:
                self._conn.send((cmd, name, arg))
                if not self._conn.poll(CALL_TIMEOUT_S):
                    raise RuntimeError(f"simulator child did not answer {cmd!r}")
                status, value = self._conn.recv()
            except (EOFError, OSError) as e:
                raise RuntimeError("the simulator child process is not running") from e
        if status != "ok":
            raise ValueError(str(value))
        assert isinstance(value, CameraConfig)
        return value

    def camera(self, name: str) -> CameraProxy:
        """A proxy for camera ``name`` in the child.

        Example:
            >>> child.camera("cam1").stall(1.0)  # doctest: +SKIP
        """
        if name not in self.names:
            raise KeyError(f"no camera {name!r}; cameras: {self.names}")
        return CameraProxy(self, name)

    def kill(self) -> None:
        """SIGKILL the child and reap it.

        Example:
            >>> child.kill()  # doctest: +SKIP
        """
        if self._proc.pid is not None and self._proc.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGKILL)
        self._proc.join(5.0)
        self._conn.close()

    def close(self, timeout_s: float = 5.0) -> None:
        """Ask the child to stop; SIGKILL it if it has not exited after ``timeout_s``.

        Example:
            >>> child.close()  # doctest: +SKIP
        """
        if self._proc.is_alive():
            with contextlib.suppress(OSError, EOFError), self._lock:
                self._conn.send(("close", "", None))
            self._proc.join(timeout_s)
        self.kill()


class CameraProxy:
    """Stands in for a :class:`SimCamera` that lives in a child process; knobs are forwarded.

    Example:
        >>> srv.camera("cam1").set(latency_ms=100, loss=0.02)  # doctest: +SKIP
    """

    def __init__(self, child: ChildServer, name: str) -> None:
        self._child = child
        self.name = name

    def set(self, **knobs: float) -> None:
        """Change knobs in the child (see :meth:`SimCamera.set`).

        Example:
            >>> srv.camera("cam1").set(fps=15)  # doctest: +SKIP
        """
        bad = set(knobs) - set(knob_kwargs(dict(knobs)))
        if bad:
            raise ValueError(f"unknown knob(s) {sorted(bad)}")
        self._child.call("set", self.name, knob_kwargs(dict(knobs)))

    def stall(self, seconds: float) -> None:
        """Stall the camera in the child (see :meth:`SimCamera.stall`).

        Example:
            >>> srv.camera("cam1").stall(2.0)  # doctest: +SKIP
        """
        self._child.call("stall", self.name, float(seconds))

    def disconnect(self) -> None:
        """Drop the camera's clients in the child (see :meth:`SimCamera.disconnect`).

        Example:
            >>> srv.camera("cam1").disconnect()  # doctest: +SKIP
        """
        self._child.call("disconnect", self.name)

    def config(self) -> CameraConfig:
        """The camera's current settings and knob values in the child.

        Example:
            >>> srv.camera("cam1").config().fps  # doctest: +SKIP
            30.0
        """
        return self._child.call("config", self.name)

    def __repr__(self) -> str:
        return f"CameraProxy({self.name!r}, pid={self._child.pid})"
