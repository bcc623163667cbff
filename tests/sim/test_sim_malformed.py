"""Malformed and out-of-order requests get the right error and never hurt other clients."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers.sim_fixtures import RawRtsp, read_pyav

from rtsplab.sim import SimServer

pytestmark = pytest.mark.interop

CLOSE = -1  # the server must close the connection (after its error response, if any)


def _req(method: str, path: str, *headers: str, version: str = "RTSP/1.0") -> bytes:
    lines = [f"{method} {path} {version}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# (name, bytes sent on a fresh connection, expected status, close expected)
CASES: list[tuple[str, bytes | str, int, bool]] = [
    ("binary garbage", b"\x00\xff\x13\x37garbage\r\n\r\n", 400, True),
    ("text garbage", b"hello there\r\n\r\n", 400, True),
    ("huge header", b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 400, True),
    ("absurd Content-Length", _req("ANNOUNCE", "{url}", "CSeq: 1", "Content-Length: 999999999999"), 413, True),
    ("negative Content-Length", _req("OPTIONS", "*", "CSeq: 1", "Content-Length: -4"), 400, True),
    ("not UTF-8", b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX: \xff\xfe\r\n\r\n", 400, True),
    ("missing CSeq", _req("OPTIONS", "{url}"), 400, False),
    ("wrong CSeq", _req("OPTIONS", "{url}", "CSeq: one"), 400, False),
    ("header without colon", _req("OPTIONS", "{url}", "CSeq: 1", "Nonsense"), 400, False),
    ("unknown method", _req("FROBNICATE", "{url}", "CSeq: 1"), 501, False),
    ("RECORD", _req("RECORD", "{url}", "CSeq: 1"), 405, False),
    ("ANNOUNCE", _req("ANNOUNCE", "{url}", "CSeq: 1"), 405, False),
    ("RTSP/2.0", _req("OPTIONS", "{url}", "CSeq: 1", version="RTSP/2.0"), 505, False),
    ("HTTP", _req("GET", "/", "CSeq: 1", version="HTTP/1.1"), 505, False),
    ("unknown path", _req("DESCRIBE", "{base}/nope", "CSeq: 1"), 404, False),
    ("PLAY before SETUP", _req("PLAY", "{url}", "CSeq: 1"), 455, False),
    ("TEARDOWN before SETUP", _req("TEARDOWN", "{url}", "CSeq: 1"), 455, False),
    ("PLAY unknown session", _req("PLAY", "{url}", "CSeq: 1", "Session: deadbeef"), 454, False),
    ("SETUP no Transport", _req("SETUP", "{url}/track1", "CSeq: 1"), 461, False),
    ("SETUP bad Transport", _req("SETUP", "{url}/track1", "CSeq: 1", "Transport: FOO/BAR"), 461, False),
    ("SETUP multicast", _req("SETUP", "{url}/track1", "CSeq: 1", "Transport: RTP/AVP;multicast"), 461, False),
    ("SETUP bad ports", _req("SETUP", "{url}/track1", "CSeq: 1", "Transport: RTP/AVP;unicast;client_port=x-y"), 461, False),
    ("SETUP unknown path", _req("SETUP", "{base}/nope/track1", "CSeq: 1", "Transport: RTP/AVP/TCP;interleaved=0-1"), 404, False),
]  # fmt: skip


@pytest.fixture(scope="module")
def srv() -> Iterator[SimServer]:
    with SimServer(2) as s:
        yield s


def _run_case(srv: SimServer, data: bytes | str, status: int, close: bool) -> None:
    base = f"rtsp://127.0.0.1:{srv.port}"
    if isinstance(data, bytes):
        data = data.replace(b"{url}", f"{base}/cam1".encode()).replace(b"{base}", base.encode())
    with RawRtsp(srv.port) as c:
        c.send(data if isinstance(data, bytes) else data.encode())
        r = c.response()
        assert r.status == status, r
        if close:
            assert c.closed_by_server()
        else:  # the connection still works
            assert c.request("OPTIONS", f"{base}/cam1").status == 200


@pytest.mark.parametrize(("name", "data", "status", "close"), CASES, ids=[c[0] for c in CASES])
def test_case(srv: SimServer, name: str, data: bytes, status: int, close: bool) -> None:
    _run_case(srv, data, status, close)


def test_405_lists_allowed_methods(srv: SimServer) -> None:
    with RawRtsp(srv.port) as c:
        r = c.request("RECORD", srv.url("cam1"))
        assert r.status == 405 and "DESCRIBE" in (r.get("Allow") or "")


def test_interleaved_rtcp_from_client_is_ignored(srv: SimServer) -> None:
    with RawRtsp(srv.port) as c:
        c.play_tcp(srv.url("cam1"))
        rr = bytes.fromhex("81c90007" + "01020304" * 7)
        c.send(b"$\x01\x00" + bytes([len(rr)]) + rr)
        c.frames.clear()
        assert len(c.read_frames(20)) >= 20


def test_everything_at_once_leaves_other_clients_streaming(srv: SimServer) -> None:
    with RawRtsp(srv.port) as watcher:
        watcher.play_tcp(srv.url("cam2"))
        assert len(watcher.read_frames(10)) >= 10
        for _, data, status, close in CASES:
            _run_case(srv, data, status, close)
        watcher.frames.clear()
        start = time.monotonic()
        assert len(watcher.read_frames(30)) >= 30  # still streaming
        assert time.monotonic() - start < 3.0
    r = read_pyav(srv.url("cam1"), 30)
    assert len(r.decoded) >= 30, r.error


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(min_size=1, max_size=2000))
def test_fuzz_never_breaks_the_server(srv: SimServer, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=2) as s:
        s.sendall(data)
    with RawRtsp(srv.port) as c:
        assert c.request("OPTIONS", srv.url("cam1")).status == 200
