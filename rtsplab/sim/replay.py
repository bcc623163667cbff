"""Serve captured RTSP sessions as cameras, with the original timing.

Each capture (rtsplab's own, or a ``tcpdump``/Wireshark pcap of any client) becomes one
camera at ``rtsp://host:port/<file stem>``. A client gets the original DESCRIBE answer (its
headers and SDP, URLs pointed at the replay), can set the tracks up over TCP or UDP whatever
the capture used, and on PLAY receives the original RTP and RTCP packets with their original
spacing (the capture's arrival times), looped: loop ``k`` adds ``k`` loop lengths to the
sequence numbers and RTP timestamps, so the stream runs on without a jump. RTCP sender reports
are moved to the replay's clock: their NTP time gets the offset between the replay's start
and the capture's, so an age computed from them means what it meant at the camera.

All cameras of one server share a timeline that starts at the first PLAY (and again once
nobody plays), so the phase between them is the recorded one; a client joining later joins
where the timeline is, as with a live camera. The schedule is a list of (time, packet) pairs;
a sender thread per PLAY waits for each time (sleeping, then spinning its last half
millisecond) and writes the packets recorded at that instant in one write. Serve a replay
from its own process (``rtsplab sim --replay``) when the reader runs in this one: a decoding
reader holds the interpreter for milliseconds at a time and would delay the sends. Only the
sender reports are rewritten; other packets are sent as they were (loop 0) or with their
sequence number and timestamp moved (later loops).

Example:
    >>> with ReplayServer(["caps/cam1.pcapng", "caps/cam2.pcapng"]) as srv:  # doctest: +SKIP
    ...     print(srv.urls)
    ['rtsp://127.0.0.1:40123/cam1', 'rtsp://127.0.0.1:40123/cam2']
"""

from __future__ import annotations

import bisect
import contextlib
import os
import re
import select
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rtsplab.capture_file import CapturedSession, load_session
from rtsplab.errors import ProtocolError
from rtsplab.rtsp.auth import Authenticator
from rtsplab.rtsp.messages import (
    InterleavedFrame,
    MessageReader,
    RtspRequest,
    format_response,
    interleave,
    parse_request,
)
from rtsplab.rtsp.transport import parse_transport
from rtsplab.sim.base import Server
from rtsplab.sim.camera import SimCamera
from rtsplab.sim.connection import ServerLimits, accept_loop
from rtsplab.sim.schedule import Schedule

__all__ = ["ReplayCamera", "ReplayServer"]

PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER"
# The first PLAY starts the shared timeline this much later, so the cameras of a group, whose
# PLAYs arrive together, all start at the beginning of their captures.
START_DELAY_NS = 150_000_000
# A sender sleeps until this long before a packet's time and spins the rest (the scheduler
# wakes a sleeper tens to hundreds of microseconds late; a spin costs < 1.5 % of a core at
# 30 packets' instants a second).
SPIN_NS = 500_000


def _precedence() -> bool:
    """Give the calling (sender) thread real-time precedence where allowed (root or
    CAP_SYS_NICE; Linux): a busy machine then does not make the camera late. The thread
    sleeps but for its writes and a spin of at most :data:`SPIN_NS`, and the kernel caps
    real-time threads at 95 % of a core, so nothing else starves. False: not allowed."""
    try:
        tid = threading.get_native_id()
        os.sched_setscheduler(tid, os.SCHED_RR, os.sched_param(1))
    except (OSError, AttributeError):
        return False
    return True


_REWRITTEN = ("cseq", "content-length", "content-base", "content-location", "session")


class ReplayCamera:
    """One capture served as a camera.

    Args:
        name: the path it is served at.
        session: the captured session.

    Example:
        >>> cam = ReplayCamera("cam1", load_session("caps/cam1.pcapng"))  # doctest: +SKIP
        >>> cam.schedule.loop_ns / 1e9  # doctest: +SKIP
        3.1
    """

    def __init__(self, name: str, session: CapturedSession) -> None:
        self.name = name
        self.session = session
        self.schedule = Schedule.of(session)
        resp = session.describe
        self._origin = (
            resp.get("content-base") or resp.get("content-location") or session.describe_uri
        ).rstrip("/")

    def describe_answer(self, url: str, cseq: int | None) -> bytes:
        """The original DESCRIBE answer, its URLs pointed at ``url``.

        Example:
            >>> cam.describe_answer("rtsp://127.0.0.1:1/cam1", 2)[:15]  # doctest: +SKIP
            b'RTSP/1.0 200 OK'
        """
        resp = self.session.describe
        headers = [(k, v) for k, v in resp.headers if k.lower() not in _REWRITTEN]
        if resp.get("content-base") is not None or resp.get("content-location") is None:
            headers.append(("Content-Base", url + "/"))
        body = resp.body.replace(self._origin.encode(), url.encode())
        return format_response(200, cseq, headers, body, reason=resp.reason)

    def track_for(self, uri: str) -> int | None:
        """The captured track a SETUP URI asks for.

        Example:
            >>> cam.track_for("rtsp://127.0.0.1:1/cam1/track1")  # doctest: +SKIP
            0
        """
        tail = uri.rstrip("/")
        for i, t in enumerate(self.session.tracks):
            control = (t.media.control if t.media else None) or ""
            if control and (tail.endswith("/" + control.rstrip("/").rsplit("/", 1)[-1])):
                return i
            if t.uri.rstrip("/").rsplit("/", 1)[-1] == tail.rsplit("/", 1)[-1]:
                return i
        return 0 if len(self.session.tracks) == 1 else None

    def ssrc(self, track: int) -> int | None:
        """The SSRC of a track's RTP packets in the capture.

        Example:
            >>> cam.ssrc(0) is not None  # doctest: +SKIP
            True
        """
        s = self.schedule
        for i, payload in enumerate(s.payloads):
            if s.tracks[i] == track and not s.rtcp[i] and len(payload) >= 12:
                return int(struct.unpack_from(">I", payload, 8)[0])
        return None

    def first(self, track: int) -> tuple[int, int] | None:
        """(sequence number, RTP timestamp) of a track's first packet.

        Example:
            >>> cam.first(0)  # doctest: +SKIP
            (1234, 90000)
        """
        s = self.schedule
        for i, payload in enumerate(s.payloads):
            if s.tracks[i] == track and not s.rtcp[i] and len(payload) >= 12:
                seq, ts = struct.unpack_from(">HI", payload, 2)
                return int(seq), int(ts)
        return None


@dataclass
class _Setup:
    track: int
    channels: tuple[int, int] | None  # TCP interleaved
    udp_to: tuple[str, int, int] | None  # client host, RTP port, RTCP port


class _Sender:
    """Sends one camera's schedule to one client, looped, on the server's shared timeline."""

    def __init__(self, conn: _Connection, cam: ReplayCamera, setups: list[_Setup]) -> None:
        self.conn, self.cam, self.setups = conn, cam, {s.track: s for s in setups}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="rtsplab-replay-send", daemon=True)

    def _run(self) -> None:
        _precedence()
        server = self.conn.server
        epoch_ns, epoch_wall_ns = server._join()
        try:
            self._send(epoch_ns, epoch_wall_ns)
        finally:
            server._leave()

    def _send(self, epoch_ns: int, epoch_wall_ns: int) -> None:
        s = self.cam.schedule
        server = self.conn.server
        loop_ns = server.loop_ns
        offset_ns = s.t_first_ns - server.capture_epoch_ns  # this camera's place in the timeline
        wall_shift = epoch_wall_ns - server.capture_epoch_ns
        # join where the timeline is now, as a live camera would be
        elapsed = max(0, time.monotonic_ns() - epoch_ns - offset_ns)
        loop = elapsed // loop_ns
        start = bisect.bisect_left(s.times_ns, elapsed - loop * loop_ns)
        times, n = s.times_ns, len(s.times_ns)
        with contextlib.suppress(OSError):
            while not self.stop.is_set():
                base = epoch_ns + offset_ns + loop * loop_ns
                i = start
                while i < n:
                    # the packets recorded at one instant (one read, one TCP segment) go out
                    # together, built before the wait so that nothing but the write follows it
                    t, batch = times[i], []
                    while i < n and times[i] == t:
                        setup = self.setups.get(s.tracks[i])
                        if setup is not None:
                            batch.append(
                                (setup, s.rtcp[i], s.packet(i, loop, wall_shift + loop * loop_ns))
                            )
                        i += 1
                    if batch:
                        if not self._wait_until(base + t):
                            return
                        self.conn.send_media(batch)
                loop, start = loop + 1, 0

    def _wait_until(self, target_ns: int) -> bool:
        """Sleep until :data:`SPIN_NS` before ``target_ns``, then spin to it: a wake-up
        comes late by the scheduler's latency, which the spin absorbs. False: stopped."""
        left_ns = target_ns - time.monotonic_ns()
        if left_ns > SPIN_NS and self.stop.wait((left_ns - SPIN_NS) / 1e9):
            return False
        while time.monotonic_ns() < target_ns:
            pass
        return not self.stop.is_set()


class _Connection:
    """One client connection to the replay server (its own thread)."""

    def __init__(self, server: ReplayServer, sock: socket.socket) -> None:
        self.server, self.sock = server, sock
        self.peer = sock.getpeername()[0]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(10.0)
        self.lock = threading.Lock()
        self.closed = False
        self.cam: ReplayCamera | None = None
        self.setups: list[_Setup] = []
        self.session = os.urandom(6).hex().upper()
        self.sender: _Sender | None = None
        self.udp: socket.socket | None = None
        self.udp_rtcp: socket.socket | None = None
        self.thread = threading.Thread(target=self._run, name="rtsplab-replay-conn", daemon=True)

    # ---- media --------------------------------------------------------------------------
    def send_media(self, batch: list[tuple[_Setup, bool, bytes]]) -> None:
        """Send (track set-up, is RTCP, packet) items: the interleaved ones in one write."""
        interleaved = b"".join(
            interleave(setup.channels[1 if rtcp else 0], packet)
            for setup, rtcp, packet in batch
            if setup.channels is not None
        )
        if interleaved:
            with self.lock:
                self.sock.sendall(interleaved)
        for setup, rtcp, packet in batch:
            if setup.udp_to is None or self.udp is None or self.udp_rtcp is None:
                continue
            host, rtp_port, rtcp_port = setup.udp_to
            sock = self.udp_rtcp if rtcp else self.udp
            with contextlib.suppress(OSError):  # UDP: a lost datagram, not a lost client
                sock.sendto(packet, (host, rtcp_port if rtcp else rtp_port))

    # ---- RTSP ---------------------------------------------------------------------------
    def _reply(
        self, status: int, cseq: int | None, headers: list[tuple[str, str]], body: bytes = b""
    ) -> None:
        data = format_response(status, cseq, [("Server", "rtsplab-replay"), *headers], body)
        with self.lock:
            self.sock.sendall(data)

    def _run(self) -> None:
        cap = self.server.limits.max_request_bytes
        reader = MessageReader(max_header_bytes=cap, max_body_bytes=cap)
        try:
            while not self.closed and not self.server._stop.is_set():
                ready, _, _ = select.select([self.sock], [], [], 0.25)
                if not ready:
                    continue
                data = self.sock.recv(65536)
                if not data:
                    break
                reader.feed(data)
                while (item := reader.next()) is not None:
                    if isinstance(item, InterleavedFrame):
                        continue  # the client's receiver reports
                    self._handle(parse_request(item))
        except (OSError, ProtocolError, ValueError):
            pass
        finally:
            self.close()

    def _handle(self, req: RtspRequest) -> None:
        cseq = req.cseq
        auth = self.server._auth
        if (
            req.method != "OPTIONS"
            and auth
            and not auth.check(req.method, req.get("Authorization"))
        ):
            self._reply(401, cseq, [("WWW-Authenticate", auth.challenge())])
            return
        method = req.method
        if method == "OPTIONS":
            opts = self.server_options()
            self._reply(200, cseq, [("Public", opts)])
        elif method == "DESCRIBE":
            cam = self.server.camera_at(req.uri)
            if cam is None:
                self._reply(404, cseq, [])
                return
            self.cam = cam
            data = cam.describe_answer(self.server.url(cam.name), cseq)
            with self.lock:
                self.sock.sendall(data)
        elif method == "SETUP":
            self._setup(req)
        elif method == "PLAY":
            self._play(req)
        elif method in ("GET_PARAMETER", "SET_PARAMETER"):
            self._reply(200, cseq, [("Session", self.session)])
        elif method in ("TEARDOWN", "PAUSE"):
            self._stop_sender()
            self._reply(200, cseq, [("Session", self.session)])
        else:
            self._reply(405, cseq, [("Allow", PUBLIC)])

    def server_options(self) -> str:
        cam = self.cam
        if cam is not None and cam.session.options is not None:
            return cam.session.options.get("public") or PUBLIC
        return PUBLIC

    def _setup(self, req: RtspRequest) -> None:
        cseq = req.cseq
        cam = self.cam or self.server.camera_at(req.uri)
        track = cam.track_for(req.uri) if cam is not None else None
        if cam is None or track is None:
            self._reply(404, cseq, [])
            return
        self.cam = cam
        try:
            specs = parse_transport(req.get("transport") or "")
        except ProtocolError:
            specs = []
        if not specs:
            self._reply(461, cseq, [])
            return
        spec = specs[0]
        if len(self.setups) >= self.server.limits.max_sessions_per_connection:
            self._reply(453, cseq, [])
            return
        ssrc = cam.ssrc(track)
        tail = f";ssrc={ssrc:08X}" if ssrc is not None else ""
        if spec.tcp:
            channels = spec.interleaved or (2 * len(self.setups), 2 * len(self.setups) + 1)
            self.setups.append(_Setup(track, channels, None))
            transport = f"RTP/AVP/TCP;unicast;interleaved={channels[0]}-{channels[1]}{tail}"
        else:
            ports = spec.client_port
            if ports is None:
                self._reply(461, cseq, [])
                return
            if self.udp is None:
                self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self.udp.bind((self.server.host, 0))
                self.udp_rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self.udp_rtcp.bind((self.server.host, 0))
            assert self.udp_rtcp is not None
            mine = (self.udp.getsockname()[1], self.udp_rtcp.getsockname()[1])
            self.setups.append(_Setup(track, None, (self.peer, ports[0], ports[1])))
            transport = (
                f"RTP/AVP;unicast;client_port={ports[0]}-{ports[1]};"
                f"server_port={mine[0]}-{mine[1]}{tail}"
            )
        self._reply(
            200, cseq, [("Transport", transport), ("Session", f"{self.session};timeout=60")]
        )

    def _play(self, req: RtspRequest) -> None:
        cam = self.cam
        if cam is None or not self.setups:
            self._reply(455, req.cseq, [])
            return
        self._stop_sender()
        url = self.server.url(cam.name)
        infos = []
        for setup in self.setups:
            first = cam.first(setup.track)
            if first is not None:
                uri = cam.session.tracks[setup.track].uri.rstrip("/").rsplit("/", 1)[-1]
                infos.append(f"url={url}/{uri};seq={first[0]};rtptime={first[1]}")
        headers = [("Session", self.session), ("Range", "npt=0.000-")]
        if infos:
            headers.append(("RTP-Info", ",".join(infos)))
        self._reply(200, req.cseq, headers)
        self.sender = _Sender(self, cam, list(self.setups))
        self.sender.thread.start()

    def _stop_sender(self) -> None:
        sender, self.sender = self.sender, None
        if sender is not None:
            sender.stop.set()
            if sender.thread is not threading.current_thread():
                sender.thread.join(1.0)

    def close(self) -> None:
        self.closed = True
        self._stop_sender()
        for s in (self.sock, self.udp, self.udp_rtcp):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        self.server._forget(self)


def _names(paths: Sequence[str | Path]) -> list[str]:
    names: list[str] = []
    for p in paths:
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(p).stem) or "cam"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    return names


class ReplayServer(Server):
    """An RTSP server replaying captures, one camera per file; a context manager.

    Args:
        captures: pcap/pcapng files (or already loaded sessions), one camera each, served at
            ``/<file stem>``.
        host, port: where to listen (port 0: a free one).
        credentials: ``(user, password)`` to require, or None.
        auth: ``"digest"`` or ``"basic"``.
        limits: the simulator's caps (:class:`~rtsplab.sim.connection.ServerLimits`):
            connections past ``max_connections`` get 503, SETUPs past
            ``max_sessions_per_connection`` 453, requests over ``max_request_bytes`` 400.

    Raises:
        CaptureError: a file is not a capture or holds no whole RTSP session.

    Example:
        >>> srv = ReplayServer(["caps/cam1.pcapng"])  # doctest: +SKIP
        >>> srv.urls, srv.replays["cam1"].schedule.loop_ns > 0  # doctest: +SKIP
        (['rtsp://127.0.0.1:40123/cam1'], True)
        >>> srv.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        captures: Sequence[str | Path | CapturedSession],
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: tuple[str, str] | None = None,
        auth: str = "digest",
        limits: ServerLimits | None = None,
    ) -> None:
        self.limits = limits or ServerLimits()
        if not captures:
            raise ValueError("a replay needs at least one capture file")
        sessions = [c if isinstance(c, CapturedSession) else load_session(c) for c in captures]
        names = _names([s.source for s in sessions])
        self.replays = {n: ReplayCamera(n, s) for n, s in zip(names, sessions, strict=True)}
        # one timeline for all: the cameras keep the phase they had when they were recorded
        self.capture_epoch_ns = min(c.schedule.t_first_ns for c in self.replays.values())
        self.loop_ns = max(
            c.schedule.t_first_ns - self.capture_epoch_ns + c.schedule.loop_ns
            for c in self.replays.values()
        )
        for cam in self.replays.values():
            cam.schedule = cam.schedule.with_loop(self.loop_ns)
        self._playing = 0
        self._epoch: tuple[int, int] | None = None
        self.cameras: list[SimCamera] = []
        self.host = host
        self.credentials = credentials
        self.auth_scheme = auth
        self._auth = Authenticator(credentials[0], credentials[1], auth) if credentials else None
        self._closed = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: set[_Connection] = set()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind((host, port))
            self._listener.listen(64)
            self._listener.settimeout(0.25)
        except OSError:
            self._listener.close()
            raise
        self.port = int(self._listener.getsockname()[1])
        self._accept = threading.Thread(
            target=self._accept_loop, name="rtsplab-replay", daemon=True
        )
        self._accept.start()

    @property
    def pid(self) -> int:
        """PID of the process serving: this one.

        Example:
            >>> ReplayServer(["caps/cam1.pcapng"]).pid == os.getpid()  # doctest: +SKIP
            True
        """
        return os.getpid()

    @property
    def connections(self) -> int:
        """Number of open RTSP connections.

        Example:
            >>> srv.connections  # doctest: +SKIP
            0
        """
        with self._lock:
            return len(self._conns)

    def url(self, name: str, credentials: bool = False) -> str:
        """The RTSP URL of replayed camera ``name``.

        Raises:
            KeyError: no capture of that name.

        Example:
            >>> srv.url("cam1")  # doctest: +SKIP
            'rtsp://127.0.0.1:40123/cam1'
        """
        if name not in self.replays:
            raise KeyError(f"no replay {name!r}; replays: {list(self.replays)}")
        auth = ""
        if credentials and self.credentials is not None:
            from urllib.parse import quote

            auth = f"{quote(self.credentials[0], safe='')}:{quote(self.credentials[1], safe='')}@"
        return f"rtsp://{auth}{self.host}:{self.port}/{name}"

    @property
    def urls(self) -> list[str]:
        """URLs of all replayed cameras, without credentials.

        Example:
            >>> len(srv.urls)  # doctest: +SKIP
            2
        """
        return [self.url(n) for n in self.replays]

    def camera_at(self, uri: str) -> ReplayCamera | None:
        """The replayed camera a request URI names (its first path segment).

        Example:
            >>> srv.camera_at("rtsp://127.0.0.1:1/cam1/track1").name  # doctest: +SKIP
            'cam1'
        """
        path = uri.split("://", 1)[-1].split("/", 1)[1] if "://" in uri else uri.lstrip("/")
        head = path.split("?")[0].split("/")[0]
        return self.replays.get(head)

    def kill(self) -> None:
        """In process there is nothing to crash: close at once.

        Example:
            >>> srv.kill()  # doctest: +SKIP
        """
        self.close()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop serving: close every connection and join the threads. Idempotent.

        Example:
            >>> srv.close(); srv.close()  # doctest: +SKIP
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        self._accept.join(max(0.1, deadline - time.monotonic()))
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.close()
        for conn in conns:
            conn.thread.join(max(0.1, deadline - time.monotonic()))

    def _forget(self, conn: _Connection) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _join(self) -> tuple[int, int]:
        """A sender starts: the timeline's start (monotonic and wall clock, ns)."""
        with self._lock:
            if self._epoch is None:
                start = time.monotonic_ns() + START_DELAY_NS
                self._epoch = (start, time.time_ns() - time.monotonic_ns() + start)
            self._playing += 1
            return self._epoch

    def _leave(self) -> None:
        """A sender stops; with no one playing, the next PLAY starts from the beginning."""
        with self._lock:
            self._playing -= 1
            if self._playing <= 0:
                self._playing, self._epoch = 0, None

    def _accept_loop(self) -> None:
        _precedence()  # and the connection and sender threads it starts, which inherit it
        accept_loop(
            self._listener, self._stop, self._lock, self._conns, self.limits,
            lambda sock: _Connection(self, sock), self._refuse,
        )  # fmt: skip

    def _refuse(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.sendall(format_response(503, None, [("Server", "rtsplab-replay")]))
        sock.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"ReplayServer({self.host}:{self.port}, replays=[{','.join(self.replays)}], {state})"
