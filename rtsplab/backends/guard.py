"""Bounds on backend calls that cannot be interrupted.

FFmpeg (inside OpenCV and PyAV) bounds an open with its own interrupt callback, but not
tightly: OpenCV's open of a server that accepts and never answers takes about twice
``open_timeout_s``, and neither library can be told to stop from another thread. So every
open runs in a daemon thread (:func:`bounded_open`); the caller waits at most
``open_timeout_s``, or until it is cancelled, and then abandons the open. An abandoned open
finishes on its own (FFmpeg's interrupt fires) and releases the stream it may have opened.

While a slow open runs, :func:`rtsplab.backends.diagnosis.inspect_server` looks at the
server once (a server that is not RTSP, a codec nothing decodes, a failed TLS handshake), so
such an open fails at once with the reason rather than at the deadline.

Example:
    >>> from rtsplab.urls import RtspUrl
    >>> bounded_open(RtspUrl.parse("rtsp://127.0.0.1:1/x"), lambda: 7, lambda v: None, 1.0)
    7
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from rtsplab.backends.diagnosis import inspect_server
from rtsplab.backends.rtsp_client import TlsOptions
from rtsplab.errors import OpenTimeout, StreamClosed
from rtsplab.urls import RtspUrl

__all__ = ["bounded_open"]

log = logging.getLogger("rtsplab")

T = TypeVar("T")

POLL_S = 0.02  # how often a waiting caller checks for cancellation
SNIFF_AFTER_S = 0.25  # an open still running this long gets its server sniffed


class _Attempt(Generic[T]):
    """One call running in a daemon thread, which may be abandoned by its caller."""

    def __init__(self, fn: Callable[[], T], release: Callable[[T], None], name: str) -> None:
        self._fn = fn
        self._release = release
        self._lock = threading.Lock()
        self._abandoned = False
        self.done = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            value = self._fn()
        except BaseException as exc:  # handed to the caller, or dropped once abandoned
            with self._lock:
                if not self._abandoned:  # an abandoned error (and the traceback holding
                    self.error = exc  # what the call had opened) is let go at once
            self.done.set()
            return
        with self._lock:
            late = self._abandoned
            if not late:
                self.value = value
        if late:  # nobody will use it: release what the call opened
            with contextlib.suppress(Exception):
                self._release(value)
            log.debug("an abandoned open finished late and was released")
        self.done.set()

    def abandon(self) -> T | None:
        """Give the call up; returns its value if it finished meanwhile (caller releases it)."""
        with self._lock:
            self._abandoned = True
            value, self.value = self.value, None
        return value


def bounded_open(
    url: RtspUrl,
    open_fn: Callable[[], T],
    release: Callable[[T], None],
    timeout_s: float,
    cancel: threading.Event | None = None,
    tls: TlsOptions | None = None,
) -> T:
    """Run ``open_fn()`` in a daemon thread; return its result within ``timeout_s``.

    Past ``SNIFF_AFTER_S`` the server is inspected (:func:`inspect_server`), so a server that
    is not RTSP, or a codec nothing decodes, fails the open at once. At the deadline, or when ``cancel`` is set, the call is abandoned:
    if it later succeeds, ``release`` is called on what it returned.

    Raises:
        OpenTimeout: no result within ``timeout_s``.
        ProtocolError: the server answered something that is not RTSP.
        UnsupportedStream: the server describes a codec nothing decodes.
        StreamClosed: ``cancel`` was set.
        Exception: whatever ``open_fn`` raised, when it raised in time.

    Example:
        >>> u = RtspUrl.parse("rtsp://127.0.0.1:1/x")
        >>> bounded_open(u, lambda: 42, release=lambda v: None, timeout_s=1.0)
        42
        >>> t0 = time.monotonic()
        >>> bounded_open(u, lambda: time.sleep(1), release=lambda v: None, timeout_s=0.3)
        Traceback (most recent call last):
        ...
        rtsplab.errors.OpenTimeout: rtsp://127.0.0.1:1/x: no stream within open_timeout_s=0.3; check host, port and firewall
        >>> round(time.monotonic() - t0, 1)
        0.3
    """
    t0 = time.monotonic()
    deadline_s = t0 + timeout_s
    attempt: _Attempt[T] = _Attempt(open_fn, release, f"rtsplab-open-{url.host}")

    def cancelled() -> bool:
        return attempt.done.is_set() or (cancel is not None and cancel.is_set())

    def give_up(error: Exception) -> Exception:
        late = attempt.abandon()
        if late is not None:
            with contextlib.suppress(Exception):
                release(late)
        return error

    sniffed = False
    while not attempt.done.is_set():
        now = time.monotonic()
        if cancel is not None and cancel.is_set():
            raise give_up(StreamClosed(f"{url.redacted}: closed while opening")) from None
        if now >= deadline_s:
            raise give_up(
                OpenTimeout(
                    f"{url.redacted}: no stream within open_timeout_s={timeout_s:g}; "
                    "check host, port and firewall"
                )
            ) from None
        if not sniffed and now - t0 >= min(SNIFF_AFTER_S, timeout_s / 4):
            sniffed = True
            found = inspect_server(url, deadline_s, cancelled, tls)
            if found is not None and not attempt.done.is_set():
                raise give_up(found) from None
            continue
        try:
            attempt.done.wait(min(POLL_S, max(0.0, deadline_s - now)))
        except BaseException:  # KeyboardInterrupt (a Jupyter cell stopped): release it later
            give_up(StreamClosed(f"{url.redacted}: open interrupted"))
            raise
    if attempt.error is not None:
        raise attempt.error
    value = attempt.abandon()
    assert value is not None
    return value
