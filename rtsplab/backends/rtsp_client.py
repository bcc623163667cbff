"""One RTSP connection (TCP, or TLS for ``rtsps://``) carrying a sans-IO client session.

The protocol (CSeq, auth, keep-alive, redirects, server requests, TEARDOWN) is
:class:`rtsplab.rtsp.session.ClientSession`; this module only moves its bytes: it connects
(port 554, 322 for ``rtsps``), wraps the socket in TLS for ``rtsps://`` before a single byte
goes out, sends what the session queues and feeds it what arrives.

TLS: cameras use self-signed certificates, so by default the certificate is not checked (the
connection is still encrypted); ``TlsOptions(verify=True)`` checks it against the system's
trust store and the host name, ``TlsOptions(fingerprint="sha256:AB:CD:...")`` pins one
certificate (the SHA-256 of its DER form, as ``openssl x509 -fingerprint -sha256`` prints).
A TLS failure raises :class:`~rtsplab.errors.TlsError` saying what failed.

Example:
    >>> connect(RtspUrl.parse("rtsp://127.0.0.1:1/x"), 0.5)
    Traceback (most recent call last):
    ...
    rtsplab.errors.ConnectError: rtsp://127.0.0.1:1/x: connection refused; is the server running on that port?
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import re
import select
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rtsplab.backends import rxtime
from rtsplab.errors import ConnectError, OpenTimeout, StreamClosed, TlsError
from rtsplab.rtsp.messages import InterleavedFrame
from rtsplab.rtsp.session import (
    MAX_HELD_FRAMES,
    ClientSession,
    Event,
    Redirect,
    Reply,
    SetUp,
)
from rtsplab.urls import RtspUrl

if TYPE_CHECKING:
    from rtsplab.capture import SessionTap

__all__ = ["RtspClient", "TlsOptions", "connect"]

RECV_BYTES = 65536


@dataclass(frozen=True)
class TlsOptions:
    """How an ``rtsps://`` connection checks the server's certificate.

    Attributes:
        verify: check the certificate against the system trust store and the host name.
        fingerprint: accept exactly the certificate whose SHA-256 is this
            (``"sha256:AB:CD:..."`` or plain hex); checked whatever ``verify`` says.

    Example:
        >>> TlsOptions(fingerprint="sha256:" + ":".join(["AB"] * 32)).pinned == "ab" * 32
        True
        >>> TlsOptions(fingerprint="md5:00")
        Traceback (most recent call last):
        ...
        ValueError: tls_fingerprint must be a SHA-256 fingerprint: 'sha256:' and 32 hex bytes
    """

    verify: bool = False
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.fingerprint is not None and len(self.pinned or "") != 64:
            raise ValueError(
                "tls_fingerprint must be a SHA-256 fingerprint: 'sha256:' and 32 hex bytes"
            )

    @property
    def pinned(self) -> str | None:
        """The pinned fingerprint as lowercase hex without separators, or None.

        Example:
            >>> TlsOptions().pinned is None
            True
        """
        if self.fingerprint is None:
            return None
        text = self.fingerprint.strip().lower()
        text = text.removeprefix("sha256:").removeprefix("sha-256:")
        return re.sub(r"[^0-9a-f]", "", text) if re.fullmatch(r"[0-9a-f:\s]+", text) else ""

    def context(self) -> ssl.SSLContext:
        """The SSL context for these options.

        Example:
            >>> TlsOptions().context().verify_mode == ssl.CERT_NONE
            True
        """
        if self.verify:
            return ssl.create_default_context()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx


def _tls(sock: socket.socket, url: RtspUrl, tls: TlsOptions, timeout_s: float) -> ssl.SSLSocket:
    where = url.redacted
    sock.settimeout(timeout_s)
    try:
        wrapped = tls.context().wrap_socket(sock, server_hostname=url.host.strip("[]"))
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise TlsError(
            f"{where}: TLS certificate not trusted ({exc.verify_message}); pin it with "
            "tls_fingerprint='sha256:...' or pass tls_verify=False"
        ) from None
    except TimeoutError:
        sock.close()
        raise OpenTimeout(f"{where}: no TLS handshake within {timeout_s:g} s") from None
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise TlsError(
            f"{where}: TLS handshake failed ({reason}); does this port serve rtsps?"
        ) from None
    pinned = tls.pinned
    if pinned is not None:
        der = wrapped.getpeercert(binary_form=True) or b""
        seen = hashlib.sha256(der).hexdigest()
        if not hmac.compare_digest(seen, pinned):
            wrapped.close()
            raise TlsError(
                f"{where}: TLS certificate fingerprint sha256:{seen[:16]}... does not match "
                "the pinned tls_fingerprint"
            )
    return wrapped


def connect(url: RtspUrl, timeout_s: float, tls: TlsOptions | None = None) -> socket.socket:
    """A connection to the RTSP server of ``url`` (its port, else 554, 322 for ``rtsps``),
    TLS-wrapped for ``rtsps://`` before anything is sent; or a typed error.

    Raises:
        ConnectError: refused or unreachable. OpenTimeout: no connection within ``timeout_s``.
        TlsError: ``rtsps://`` and the TLS handshake or the certificate check failed.

    Example:
        >>> connect(RtspUrl.parse("rtsps://127.0.0.1:1/x"), 0.5)
        Traceback (most recent call last):
        ...
        rtsplab.errors.ConnectError: rtsps://127.0.0.1:1/x: connection refused; is the server running on that port?
    """
    t0 = time.monotonic()
    try:
        sock = socket.create_connection(
            (url.host.strip("[]"), url.effective_port), timeout=timeout_s
        )
    except ConnectionRefusedError:
        raise ConnectError(
            f"{url.redacted}: connection refused; is the server running on that port?"
        ) from None
    except TimeoutError:
        raise OpenTimeout(
            f"{url.redacted}: no answer within {timeout_s:g} s; check host, port and firewall"
        ) from None
    except OSError as exc:
        raise ConnectError(
            f"{url.redacted}: cannot connect ({exc.strerror or type(exc).__name__})"
        ) from None
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if url.scheme == "rtsps":
        left_s = max(0.05, timeout_s - (time.monotonic() - t0))
        return _tls(sock, url, tls or TlsOptions(), left_s)
    return sock


class RtspClient:
    """One RTSP connection and the :class:`ClientSession` it carries.

    Raises:
        ConnectError: refused or unreachable. OpenTimeout: no connection within ``timeout_s``.
        TlsError: the TLS handshake of an ``rtsps://`` URL failed.

    Example:
        >>> with RtspClient(RtspUrl.parse("rtsp://127.0.0.1:8554/cam1"), 2) as c:  # doctest: +SKIP
        ...     c.session.describe()
        ...     print(c.answer(time.monotonic() + 2).response.status)
        200
    """

    def __init__(
        self,
        url: RtspUrl,
        timeout_s: float,
        tls: TlsOptions | None = None,
        tap: SessionTap | None = None,
    ) -> None:
        self.url = url
        self.tap = tap  # sees every message and interleaved packet (session capture)
        observe = self._observe if tap is not None else None
        self.session = ClientSession(
            url.without_credentials(), url.username, url.password, observe=observe
        )
        self._frames: deque[InterleavedFrame] = deque(maxlen=MAX_HELD_FRAMES)
        self._sock: socket.socket | None = connect(url, timeout_s, tls)
        # a tap gets each item with the kernel's arrival time of the read that completed it
        self._stamped = tap is not None and rxtime.enable(self._sock)
        self._rx_ns: int | None = None
        if tap is not None:  # tap: connected
            tap.on_connect(self._sock.getsockname()[:2], self._sock.getpeername()[:2])
        # One OpenSSL connection must not be read and written by two threads at once (a
        # close() from another thread while the reader waits); plain sockets need no lock.
        self._tls_lock = threading.Lock() if isinstance(self._sock, ssl.SSLSocket) else None
        self._drained = True
        # A plain socket waits in poll() and reads with no timeout set: a socket timeout is a
        # system call per change (and one more per read), which releases the interpreter
        # lock: under many readers each one costs a thread switch. TLS keeps the timeouts.
        self._poll: select.poll | None = None
        self._timeout_s: float | None = None  # as last set on the socket
        if self._tls_lock is None and hasattr(select, "poll"):
            self._poll = select.poll()
            self._poll.register(self._sock, select.POLLIN)

    def _observe(self, direction: str, item: bytes | InterleavedFrame) -> None:
        tap = self.tap
        if tap is None:
            return
        # what arrives was completed by the last read: the session parses everything whole
        # before it asks for more (see available()); what is sent is stamped as it goes
        t_ns = self._rx_ns if direction == "in" else None
        if isinstance(item, InterleavedFrame):  # tap: an interleaved packet, either way
            tap.on_interleaved(direction, item.channel, item.payload, t_ns)
        else:  # tap: a whole RTSP message, either way
            tap.on_rtsp(direction, item, t_ns)

    def _locked(self) -> contextlib.AbstractContextManager[object]:
        return self._tls_lock if self._tls_lock is not None else contextlib.nullcontext()

    @property
    def sock(self) -> socket.socket | None:
        """The connected socket (to wait on it with ``select``), or None once closed.

        Example:
            >>> c.sock.getpeername()  # doctest: +SKIP
            ('127.0.0.1', 8554)
        """
        return self._sock

    @property
    def drained(self) -> bool:
        """True when the last read found the socket empty, or emptied it (a plain socket's
        read returned less than asked for): reading again now would find nothing.

        Example:
            >>> c.available(); c.drained  # doctest: +SKIP
            []
            True
        """
        return self._drained

    @property
    def buffered(self) -> bool:
        """True when TLS holds decrypted bytes not yet read (``select`` would not see them).

        Example:
            >>> c.buffered  # doctest: +SKIP
            False
        """
        sock = self._sock
        return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0

    def _lost(self, exc: OSError) -> StreamClosed:
        return StreamClosed(
            f"{self.url.redacted}: connection lost ({exc.strerror or type(exc).__name__})"
        )

    def flush(self) -> None:
        """Send everything the session has queued.

        Raises:
            StreamClosed: the connection is closed or broke.

        Example:
            >>> c.session.request("OPTIONS", "*"); c.flush()  # doctest: +SKIP
        """
        data = self.session.data_to_send()
        if not data:
            return
        sock = self._sock
        if sock is None:
            raise StreamClosed(f"{self.url.redacted}: the connection is closed")
        try:
            with self._locked():
                self._set_timeout(sock, 1.0)  # a full send buffer must not block for ever
                sock.sendall(data)
        except OSError as exc:
            raise self._lost(exc) from None

    def _set_timeout(self, sock: socket.socket, timeout_s: float) -> None:
        if self._timeout_s != timeout_s:
            sock.settimeout(timeout_s)
            self._timeout_s = timeout_s

    def _read(self, sock: socket.socket) -> bytes:
        """One ``recv``; with a tap, also the kernel's arrival time of what it read."""
        if self.tap is None:
            return sock.recv(RECV_BYTES)
        data, _, self._rx_ns = rxtime.recv(sock, RECV_BYTES, self._stamped)
        return data

    def _recv(self, timeout_s: float) -> bool:
        """Read once (waiting up to ``timeout_s``, 0: not at all); False when nothing came."""
        sock = self._sock
        if sock is None:
            raise StreamClosed(f"{self.url.redacted}: the connection is closed")
        lock, poll = self._tls_lock, self._poll
        try:
            if poll is not None:  # a plain socket: wait in poll, then read without waiting
                if timeout_s > 0 and not poll.poll(math.ceil(timeout_s * 1000)):
                    raise TimeoutError
                self._set_timeout(sock, 0.0)
                data = self._read(sock)
            elif lock is None:
                sock.settimeout(timeout_s)
                data = self._read(sock)
            else:
                with lock:
                    sock.settimeout(timeout_s)
                    data = self._read(sock)
        except (BlockingIOError, TimeoutError, ssl.SSLWantReadError):
            self._drained = True
            return False
        except OSError as exc:
            raise self._lost(exc) from None
        if not data:
            raise StreamClosed(f"{self.url.redacted}: the server closed the connection")
        # a plain socket that returned less than asked for had no more (TLS: one record)
        self._drained = lock is None and len(data) < RECV_BYTES
        self.session.receive_data(data)
        return True

    def next_event(self, deadline: float) -> Event:
        """The next session event, reading until ``deadline`` (``time.monotonic()``).

        Raises:
            TimeoutError: nothing before ``deadline``.
            StreamClosed: the server closed or reset the connection.
            ProtocolError: the server broke RTSP.

        Example:
            >>> c.next_event(time.monotonic() + 1)  # doctest: +SKIP
            InterleavedFrame(channel=0)
        """
        if self._frames:
            return self._frames.popleft()
        while True:
            event = self.session.next_event()
            self.flush()  # answers to the server's requests, keep-alives
            if event is not None:
                return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self._recv(remaining)

    def next_events(self, deadline: float) -> list[Event]:
        """The next events, reading until ``deadline`` for the first: at least one, and with it
        every other one the bytes already received make (no further read). One call per
        ``recv`` rather than per packet.

        Raises:
            TimeoutError, StreamClosed, ProtocolError: as :meth:`next_event` (an error met
                after some events comes with the next call, those events first).

        Example:
            >>> c.next_events(time.monotonic() + 1)  # doctest: +SKIP
            [InterleavedFrame(channel=0), InterleavedFrame(channel=0)]
        """
        while True:
            out = self._parsed()
            self.flush()  # answers to the server's requests, keep-alives
            if out:
                return out
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self._recv(remaining)

    def available(self) -> list[Event]:
        """The events that what the socket holds now makes, without waiting.

        Example:
            >>> c.available()  # doctest: +SKIP
            []
        """
        # a tap: whole items already read first, with the time of the read that made them
        out = self._parsed() if self.tap is not None else []
        self._recv(0)
        out += self._parsed()
        self.flush()
        return out

    def _parsed(self) -> list[Event]:
        """The frames held back, or else the events the bytes already received make."""
        if self._frames:
            out: list[Event] = [*self._frames]
            self._frames.clear()
            return out
        return self.session.next_events()

    def answer(self, deadline: float) -> Reply | SetUp | Redirect:
        """Send what is queued and wait for the final answer to the caller's request;
        interleaved frames that arrive meanwhile are kept for :meth:`next_event`.

        Raises:
            TimeoutError, StreamClosed, ProtocolError: as :meth:`next_event`.

        Example:
            >>> c.session.describe(); c.answer(time.monotonic() + 2).response.status  # doctest: +SKIP
            200
        """
        self.flush()
        held: list[InterleavedFrame] = []
        try:
            while True:
                if self._frames:
                    held.append(self._frames.popleft())
                    continue
                event = self.next_event(deadline)
                if isinstance(event, Reply | SetUp | Redirect):
                    return event
                if isinstance(event, InterleavedFrame):
                    held.append(event)
        finally:
            self._frames.extendleft(reversed(held))

    def send_interleaved(self, channel: int, payload: bytes) -> None:
        """Send one ``$``-framed packet (an RTCP receiver report) on the connection.

        Example:
            >>> c.send_interleaved(1, build_receiver_report(7))  # doctest: +SKIP
        """
        self.session.send_interleaved(channel, payload)
        self.flush()

    def interrupt(self) -> None:
        """Shut the socket's reading side so that a ``recv`` blocked in another thread returns
        now; the writing side stays open for the TEARDOWN that :meth:`close` sends.

        Example:
            >>> import threading
            >>> silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
            >>> c = RtspClient(RtspUrl.parse(f"rtsp://127.0.0.1:{silent.getsockname()[1]}/x"), 1)
            >>> threading.Timer(0.1, c.interrupt).start()
            >>> t0 = time.monotonic()
            >>> try:
            ...     c.next_event(deadline=t0 + 5)
            ... except StreamClosed:
            ...     print("StreamClosed in under a second:", time.monotonic() - t0 < 1)
            StreamClosed in under a second: True
            >>> c.close(); silent.close()
        """
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RD)

    def close(self, teardown: bool = True) -> None:
        """Send TEARDOWN (best effort, with credentials, when a session exists) and close.
        Idempotent.

        Example:
            >>> c.close(); c.close()  # doctest: +SKIP
        """
        sock, self._sock = self._sock, None
        if sock is None:
            return
        lock = self._tls_lock
        free = lock is None or lock.acquire(timeout=0.3)  # a reader thread woken by interrupt()
        try:
            if teardown and free:
                self.session.close()
                data = self.session.data_to_send()
                if data:
                    with contextlib.suppress(OSError, ValueError):
                        sock.settimeout(0.2)
                        sock.sendall(data)
        finally:
            if lock is not None and free:
                lock.release()
        with contextlib.suppress(OSError):
            sock.close()

    def __enter__(self) -> RtspClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RtspClient({self.url.redacted!r}, session={self.session.session_id!r})"
