"""Bounds on backend calls that cannot be interrupted, and a look at what a server answers.

FFmpeg (inside OpenCV and PyAV) bounds an open with its own interrupt callback, but not
tightly: OpenCV's open of a server that accepts and never answers takes about twice
``open_timeout_s``, and neither library can be told to stop from another thread. So every
open runs in a daemon thread (:func:`bounded_open`); the caller waits at most
``open_timeout_s``, or until it is cancelled, and then abandons the open. An abandoned open
finishes on its own (FFmpeg's interrupt fires) and releases the stream it may have opened.

While a slow open runs, :func:`inspect_server` looks at the server once: :func:`sniff` reads
the first bytes of its answer to ``OPTIONS``, so a server that is not RTSP (an HTTP server, a
port speaking another protocol) is reported at once as :class:`~rtsplab.errors.ProtocolError`
quoting, redacted and truncated, what it answered, on every backend; then a ``DESCRIBE``
finds a stream whose codec nothing decodes (:class:`~rtsplab.errors.UnsupportedStream`),
which FFmpeg would otherwise wait on until the deadline.

Example:
    >>> from rtsplab.urls import RtspUrl
    >>> sniff(RtspUrl.parse("rtsp://127.0.0.1:1/x"), deadline_s=time.monotonic() + 0.5)
    Traceback (most recent call last):
    ...
    rtsplab.errors.ConnectError: rtsp://127.0.0.1:1/x: connection refused; is the server running on that port?
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from rtsplab.backends.rtsp_client import codec_error, connect, describe
from rtsplab.errors import (
    ConnectError,
    OpenTimeout,
    ProtocolError,
    RtspLabError,
    StreamClosed,
)
from rtsplab.urls import RtspUrl, scrub

__all__ = ["QUOTE_BYTES", "bounded_open", "inspect_server", "quote_answer", "sniff"]

log = logging.getLogger("rtsplab")

T = TypeVar("T")

QUOTE_BYTES = 32  # how much of a non-RTSP answer an error message quotes
POLL_S = 0.02  # how often a waiting caller checks for cancellation
SNIFF_AFTER_S = 0.25  # an open still running this long gets its server sniffed


def quote_answer(data: bytes, url: RtspUrl) -> str:
    """The start of a server's answer, printable, truncated and with credentials removed.

    Example:
        >>> quote_answer(b"HTTP/1.1 200 OK\\r\\nServer: x\\r\\n", RtspUrl.parse("rtsp://h/x"))
        "'HTTP/1.1 200 OK\\\\r\\\\nServer: x\\\\r\\\\n'"
        >>> quote_answer(b"\\x00" * 100, RtspUrl.parse("rtsp://h/x")).endswith("...")
        True
    """
    text = data[:QUOTE_BYTES].decode("latin-1")
    quoted = repr(scrub(text, url.secrets))
    return quoted + ("..." if len(data) > QUOTE_BYTES else "")


def sniff(url: RtspUrl, deadline_s: float, cancelled: Callable[[], bool] = lambda: False) -> bool:
    """Send ``OPTIONS`` to the server and check that the answer starts like RTSP.

    Returns ``True`` when the answer starts with ``RTSP/``, ``False`` when the server said
    nothing before ``deadline_s`` (``time.monotonic()``) or before ``cancelled()``.

    Raises:
        ProtocolError: the server answered something that is not RTSP (quoted, redacted).
        ConnectError: the connection was refused or could not be made.

    Example:
        >>> sniff(RtspUrl.parse("rtsp://127.0.0.1:8554/cam1"), time.monotonic() + 1)  # doctest: +SKIP
        True
    """
    remaining_s = deadline_s - time.monotonic()
    if remaining_s <= 0:
        return False
    try:
        sock = connect(url, remaining_s)
    except OpenTimeout:
        return False
    data = b""
    with sock:
        request = f"OPTIONS {url.without_credentials()} RTSP/1.0\r\nCSeq: 1\r\n\r\n"
        with contextlib.suppress(OSError):
            sock.sendall(request.encode())
        while len(data) < 5 and not cancelled():
            remaining_s = deadline_s - time.monotonic()
            if remaining_s <= 0:
                break
            sock.settimeout(min(POLL_S * 5, remaining_s))
            try:
                chunk = sock.recv(512)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    if not data:
        return False
    if data.startswith(b"RTSP/"[: len(data)]) and len(data) >= 5:
        return True
    if b"RTSP/".startswith(data):  # a prefix of RTSP/ then silence: give it the benefit
        return False
    raise ProtocolError(
        f"{url.redacted}: the server does not speak RTSP; it answered {quote_answer(data, url)}"
    )


def inspect_server(
    url: RtspUrl, deadline_s: float, cancelled: Callable[[], bool] = lambda: False
) -> RtspLabError | None:
    """The error that explains a slow open at once, or ``None`` when there is none to find.

    A server that is not RTSP gives :class:`ProtocolError`; a stream whose video codec no
    backend decodes (or with no video) gives :class:`UnsupportedStream`. Refusals, silence,
    401 and 404 give ``None``: the open reports those itself.

    Example:
        >>> inspect_server(RtspUrl.parse("rtsp://127.0.0.1:1/x"), time.monotonic() + 0.5) is None
        True
    """
    try:
        if not sniff(url, deadline_s, cancelled):
            return None
    except ProtocolError as exc:
        return exc
    except ConnectError:
        return None
    remaining_s = min(1.0, deadline_s - time.monotonic())
    if remaining_s <= 0 or cancelled():
        return None
    try:
        resp = describe(url, remaining_s)
    except RtspLabError:
        return None
    if not resp.ok:
        return None
    return codec_error(url, resp)


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
            found = inspect_server(url, deadline_s, cancelled)
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
