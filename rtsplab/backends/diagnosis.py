"""Why a stream did not open, in one place: status codes to typed errors, the server sniff
and the bounded DESCRIBE that explains a failure a backend gave no reason for.

- :func:`status_error`: an RTSP status to its typed error (401 -> :class:`AuthError`, 404 ->
  :class:`NotFound`, 461 -> :class:`TransportRefused`, ...), used by the native client on
  every answer and by :func:`classify_failure`.
- :func:`sniff`: the first bytes a server answers to ``OPTIONS``, so a port that is not RTSP
  (an HTTP server, another protocol) is reported at once, quoted and redacted, on every
  backend. For ``rtsps://`` it speaks TLS like every other connection: no byte in clear.
- :func:`describe`, :func:`codec_error`, :func:`classify_failure`: OpenCV reports a failed
  open as ``isOpened() == False`` and nothing more; a bounded DESCRIBE then tells refused
  (:class:`ConnectError`), silent (:class:`OpenTimeout`), 401, 404, or a codec nothing here
  decodes (:class:`UnsupportedStream`).
- :func:`inspect_server` (sniff, then DESCRIBE for the codec) runs while a slow open is still
  going (see :mod:`rtsplab.backends.guard`); :func:`explain` after one failed silently.

Example:
    >>> type(status_error(RtspUrl.parse("rtsp://h/x"), RtspResponse(404, "Not Found"), "DESCRIBE"))
    <class 'rtsplab.errors.NotFound'>
    >>> type(classify_failure(RtspUrl.parse("rtsp://127.0.0.1:1/x"), 0.5)).__name__
    'ConnectError'
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable

from rtsplab.backends.rtsp_client import RtspClient, TlsOptions, connect
from rtsplab.errors import (
    AuthError,
    ConnectError,
    NotFound,
    OpenTimeout,
    ProtocolError,
    RtspLabError,
    TlsError,
    TransportRefused,
    UnsupportedStream,
)
from rtsplab.rtsp.messages import RtspResponse, format_request
from rtsplab.rtsp.sdp import parse_sdp
from rtsplab.rtsp.session import Reply, SetUp
from rtsplab.urls import RtspUrl, scrub

__all__ = [
    "DECODABLE",
    "QUOTE_BYTES",
    "classify_failure",
    "codec_error",
    "describe",
    "explain",
    "inspect_server",
    "quote_answer",
    "sniff",
    "status_error",
]

DECODABLE = {"H264", "H265", "HEVC", "JPEG", "MP4V-ES"}
QUOTE_BYTES = 32  # how much of a non-RTSP answer an error message quotes
POLL_S = 0.02


def status_error(
    url: RtspUrl, resp: RtspResponse, what: str, transport: str | None = None
) -> RtspLabError | None:
    """The typed error for a non-2xx RTSP response, or ``None`` for 2xx.

    ``transport`` names what a SETUP asked for (``"TCP"``), so a 461 (or the 400/501 some
    relays answer instead) says what was refused.

    Example:
        >>> status_error(RtspUrl.parse("rtsp://u:pw@h/x"), RtspResponse(401, "Unauthorized"), "DESCRIBE")
        AuthError('rtsp://u:***@h/x: 401 Unauthorized; the password is wrong')
        >>> type(status_error(RtspUrl.parse("rtsp://h/x"), RtspResponse(501, "No"), "SETUP", "UDP"))
        <class 'rtsplab.errors.TransportRefused'>
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
    if what == "SETUP" and transport is not None and resp.status in (400, 501):
        return TransportRefused(
            f"{where}: SETUP of RTP over {transport} answered {resp.status} {resp.reason}; "
            "the server may not serve that transport"
        )
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


def describe(url: RtspUrl, timeout_s: float = 2.0, tls: TlsOptions | None = None) -> RtspResponse:
    """Send DESCRIBE (answering one auth challenge) and return the final response.

    Raises:
        ConnectError: connection refused or host unreachable (:class:`TlsError`: TLS failed).
        OpenTimeout: no answer within ``timeout_s``.
        ProtocolError: the peer does not speak RTSP.

    Example:
        >>> describe(RtspUrl.parse("rtsp://127.0.0.1:1/x"), 0.5)
        Traceback (most recent call last):
        ...
        rtsplab.errors.ConnectError: rtsp://127.0.0.1:1/x: connection refused; is the server running on that port?
    """
    deadline = time.monotonic() + timeout_s
    with RtspClient(url, timeout_s, tls) as client:
        client.session.describe()
        try:
            event = client.answer(deadline)
        except TimeoutError:
            raise OpenTimeout(
                f"{url.redacted}: no RTSP answer within {timeout_s:g} s; check host, port and firewall"
            ) from None
    if isinstance(event, Reply | SetUp):
        return event.response
    return RtspResponse(event.status, "Redirect", headers=(("Location", event.location),))


def classify_failure(
    url: RtspUrl, timeout_s: float = 2.0, tls: TlsOptions | None = None
) -> RtspLabError:
    """Ask the server why a stream did not open; return (not raise) the typed error.

    Example:
        >>> type(classify_failure(RtspUrl.parse("rtsp://127.0.0.1:1/x"), 0.5)).__name__
        'ConnectError'
    """
    try:
        resp = describe(url, timeout_s, tls)
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


_REQUEST_LINE = re.compile(rb"[A-Za-z_][A-Za-z0-9_\-]* \S+ RTSP/[0-9]")
SNIFF_LINE_BYTES = 256  # a first line longer than this is not RTSP


def _verdict(data: bytes) -> bool | None:
    """True: the answer starts like RTSP (a response, or a request of the server's own, as
    some NVRs send before answering); False: it does not; None: too short to tell."""
    if data.startswith(b"RTSP/"):
        return True
    if b"RTSP/".startswith(data):
        return None
    line, newline, _ = data.partition(b"\n")
    if newline:
        return _REQUEST_LINE.match(line) is not None
    first = data[:1]
    return None if first.isalpha() and len(data) < SNIFF_LINE_BYTES else False


def sniff(
    url: RtspUrl,
    deadline_s: float,
    cancelled: Callable[[], bool] = lambda: False,
    tls: TlsOptions | None = None,
) -> bool:
    """Send ``OPTIONS`` to the server (over TLS for ``rtsps://``) and check that the answer
    starts like RTSP.

    Returns ``True`` when the answer starts with ``RTSP/`` (or with a request line of the
    server's own, ``SET_PARAMETER * RTSP/1.0``), ``False`` when the server said nothing
    before ``deadline_s`` (``time.monotonic()``) or before ``cancelled()``.

    Raises:
        ProtocolError: the server answered something that is not RTSP (quoted, redacted).
        ConnectError: the connection was refused or could not be made (:class:`TlsError`:
            the TLS handshake of an ``rtsps://`` URL failed).

    Example:
        >>> sniff(RtspUrl.parse("rtsp://127.0.0.1:1/x"), deadline_s=time.monotonic() + 0.5)
        Traceback (most recent call last):
        ...
        rtsplab.errors.ConnectError: rtsp://127.0.0.1:1/x: connection refused; is the server running on that port?
    """
    remaining_s = deadline_s - time.monotonic()
    if remaining_s <= 0:
        return False
    try:
        sock = connect(url, remaining_s, tls)
    except OpenTimeout:
        return False
    data = b""
    with sock:
        with contextlib.suppress(OSError):
            sock.sendall(format_request("OPTIONS", url.without_credentials(), 1))
        while _verdict(data) is None and not cancelled():
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
    verdict = _verdict(data)
    if verdict is None:  # silence, or a prefix of RTSP then silence: give it the benefit
        return False
    if verdict:
        return True
    raise ProtocolError(
        f"{url.redacted}: the server does not speak RTSP; it answered {quote_answer(data, url)}"
    )


def inspect_server(
    url: RtspUrl,
    deadline_s: float,
    cancelled: Callable[[], bool] = lambda: False,
    tls: TlsOptions | None = None,
) -> RtspLabError | None:
    """The error that explains a slow open at once, or ``None`` when there is none to find.

    A server that is not RTSP gives :class:`ProtocolError`; a stream whose video codec no
    backend decodes (or with no video) gives :class:`UnsupportedStream`; a failed TLS
    handshake gives :class:`TlsError`. Refusals, silence, 401 and 404 give ``None``: the open
    reports those itself.

    Example:
        >>> inspect_server(RtspUrl.parse("rtsp://127.0.0.1:1/x"), time.monotonic() + 0.5) is None
        True
    """
    try:
        if not sniff(url, deadline_s, cancelled, tls):
            return None
    except (ProtocolError, TlsError) as exc:
        return exc
    except ConnectError:
        return None
    remaining_s = min(1.0, deadline_s - time.monotonic())
    if remaining_s <= 0 or cancelled():
        return None
    try:
        resp = describe(url, remaining_s, tls)
    except RtspLabError:
        return None
    if not resp.ok:
        return None
    return codec_error(url, resp)


def explain(url: RtspUrl, deadline_s: float, tls: TlsOptions | None = None) -> RtspLabError:
    """The typed reason a backend gave no reason for, found by asking the server before
    ``deadline_s``: not RTSP (:class:`ProtocolError`), TLS, refused, silent, 401, 404, codec.

    Example:
        >>> type(explain(RtspUrl.parse("rtsp://127.0.0.1:1/x"), time.monotonic() + 0.5)).__name__
        'ConnectError'
    """
    found = inspect_server(
        url, time.monotonic() + max(0.05, deadline_s - time.monotonic()), tls=tls
    )
    if found is not None:
        return found
    return classify_failure(url, max(0.05, deadline_s - time.monotonic()), tls)
