"""The RTSP client session (RFC 2326) as a sans-IO state machine, in the shape of h11.

The caller owns the connection: it hands over what it received (:meth:`ClientSession.receive_data`),
takes events (:meth:`ClientSession.next_event`), sends what :meth:`ClientSession.data_to_send`
returns, and says what time it is (:meth:`ClientSession.tick`). The session numbers requests
(CSeq) and matches replies to them, answers an auth challenge (the strongest one offered, once
per request, again whenever a later request meets a new challenge: a stale nonce mid-session),
keeps the session id, sends keep-alives (``GET_PARAMETER``, ``OPTIONS`` when the server does
not know it), answers the server's own requests (``OPTIONS``, ``GET_PARAMETER`` and
``SET_PARAMETER`` with 200, others with 501) and goes on, checks every header value it relies
on (a SETUP's interleaved channels 0-255 and ports, the Session id and timeout), and vets
redirects (no ``rtsps`` -> ``rtsp`` downgrade; the credentials go along only to the same
scheme, host and port).

Which tracks to set up stays the caller's choice (:meth:`ClientSession.setup` per track); the
session reports each answer as an event: :class:`Reply` (any final answer, 401 included once
retrying cannot help), :class:`SetUp` (a 2xx SETUP, its transport read and checked),
:class:`Redirect` (a 3xx DESCRIBE), :class:`ServerRequest` (answered already) and
:class:`~rtsplab.rtsp.messages.InterleavedFrame` (RTP/RTCP; frames that arrive before the PLAY
answer are held, at most :data:`MAX_HELD_FRAMES`, and come right after it).

Malformed input raises :class:`~rtsplab.errors.ProtocolError` and nothing else; a header line
with no colon is skipped and counted, a reply with no CSeq answers the oldest request waiting.

Example:
    >>> s = ClientSession("rtsp://cam/live", username="u", password="p")
    >>> cseq = s.describe()
    >>> s.data_to_send()[:30]
    b'DESCRIBE rtsp://cam/live RTSP/'
    >>> s.receive_data(b'RTSP/1.0 401 Unauthorized\\r\\nCSeq: 1\\r\\n'
    ...                b'WWW-Authenticate: Basic realm="c", Digest realm="c", nonce="n1"\\r\\n\\r\\n')
    >>> s.next_event() is None  # answered the challenge (Digest, the stronger one) instead
    True
    >>> b"Authorization: Digest" in s.data_to_send()
    True
    >>> s.receive_data(b"RTSP/1.0 200 OK\\nCSeq: 2\\nContent-Length: 4\\n\\nv=0\\n")
    >>> event = s.next_event()
    >>> event.method, event.response.status, event.response.body
    ('DESCRIBE', 200, b'v=0\\n')
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urljoin

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.auth import authorization_header, choose_challenge
from rtsplab.rtsp.messages import (
    InterleavedFrame,
    MessageReader,
    RtspRequest,
    RtspResponse,
    format_request,
    format_response,
    interleave,
    parse_request,
    parse_response,
    parse_session,
)
from rtsplab.rtsp.transport import TransportSpec, parse_transport

__all__ = [
    "DEFAULT_PORTS",
    "MAX_HELD_FRAMES",
    "MAX_PENDING",
    "ClientSession",
    "Event",
    "Redirect",
    "Reply",
    "ServerRequest",
    "SessionState",
    "SetUp",
    "origin",
]

# The port of each RTSP scheme when a URL names none (rtsps: 322, as FFmpeg and RFC 2326 §3.2).
DEFAULT_PORTS: dict[str, int] = {"rtsp": 554, "rtspt": 554, "rtsps": 322}
MAX_PENDING = 16  # requests awaiting a reply; past it the oldest keep-alive is given up
MAX_HELD_FRAMES = 1024  # interleaved frames held before the PLAY answer; more are dropped
MAX_HELD_BYTES = 4 * 1024 * 1024
MAX_KEEPALIVE_S = 3600.0  # a Session timeout of days still gets a keep-alive every hour
REDIRECTS = frozenset({301, 302, 303, 305, 307, 308})
KEEPALIVE_UNKNOWN = frozenset({405, 451, 501})  # a server that does not know the keep-alive
ANSWERED = frozenset({"OPTIONS", "GET_PARAMETER", "SET_PARAMETER"})
USER_AGENT = "rtsplab"

_HEADER_NAME = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z\-]+")


class SessionState(str, Enum):
    """Where the session is: before SETUP, set up, playing, or closed (TEARDOWN sent).

    Example:
        >>> SessionState("playing") is SessionState.PLAYING
        True
    """

    INIT = "init"
    READY = "ready"
    PLAYING = "playing"
    CLOSED = "closed"


@dataclass(frozen=True)
class Reply:
    """The final answer to a request the caller made (after any auth retry).

    Example:
        >>> Reply("PLAY", "rtsp://h/x", RtspResponse(200, "OK")).response.ok
        True
    """

    method: str
    uri: str
    response: RtspResponse


@dataclass(frozen=True)
class SetUp:
    """A 2xx answer to SETUP, its ``Transport`` and ``Session`` read and checked.

    ``transport`` is None when the server sent no ``Transport`` header (the caller keeps what
    it asked for); ``interleaved`` channels are within 0-255 and ports within 1-65535.

    Example:
        >>> SetUp("rtsp://h/x/t1", RtspResponse(200, "OK"), None, "s1", 30.0).interleaved is None
        True
    """

    uri: str
    response: RtspResponse
    transport: TransportSpec | None
    session_id: str | None
    keepalive_s: float

    @property
    def interleaved(self) -> tuple[int, int] | None:
        """The (RTP, RTCP) channels the server picked, or None.

        Example:
            >>> t = parse_transport("RTP/AVP/TCP;interleaved=2-3")[0]
            >>> SetUp("u", RtspResponse(200, "OK"), t, None, 30.0).interleaved
            (2, 3)
        """
        return self.transport.interleaved if self.transport is not None else None


@dataclass(frozen=True)
class Redirect:
    """A 3xx answer to DESCRIBE: where the stream is, and whether the credentials may follow
    (only to the same scheme, host and port).

    Example:
        >>> Redirect("rtsp://other/x", same_origin=False, status=302).same_origin
        False
    """

    location: str
    same_origin: bool
    status: int


@dataclass(frozen=True)
class ServerRequest:
    """A request the server sent (``SET_PARAMETER``, ``OPTIONS``, ...), already answered.

    Example:
        >>> ServerRequest(RtspRequest("OPTIONS", "*"), 200).status
        200
    """

    request: RtspRequest
    status: int


Event = Reply | SetUp | Redirect | ServerRequest | InterleavedFrame


@dataclass
class _Request:
    method: str
    uri: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    internal: bool = False  # a keep-alive: its answer is the session's business
    retried: bool = False  # answered one challenge already


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an RTSP URL, the scheme's default port filled in.

    Raises:
        ProtocolError: not an ``rtsp``, ``rtsps`` or ``rtspt`` URL with a host and a port in range.

    Example:
        >>> origin("rtsps://user@Cam.local/x"), origin("rtsp://[::1]:8554")
        (('rtsps', 'cam.local', 322), ('rtsp', '[::1]', 8554))
    """
    scheme, sep, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in DEFAULT_PORTS:
        raise ProtocolError(f"not an RTSP URL: {url[:60]!r}")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    m = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(?::([0-9]{1,5}))?", authority)
    if m is None:
        raise ProtocolError(f"no valid host in {url[:60]!r}")
    port = int(m.group(2)) if m.group(2) else DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise ProtocolError(f"port out of range in {url[:60]!r}")
    return scheme, m.group(1).lower(), port


def _tolerant(raw: bytes) -> tuple[bytes, int]:
    """The message with header lines that are not ``name: value`` (nor folded) removed, and
    how many; line ends made CRLF."""
    crlf, lf = raw.find(b"\r\n\r\n"), raw.find(b"\n\n")
    ends = [(i, n) for i, n in ((crlf, 4), (lf, 2)) if i >= 0]
    end, sep = min(ends) if ends else (len(raw), 0)
    lines = raw[:end].split(b"\n")
    kept = [lines[0].rstrip(b"\r")]
    skipped = 0
    for line in lines[1:]:
        line = line.rstrip(b"\r")
        if not line:
            continue
        name, colon, _ = line.partition(b":")
        if (line[:1] in (b" ", b"\t") and len(kept) > 1) or (
            colon and _HEADER_NAME.fullmatch(name)
        ):
            kept.append(line)
        else:
            skipped += 1
    return b"\r\n".join(kept) + b"\r\n\r\n" + raw[end + sep :], skipped


class ClientSession:
    """One RTSP session's protocol logic; no sockets, threads or clocks (see the module doc).

    Args:
        url: the stream's URL without credentials (``rtsp://host[:port]/path``).
        username: user name for Basic/Digest, or None.
        password: its password (never part of any repr or error).
        user_agent: the ``User-Agent`` header value.
        observe: called with ``("in" | "out", item)`` for every whole RTSP message (bytes) and
            interleaved frame received or queued to send (a session capture taps it here).

    Example:
        >>> s = ClientSession("rtsp://h/x")
        >>> s.setup("rtsp://h/x/track1", "RTP/AVP/TCP;unicast;interleaved=0-1")
        1
        >>> s.receive_data(b"RTSP/1.0 200 OK\\r\\nCSeq: 1\\r\\nSession: ab;timeout=20\\r\\n"
        ...                b"Transport: RTP/AVP/TCP;interleaved=300-301\\r\\n\\r\\n")
        >>> s.next_event()
        Traceback (most recent call last):
        ...
        rtsplab.errors.ProtocolError: SETUP answered a bad Transport header: interleaved='300-301' out of range in Transport
    """

    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: str | None = None,
        user_agent: str = USER_AGENT,
        observe: Callable[[str, bytes | InterleavedFrame], None] | None = None,
    ) -> None:
        self.url = url
        self._observe = observe
        self._username = username
        self._password = password
        self._user_agent = user_agent
        self.state = SessionState.INIT
        self.session_id: str | None = None
        self.keepalive_s = 30.0
        self.keepalive_method = "GET_PARAMETER"
        self._next_keepalive_s: float | None = None
        self._challenge: str | None = None
        self._nc = 0
        self._cseq = 0
        self._pending: dict[int, _Request] = {}
        self._reader = MessageReader()
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._error: ProtocolError | None = None  # met after events still to be taken
        self._held: deque[InterleavedFrame] = deque()
        self._held_bytes = 0
        self.skipped_header_lines = 0  # header lines that were not "name: value"
        self.unmatched_replies = 0  # replies whose CSeq matched no request (dropped)
        self.replies_without_cseq = 0
        self.dropped_frames = 0  # interleaved frames past the hold cap, dropped
        self.server_requests = 0
        self.abandoned_keepalives = 0

    # ---- what the caller asks for ---------------------------------------------------------
    def request(self, method: str, uri: str, headers: list[tuple[str, str]] | None = None) -> int:
        """Queue a request (session and credentials added when known); its CSeq.

        Raises:
            ProtocolError: the session is closed.

        Example:
            >>> s = ClientSession("rtsp://h/x"); s.request("OPTIONS", "*")
            1
            >>> s.data_to_send()
            b'OPTIONS * RTSP/1.0\\r\\nCSeq: 1\\r\\nUser-Agent: rtsplab\\r\\n\\r\\n'
        """
        if self.state is SessionState.CLOSED:
            raise ProtocolError("the RTSP session is closed")
        return self._send(_Request(method, uri, list(headers or [])))

    def describe(self) -> int:
        """Queue ``DESCRIBE`` of the session's URL; its CSeq.

        Example:
            >>> ClientSession("rtsp://h/x").describe()
            1
        """
        return self.request("DESCRIBE", self.url, [("Accept", "application/sdp")])

    def setup(self, uri: str, transport: str) -> int:
        """Queue ``SETUP`` of one track with the ``Transport`` value asked for; its CSeq.

        Example:
            >>> ClientSession("rtsp://h/x").setup("rtsp://h/x/t1", "RTP/AVP;unicast;client_port=5000-5001")
            1
        """
        return self.request("SETUP", uri, [("Transport", transport)])

    def play(self, uri: str, range_value: str = "npt=0.000-") -> int:
        """Queue ``PLAY`` of the aggregate (or single-track) URI; its CSeq.

        Example:
            >>> ClientSession("rtsp://h/x").play("rtsp://h/x")
            1
        """
        return self.request("PLAY", uri, [("Range", range_value)])

    def send_interleaved(self, channel: int, payload: bytes) -> None:
        """Queue one ``$``-framed packet (an RTCP report) for the connection.

        Raises:
            ProtocolError: a channel outside 0-255 or a payload over 65535 bytes.

        Example:
            >>> s = ClientSession("rtsp://h/x"); s.send_interleaved(1, b"rr"); s.data_to_send()
            b'$\\x01\\x00\\x02rr'
        """
        if not 0 <= channel <= 255 or len(payload) > 0xFFFF:
            raise ProtocolError(f"cannot interleave {len(payload)} bytes on channel {channel}")
        if self._observe is not None:
            self._observe("out", InterleavedFrame(channel, payload))
        self._out += interleave(channel, payload)

    def tick(self, now_s: float) -> None:
        """Tell the session the time (``time.monotonic()``); queues a keep-alive when due.

        Example:
            >>> s = ClientSession("rtsp://h/x"); s.tick(0.0); s.data_to_send()  # not playing
            b''
        """
        if self.state is not SessionState.PLAYING:
            return
        if self._next_keepalive_s is None:
            self._next_keepalive_s = now_s + self.keepalive_s
        elif now_s >= self._next_keepalive_s:
            self._next_keepalive_s = now_s + self.keepalive_s
            unanswered = [c for c, r in self._pending.items() if r.internal]
            while len(self._pending) >= MAX_PENDING and unanswered:  # a server that never
                del self._pending[unanswered.pop(0)]  # answers them: give the oldest up
                self.abandoned_keepalives += 1
            self._send(_Request(self.keepalive_method, self.url, internal=True))

    @property
    def next_keepalive_s(self) -> float | None:
        """When the next keep-alive is due (``time.monotonic()`` seconds), or None.

        Example:
            >>> ClientSession("rtsp://h/x").next_keepalive_s is None
            True
        """
        return self._next_keepalive_s

    def close(self) -> None:
        """Queue ``TEARDOWN`` (with the session and credentials) when a session exists; then
        the session is closed. Idempotent.

        Example:
            >>> s = ClientSession("rtsp://h/x"); s.close(); s.data_to_send(), s.state.value
            (b'', 'closed')
        """
        if self.state is SessionState.CLOSED:
            return
        if self.session_id is not None:
            self._send(_Request("TEARDOWN", self.url, internal=True))
        self.state = SessionState.CLOSED

    @property
    def waiting(self) -> bool:
        """True while a request of the caller's awaits its answer.

        Example:
            >>> s = ClientSession("rtsp://h/x"); s.describe(); s.waiting
            1
            True
        """
        return any(not r.internal for r in self._pending.values())

    # ---- bytes in and out -----------------------------------------------------------------
    def data_to_send(self) -> bytes:
        """Everything queued for the server since the last call.

        Example:
            >>> ClientSession("rtsp://h/x").data_to_send()
            b''
        """
        if not self._out:  # asked after every event: nothing queued is the common case
            return b""
        data = bytes(self._out)
        self._out.clear()
        return data

    def receive_data(self, data: bytes) -> None:
        """Hand over bytes received from the server (parsed by :meth:`next_event`).

        Example:
            >>> ClientSession("rtsp://h/x").receive_data(b"$\\x00\\x00")
        """
        if self.state is not SessionState.CLOSED:
            self._reader.feed(data)

    def next_event(self) -> Event | None:
        """The next event, or None when more data is needed.

        Raises:
            ProtocolError: the server broke RTSP (garbage, a malformed status line, a bad
                Transport or Session header, a redirect downgrading rtsps).

        Example:
            >>> s = ClientSession("rtsp://h/x"); s.receive_data(b"SET_PARAMETER * RTSP/1.0\\r\\nCSeq: 7\\r\\n\\r\\n")
            >>> s.next_event().status, s.data_to_send()
            (200, b'RTSP/1.0 200 OK\\r\\nCSeq: 7\\r\\n\\r\\n')
        """
        events = self._events
        if not events:
            self._parse(first_only=True)
            if not events:
                return None
        return events.popleft()

    def next_events(self) -> list[Event]:
        """Every event the data received so far makes, in order (empty: more data needed):
        what :meth:`next_event` returns one by one, for one call per batch (per ``recv``).

        Raises:
            ProtocolError: as :meth:`next_event`; when events came before the error, they are
                returned and the next call raises it.

        Example:
            >>> s = ClientSession("rtsp://h/x")
            >>> s.receive_data(b"GET_PARAMETER * RTSP/1.0\\r\\nCSeq: 4\\r\\n\\r\\n\\x00garbage")
            >>> [type(e).__name__ for e in s.next_events()]
            ['ServerRequest']
            >>> s.next_events()
            Traceback (most recent call last):
            ...
            rtsplab.rtsp.messages.RtspParseError: garbage on the RTSP connection
        """
        self._parse(first_only=False)
        out = [*self._events]
        self._events.clear()
        return out

    def _parse(self, first_only: bool) -> None:
        """Turn the items received into events (queued): all of them, or up to the first
        event. An error met after events were queued is kept for the next call."""
        events, reader, observe = self._events, self._reader, self._observe
        error, self._error = self._error, None
        if error is not None:
            if events:
                self._error = error
                return
            raise error
        try:
            while not (first_only and events):
                state = self.state
                if state is SessionState.CLOSED:
                    return
                if state is SessionState.PLAYING and not first_only:
                    bulk = reader.frames()  # the stream's bulk: at once
                    if observe is not None:
                        for frame in bulk:
                            observe("in", frame)
                    events.extend(bulk)
                item = reader.next()
                if item is None:
                    return
                if observe is not None:
                    observe("in", item)
                if isinstance(item, InterleavedFrame):
                    if state is SessionState.PLAYING:  # the stream itself: straight through
                        events.append(item)
                    else:
                        self._on_frame(item)
                else:
                    self._on_message(item)
        except ProtocolError as exc:
            if not events:
                raise
            self._error = exc

    # ---- internals ------------------------------------------------------------------------
    def _send(self, req: _Request) -> int:
        self._cseq += 1
        headers = [*req.headers, ("User-Agent", self._user_agent)]
        if self.session_id is not None:
            headers.append(("Session", self.session_id))
        if self._challenge is not None and self._username is not None:
            self._nc += 1
            answer = authorization_header(
                self._username, self._password or "", req.method, req.uri, self._challenge,
                nc=self._nc,
            )  # fmt: skip
            headers.append(("Authorization", answer))
        try:
            request = format_request(req.method, req.uri, self._cseq, headers)
        except ValueError as exc:  # a line break in a server-supplied value (a Location)
            raise ProtocolError(f"cannot send {req.method}: {exc}") from None
        if self._observe is not None:
            self._observe("out", request)
        self._out += request
        if req.method != "TEARDOWN":
            self._pending[self._cseq] = req
        return self._cseq

    def _on_frame(self, frame: InterleavedFrame) -> None:
        if self.state is SessionState.PLAYING:
            self._events.append(frame)
        elif len(self._held) < MAX_HELD_FRAMES and self._held_bytes < MAX_HELD_BYTES:
            self._held.append(frame)
            self._held_bytes += len(frame.payload)
        else:
            self.dropped_frames += 1

    def _on_message(self, raw: bytes) -> None:
        clean, skipped = _tolerant(raw)
        self.skipped_header_lines += skipped
        if not clean.startswith(b"RTSP/"):
            self._on_server_request(parse_request(clean))
            return
        resp = parse_response(clean)
        cseq = resp.cseq
        if cseq is None:
            if not self._pending:
                self.unmatched_replies += 1
                return
            self.replies_without_cseq += 1
            cseq = next(iter(self._pending))  # the oldest request waiting
        req = self._pending.pop(cseq, None)
        if req is None:
            self.unmatched_replies += 1  # late, duplicated or for an abandoned keep-alive
            return
        if resp.status == 401 and self._retry_auth(req, resp):
            return
        if req.internal:
            if resp.status in KEEPALIVE_UNKNOWN and req.method == "GET_PARAMETER":
                self.keepalive_method = "OPTIONS"
            return
        self._answer(req, resp)

    def _retry_auth(self, req: _Request, resp: RtspResponse) -> bool:
        """Answer a 401 by resending ``req`` with credentials, once; False if that cannot help."""
        if self._username is None or req.retried:
            return False
        challenge = choose_challenge(resp.get_all("www-authenticate"))
        if challenge is None:
            return False
        if challenge != self._challenge:
            self._challenge, self._nc = challenge, 0
        req.retried = True
        self._send(req)
        return True

    def _answer(self, req: _Request, resp: RtspResponse) -> None:
        if req.method == "DESCRIBE" and resp.status in REDIRECTS and resp.get("location"):
            self._events.append(self._redirect(resp))
        elif req.method == "SETUP" and resp.ok:
            self._events.append(self._set_up(req, resp))
        elif req.method == "PLAY" and resp.ok:
            self.state = SessionState.PLAYING
            self._events.append(Reply(req.method, req.uri, resp))
            self._events.extend(self._held)  # frames that came early follow the answer
            self._held.clear()
            self._held_bytes = 0
        else:
            self._events.append(Reply(req.method, req.uri, resp))

    def _redirect(self, resp: RtspResponse) -> Redirect:
        location = (resp.get("location") or "").strip()
        if "://" not in location:
            location = urljoin(self.url, location)
        here, there = origin(self.url), origin(location)
        if here[0] == "rtsps" and there[0] != "rtsps":
            raise ProtocolError(
                f"the server redirects from rtsps:// to {there[0]}://, which would send the "
                "session in clear; refused"
            )
        return Redirect(location, same_origin=here == there, status=resp.status)

    def _set_up(self, req: _Request, resp: RtspResponse) -> SetUp:
        value = resp.get("transport")
        transport = None
        if value is not None:
            try:
                offered = parse_transport(value)
                if offered:
                    transport = offered[0]
                    interleaved = transport.interleaved
                    if interleaved is not None and not all(0 <= c <= 255 for c in interleaved):
                        raise ProtocolError(
                            f"interleaved={transport.param('interleaved')!r} out of range in Transport"
                        )
                    for ports in (transport.server_port, transport.client_port):
                        if ports is not None and not all(0 < p < 65536 for p in ports):
                            raise ProtocolError(f"port 0 in Transport {value[:40]!r}")
            except ProtocolError as exc:
                raise ProtocolError(f"SETUP answered a bad Transport header: {exc}") from None
        session_value = resp.get("session")
        if session_value is not None:
            try:
                header = parse_session(session_value)
            except ProtocolError as exc:
                raise ProtocolError(f"SETUP answered {exc}") from None
            self.session_id = header.id
            self.keepalive_s = min(header.keepalive_s, MAX_KEEPALIVE_S)
        if self.state is SessionState.INIT:
            self.state = SessionState.READY
        return SetUp(req.uri, resp, transport, self.session_id, self.keepalive_s)

    def _on_server_request(self, req: RtspRequest) -> None:
        self.server_requests += 1
        method = req.method.upper()
        status = 200 if method in ANSWERED else 501
        headers = (
            [("Public", "OPTIONS, GET_PARAMETER, SET_PARAMETER")] if method == "OPTIONS" else []
        )
        answer = format_response(status, req.cseq, headers)
        if self._observe is not None:
            self._observe("out", answer)
        self._out += answer
        self._events.append(ServerRequest(req, status))

    def __repr__(self) -> str:
        user = f", user={self._username!r}" if self._username is not None else ""
        return f"ClientSession({self.url!r}{user}, state={self.state.value!r})"
