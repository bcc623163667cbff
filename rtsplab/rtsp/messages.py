"""RTSP 1.0 (RFC 2326) messages: parse and format requests and responses, split a byte stream.

Sans-IO (no sockets, threads or clocks): the simulator and the client both use it.
``format_request`` builds a request, :class:`MessageReader` splits what comes back (RTSP
messages and ``$``-framed interleaved RTP/RTCP), ``parse_response`` reads a response and
:func:`parse_session` reads a ``Session`` header. Malformed input raises
:class:`~rtsplab.errors.ProtocolError` (:class:`RtspParseError`), nothing else.

Example:
    >>> raw = format_request("DESCRIBE", "rtsp://127.0.0.1:8554/cam1", 2, [("Accept", "application/sdp")])
    >>> parse_request(raw).cseq
    2
    >>> r = parse_response(b"RTSP/1.0 401 Unauthorized\\r\\nCSeq: 2\\r\\n"
    ...                    b"WWW-Authenticate: Digest realm=\\"x\\", nonce=\\"n\\"\\r\\n\\r\\n")
    >>> r.status, r.get("www-authenticate")
    (401, 'Digest realm="x", nonce="n"')
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rtsplab.errors import ProtocolError

__all__ = [
    "REASONS",
    "InterleavedFrame",
    "MessageReader",
    "RtspParseError",
    "RtspRequest",
    "RtspResponse",
    "SessionHeader",
    "format_request",
    "format_response",
    "interleave",
    "parse_request",
    "parse_response",
    "parse_session",
]

VERSION = "RTSP/1.0"
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024

REASONS: dict[int, str] = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    414: "Request-URI Too Large",
    453: "Not Enough Bandwidth",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    459: "Aggregate Operation Not Allowed",
    461: "Unsupported Transport",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "RTSP Version Not Supported",
}

_REQUEST_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_\-]*) (\S+) ([A-Za-z]+/[0-9]+\.[0-9]+)$")
_STATUS_LINE = re.compile(r"^(RTSP/[0-9]+\.[0-9]+) ([0-9]{3})(?: (.*))?$")
_CANONICAL = {
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "rtp-info": "RTP-Info",
    "content-base": "Content-Base",
}

Headers = tuple[tuple[str, str], ...]


class RtspParseError(ProtocolError):
    """A message that cannot be parsed; ``status`` is the response code to answer with.

    ``fatal`` means the byte stream cannot be resynchronised and the connection should close.

    Example:
        >>> RtspParseError(400, "bad request line").status
        400
    """

    def __init__(self, status: int, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.fatal = fatal


def _get(headers: Headers, name: str, default: str | None = None) -> str | None:
    lname = name.lower()
    for k, v in headers:
        if k.lower() == lname:
            return v
    return default


_DIGITS = re.compile(r"[0-9]{1,18}")


def _cseq(headers: Headers) -> int | None:
    value = _get(headers, "CSeq")
    if value is None or not _DIGITS.fullmatch(value.strip()):
        return None
    return int(value.strip())


@dataclass(frozen=True)
class SessionHeader:
    """A parsed ``Session`` header: the id and the keep-alive timeout the server asks for.

    Example:
        >>> SessionHeader("abc", 60).keepalive_s
        30.0
    """

    id: str
    timeout_s: int = 60

    @property
    def keepalive_s(self) -> float:
        """How often to send a keep-alive: half the timeout, at least every second.

        Example:
            >>> SessionHeader("a", 1).keepalive_s
            1.0
        """
        return max(1.0, self.timeout_s / 2)


def parse_session(value: str) -> SessionHeader:
    """Parse ``Session: id[;timeout=N]`` (RFC 2326 §12.37); the default timeout is 60 s.

    Raises:
        RtspParseError: an empty id, or a ``timeout`` that is not a positive integer.

    Example:
        >>> parse_session("5A3F9;timeout=30")
        SessionHeader(id='5A3F9', timeout_s=30)
        >>> parse_session(" 12345678 ").id
        '12345678'
    """
    sid, *params = value.split(";")
    sid = sid.strip()
    if not sid or any(c in sid for c in " \t,"):
        raise RtspParseError(400, f"malformed Session header {value[:40]!r}")
    timeout_s = 60
    for param in params:
        key, _, text = param.strip().partition("=")
        if key.strip().lower() == "timeout":
            text = text.strip()
            if not _DIGITS.fullmatch(text) or int(text) == 0:
                raise RtspParseError(400, f"bad Session timeout {text[:20]!r}")
            timeout_s = int(text)
    return SessionHeader(sid, timeout_s)


@dataclass(frozen=True)
class RtspRequest:
    """A parsed RTSP request.

    Example:
        >>> RtspRequest("OPTIONS", "*", headers=(("CSeq", "1"),)).cseq
        1
    """

    method: str
    uri: str
    version: str = VERSION
    headers: Headers = ()
    body: bytes = field(default=b"", repr=False)

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of header ``name`` (case-insensitive).

        Example:
            >>> RtspRequest("OPTIONS", "*", headers=(("cseq", "3"),)).get("CSeq")
            '3'
        """
        return _get(self.headers, name, default)

    @property
    def cseq(self) -> int | None:
        """The CSeq as an int, or None if missing or not a number.

        Example:
            >>> RtspRequest("OPTIONS", "*").cseq is None
            True
        """
        return _cseq(self.headers)


@dataclass(frozen=True)
class RtspResponse:
    """A parsed RTSP response.

    Example:
        >>> RtspResponse(404, "Not Found").ok
        False
    """

    status: int
    reason: str
    version: str = VERSION
    headers: Headers = ()
    body: bytes = field(default=b"", repr=False)

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of header ``name`` (case-insensitive).

        Example:
            >>> RtspResponse(200, "OK", headers=(("Session", "a;timeout=60"),)).get("session")
            'a;timeout=60'
        """
        return _get(self.headers, name, default)

    def get_all(self, name: str) -> list[str]:
        """Every value of header ``name`` (e.g. several ``WWW-Authenticate`` challenges).

        Example:
            >>> RtspResponse(401, "", headers=(("WWW-Authenticate", "Basic"),)).get_all("www-authenticate")
            ['Basic']
        """
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def cseq(self) -> int | None:
        """The CSeq as an int, or None.

        Example:
            >>> RtspResponse(200, "OK", headers=(("CSeq", "9"),)).cseq
            9
        """
        return _cseq(self.headers)

    @property
    def ok(self) -> bool:
        """True for 2xx.

        Example:
            >>> RtspResponse(200, "OK").ok
            True
        """
        return 200 <= self.status < 300


@dataclass(frozen=True)
class RtpInfo:
    """One stream's entry of an ``RTP-Info`` header: first sequence number and timestamp.

    Example:
        >>> RtpInfo("rtsp://h/cam1/track1", 17, None).seq
        17
    """

    url: str
    seq: int | None = None
    rtptime: int | None = None


def parse_rtp_info(value: str) -> list[RtpInfo]:
    """Parse ``RTP-Info`` (RFC 2326 §12.33); a missing or unreadable field is None.

    Cameras omit ``seq`` or ``rtptime``, put spaces around ``;``, or send values out of
    range; such fields come back as None rather than failing the PLAY.

    Example:
        >>> parse_rtp_info("url=rtsp://h/a/trackID=0;seq=7;rtptime=90000, url=trackID=1;seq=x")
        [RtpInfo(url='rtsp://h/a/trackID=0', seq=7, rtptime=90000), RtpInfo(url='trackID=1', seq=None, rtptime=None)]
    """
    out = []
    for entry in re.split(r",\s*(?=url=)", value.strip()):
        fields: dict[str, str] = {}
        for part in entry.split(";"):
            key, _, text = part.strip().partition("=")
            fields.setdefault(key.strip().lower(), text.strip())
        seq, rtptime = fields.get("seq", ""), fields.get("rtptime", "")
        out.append(
            RtpInfo(
                fields.get("url", ""),
                int(seq) if _DIGITS.fullmatch(seq) and int(seq) <= 0xFFFF else None,
                int(rtptime) if _DIGITS.fullmatch(rtptime) and int(rtptime) <= 0xFFFFFFFF else None,
            )
        )
    return out


_HEAD_END = re.compile(rb"\r?\n\r?\n")  # the first empty line, CRLF or LF-only


def _split_head(data: bytes) -> tuple[list[str], bytes]:
    m = _HEAD_END.search(data)
    end, body_at = (m.start(), m.end()) if m else (len(data), len(data))
    try:
        head = data[:end].decode("utf-8")
    except UnicodeDecodeError as e:
        raise RtspParseError(400, "message head is not UTF-8 text", fatal=True) from e
    return head.replace("\r\n", "\n").split("\n"), data[body_at:]


def _parse_headers(lines: list[str]) -> Headers:
    out: list[tuple[str, str]] = []
    for line in lines:
        if not line:
            continue
        if line[0] in " \t" and out:  # obsolete line folding
            k, v = out[-1]
            out[-1] = (k, f"{v} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or " " in name:
            raise RtspParseError(400, f"malformed header line {line[:40]!r}")
        out.append((name, value.strip()))
    return tuple(out)


def parse_request(data: bytes) -> RtspRequest:
    """Parse one complete request (head and body).

    Raises:
        RtspParseError: 400 for a malformed request line or header.

    Example:
        >>> parse_request(b"PLAY rtsp://h/cam1 RTSP/1.0\\r\\nCSeq: 4\\r\\n\\r\\n").method
        'PLAY'
    """
    lines, body = _split_head(data)
    m = _REQUEST_LINE.match(lines[0].strip()) if lines else None
    if not m:
        raise RtspParseError(400, "malformed request line", fatal=True)
    return RtspRequest(m.group(1), m.group(2), m.group(3), _parse_headers(lines[1:]), body)


def parse_response(data: bytes) -> RtspResponse:
    """Parse one complete response (head and body).

    Raises:
        RtspParseError: malformed status line or header.

    Example:
        >>> parse_response(b"RTSP/1.0 404 Not Found\\r\\nCSeq: 1\\r\\n\\r\\n").status
        404
    """
    lines, body = _split_head(data)
    m = _STATUS_LINE.match(lines[0].strip()) if lines else None
    if not m:
        raise RtspParseError(400, "malformed status line", fatal=True)
    headers = _parse_headers(lines[1:])
    return RtspResponse(int(m.group(2)), m.group(3) or "", m.group(1), headers, body)


def _format(first: str, headers: Iterable[tuple[str, str]], body: bytes) -> bytes:
    lines = [first]
    for name, value in headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError("header names and values must not contain line breaks")
        lines.append(f"{_CANONICAL.get(name.lower(), name)}: {value}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def _pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(k, v) for k, v in items if k.lower() not in ("cseq", "content-length")]


def format_request(
    method: str,
    uri: str,
    cseq: int,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> bytes:
    """Serialise a request; ``CSeq`` and ``Content-Length`` are added.

    Example:
        >>> format_request("OPTIONS", "*", 1)
        b'OPTIONS * RTSP/1.0\\r\\nCSeq: 1\\r\\n\\r\\n'
    """
    return _format(f"{method} {uri} {VERSION}", [("CSeq", str(cseq)), *_pairs(headers)], body)


def format_response(
    status: int,
    cseq: int | None = None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    reason: str | None = None,
) -> bytes:
    """Serialise a response; ``CSeq`` (when known) and ``Content-Length`` are added.

    Example:
        >>> format_response(454, 3)
        b'RTSP/1.0 454 Session Not Found\\r\\nCSeq: 3\\r\\n\\r\\n'
    """
    first = f"{VERSION} {status} {reason or REASONS.get(status, 'Unknown')}"
    pairs = ([("CSeq", str(cseq))] if cseq is not None else []) + _pairs(headers)
    return _format(first, pairs, body)


@dataclass(frozen=True)
class InterleavedFrame:
    """A ``$``-framed binary packet on the RTSP connection (RFC 2326 §10.12).

    Example:
        >>> InterleavedFrame(1, b"rtcp").channel
        1
    """

    channel: int
    payload: bytes = field(repr=False)


def interleave(channel: int, payload: bytes) -> bytes:
    """Frame ``payload`` for channel ``channel``: ``$``, channel, 16-bit length, payload.

    Example:
        >>> interleave(0, b"ab")
        b'$\\x00\\x00\\x02ab'
    """
    return struct.pack(">cBH", b"$", channel, len(payload)) + payload


class MessageReader:
    """Splits an RTSP byte stream into complete messages and interleaved frames.

    ``next()`` returns the bytes of one complete message (head and body), an
    :class:`InterleavedFrame`, or None when more data is needed. It raises a fatal
    :class:`RtspParseError` for garbage, a head over ``max_header_bytes`` or a
    ``Content-Length`` over ``max_body_bytes`` (counted in :attr:`oversized`); the stream
    cannot be trusted after that. A head ends at its first empty line (CRLF or LF-only).

    Each byte is looked at once however the stream is cut: a head dribbled one byte at a
    time costs what it costs in one piece, and a body's bytes are not scanned at all.

    Example:
        >>> r = MessageReader()
        >>> r.feed(b"$\\x01\\x00\\x01xOPTIONS * RTSP/1.0\\r\\nCSeq: 1\\r\\n\\r\\n")
        >>> r.next(), parse_request(r.next()).method, r.next()
        (InterleavedFrame(channel=1), 'OPTIONS', None)
    """

    def __init__(
        self, max_header_bytes: int = MAX_HEADER_BYTES, max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self._buf = bytearray()
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.oversized = 0
        self._scanned = 0  # bytes of the head in progress already searched for its end
        self._first_line = False  # the head in progress has a complete first line
        self._total: int | None = None  # length of the message whose head is complete

    def feed(self, data: bytes) -> None:
        """Append received bytes.

        Example:
            >>> MessageReader().feed(b"")
        """
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes waiting to be parsed.

        Example:
            >>> MessageReader().buffered
            0
        """
        return len(self._buf)

    def next(self) -> bytes | InterleavedFrame | None:
        """The next complete item, or None.

        Raises:
            RtspParseError: garbage (400), header too large (400), body too large (413).

        Example:
            >>> MessageReader().next() is None
            True
        """
        buf = self._buf
        if self._total is None:
            if not self._scanned:  # at an item's first byte
                if buf and buf[0] == 0x24:  # '$': an interleaved frame, most items by far
                    have = len(buf)
                    if have < 4:
                        return None
                    end = 4 + (buf[2] << 8 | buf[3])
                    if have < end:
                        return None
                    frame = InterleavedFrame(buf[1], bytes(buf[4:end]))
                    del buf[:end]
                    return frame
                skip = 0
                while skip < len(buf) and buf[skip] in (0x0D, 0x0A):
                    skip += 1
                del buf[:skip]
                if not buf:
                    return None
                if buf[0] == 0x24:  # '$' after blank lines
                    return self.next()
                if not (0x41 <= buf[0] <= 0x5A or 0x61 <= buf[0] <= 0x7A or buf[0] == 0x5F):
                    raise RtspParseError(400, "garbage on the RTSP connection", fatal=True)
            total = self._scan_head()
            if total is None:
                return None
            self._total = total
        if len(buf) < self._total:
            return None
        msg = bytes(buf[: self._total])
        del buf[: self._total]
        self._total, self._scanned, self._first_line = None, 0, False
        return msg

    def frames(self) -> list[InterleavedFrame]:
        """The complete interleaved frames at the head of the stream, all at once (a stream's
        bulk, in one loop); stops at anything else, which :meth:`next` then returns.

        Example:
            >>> r = MessageReader(); r.feed(b"$\\x00\\x00\\x01a$\\x01\\x00\\x01bRTSP/1.0 200 OK\\r\\n\\r\\n")
            >>> [f.channel for f in r.frames()], r.next()
            ([0, 1], b'RTSP/1.0 200 OK\\r\\n\\r\\n')
        """
        out: list[InterleavedFrame] = []
        if self._total is not None or self._scanned:  # inside a message's head
            return out
        buf = self._buf
        have, at = len(buf), 0
        while have - at >= 4 and buf[at] == 0x24:
            end = at + 4 + (buf[at + 2] << 8 | buf[at + 3])
            if end > have:
                break
            out.append(InterleavedFrame(buf[at + 1], bytes(buf[at + 4 : end])))
            at = end
        del buf[:at]
        return out

    def _too_large(self, status: int, message: str) -> RtspParseError:
        self.oversized += 1
        return RtspParseError(status, message, fatal=True)

    def _scan_head(self) -> int | None:
        """Search the bytes not yet searched for the end of the head; the message's total
        length once it is found."""
        buf = self._buf
        start = max(0, self._scanned - 3)  # a terminator may straddle the last cut
        if not self._first_line:
            first_nl = buf.find(b"\n", start)
            if first_nl >= 0:
                self._first_line = True
                if b" " not in buf[:first_nl]:
                    raise RtspParseError(400, "garbage on the RTSP connection", fatal=True)
            elif len(buf) > 4096:
                raise RtspParseError(400, "garbage on the RTSP connection", fatal=True)
        m = _HEAD_END.search(buf, start)
        if m is None:
            self._scanned = len(buf)
            if len(buf) > self.max_header_bytes:
                raise self._too_large(400, "message head too large")
            return None
        end = m.start()
        if end > self.max_header_bytes:
            raise self._too_large(400, "message head too large")
        length = 0
        for line in bytes(buf[:end]).split(b"\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                text = value.strip()
                if not text.isdigit() or len(text) > 18:
                    raise RtspParseError(400, "bad Content-Length", fatal=True)
                length = int(text)
                if length > self.max_body_bytes:
                    raise self._too_large(413, "Content-Length too large")
        return m.end() + length
