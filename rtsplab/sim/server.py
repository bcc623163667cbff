"""SimServer: serve simulated cameras over real RTSP 1.0 with RTP over TCP or UDP.

One accept thread, one thread per RTSP connection, one sender thread per playing session,
one capture/encode thread per camera. Everything is joined in :meth:`SimServer.close`
within a bounded time. With ``process=True`` the same server runs in a child process
(:mod:`rtsplab.sim.process`) that can be killed to simulate a crash.

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
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from rtsplab.rtsp.auth import Authenticator
from rtsplab.sim.camera import SimCamera
from rtsplab.sim.connection import RtspConnection

if TYPE_CHECKING:
    from rtsplab.sim.process import CameraProxy, ChildServer

__all__ = ["SimServer"]


def _cameras(cameras: int | Sequence[SimCamera]) -> list[SimCamera]:
    cams = (
        [SimCamera(f"cam{i + 1}") for i in range(cameras)]
        if isinstance(cameras, int)
        else list(cameras)
    )
    names = [c.name for c in cams]
    if not cams or len(set(names)) != len(names):
        raise ValueError(f"need at least one camera and unique names, got {names}")
    return cams


class SimServer:
    """An RTSP server for simulated cameras; a context manager.

    Args:
        cameras: an int ``n`` (``cam1`` .. ``camn`` with defaults) or a list of cameras.
        host: address to listen on (127.0.0.1 for tests).
        port: TCP port, 0 for a free one. The socket uses SO_REUSEADDR, so a server can be
            restarted on the same port right after ``close()`` or ``kill()``.
        credentials: ``(user, password)`` to require, or None.
        auth: ``"digest"`` or ``"basic"`` when ``credentials`` are set.
        allow_tcp: accept ``RTP/AVP/TCP`` interleaved transport; False answers 461.
        allow_udp: accept UDP transport; False answers 461.
        process: run the server in a child process (``multiprocessing`` spawn).
        session_timeout_s: keep-alive timeout announced in ``Session: id;timeout=N``.
        send_timeout_s: drop a client that does not read for this long.

    Example:
        >>> srv = SimServer([SimCamera("cam1", fps=15)], port=0)  # doctest: +SKIP
        >>> srv.url("cam1")  # doctest: +SKIP
        'rtsp://127.0.0.1:41234/cam1'
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
        process: bool = False,
        session_timeout_s: float = 60.0,
        send_timeout_s: float = 10.0,
    ) -> None:
        self.cameras = _cameras(cameras)
        self.host = host
        self.credentials = credentials
        self.auth_scheme = auth
        self.process = process
        self._closed = False
        self._child: ChildServer | None = None
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
        )
        if credentials is not None:
            Authenticator(credentials[0], credentials[1], auth)  # validate early
        if process:
            from rtsplab.sim.process import ChildServer

            self._child = ChildServer(
                [c.config() for c in self.cameras], host, port, credentials, auth, self._options
            )
            self.port = self._child.port
            return
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
        """PID of the process serving (the child with ``process=True``).

        Example:
            >>> SimServer(1).pid == os.getpid()  # doctest: +SKIP
            True
        """
        return self._child.pid if self._child is not None else os.getpid()

    def url(self, name: str, credentials: bool = False) -> str:
        """The RTSP URL of camera ``name``; with ``credentials=True`` user:password included.

        The password is percent-encoded. Never print or log the credentialed URL.

        Example:
            >>> SimServer(1).url("cam1")  # doctest: +SKIP
            'rtsp://127.0.0.1:40123/cam1'
        """
        if name not in {c.name for c in self.cameras}:
            raise KeyError(f"no camera {name!r}; cameras: {[c.name for c in self.cameras]}")
        auth = ""
        if credentials and self.credentials is not None:
            user, password = self.credentials
            auth = f"{quote(user, safe='')}:{quote(password, safe='')}@"
        return f"rtsp://{auth}{self.host}:{self.port}/{name}"

    @property
    def urls(self) -> list[str]:
        """URLs of all cameras, without credentials.

        Example:
            >>> len(SimServer(2).urls)  # doctest: +SKIP
            2
        """
        return [self.url(c.name) for c in self.cameras]

    def camera(self, name: str) -> SimCamera | CameraProxy:
        """The camera ``name``, to turn its knobs (a proxy in process mode).

        Example:
            >>> SimServer(1).camera("cam1").set(latency_ms=100)  # doctest: +SKIP
        """
        if self._child is not None:
            return self._child.camera(name)
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no camera {name!r}; cameras: {list(self._by_name)}") from None

    @property
    def connections(self) -> int:
        """Number of open RTSP connections (in-process mode).

        Example:
            >>> SimServer(1).connections  # doctest: +SKIP
            0
        """
        with self._lock:
            return len(self._conns)

    def kill(self) -> None:
        """Simulate a crash: SIGKILL the child (process mode); in-process, close at once.

        Example:
            >>> SimServer(1, process=True).kill()  # doctest: +SKIP
        """
        if self._child is not None:
            self._child.kill()
            self._closed = True
        else:
            self.close()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop serving: close all connections, join all threads, stop the cameras. Idempotent.

        Example:
            >>> SimServer(1).close()  # doctest: +SKIP
        """
        if self._closed:
            return
        self._closed = True
        if self._child is not None:
            self._child.close(timeout_s)
            return
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

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        user = (
            f", user={self.credentials[0]!r}, auth={self.auth_scheme!r}" if self.credentials else ""
        )
        names = ",".join(c.name for c in self.cameras)
        state = "closed" if self._closed else "open"
        return (
            f"SimServer({self.host}:{self.port}, cameras=[{names}]{user}, "
            f"process={self.process}, {state})"
        )

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

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    break
                time.sleep(0.05)
                continue
            try:
                conn = RtspConnection(
                    sock, self._by_name, self._auth, on_close=self._forget, **self._options
                )
            except OSError:
                sock.close()
                continue
            with self._lock:
                if self._stop.is_set():
                    sock.close()
                    break
                self._conns.add(conn)
            conn.thread.start()
