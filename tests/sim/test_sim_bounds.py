"""The simulator's caps, one at a time: connections, sessions, silent sessions over TCP, slow
and oversized requests, a UDP SETUP flood. Real sockets on 127.0.0.1, an in-process server."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable

import pytest
from servers.sim_fixtures import RawRtsp

from rtsplab.rtsp.messages import format_request, interleave
from rtsplab.rtsp.rtcp import build_receiver_report
from rtsplab.sim.base import Server
from rtsplab.sim.connection import ServerLimits

pytestmark = pytest.mark.interop


def _until(cond: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def _conn_threads() -> int:
    return sum(t.name == "rtsplab-sim-conn" for t in threading.enumerate())


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _setup(c: RawRtsp, url: str, transport: str, session: str | None = None) -> int:
    headers = {"Transport": transport} | ({"Session": session} if session else {})
    return c.request("SETUP", url + "/track1", headers).status


TCP = "RTP/AVP/TCP;unicast;interleaved=0-1"


def test_connection_cap_answers_503_and_a_freed_slot_serves_again(
    make_sim: Callable[..., Server],
) -> None:
    srv = make_sim(1, limits=ServerLimits(max_connections=3))
    clients = [RawRtsp(srv.port) for _ in range(3)]
    for c in clients:
        assert c.request("OPTIONS", "*").status == 200
    with socket.create_connection(("127.0.0.1", srv.port), timeout=3) as extra:
        reply = extra.recv(4096)
        assert reply.startswith(b"RTSP/1.0 503 "), reply
        assert extra.recv(4096) == b""  # and closed
    assert srv.refused_connections == 1  # type: ignore[attr-defined]
    clients.pop().close()
    assert _until(lambda: srv.connections == 2, 3.0)
    with RawRtsp(srv.port) as again:
        assert again.request("OPTIONS", "*").status == 200
    for c in clients:
        c.close()


def test_session_caps_per_connection_and_per_server(make_sim: Callable[..., Server]) -> None:
    srv = make_sim(1, limits=ServerLimits(max_sessions_per_connection=2, max_sessions=3))
    url = srv.url("cam1")
    with RawRtsp(srv.port) as a, RawRtsp(srv.port) as b:
        assert [_setup(a, url, TCP) for _ in range(3)] == [200, 200, 453]
        assert [_setup(b, url, TCP) for _ in range(2)] == [200, 453]  # the server's third
        session = a.request("SETUP", url + "/track1", {"Transport": TCP}).get("Session")
        assert session is None  # still refused: no session id handed out
        r = a.request("OPTIONS", "*")
        assert r.status == 200
    # every slot came back when the connections closed
    with RawRtsp(srv.port) as c:
        assert _until(lambda: srv.connections == 1, 3.0)
        assert [_setup(c, url, TCP) for _ in range(2)] == [200, 200]


def test_silent_tcp_session_expires_and_frees_its_thread(
    make_sim: Callable[..., Server],
) -> None:
    """SETUP and PLAY over TCP, then silence: the session held a thread forever."""
    srv = make_sim(1, session_timeout_s=1.0)
    threads_before = _conn_threads()
    quiet, talker = RawRtsp(srv.port), RawRtsp(srv.port)
    quiet.play_tcp(srv.url("cam1"))
    talker.play_tcp(srv.url("cam1"))
    assert len(quiet.read_frames(5, timeout_s=2)) >= 5
    # the talker sends a receiver report every 0.3 s, as RTP receivers do: it stays
    t_end = time.monotonic() + 2.5
    while time.monotonic() < t_end:
        talker.send(interleave(1, build_receiver_report(0x1234)))
        talker.read_frames(len(talker.frames) + 1, timeout_s=0.3)
    assert quiet.closed_by_server(timeout_s=3.0)  # silent for its timeout: gone
    talker.frames.clear()
    assert len(talker.read_frames(5, timeout_s=2)) >= 5  # still streaming
    talker.close()
    assert _until(lambda: _conn_threads() == threads_before, 3.0)
    quiet.close()


def test_slowloris_and_silent_connections_are_cut_after_the_request_timeout(
    make_sim: Callable[..., Server],
) -> None:
    srv = make_sim(1, limits=ServerLimits(request_timeout_s=1.0))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=4) as slow, \
            socket.create_connection(("127.0.0.1", srv.port), timeout=4) as silent:  # fmt: skip
        slow.sendall(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Pad: ")
        t0 = time.monotonic()
        slow.settimeout(0.2)
        reply = b""
        cut = False
        while time.monotonic() - t0 < 4 and not reply:
            try:
                slow.sendall(b"a")  # one byte every 0.2 s, never the end of the head
                reply = slow.recv(4096)
                cut = not reply
            except TimeoutError:
                continue
            except OSError:  # the server closed while bytes of ours were unread: a TCP reset,
                cut = True  # which may discard its 408 before we read it
                break
            if cut:
                break
        assert reply.startswith(b"RTSP/1.0 408 ") or (cut and not reply), reply
        assert 0.9 < time.monotonic() - t0 < 3.0
        assert silent.recv(4096) == b""  # never asked anything: closed too


def test_dribbled_request_is_answered_and_oversized_ones_are_refused(
    make_sim: Callable[..., Server],
) -> None:
    srv = make_sim(1, limits=ServerLimits(max_request_bytes=4096))
    request = format_request("DESCRIBE", srv.url("cam1"), 1, [("X-Pad", "p" * 3000)])
    with RawRtsp(srv.port) as c:
        for i in range(len(request)):
            c.send(request[i : i + 1])
        assert c.response().status == 200
    too_big = format_request("OPTIONS", "*", 1, [("X-Pad", "p" * 5000)])
    body = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 5000\r\n\r\n"
    for data, status in ((too_big, 400), (body, 413)):
        with RawRtsp(srv.port) as c:
            c.send(data)
            assert c.response().status == status
            assert c.closed_by_server()


def test_udp_setup_flood_holds_a_bounded_number_of_sockets(
    make_sim: Callable[..., Server],
) -> None:
    """500 UDP SETUPs: each used to bind two sockets, until the process ran out of them."""
    limits = ServerLimits(max_sessions_per_connection=8, max_sessions=32)
    srv = make_sim(1, limits=limits)
    url = srv.url("cam1")
    fds_before = _fds()
    clients = [RawRtsp(srv.port) for _ in range(5)]
    statuses = [
        _setup(c, url, f"RTP/AVP;unicast;client_port={40000 + 2 * k}-{40001 + 2 * k}")
        for k in range(100)
        for c in clients
    ]
    # 5 connections may hold 8 each, but the server holds 32 in all
    assert (statuses.count(200), statuses.count(453)) == (32, 468)
    # two sockets per session, one per connection at each end: nothing more
    held = _fds() - fds_before
    assert held <= 2 * limits.max_sessions + 2 * len(clients) + 4, held
    for c in clients:
        c.close()
    assert _until(lambda: _fds() <= fds_before + 2, 5.0), _fds() - fds_before
