"""Decoding backends: OpenCV's FFmpeg (``opencv``), PyAV (``pyav``) and rtsplab's own RTSP
client (``native``, see :mod:`rtsplab.backends.native`).

:func:`open_backend` is the one way in: it resolves ``backend="auto"`` (the default) and
``transport="auto"`` (interleaved TCP first, then UDP, because some cameras and relays refuse
TCP with 400 or 461), and turns every failure into a typed :mod:`rtsplab.errors` error.

``backend="auto"`` tries :data:`AUTO_ORDER` in turn: the native client first (the lowest
latency and CPU, and the only one that reads the camera's RTCP clock with no FFmpeg
reorder wait), then PyAV, then OpenCV. It moves to the next one only when a backend answers
:class:`~rtsplab.errors.UnsupportedStream` (a codec or transport it cannot serve); a wrong
password, an unknown path, a refused connection, a timeout or a malformed reply stop at once,
since another backend would meet the same server.

Example:
    >>> BACKENDS
    ('auto', 'native', 'pyav', 'opencv')
"""

from __future__ import annotations

import functools
import threading
import time
from typing import TYPE_CHECKING

from rtsplab.backends.base import (
    LOW_LATENCY_OPTIONS,
    Backend,
    DecodedFrame,
    OpenOptions,
    Profile,
    StreamInfo,
)
from rtsplab.backends.diagnosis import explain
from rtsplab.backends.guard import bounded_open
from rtsplab.backends.rtsp_client import TlsOptions
from rtsplab.entities import Transport
from rtsplab.errors import (
    AuthError,
    ConnectError,
    NotFound,
    OpenTimeout,
    ProtocolError,
    RtspLabError,
    StreamClosed,
    TlsError,
    TransportRefused,
    UnsupportedStream,
)
from rtsplab.urls import RtspUrl

if TYPE_CHECKING:
    from rtsplab.capture import SessionTap

__all__ = [
    "AUTO_ORDER",
    "BACKENDS",
    "LOW_LATENCY_OPTIONS",
    "TLS_NATIVE_ONLY",
    "Backend",
    "DecodedFrame",
    "OpenOptions",
    "Profile",
    "StreamInfo",
    "open_backend",
]

BACKENDS = ("auto", "native", "pyav", "opencv")
AUTO_ORDER = ("native", "pyav", "opencv")  # what ``backend="auto"`` tries, in order
TLS_NATIVE_ONLY = (
    "tls_verify and tls_fingerprint are checked by the native backend only; "
    "FFmpeg (pyav, opencv) reads rtsps:// without checking the certificate"
)
"""Why a certificate check of an ``rtsps://`` URL cannot go to ``pyav`` or ``opencv``."""


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


def _tries(backend: str) -> tuple[str, ...]:
    if backend == "auto":
        return AUTO_ORDER
    _backend_class(backend)  # raises ValueError for an unknown name
    return (backend,)


def open_backend(
    url: RtspUrl,
    backend: str = "auto",
    transport: Transport | str = Transport.AUTO,
    open_timeout_s: float = 5.0,
    read_timeout_s: float = 2.0,
    profile: str = Profile.LOW_LATENCY,
    decoder_threads: int | None = None,
    extra: dict[str, str] | None = None,
    cancel: threading.Event | None = None,
    tls_verify: bool = False,
    tls_fingerprint: str | None = None,
    tap: SessionTap | None = None,
) -> Backend:
    """Open ``url`` with ``backend`` and return it, or raise a typed error.

    ``tap`` (native backend only) sees every RTSP message and RTP/RTCP packet of the session.

    The whole call, every backend and transport tried included, returns within
    ``open_timeout_s`` (the backend's open runs in a daemon thread that is abandoned at the
    deadline, see :mod:`rtsplab.backends.guard`), or as soon as ``cancel`` is set.

    With ``backend="auto"`` the backends of :data:`AUTO_ORDER` are tried in turn while they
    answer :class:`UnsupportedStream`; the returned backend's ``name`` says which one serves.
    With ``transport="auto"`` a failed TCP open is retried over UDP unless the failure cannot
    be a transport problem (wrong password, unknown path, refused connection, timeout, a
    server that is not RTSP). A server that refuses every transport (461) raises
    :class:`~rtsplab.errors.TransportRefused` at once: no other backend would fare better.

    ``rtsps://`` (TLS, port 322 by default): ``tls_verify=True`` checks the certificate
    against the system trust store, ``tls_fingerprint="sha256:..."`` pins one; by default the
    certificate is not checked (cameras use self-signed ones). Nothing goes out in clear,
    the server sniff included. Only the native backend checks certificates, so with either
    option ``auto`` tries it alone, and ``pyav``/``opencv`` are a ``ValueError``.

    Raises:
        AuthError: the server refused the credentials.
        NotFound: the server has no such path.
        ConnectError: the connection failed or was refused (:class:`~rtsplab.errors.TlsError`:
            the TLS handshake or the certificate check of an ``rtsps://`` URL failed).
        OpenTimeout: the open took longer than ``open_timeout_s``.
        ProtocolError: the server does not speak RTSP as expected.
        UnsupportedStream: no backend can decode the stream
            (:class:`~rtsplab.errors.TransportRefused`: 461).
        StreamClosed: ``cancel`` was set.
        ValueError: an unknown backend name, a malformed ``tls_fingerprint``, or a
            certificate check asked of a backend that cannot do it.

    Example:
        >>> open_backend(RtspUrl.parse("rtsp://127.0.0.1:1/x"), open_timeout_s=0.5)
        Traceback (most recent call last):
        ...
        rtsplab.errors.ConnectError: rtsp://127.0.0.1:1/x: connection refused; is the server running on that port?
    """
    names = _tries(backend)
    tls = TlsOptions(tls_verify, tls_fingerprint)  # raises ValueError for a bad fingerprint
    if url.scheme == "rtsps" and (tls.verify or tls.fingerprint is not None):
        names = tuple(n for n in names if n == "native")  # FFmpeg would not check it
        if not names:
            raise ValueError(TLS_NATIVE_ONLY)
    deadline_ns = time.monotonic_ns() + int(open_timeout_s * 1e9)
    unsupported: UnsupportedStream | None = None
    for name in names:
        left_s = (deadline_ns - time.monotonic_ns()) / 1e9
        if left_s <= 0:
            raise OpenTimeout(
                f"{url.redacted}: not opened within {open_timeout_s:g} s ({unsupported})"
            )
        try:
            return _open_with(
                _backend_class(name), url, transport, left_s, read_timeout_s, profile,
                decoder_threads, extra, cancel, tls, tap,
            )  # fmt: skip
        except TransportRefused:  # another backend would ask for the same transports
            raise
        except UnsupportedStream as exc:  # this backend cannot serve the stream; the next may
            unsupported = exc
    assert unsupported is not None
    if len(names) > 1:
        raise UnsupportedStream(f"no backend can read this stream; the last said: {unsupported}")
    raise unsupported


def _open_with(
    cls: type[Backend],
    url: RtspUrl,
    transport: Transport | str,
    open_timeout_s: float,
    read_timeout_s: float,
    profile: str,
    decoder_threads: int | None,
    extra: dict[str, str] | None,
    cancel: threading.Event | None,
    tls: TlsOptions,
    tap: SessionTap | None = None,
) -> Backend:
    """One backend class, over the transport(s) that ``transport`` allows."""
    mode = Transport(transport)
    tries = list(cls.transports) if mode is Transport.AUTO else [mode]
    error: RtspLabError | None = None
    refused: list[str] = []  # transports the server answered 461 to
    deadline_s = time.monotonic() + open_timeout_s
    for choice in tries:
        remaining_s = deadline_s - time.monotonic()
        if remaining_s <= 0.05 and error is not None:
            break
        options = OpenOptions(
            transport=choice,
            open_timeout_s=open_timeout_s,
            read_timeout_s=read_timeout_s,
            profile=profile,
            decoder_threads=decoder_threads,
            extra=dict(extra or {}),
            tls_verify=tls.verify,
            tls_fingerprint=tls.fingerprint,
            tap=tap,
        )
        try:
            return bounded_open(
                url,
                functools.partial(cls, url, options),
                release=lambda b: b.close(),
                timeout_s=max(0.05, remaining_s),
                cancel=cancel,
                tls=tls,
            )
        except StreamClosed:  # OpenCV says only "not opened": ask the server why
            if cancel is not None and cancel.is_set():
                raise
            error = explain(url, deadline_s, tls)
        except ProtocolError as exc:  # quote what the server said, as for every backend
            error = explain(url, deadline_s, tls)
            if not isinstance(error, ProtocolError):
                error = ProtocolError(f"{url.redacted}: the server broke RTSP ({exc})")
        except RtspLabError as exc:
            error = exc
            if isinstance(exc, TransportRefused):
                refused.append(Transport(choice).value.upper())
        if isinstance(error, AuthError | NotFound | OpenTimeout | ProtocolError | TlsError):
            break
        if type(error) is ConnectError:
            break
    assert error is not None
    if len(refused) > 1 and len(refused) == len(tries):
        raise TransportRefused(
            f"{url.redacted}: the server refuses RTP over both {' and '.join(refused)} (461 to "
            "each SETUP); it may serve multicast only, or need another port or path"
        )
    raise error
