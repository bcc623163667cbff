"""Decoding backends: OpenCV's FFmpeg (``opencv``), PyAV (``pyav``) and rtsplab's own RTSP
client (``native``, see :mod:`rtsplab.backends.native`).

:func:`open_backend` is the one way in: it resolves ``transport="auto"`` (interleaved TCP
first, then UDP, because some cameras and relays refuse TCP with 400 or 461) and turns every
failure into a typed :mod:`rtsplab.errors` error.

Example:
    >>> sorted(BACKENDS)
    ['native', 'opencv', 'pyav']
"""

from __future__ import annotations

from rtsplab.backends.base import (
    LOW_LATENCY_OPTIONS,
    Backend,
    DecodedFrame,
    OpenOptions,
    Profile,
    StreamInfo,
)
from rtsplab.entities import Transport
from rtsplab.errors import (
    AuthError,
    ConnectError,
    NotFound,
    OpenTimeout,
    RtspLabError,
    StreamClosed,
)
from rtsplab.rtsp_client import classify_failure
from rtsplab.urls import RtspUrl

__all__ = [
    "BACKENDS",
    "LOW_LATENCY_OPTIONS",
    "Backend",
    "DecodedFrame",
    "OpenOptions",
    "Profile",
    "StreamInfo",
    "open_backend",
]

BACKENDS = ("opencv", "pyav", "native")


def _backend_class(name: str) -> type[Backend]:
    if name == "opencv":
        from rtsplab.backends.opencv import OpenCVBackend

        return OpenCVBackend
    if name == "pyav":
        from rtsplab.backends.pyav import PyAVBackend

        return PyAVBackend
    if name == "native":
        from rtsplab.backends.native import NativeBackend

        return NativeBackend
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


def open_backend(
    url: RtspUrl,
    backend: str = "opencv",
    transport: Transport | str = Transport.AUTO,
    open_timeout_s: float = 5.0,
    read_timeout_s: float = 2.0,
    profile: str = Profile.LOW_LATENCY,
    decoder_threads: int | None = None,
    extra: dict[str, str] | None = None,
) -> Backend:
    """Open ``url`` with ``backend`` and return it, or raise a typed error.

    With ``transport="auto"`` a failed TCP open is retried over UDP unless the failure cannot
    be a transport problem (wrong password, unknown path, refused connection, timeout).

    Raises:
        AuthError, NotFound, ConnectError, OpenTimeout, UnsupportedStream.

    Example:
        >>> open_backend(RtspUrl.parse("rtsp://127.0.0.1:1/x"), open_timeout_s=0.5)
        Traceback (most recent call last):
        ...
        rtsplab.errors.ConnectError: rtsp://127.0.0.1:1/x: connection refused; is the server running on that port?
    """
    cls = _backend_class(backend)
    mode = Transport(transport)
    tries = [Transport.TCP, Transport.UDP] if mode is Transport.AUTO else [mode]
    error: RtspLabError | None = None
    for choice in tries:
        options = OpenOptions(
            transport=choice,
            open_timeout_s=open_timeout_s,
            read_timeout_s=read_timeout_s,
            profile=profile,
            decoder_threads=decoder_threads,
            extra=dict(extra or {}),
        )
        try:
            return cls(url, options)
        except StreamClosed:  # OpenCV says only "not opened": ask the server why
            error = classify_failure(url, timeout_s=min(open_timeout_s, 2.0))
        except RtspLabError as exc:
            error = exc
        if isinstance(error, AuthError | NotFound | OpenTimeout) or type(error) is ConnectError:
            break
    assert error is not None
    raise error
