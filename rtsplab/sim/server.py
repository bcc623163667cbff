"""Serve simulated cameras over real RTSP 1.0 with RTP over TCP or UDP.

:func:`SimServer` makes a server in either mode: :class:`InProcessServer` serves from this
process; with ``process=True`` a :class:`~rtsplab.sim.process.ChildProcessServer` runs an
:class:`InProcessServer` in a child process, which can be killed to simulate a crash.

In process: one accept thread, one thread per RTSP connection, one sender thread per playing
session, one capture/encode thread per camera. Everything is joined in
:meth:`InProcessServer.close` within a bounded time.

Example:
    >>> with SimServer(2) as srv:  # doctest: +SKIP
    ...     print(srv.urls)
    ['rtsp://127.0.0.1:40123/cam1', 'rtsp://127.0.0.1:40123/cam2']
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rtsplab.rtsp.auth import Authenticator
from rtsplab.rtsp.messages import format_response
from rtsplab.sim.base import Server, cameras_of
from rtsplab.sim.camera import SimCamera
from rtsplab.sim.connection import SERVER, RtspConnection, ServerLimits, accept_loop
from rtsplab.sim.process import ChildProcessServer

__all__ = ["InProcessServer", "SimServer"]


def SimServer(  # a factory named like the class it replaces: `SimServer(2)` reads the same
    cameras: int | Sequence[SimCamera] = 2,
    host: str = "127.0.0.1",
    port: int = 0,
    credentials: tuple[str, str] | None = None,
    auth: str = "digest",
    allow_tcp: bool = True,
    allow_udp: bool = True,
    process: bool = False,
    session_timeout_s: float = 60.0,
    send_timeout_s: float = 10.0,
    limits: ServerLimits | None = None,
    replay: str | Path | Sequence[str | Path] | None = None,
) -> Server:
    """An RTSP server for simulated cameras, in this process or in a child process.

    Args:
        cameras: an int ``n`` (``cam1`` .. ``camn`` with defaults) or a list of cameras.
        host: address to listen on (127.0.0.1 for tests).
        port: TCP port, 0 for a free one. The socket uses SO_REUSEADDR, so a server can be
            restarted on the same port right after ``close()`` or ``kill()``.
        credentials: ``(user, password)`` to require, or None.
        auth: ``"digest"`` or ``"basic"`` when ``credentials`` are set.
        allow_tcp: accept ``RTP/AVP/TCP`` interleaved transport; False answers 461.
        allow_udp: accept UDP transport; False answers 461.
        process: serve from a child process (``python -m rtsplab.sim``), so the encoders do
            not compete with the caller for the GIL and ``kill()`` is a real crash. Works from
            a plain script, without an ``if __name__ == "__main__":`` guard.
        session_timeout_s: keep-alive timeout announced in ``Session: id;timeout=N``; a
            session silent for this long ends.
        send_timeout_s: drop a client that does not read for this long.
        limits: caps on connections, sessions, request time and size (default
            :class:`~rtsplab.sim.connection.ServerLimits`).
        replay: capture file(s) (pcap/pcapng) to serve instead of simulated cameras, one
            camera each at ``/<file stem>``, with the original timing
            (:class:`~rtsplab.sim.replay.ReplayServer`; in process; ``cameras`` is ignored).

    Returns:
        an :class:`InProcessServer` or a :class:`~rtsplab.sim.process.ChildProcessServer`;
        both have the :class:`~rtsplab.sim.base.Server` surface.

    Example:
        >>> with SimServer([SimCamera("cam1", fps=15)], process=True) as srv:  # doctest: +SKIP
        ...     srv.camera("cam1").set(latency_ms=100)  # acts in the child
        ...     print(srv.url("cam1"), srv.connections)
        rtsp://127.0.0.1:41234/cam1 0
    """
    if replay is not None:
        from rtsplab.sim.replay import ReplayServer

        if process:
            raise ValueError(
                "a replay serves from this process; for its own process run "
                "`rtsplab sim --replay FILE ...`"
            )

        files = [replay] if isinstance(replay, str | Path) else list(replay)
        return ReplayServer(files, host, port, credentials, auth, limits)
    options: dict[str, Any] = dict(
        allow_tcp=allow_tcp,
        allow_udp=allow_udp,
        session_timeout_s=session_timeout_s,
        send_timeout_s=send_timeout_s,
    )
    if limits is not None:
        options["limits"] = limits
    kind = ChildProcessServer if process else InProcessServer
    return kind(cameras, host, port, credentials, auth, **options)


class InProcessServer(Server):
    """An RTSP server for simulated cameras, serving from this process' threads.

    Args:
        cameras: an int ``n`` (``cam1`` .. ``camn`` with defaults) or a list of cameras.
        host: address to listen on (127.0.0.1 for tests).
        port: TCP port, 0 for a free one. The socket uses SO_REUSEADDR, so a server can be
            restarted on the same port right after ``close()`` or ``kill()``.
        credentials: ``(user, password)`` to require, or None.
        auth: ``"digest"`` or ``"basic"`` when ``credentials`` are set.
        allow_tcp: accept ``RTP/AVP/TCP`` interleaved transport; False answers 461.
        allow_udp: accept UDP transport; False answers 461.
        session_timeout_s: keep-alive timeout announced in ``Session: id;timeout=N``; a
            session silent for this long ends.
        send_timeout_s: drop a client that does not read for this long.
        limits: caps on connections, sessions, request time and size (a
            :class:`~rtsplab.sim.connection.ServerLimits`, or its fields as a dict).

    Attributes:
        refused_connections: connections answered 503 because ``max_connections`` were open.

    Example:
        >>> srv = InProcessServer([SimCamera("cam1", fps=15)], port=0)  # doctest: +SKIP
        >>> srv.url("cam1"), srv.pid == os.getpid()  # doctest: +SKIP
        ('rtsp://127.0.0.1:41234/cam1', True)
        >>> srv.close()  # doctest: +SKIP
    """

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
        limits: ServerLimits | dict[str, Any] | None = None,
    ) -> None:
        self.cameras = cameras_of(cameras)
        if isinstance(limits, dict):  # from a child process' settings
            limits = ServerLimits(**limits)
        self.limits = limits or ServerLimits()
        self._session_slots = threading.BoundedSemaphore(self.limits.max_sessions)
        self.refused_connections = 0
        self.host = host
        self.credentials = credentials
        self.auth_scheme = auth
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._conns: set[RtspConnection] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._hooks: list[tuple[SimCamera, Callable[[], None]]] = []
        self._options: dict[str, Any] = dict(
            allow_tcp=allow_tcp,
            allow_udp=allow_udp,
            session_timeout_s=session_timeout_s,
            send_timeout_s=send_timeout_s,
            limits=self.limits,
            session_slots=self._session_slots,
        )
        self._auth = Authenticator(credentials[0], credentials[1], auth) if credentials else None
        self._by_name = {c.name: c for c in self.cameras}
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind((host, port))
            self._listener.listen(64)
            self._listener.settimeout(0.25)
        except OSError:
            self._listener.close()
            raise
        self.port = int(self._listener.getsockname()[1])
        started: list[SimCamera] = []
        try:
            for cam in self.cameras:
                cam.start()
                started.append(cam)
        except Exception:
            for cam in started:
                cam.stop()
            self._listener.close()
            raise
        for cam in self.cameras:
            hook = self._make_hook(cam.name)
            cam.add_disconnect_hook(hook)
            self._hooks.append((cam, hook))
        accept = threading.Thread(target=self._accept_loop, name="rtsplab-sim-accept", daemon=True)
        self._threads.append(accept)
        accept.start()

    # ---- public API ------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        """PID of the process serving: this one.

        Example:
            >>> InProcessServer(1).pid == os.getpid()  # doctest: +SKIP
            True
        """
        return os.getpid()

    @property
    def connections(self) -> int:
        """Number of open RTSP connections.

        Example:
            >>> InProcessServer(1).connections  # doctest: +SKIP
            0
        """
        with self._lock:
            return len(self._conns)

    def kill(self) -> None:
        """In process there is nothing to crash: close at once.

        Example:
            >>> InProcessServer(1).kill()  # doctest: +SKIP
        """
        self.close()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop serving: close all connections, join all threads, stop the cameras. Idempotent.

        Example:
            >>> InProcessServer(1).close()  # doctest: +SKIP
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            t.join(max(0.1, deadline - time.monotonic()))
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.close()
        for conn in conns:
            conn.thread.join(max(0.1, deadline - time.monotonic()))
        for cam, hook in self._hooks:
            cam.remove_disconnect_hook(hook)
        self._hooks.clear()
        for cam in self.cameras:
            cam.stop()

    # ---- internals -------------------------------------------------------------------------
    def _make_hook(self, name: str) -> Callable[[], None]:
        def hook() -> None:
            with self._lock:
                victims = [c for c in self._conns if c.uses(name)]
            for conn in victims:
                conn.close()

        return hook

    def _forget(self, conn: RtspConnection) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _refuse(self, sock: socket.socket) -> None:
        """Answer 503 on a connection over the cap and close it, without blocking."""
        self.refused_connections += 1
        try:
            sock.setblocking(False)
            sock.send(format_response(503, None, [("Server", SERVER), ("Retry-After", "5")]))
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            sock.close()

    def _accept_loop(self) -> None:
        accept_loop(
            self._listener, self._stop, self._lock, self._conns, self.limits,
            lambda sock: RtspConnection(
                sock, self._by_name, self._auth, on_close=self._forget, **self._options
            ),
            self._refuse,
        )  # fmt: skip
