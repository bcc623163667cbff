"""A minimal RTSP client: one DESCRIBE, to say *why* a stream did not open.

OpenCV reports a failed open as ``isOpened() == False`` and nothing more. rtsplab then asks the
server itself, with a bounded DESCRIBE (Basic or Digest auth, RFC 2326/2617), and turns the
answer into a typed error: refused -> :class:`ConnectError`, silence -> :class:`OpenTimeout`,
401 -> :class:`AuthError`, 404 -> :class:`NotFound`, a codec FFmpeg cannot decode ->
:class:`UnsupportedStream`.

Example:
    >>> describe(RtspUrl.parse("rtsp://127.0.0.1:8554/cam1"), timeout_s=1).status  # doctest: +SKIP
    200
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import time
from dataclasses import dataclass, field

from rtsplab.errors import (
    AuthError,
    ConnectError,
    NotFound,
    OpenTimeout,
    ProtocolError,
    RtspLabError,
    UnsupportedStream,
)
from rtsplab.urls import RtspUrl

__all__ = ["DescribeReply", "classify_failure", "describe", "digest_response", "sdp_codecs"]

DECODABLE = {"H264", "H265", "HEVC", "JPEG", "MP4V-ES"}
_MAX_REPLY = 256 * 1024


@dataclass(frozen=True)
class DescribeReply:
    """The server's answer to DESCRIBE.

    Example:
        >>> DescribeReply(200, "OK").ok
        True
    """

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx.

        Example:
            >>> DescribeReply(404, "Not Found").ok
            False
        """
        return 200 <= self.status < 300


def digest_response(
    username: str, password: str, realm: str, nonce: str, method: str, uri: str
) -> str:
    """The RFC 2617 Digest ``response`` value (MD5, no qop), as RTSP servers expect.

    Example:
        >>> digest_response("u", "p", "r", "n", "DESCRIBE", "rtsp://h/a")[:8]
        'd5ff52dc'
    """
    ha1 = hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    return hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()


def _authorization(url: RtspUrl, challenge: str, method: str, uri: str) -> str | None:
    if url.username is None:
        return None
    password = url.password or ""
    if challenge.lower().startswith("digest"):
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
        realm, nonce = params.get("realm", ""), params.get("nonce", "")
        resp = digest_response(url.username, password, realm, nonce, method, uri)
        return (
            f'Digest username="{url.username}", realm="{realm}", nonce="{nonce}", '
            f'uri="{uri}", response="{resp}"'
        )
    token = base64.b64encode(f"{url.username}:{password}".encode()).decode()
    return f"Basic {token}"


def _exchange(sock: socket.socket, request: str, deadline: float) -> DescribeReply:
    sock.sendall(request.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            raise ProtocolError("the server closed the connection before answering")
        data += chunk
        if len(data) > _MAX_REPLY:
            raise ProtocolError("the server's reply headers are too large")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"RTSP/\d\.\d\s+(\d{3})\s*(.*)", lines[0])
    if not m:
        raise ProtocolError(f"not an RTSP reply: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if sep:
            headers[k.strip().lower()] = v.strip()
    length = min(int(headers.get("content-length", "0") or 0), _MAX_REPLY)
    while len(body) < length:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(length - len(body))
        if not chunk:
            break
        body += chunk
    return DescribeReply(int(m.group(1)), m.group(2), headers, body.decode("utf-8", "replace"))


def describe(url: RtspUrl, timeout_s: float = 2.0) -> DescribeReply:
    """Send DESCRIBE (answering one auth challenge) and return the reply.

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
    uri = url.without_credentials()
    deadline = time.monotonic() + timeout_s
    try:
        with socket.create_connection(
            (url.host.strip("[]"), url.port or 554), timeout=timeout_s
        ) as s:
            base = f"DESCRIBE {uri} RTSP/1.0\r\nAccept: application/sdp\r\nUser-Agent: rtsplab\r\n"
            reply = _exchange(s, base + "CSeq: 1\r\n\r\n", deadline)
            challenge = reply.headers.get("www-authenticate", "")
            if reply.status == 401 and challenge:
                auth = _authorization(url, challenge, "DESCRIBE", uri)
                if auth is not None:
                    reply = _exchange(
                        s, base + f"CSeq: 2\r\nAuthorization: {auth}\r\n\r\n", deadline
                    )
            return reply
    except ConnectionRefusedError:
        raise ConnectError(
            f"{url.redacted}: connection refused; is the server running on that port?"
        ) from None
    except TimeoutError:
        raise OpenTimeout(
            f"{url.redacted}: no RTSP answer within {timeout_s:g} s; check host, port and firewall"
        ) from None
    except OSError as exc:
        raise ConnectError(
            f"{url.redacted}: cannot connect ({exc.strerror or type(exc).__name__})"
        ) from None


def sdp_codecs(sdp: str) -> list[str]:
    """Video encoding names in an SDP (``a=rtpmap`` of ``m=video`` sections), upper-case.

    Example:
        >>> sdp_codecs("m=video 0 RTP/AVP 96\\r\\na=rtpmap:96 H264/90000\\r\\n")
        ['H264']
    """
    codecs, in_video = [], False
    for line in sdp.splitlines():
        if line.startswith("m="):
            in_video = line.startswith("m=video")
        elif in_video and line.startswith("a=rtpmap:"):
            codecs.append(line.split(" ", 1)[1].split("/")[0].strip().upper())
    return codecs


def classify_failure(url: RtspUrl, timeout_s: float = 2.0) -> RtspLabError:
    """Ask the server why a stream did not open; return (not raise) the typed error.

    Example:
        >>> type(classify_failure(RtspUrl.parse("rtsp://127.0.0.1:1/x"), 0.5)).__name__
        'ConnectError'
    """
    try:
        reply = describe(url, timeout_s)
    except RtspLabError as exc:
        return exc
    if reply.status == 401:
        hint = (
            "the password is wrong" if url.username else "the server needs user:password in the URL"
        )
        return AuthError(f"{url.redacted}: 401 Unauthorized; {hint}")
    if reply.status == 404:
        return NotFound(f"{url.redacted}: 404 Not Found; check the path after the host")
    if not reply.ok:
        return ConnectError(f"{url.redacted}: the server answered {reply.status} {reply.reason}")
    codecs = sdp_codecs(reply.body)
    if not codecs:
        return UnsupportedStream(f"{url.redacted}: the stream has no video track")
    if not DECODABLE.intersection(codecs):
        return UnsupportedStream(
            f"{url.redacted}: video codec {'/'.join(codecs)} is not supported; use H.264 or H.265"
        )
    return UnsupportedStream(
        f"{url.redacted}: the server describes a {'/'.join(codecs)} stream, but it could not be "
        "opened or decoded; try transport='udp' or backend='pyav' for details"
    )
