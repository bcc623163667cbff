"""A small RTSP 1.0 client connection (RFC 2326), and failure classification built on it.

:class:`RtspClient` is one TCP connection to an RTSP server: it numbers requests (CSeq),
answers one Basic/Digest challenge (RFC 2617), keeps the session id, and splits what comes
back into responses and ``$``-interleaved RTP/RTCP frames. Message parsing, SDP and auth come
from :mod:`rtsplab.rtsp`, the same code the simulator serves with; this module only adds the
socket.

Two users:

- :class:`rtsplab.backends.native.NativeBackend` plays a stream through it.
- :func:`classify_failure`: OpenCV reports a failed open as ``isOpened() == False`` and nothing
  more; rtsplab then asks the server with a bounded DESCRIBE and turns the answer into a typed
  error: refused -> :class:`ConnectError`, silence -> :class:`OpenTimeout`, 401 ->
  :class:`AuthError`, 404 -> :class:`NotFound`, a codec FFmpeg cannot decode ->
  :class:`UnsupportedStream`.

Example:
    >>> describe(RtspUrl.parse("rtsp://127.0.0.1:8554/cam1"), timeout_s=1).status  # doctest: +SKIP
    200
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import TYPE_CHECKING

from rtsplab.errors import (
    AuthError,
    ConnectError,
    NotFound,
    OpenTimeout,
    ProtocolError,
    RtspLabError,
    StreamClosed,
    TransportRefused,
    UnsupportedStream,
)
from rtsplab.rtsp.auth import authorization_header
from rtsplab.rtsp.messages import (
    InterleavedFrame,
    MessageReader,
    RtspResponse,
    format_request,
    interleave,
    parse_response,
)
from rtsplab.rtsp.sdp import parse_sdp
from rtsplab.urls import RtspUrl

if TYPE_CHECKING:
    from rtsplab.capture import SessionTap

__all__ = ["RtspClient", "classify_failure", "codec_error", "connect", "describe", "status_error"]

DECODABLE = {"H264", "H265", "HEVC", "JPEG", "MP4V-ES"}


def connect(url: RtspUrl, timeout_s: float) -> socket.socket:
    """A TCP connection to the RTSP server of ``url`` (port 554 unless given), or a typed error.

    Raises:
        ConnectError: refused or unreachable. OpenTimeout: no connection within ``timeout_s``.

    Example:
        >>> connect(RtspUrl.parse("rtsp://127.0.0.1:1/x"), 0.5)
        Traceback (most recent call last):
        ...
        rtsplab.errors.ConnectError: rtsp://127.0.0.1:1/x: connection refused; is the server running on that port?
    """
    try:
        return socket.create_connection((url.host.strip("[]"), url.port or 554), timeout=timeout_s)
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


class RtspClient:
    """One RTSP connection: requests with CSeq, auth and session; interleaved frames kept.

    Raises:
        ConnectError: refused or unreachable. OpenTimeout: no connection within ``timeout_s``.

    Example:
        >>> with RtspClient(RtspUrl.parse("rtsp://127.0.0.1:8554/cam1"), 2) as c:  # doctest: +SKIP
        ...     print(c.request("OPTIONS", "*", [], time.monotonic() + 2).status)
        200
    """

    def __init__(self, url: RtspUrl, timeout_s: float, tap: SessionTap | None = None) -> None:
        self.url = url
        self.tap = tap  # sees every message and interleaved packet (session capture)
        self.session: str | None = None
        self._cseq = 0
        self._challenge: str | None = None
        self._messages = MessageReader()
        self._pending: list[InterleavedFrame] = []
        self._sock: socket.socket | None = connect(url, timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tap is not None:  # tap: connected
            tap.on_connect(self._sock.getsockname()[:2], self._sock.getpeername()[:2])

    def send(self, method: str, uri: str, headers: list[tuple[str, str]]) -> int:
        """Send a request (with session and credentials when known); returns its CSeq.

        Example:
            >>> with RtspClient(RtspUrl.parse("rtsp://127.0.0.1:8554/cam1"), 2) as c:  # doctest: +SKIP
            ...     c.send("OPTIONS", "*", [])
            1
        """
        if self._sock is None:
            raise StreamClosed(f"{self.url.redacted}: the connection is closed")
        self._cseq += 1
        hdrs = [*headers, ("User-Agent", "rtsplab")]
        if self.session:
            hdrs.append(("Session", self.session))
        if self._challenge and self.url.username is not None:
            auth = authorization_header(
                self.url.username, self.url.password or "", method, uri, self._challenge
            )
            hdrs.append(("Authorization", auth))
        request = format_request(method, uri, self._cseq, hdrs)
        if self.tap is not None:  # tap: a request sent
            self.tap.on_rtsp("out", request)
        try:
            self._sock.sendall(request)
        except TimeoutError:
            raise
        except OSError as exc:
            raise self._lost(exc) from None
        return self._cseq

    def send_interleaved(self, channel: int, payload: bytes) -> None:
        """Send one ``$``-framed packet (an RTCP receiver report) on the connection.

        Example:
            >>> c.send_interleaved(1, build_receiver_report(7))  # doctest: +SKIP
        """
        if self._sock is None:
            raise StreamClosed(f"{self.url.redacted}: the connection is closed")
        if self.tap is not None:  # tap: an interleaved packet sent
            self.tap.on_interleaved("out", channel, payload)
        try:
            self._sock.sendall(interleave(channel, payload))
        except TimeoutError:
            raise
        except OSError as exc:
            raise self._lost(exc) from None

    @property
    def sock(self) -> socket.socket | None:
        """The connected socket (to wait on it with ``select``), or None once closed.

        Example:
            >>> c.sock.getpeername()  # doctest: +SKIP
            ('127.0.0.1', 8554)
        """
        return self._sock

    def read_available(self) -> list[bytes | InterleavedFrame]:
        """Read what the socket holds now, without waiting; return the complete items.

        Raises:
            StreamClosed: the server closed or reset the connection.
            ProtocolError: the server sent something that is not RTSP.

        Example:
            >>> c.read_available()  # doctest: +SKIP
            []
        """
        if self._sock is None:
            raise StreamClosed(f"{self.url.redacted}: the connection is closed")
        try:
            self._sock.settimeout(0)
            data = self._sock.recv(65536)
        except (BlockingIOError, TimeoutError):
            data = None
        except OSError as exc:
            raise self._lost(exc) from None
        finally:
            with contextlib.suppress(OSError):
                self._sock.settimeout(1.0)  # requests sent later must not fail on a full buffer
        if data is not None:
            if not data:
                raise StreamClosed(f"{self.url.redacted}: the server closed the connection")
            self._messages.feed(data)
        items: list[bytes | InterleavedFrame] = [*self._pending]
        self._pending.clear()
        while (item := self._next_message()) is not None:
            items.append(item)
        return items

    def _next_message(self) -> bytes | InterleavedFrame | None:
        """The next complete item of the byte stream, shown to the tap."""
        item = self._messages.next()
        if item is not None and self.tap is not None:  # tap: a message or packet received
            if isinstance(item, InterleavedFrame):
                self.tap.on_interleaved("in", item.channel, item.payload)
            else:
                self.tap.on_rtsp("in", item)
        return item

    def _lost(self, exc: OSError) -> StreamClosed:
        return StreamClosed(
            f"{self.url.redacted}: connection lost ({exc.strerror or type(exc).__name__})"
        )

    def next_item(self, deadline: float) -> bytes | InterleavedFrame:
        """The next response (raw bytes) or interleaved frame; frames held back come first.

        Raises:
            TimeoutError: nothing complete before ``deadline`` (``time.monotonic()``).
            StreamClosed: the server closed or reset the connection.
            ProtocolError: the server sent something that is not RTSP.

        Example:
            >>> c.next_item(time.monotonic() + 1)  # doctest: +SKIP
            InterleavedFrame(channel=0)
        """
        if self._pending:
            return self._pending.pop(0)
        if self._sock is None:
            raise StreamClosed(f"{self.url.redacted}: the connection is closed")
        while (item := self._next_message()) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            try:
                self._sock.settimeout(remaining)
                data = self._sock.recv(65536)
            except TimeoutError:
                raise
            except OSError as exc:
                raise self._lost(exc) from None
            if not data:
                raise StreamClosed(f"{self.url.redacted}: the server closed the connection")
            self._messages.feed(data)
        return item

    def request(
        self, method: str, uri: str, headers: list[tuple[str, str]], deadline: float
    ) -> RtspResponse:
        """Send a request and wait for its response, answering one auth challenge.

        Interleaved frames that arrive meanwhile are kept for :meth:`next_item`.

        Example:
            >>> c.request("DESCRIBE", url, [("Accept", "application/sdp")], deadline).status  # doctest: +SKIP
            200
        """
        for attempt in range(2):
            cseq = self.send(method, uri, headers)
            while True:
                item = self.next_item(deadline)
                if isinstance(item, InterleavedFrame):
                    self._pending.append(item)
                    continue
                resp = parse_response(item)
                if resp.cseq == cseq:
                    break
            challenges = resp.get_all("www-authenticate")
            if resp.status != 401 or attempt or not challenges or self.url.username is None:
                return resp
            digest = [c for c in challenges if c.lower().startswith("digest")]
            self._challenge = (digest or challenges)[0]
        return resp

    def interrupt(self) -> None:
        """Shut the socket down so that a ``recv`` blocked in another thread returns now.

        Example:
            >>> import threading
            >>> silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
            >>> c = RtspClient(RtspUrl.parse(f"rtsp://127.0.0.1:{silent.getsockname()[1]}/x"), 1)
            >>> threading.Timer(0.1, c.interrupt).start()
            >>> t0 = time.monotonic()
            >>> try:
            ...     c.next_item(deadline=t0 + 5)
            ... except StreamClosed:
            ...     print("StreamClosed in under a second:", time.monotonic() - t0 < 1)
            StreamClosed in under a second: True
            >>> c.close(); silent.close()
        """
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self, teardown: bool = True) -> None:
        """Send TEARDOWN (best effort, when a session exists) and close. Idempotent.

        Example:
            >>> c.close(); c.close()  # doctest: +SKIP
        """
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):
            if teardown and self.session:
                sock.settimeout(0.2)
                self._cseq += 1
                request = format_request(
                    "TEARDOWN",
                    self.url.without_credentials(),
                    self._cseq,
                    [("Session", self.session)],
                )
                if self.tap is not None:  # tap: the TEARDOWN sent
                    self.tap.on_rtsp("out", request)
                sock.sendall(request)
        with contextlib.suppress(OSError):
            sock.close()

    def __enter__(self) -> RtspClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RtspClient({self.url.redacted!r}, session={self.session!r})"


def describe(url: RtspUrl, timeout_s: float = 2.0) -> RtspResponse:
    """Send DESCRIBE (answering one auth challenge) and return the response.

    Raises:
        ConnectError: connection refused or host unreachable.
        OpenTimeout: no answer within ``timeout_s``.
        ProtocolError: the peer does not speak RTSP.

    Example:
        >>> describe(RtspUrl.parse("rtsp://127.0.0.1:1/x"), 0.5)
        Traceback (most recent call last):
        ...
        rtsplab.errors.ConnectError: rtsp://127.0.0.1:1/x: connection refused; is the server running on that port?
    """
    deadline = time.monotonic() + timeout_s
    with RtspClient(url, timeout_s) as client:
        try:
            return client.request(
                "DESCRIBE", url.without_credentials(), [("Accept", "application/sdp")], deadline
            )
        except TimeoutError:
            raise OpenTimeout(
                f"{url.redacted}: no RTSP answer within {timeout_s:g} s; check host, port and firewall"
            ) from None


def status_error(
    url: RtspUrl, resp: RtspResponse, what: str, transport: str | None = None
) -> RtspLabError | None:
    """The typed error for a non-2xx RTSP response, or ``None`` for 2xx.

    ``transport`` names what a SETUP asked for (``"TCP"``), so a 461 says what was refused.

    Example:
        >>> type(status_error(RtspUrl.parse("rtsp://h/x"), RtspResponse(404, "Not Found"), "DESCRIBE"))
        <class 'rtsplab.errors.NotFound'>
    """
    if resp.ok:
        return None
    where = url.redacted
    if resp.status == 401:
        hint = (
            "the password is wrong" if url.username else "the server needs user:password in the URL"
        )
        return AuthError(f"{where}: 401 Unauthorized; {hint}")
    if resp.status == 404:
        return NotFound(f"{where}: 404 Not Found; check the path after the host")
    if resp.status == 461:
        other = {"TCP": "udp", "UDP": "tcp"}.get(transport or "")
        if other is not None:
            return TransportRefused(
                f"{where}: the server refuses RTP over {transport} (461); try transport='{other}'"
            )
        return TransportRefused(f"{where}: the server refuses this RTP transport (461)")
    return ConnectError(f"{where}: {what} answered {resp.status} {resp.reason}")


def codec_error(url: RtspUrl, resp: RtspResponse) -> RtspLabError | None:
    """The error a DESCRIBE answer implies by itself: a malformed SDP (:class:`ProtocolError`),
    no video track, or a video codec nothing here decodes (:class:`UnsupportedStream`).

    Example:
        >>> sdp = b"v=0\\r\\nm=video 0 RTP/AVP 26\\r\\na=rtpmap:26 JPEG2000/90000\\r\\n"
        >>> codec_error(RtspUrl.parse("rtsp://h/x"), RtspResponse(200, "OK", body=sdp))
        UnsupportedStream('rtsp://h/x: video codec JPEG2000 is not supported; use H.264 or H.265')
        >>> sdp = b"v=0\\r\\nm=video 0 RTP/AVP 96\\r\\na=rtpmap:96 H264/90000\\r\\n"
        >>> codec_error(RtspUrl.parse("rtsp://h/x"), RtspResponse(200, "OK", body=sdp)) is None
        True
    """
    try:
        video = parse_sdp(resp.body).video()
    except ProtocolError as exc:
        return exc
    codec = video.encoding if video is not None else None
    if codec is None:
        return UnsupportedStream(f"{url.redacted}: the stream has no video track")
    if codec not in DECODABLE:
        return UnsupportedStream(
            f"{url.redacted}: video codec {codec} is not supported; use H.264 or H.265"
        )
    return None


def classify_failure(url: RtspUrl, timeout_s: float = 2.0) -> RtspLabError:
    """Ask the server why a stream did not open; return (not raise) the typed error.

    Example:
        >>> type(classify_failure(RtspUrl.parse("rtsp://127.0.0.1:1/x"), 0.5)).__name__
        'ConnectError'
    """
    try:
        resp = describe(url, timeout_s)
    except RtspLabError as exc:
        return exc
    error = status_error(url, resp, "DESCRIBE")
    if error is not None:
        return error
    error = codec_error(url, resp)
    if error is not None:
        return error
    video = parse_sdp(resp.body).video()  # codec_error found it well-formed, with video
    codec = video.encoding if video is not None else "video"
    return UnsupportedStream(
        f"{url.redacted}: the server describes a {codec} stream, but it could not be opened or "
        "decoded; try transport='udp' or backend='pyav' for details"
    )
