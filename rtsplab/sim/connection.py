"""The server side of one RTSP connection: read requests, answer them, own the sessions.

State machine per session (RFC 2326 appendix A): SETUP -> *ready*; PLAY -> *playing*;
PAUSE -> *ready*; TEARDOWN -> gone. Errors answer with the RFC's status codes and never
affect other connections; garbage, a request over ``max_request_bytes`` or an absurd
``Content-Length`` get an error response and the connection is closed.

Bounded (:class:`ServerLimits`): a session whose client is silent for its timeout ends, over
TCP as over UDP; a request that is still incomplete after ``request_timeout_s`` (a slowloris
client) gets 408 and the connection closes, as does a connection that never completes one; a
SETUP past the per-connection or the server-wide session cap gets 453.

Example:
    >>> from rtsplab.sim.connection import camera_path
    >>> camera_path("rtsp://127.0.0.1:8554/cam1/track1")
    'cam1'
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.h264 import PAYLOAD_TYPE
from rtsplab.rtsp.messages import (
    InterleavedFrame,
    MessageReader,
    RtspParseError,
    RtspRequest,
    format_response,
    parse_request,
    parse_session,
)
from rtsplab.rtsp.sdp import MediaDescription, RtpMap, build_sdp
from rtsplab.rtsp.transport import TransportSpec, parse_transport
from rtsplab.sim.session import MediaSession
from rtsplab.sim.transport import TcpTransport, UdpTransport

if TYPE_CHECKING:
    from rtsplab.rtsp.auth import Authenticator
    from rtsplab.sim.camera import SimCamera

__all__ = ["ALLOWED", "RtspConnection", "ServerLimits", "accept_loop", "camera_path"]

ALLOWED = (
    "OPTIONS", "DESCRIBE", "SETUP", "PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER", "SET_PARAMETER",
)  # fmt: skip
NOT_ALLOWED = ("ANNOUNCE", "RECORD", "REDIRECT")
TRACK = "track1"
SERVER = "rtsplab-sim"

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class ServerLimits:
    """What one client may hold of the simulator: connections, sessions, time, bytes.

    Attributes:
        max_connections: open RTSP connections; one more is answered 503 and closed.
        max_sessions_per_connection: sessions one connection may set up (then 453).
        max_sessions: sessions of the whole server (each UDP one holds two sockets).
        request_timeout_s: longest time a request may take to arrive whole, and a new
            connection to send its first one (then 408 and close).
        max_request_bytes: the largest request head, and the largest request body.

    Example:
        >>> ServerLimits().max_sessions_per_connection
        8
        >>> ServerLimits(**{"max_connections": 4}).max_connections
        4
    """

    max_connections: int = 256
    max_sessions_per_connection: int = 8
    max_sessions: int = 256
    request_timeout_s: float = 10.0
    max_request_bytes: int = 16 * 1024


class _Served(Protocol):
    thread: threading.Thread


def accept_loop(
    listener: socket.socket,
    stop: threading.Event,
    lock: threading.Lock,
    conns: set[Any],
    limits: ServerLimits,
    connection: Callable[[socket.socket], _Served],
    refuse: Callable[[socket.socket], None],
) -> None:
    """Accept clients until ``stop``: each becomes ``connection(sock)``, kept in ``conns``
    (under ``lock``) and started; past ``limits.max_connections`` one is ``refuse``d.

    The listener has a timeout (so that ``stop`` is seen); a socket that fails while the
    connection is made is closed. Shared by the simulator and the replay server.

    Example:
        >>> lsn = socket.create_server(("127.0.0.1", 0)); lsn.settimeout(0.05)
        >>> stop = threading.Event(); stop.set()
        >>> accept_loop(lsn, stop, threading.Lock(), set(), ServerLimits(), None, None)
        >>> lsn.close()
    """
    while not stop.is_set():
        try:
            sock, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            if stop.is_set():
                break
            time.sleep(0.05)
            continue
        with lock:
            full = len(conns) >= limits.max_connections
        if full:
            refuse(sock)
            continue
        try:
            conn = connection(sock)
        except OSError:
            sock.close()
            continue
        with lock:
            if stop.is_set():
                sock.close()
                break
            conns.add(conn)
        conn.thread.start()


def camera_path(uri: str) -> str:
    """The camera part of a request URI: path without leading/trailing ``/`` and track.

    Example:
        >>> camera_path("rtsp://h:1/a/b/"), camera_path("/cam2?x=1"), camera_path("*")
        ('a/b', 'cam2', '')
    """
    if uri == "*":
        return ""
    path = unquote(urlsplit(uri).path if "://" in uri else uri.split("?")[0]).strip("/")
    head, _, tail = path.rpartition("/")
    if head and (tail == TRACK or tail.startswith(("trackID=", "streamid="))):
        return head
    return path


class RtspConnection:
    """One accepted RTSP client connection, served by its own thread (:meth:`run`).

    Args:
        sock: the accepted socket.
        cameras: camera by path.
        auth: credentials checker, or None for an open server.
        allow_tcp: accept interleaved TCP transport (else 461).
        allow_udp: accept UDP transport (else 461).
        session_timeout_s: keep-alive timeout of sessions (TCP and UDP) and idle connections.
        send_timeout_s: give up on a client that does not read for this long.
        on_close: called once the connection is closed.
        limits: the caps on what the client may hold.
        session_slots: the server-wide session budget, shared by its connections.

    Attributes:
        timed_out_requests: requests that did not arrive whole in ``request_timeout_s``.
        refused_sessions: SETUPs answered 453 for a session cap.
        expired_sessions: sessions ended for a silent client.

    Example:
        >>> import socket
        >>> listener = socket.create_server(("127.0.0.1", 0))
        >>> client = socket.create_connection(listener.getsockname())
        >>> conn = RtspConnection(listener.accept()[0], cameras={})
        >>> conn.thread.start()
        >>> client.sendall(b"DESCRIBE rtsp://127.0.0.1/nope RTSP/1.0\\r\\nCSeq: 1\\r\\n\\r\\n")
        >>> client.recv(4096).split(b"\\r\\n")[0]
        b'RTSP/1.0 404 Not Found'
        >>> client.close(); listener.close(); conn.thread.join(2); conn.thread.is_alive()
        False
    """

    def __init__(
        self,
        sock: socket.socket,
        cameras: dict[str, SimCamera],
        auth: Authenticator | None = None,
        allow_tcp: bool = True,
        allow_udp: bool = True,
        session_timeout_s: float = 60.0,
        send_timeout_s: float = 10.0,
        on_close: Callable[[RtspConnection], None] | None = None,
        limits: ServerLimits | None = None,
        session_slots: threading.Semaphore | None = None,
    ) -> None:
        self.sock = sock
        self.peer = sock.getpeername()
        self.local = sock.getsockname()
        sock.settimeout(send_timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.cameras = cameras
        self.auth = auth
        self.allow_tcp = allow_tcp
        self.allow_udp = allow_udp
        self.session_timeout_s = session_timeout_s
        self.sessions: dict[str, MediaSession] = {}
        self._on_close = on_close
        self._write_lock = threading.Lock()
        self._closing = threading.Event()
        self.limits = limits = limits or ServerLimits()
        self._slots = session_slots
        self._reader = MessageReader(limits.max_request_bytes, limits.max_request_bytes)
        self._last_request = time.monotonic()
        self._requests = 0
        self._partial_since: float | None = None  # when an incomplete request began
        self.timed_out_requests = 0
        self.refused_sessions = 0
        self.expired_sessions = 0
        self.thread = threading.Thread(target=self.run, name="rtsplab-sim-conn", daemon=True)

    # ---- I/O -----------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Send bytes on the connection (thread-safe; raises OSError on failure or timeout).

        Example:
            >>> conn.write(b"RTSP/1.0 200 OK" + bytes(2))  # the client reads them  # doctest: +SKIP
        """
        with self._write_lock:
            self.sock.sendall(data)

    def close(self) -> None:
        """Abort the connection from any thread; :meth:`run` then cleans up and returns.

        Example:
            >>> conn.close(); conn.thread.join(1.0); conn.thread.is_alive()  # doctest: +SKIP
            False
        """
        self._closing.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def uses(self, camera_name: str) -> bool:
        """True if a session of this connection streams ``camera_name``.

        Example:
            >>> conn.uses("cam1"), conn.uses("cam2")  # after SETUP of .../cam1/track1  # doctest: +SKIP
            (True, False)
        """
        return any(s.camera.name == camera_name for s in list(self.sessions.values()))

    def run(self) -> None:
        """Serve requests until the client leaves, an error closes it, or :meth:`close`.

        Example:
            >>> conn.thread.start()  # the thread runs run() until the client leaves  # doctest: +SKIP
        """
        try:
            while not self._closing.is_set():
                ready = self._wait(0.5)
                if self.sock in ready:
                    data = self.sock.recv(65536)
                    if not data:
                        break
                    if not self._consume(data):
                        break
                self._housekeeping()
        except (OSError, ValueError):
            pass
        finally:
            self._closing.set()
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            for session in list(self.sessions.values()):
                self._end_session(session, bye=isinstance(session.transport, UdpTransport))
            self.sock.close()
            if self._on_close is not None:
                self._on_close(self)

    def _consume(self, data: bytes) -> bool:
        """Handle received bytes; False when the connection must close."""
        self._reader.feed(data)
        while True:
            try:
                item = self._reader.next()
            except RtspParseError as e:
                self._send_error(e.status, None)
                self._linger()
                return False
            if item is None:
                if not self._reader.buffered:
                    self._partial_since = None
                elif self._partial_since is None:
                    self._partial_since = time.monotonic()
                return True
            self._partial_since = None
            if isinstance(item, InterleavedFrame):  # RTCP receiver reports keep sessions alive
                for s in self.sessions.values():
                    s.touch()
                    t = s.transport
                    if isinstance(t, TcpTransport) and item.channel == t.channels[1]:
                        s.on_rtcp(item.payload)
                continue
            self._last_request = time.monotonic()
            self._requests += 1
            try:
                request = parse_request(item)
            except RtspParseError as e:
                self._send_error(e.status, None)
                if e.fatal:
                    self._linger()
                    return False
                continue
            self._handle(request)

    def _wait(self, timeout_s: float) -> list[socket.socket]:
        """Wait for the client's connection or its sessions' datagrams (RTCP over UDP)."""
        watched: list[socket.socket] = [self.sock]
        for session in list(self.sessions.values()):
            watched.extend(session.transport.sockets())
        try:
            return select.select(watched, [], [], timeout_s)[0]
        except (OSError, ValueError):  # a session's sockets closed meanwhile
            return select.select([self.sock], [], [], timeout_s)[0]

    def _linger(self, max_s: float = 1.0, max_bytes: int = 1 << 20) -> None:
        """Half-close and drain what the client still sends, so it reads our error response
        instead of a TCP reset."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + max_s
            drained = 0
            while drained < max_bytes and not self._closing.is_set():
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                    break
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)

    def _housekeeping(self) -> None:
        for session in list(self.sessions.values()):
            if session.transport.poll(session.on_rtcp):
                session.touch()
            if session.expired():  # no request, no RTCP for its timeout: TCP as UDP
                self.expired_sessions += 1
                self._end_session(session, bye=True)
        now = time.monotonic()
        since = self._partial_since
        if since is not None and now - since > self.limits.request_timeout_s:
            self.timed_out_requests += 1  # a slowloris client, or a slow 1-byte dribbler
            self._send_error(408, None)
            self._linger(max_s=0.5)
            self.close()
            return
        if not self._requests and now - self._last_request > self.limits.request_timeout_s:
            self.close()  # connected and never asked anything
            return
        idle = now - self._last_request > self.session_timeout_s
        if idle and not self.sessions:  # a silent client with nothing to stream
            self.close()

    def _end_session(self, session: MediaSession, bye: bool = False) -> None:
        """Stop a session and give back its slot of the server's session budget."""
        if self.sessions.pop(session.id, None) is None:
            return
        with contextlib.suppress(OSError):
            session.close(bye=bye)
        if self._slots is not None:
            self._slots.release()

    def _send_error(self, status: int, cseq: int | None, headers: Headers | None = None) -> None:
        with contextlib.suppress(OSError):
            self.write(format_response(status, cseq, [("Server", SERVER), *(headers or [])]))

    def _respond(self, cseq: int, headers: Headers, body: bytes = b"", status: int = 200) -> None:
        self.write(format_response(status, cseq, [("Server", SERVER), *headers], body))

    # ---- dispatch --------------------------------------------------------------------------
    def _handle(self, req: RtspRequest) -> None:
        cseq = req.cseq
        if cseq is None:
            self._send_error(400, None)
            return
        if req.version != "RTSP/1.0":
            self._send_error(505, cseq)
            return
        method = req.method.upper()
        if method in NOT_ALLOWED:
            self._send_error(405, cseq, [("Allow", ", ".join(ALLOWED))])
            return
        if method not in ALLOWED:
            self._send_error(501, cseq)
            return
        auth = self.auth
        if (
            method != "OPTIONS"
            and auth
            and not auth.check(req.method, req.get("Authorization"), req.uri)
        ):
            self._send_error(401, cseq, [("WWW-Authenticate", auth.challenge())])
            return
        session = None
        sid_header = req.get("Session")
        if sid_header is not None:
            try:
                sid = parse_session(sid_header).id
            except ProtocolError:
                sid = ""
            session = self.sessions.get(sid)
            if session is None:
                self._send_error(454, cseq)
                return
            session.touch()
        handler = getattr(self, f"_do_{method.lower()}")
        handler(req, cseq, session)

    def _camera(self, uri: str) -> SimCamera | None:
        return self.cameras.get(camera_path(uri))

    def _session_header(self, s: MediaSession) -> tuple[str, str]:
        return ("Session", f"{s.id};timeout={int(self.session_timeout_s)}")

    def _do_options(self, req: RtspRequest, cseq: int, s: MediaSession | None) -> None:
        self._respond(cseq, [("Public", ", ".join(ALLOWED))])

    def _do_get_parameter(self, req: RtspRequest, cseq: int, s: MediaSession | None) -> None:
        self._respond(cseq, [self._session_header(s)] if s else [])

    _do_set_parameter = _do_get_parameter  # accepted (and ignored) as a keep-alive

    def _do_describe(self, req: RtspRequest, cseq: int, s: MediaSession | None) -> None:
        cam = self._camera(req.uri)
        if cam is None:
            self._send_error(404, cseq)
            return
        video = MediaDescription(
            "video", 0, "RTP/AVP", (PAYLOAD_TYPE,),
            rtpmaps={PAYLOAD_TYPE: RtpMap(cam.encoding_name, 90_000)},
            fmtps={PAYLOAD_TYPE: cam.fmtp},
            control=TRACK,
            framerate=cam.fps,
        )  # fmt: skip
        sdp = build_sdp(self.local[0], f"rtsplab {cam.name}", [video], int(time.time())).encode()
        base = req.uri.split("?")[0].rstrip("/") + "/"
        headers = [("Content-Base", base), ("Content-Type", "application/sdp")]
        self._respond(cseq, headers, sdp)

    def _do_setup(self, req: RtspRequest, cseq: int, s: MediaSession | None) -> None:
        cam = self._camera(req.uri)
        if cam is None:
            self._send_error(404, cseq)
            return
        if s is not None and s.camera is not cam:
            self._send_error(459, cseq)
            return
        if s is not None and s.state == "playing":
            self._send_error(455, cseq)
            return
        if s is None and not self._take_session_slot():
            self.refused_sessions += 1
            self._send_error(453, cseq)
            return
        try:
            specs = parse_transport(req.get("Transport") or "")
            transport = self._pick_transport(specs)
        except (ProtocolError, OSError):
            transport = None
        if transport is None:
            if s is None and self._slots is not None:
                self._slots.release()
            self._send_error(461, cseq)
            return
        if s is not None:
            s.transport.close()
            s.transport = transport
        else:
            s = MediaSession(
                os.urandom(8).hex(), cam, transport, self.session_timeout_s, self.close
            )
            self.sessions[s.id] = s
        self._respond(cseq, [("Transport", transport.transport_header()), self._session_header(s)])

    def _take_session_slot(self) -> bool:
        """Room for one more session on this connection and on the server."""
        if len(self.sessions) >= self.limits.max_sessions_per_connection:
            return False
        return self._slots is None or self._slots.acquire(blocking=False)

    def _pick_transport(self, specs: list[TransportSpec]) -> TcpTransport | UdpTransport | None:
        for spec in specs:
            if spec.multicast:
                continue
            if spec.tcp and self.allow_tcp:
                channels = spec.interleaved or (0, 1)
                return TcpTransport(self.write, channels)
            if spec.udp and self.allow_udp and spec.client_port is not None:
                return UdpTransport(self.peer[0], spec.client_port, self.local[0])
        return None

    def _do_play(self, req: RtspRequest, cseq: int, s: MediaSession | None) -> None:
        if s is None:
            s = next(iter(self.sessions.values()), None) if len(self.sessions) == 1 else None
        if s is None:
            self._send_error(455, cseq)
            return
        seq, rtptime = s.play()
        url = req.uri.split("?")[0].rstrip("/")
        if not url.endswith("/" + TRACK):
            url = f"{url}/{TRACK}"
        headers = [
            self._session_header(s),
            ("Range", "npt=now-"),
            ("RTP-Info", f"url={url};seq={seq};rtptime={rtptime}"),
        ]
        self._respond(cseq, headers)
        s.start_sending()

    def _do_pause(self, req: RtspRequest, cseq: int, s: MediaSession | None) -> None:
        if s is None:
            self._send_error(455 if not self.sessions else 454, cseq)
            return
        s.pause()
        self._respond(cseq, [self._session_header(s)])

    def _do_teardown(self, req: RtspRequest, cseq: int, s: MediaSession | None) -> None:
        if s is None:
            self._send_error(455 if not self.sessions else 454, cseq)
            return
        self._end_session(s)
        self._respond(cseq, [])
