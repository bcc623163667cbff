"""Real cameras' RTSP habits, replayed: rtsplab's readers against recorded camera replies.

Each capture in ``tests/rtsp/replays/`` is served by :class:`servers.replay_server.ReplayServer`
(recorded DESCRIBE/SETUP/PLAY replies, then a live H.264 stream with a timecode). A reader
must get fresh frames, and the server must have seen the SETUP and PLAY URLs the real camera
accepts.
"""

from __future__ import annotations

import doctest
import itertools
import re
import socket

import pytest
from servers import replay_captures
from servers.replay_captures import Capture, load_captures
from servers.replay_server import ReplayServer

import rtsplab
from rtsplab.entities import Clock

pytestmark = pytest.mark.interop

CAPTURES = load_captures()
BY_NAME = {c.name: c for c in CAPTURES}

PYAV_CAPTURES = [
    "axis_gstreamer",
    "dahua_ipc",
    "gwsecurity_nvr",
    "hikvision_ds2cd",
]  # the captures whose URLs a client most easily gets wrong: query-string bases, aggregate controls


def _native_params() -> list[object]:
    return [pytest.param(c, id=c.name) for c in CAPTURES]


def _read_and_check(srv: ReplayServer, backend: str, n_frames: int = 5) -> None:
    """Read ``n_frames`` fresh frames and check ages and the URLs the server saw."""
    with rtsplab.open(
        srv.url,
        backend=backend,
        strategy="latest",
        transport="tcp",
        reconnect=False,
        open_timeout_s=8,
        read_timeout_s=5,
    ) as reader:
        frames = [reader.read_frame(timeout_s=5, fresh=True) for _ in range(n_frames)]
    assert {f.clock for f in frames} == {Clock.TIMECODE}
    ages_ms = [f.age_ms for f in frames]
    assert min(ages_ms) > 0 and max(ages_ms) < 1000, ages_ms
    seqs = [f.source_seq for f in frames]
    assert all(b is not None and a is not None and b > a for a, b in itertools.pairwise(seqs)), seqs
    refused = [r for r in srv.seen if r.status != 200]
    assert not refused, refused
    assert srv.video_url in {r.url for r in srv.requests("SETUP")}
    plays = srv.requests("PLAY")
    assert len(plays) == 1 and plays[0].url in srv.play_urls, plays


def test_captures_are_documented() -> None:
    vendors = {c.first("vendor").split(" (")[0] for c in CAPTURES}
    vendors = {v for v in vendors if not v.startswith("unbranded")}
    assert len(vendors) >= 8, vendors
    for c in CAPTURES:
        assert c.first("source").startswith("https://"), c.name
        assert c.first("licence"), c.name
        assert c.first("path").startswith("/"), c.name
        assert c.quirks, c.name
        assert "DESCRIBE" in c.replies or "SDP" in c.replies, c.name
        size = sum(len(t) for t in c.replies.values())
        assert size < 4000, (c.name, size)


def test_server_helpers_examples() -> None:
    result = doctest.testmod(replay_captures, report=True, verbose=False)
    assert result.attempted >= 4 and result.failed == 0


@pytest.mark.parametrize("capture", _native_params())
def test_native_reads_replay(capture: Capture) -> None:
    with ReplayServer(capture) as srv:
        _read_and_check(srv, "native")


@pytest.mark.parametrize("name", PYAV_CAPTURES)
def test_pyav_reads_replay(name: str) -> None:
    with ReplayServer(BY_NAME[name]) as srv:
        _read_and_check(srv, "pyav", n_frames=3)


def _exchange(sock: socket.socket, request: str) -> str:
    sock.sendall(request.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    return head


def test_server_refuses_what_the_camera_would() -> None:
    """The URL and session checks can fail: wrong path, RFC 3986 join, unknown session."""
    with (
        ReplayServer(BY_NAME["dahua_ipc"]) as srv,
        socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock,
    ):
        base = f"rtsp://{srv.host}"
        head = _exchange(sock, f"DESCRIBE {base}/nope RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        assert head.startswith("RTSP/1.0 404") and "CSeq: 1" in head
        tcp = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"
        head = _exchange(sock, f"SETUP {base}/cam/trackID=0 RTSP/1.0\r\nCSeq: 2\r\n{tcp}\r\n")
        assert head.startswith("RTSP/1.0 404")
        head = _exchange(sock, f"SETUP {srv.video_url} RTSP/1.0\r\nCSeq: 3\r\n{tcp}\r\n")
        assert head.startswith("RTSP/1.0 200") and "ssrc=30A98EE7" in head and "CSeq: 3" in head
        session = re.search(r"Session: (\w+)", head)
        assert session is not None and session.group(1) == "634214675641"
        head = _exchange(sock, f"PLAY {srv.url} RTSP/1.0\r\nCSeq: 4\r\nSession: 1\r\n\r\n")
        assert head.startswith("RTSP/1.0 454")
        head = _exchange(
            sock, f"PLAY {base}/cam/ RTSP/1.0\r\nCSeq: 5\r\nSession: 634214675641\r\n\r\n"
        )
        assert head.startswith("RTSP/1.0 404")
