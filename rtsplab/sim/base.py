"""What every simulator server offers, whether it serves in this process or in a child process.

:class:`Server` is the surface that :func:`rtsplab.sim.SimServer` returns in both modes:
:class:`~rtsplab.sim.server.InProcessServer` and
:class:`~rtsplab.sim.process.ChildProcessServer` implement it. The camera handles in
``srv.cameras`` are :class:`~rtsplab.sim.camera.SimCamera` objects in both modes (a child's
cameras forward their knob calls to it).

Example:
    >>> cams = cameras_of(2)
    >>> [c.name for c in cams]
    ['cam1', 'cam2']
    >>> cameras_of([SimCamera("a"), SimCamera("a")])
    Traceback (most recent call last):
    ...
    ValueError: need at least one camera and unique names, got ['a', 'a']
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from urllib.parse import quote

from rtsplab.sim.camera import SimCamera

__all__ = ["Server", "cameras_of"]


def cameras_of(cameras: int | Sequence[SimCamera]) -> list[SimCamera]:
    """``cam1`` .. ``camN`` with default settings for an int, else the cameras given.

    Raises:
        ValueError: no camera, or two cameras with the same name.

    Example:
        >>> [c.fps for c in cameras_of([SimCamera("x", fps=5)])]
        [5.0]
    """
    cams = (
        [SimCamera(f"cam{i + 1}") for i in range(cameras)]
        if isinstance(cameras, int)
        else list(cameras)
    )
    names = [c.name for c in cams]
    if not cams or len(set(names)) != len(names):
        raise ValueError(f"need at least one camera and unique names, got {names}")
    return cams


class Server(ABC):
    """An RTSP server of simulated cameras; a context manager. Make one with ``SimServer``.

    Attributes:
        cameras: the cameras served; their knobs (:meth:`SimCamera.set`, ``stall``,
            ``disconnect``) act on the served stream in both modes.
        host, port: where it listens.
        credentials: ``(user, password)`` required by the server, or None.
        auth_scheme: ``"digest"`` or ``"basic"``.

    Example:
        >>> Server()
        Traceback (most recent call last):
        ...
        TypeError: Can't instantiate abstract class Server...
    """

    process: bool = False
    cameras: list[SimCamera]
    host: str
    port: int
    credentials: tuple[str, str] | None
    auth_scheme: str
    _closed: bool = False

    @property
    @abstractmethod
    def pid(self) -> int:
        """PID of the process that serves."""

    @property
    @abstractmethod
    def connections(self) -> int:
        """Number of open RTSP connections."""

    @abstractmethod
    def kill(self) -> None:
        """Simulate a crash."""

    @abstractmethod
    def close(self, timeout_s: float = 5.0) -> None:
        """Stop serving and release everything; idempotent."""

    def url(self, name: str, credentials: bool = False) -> str:
        """The RTSP URL of camera ``name``; with ``credentials=True`` user:password included.

        The password is percent-encoded. Never print or log the credentialed URL.

        Example:
            >>> SimServer(1).url("cam1")  # doctest: +SKIP
            'rtsp://127.0.0.1:40123/cam1'
        """
        self.camera(name)  # KeyError for an unknown camera
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

    def camera(self, name: str) -> SimCamera:
        """The camera ``name``, to turn its knobs (in both modes).

        Raises:
            KeyError: no camera of that name.

        Example:
            >>> SimServer(1).camera("cam1").set(latency_ms=100)  # doctest: +SKIP
        """
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(f"no camera {name!r}; cameras: {[c.name for c in self.cameras]}")

    def __enter__(self) -> Server:
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
            f"{type(self).__name__}({self.host}:{self.port}, cameras=[{names}]{user}, "
            f"pid={self.pid}, {state})"
        )
