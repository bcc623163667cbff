"""Fault knobs change what real clients see: latency, jitter, fps, stall, disconnect, loss."""

from __future__ import annotations

import itertools
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import av
import pytest
from servers.sim_fixtures import RawRtsp, in_parallel, read_pyav

from rtsplab.rtsp.rtp import RtpHeader
from rtsplab.sim import SimCamera, SimServer

pytestmark = pytest.mark.interop


def test_latency_raises_frame_age(make_sim: Callable[..., SimServer]) -> None:
    srv = make_sim([SimCamera("fast"), SimCamera("slow", latency_ms=200, jitter_ms=30)])
    fast, slow = in_parallel(
        lambda: read_pyav(srv.url("fast"), 45), lambda: read_pyav(srv.url("slow"), 45)
    )
    # the first frames waited in FFmpeg's probe buffer; compare the steady state
    base = statistics.median(fast.ages_ms[-20:])
    delayed = statistics.median(slow.ages_ms[-20:])
    assert 120 < delayed - base < 350, (base, delayed)
    assert slow.decoded == sorted(slow.decoded)  # jitter never reorders frames


def test_latency_changes_while_running(make_sim: Callable[..., SimServer]) -> None:
    srv = make_sim(1)
    with RawRtsp(srv.port) as c:
        c.play_tcp(srv.url("cam1"))
        c.read_frames(30)
        srv.camera("cam1").set(latency_ms=300)
        times = [time.monotonic(), *_marker_times(c, 1.2)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # the sender holds each frame until capture + 300 ms: one ~300 ms pause, then 30 fps again
    assert 0.2 < max(gaps) < 0.6, max(gaps)
    assert len(times) >= 20


def _marker_times(c: RawRtsp, seconds: float) -> list[float]:
    """Arrival times (monotonic s) of the last RTP packet of each frame."""
    out: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        c.frames.clear()
        for f in c.read_frames(1, timeout_s=max(0.01, deadline - time.monotonic())):
            if f.channel == 0 and RtpHeader.parse(f.payload).marker:
                out.append(time.monotonic())
    return out


def test_fps_changes_while_running(make_sim: Callable[..., SimServer]) -> None:
    srv = make_sim(1)
    with RawRtsp(srv.port) as c:
        c.play_tcp(srv.url("cam1"))
        before = len(_marker_times(c, 1.0))
        srv.camera("cam1").set(fps=10)
        _marker_times(c, 0.2)
        after = len(_marker_times(c, 1.0))
    assert 24 <= before <= 36 and 7 <= after <= 13, (before, after)


def test_stall_pauses_then_resumes(make_sim: Callable[..., SimServer]) -> None:
    srv = make_sim(1)
    cam = srv.camera("cam1")
    timer = threading.Timer(1.8, cam.stall, args=(1.0,))  # after PyAV's ~1 s open
    timer.start()
    try:
        r = read_pyav(srv.url("cam1"), 75)
    finally:
        timer.cancel()
    assert r.frames >= 75, r.error
    gaps = [(b - a) / 1e9 for a, b in zip(r.arrivals_ns, r.arrivals_ns[1:], strict=False)]
    worst = max(gaps)
    assert 0.8 <= worst < 2.0, worst
    assert len(gaps) - gaps.index(worst) >= 10  # it resumed
    assert len(r.decoded) >= 0.95 * r.frames  # and restarted cleanly at an IDR


def test_disconnect_ends_the_stream(make_sim: Callable[..., SimServer]) -> None:
    srv = make_sim(2)
    with RawRtsp(srv.port) as c1, RawRtsp(srv.port) as c2:
        c1.play_tcp(srv.url("cam1"))
        c2.play_tcp(srv.url("cam2"))
        srv.camera("cam1").disconnect()
        assert c1.closed_by_server()
        c2.frames.clear()
        assert len(c2.read_frames(10)) >= 10  # the other camera's client is untouched
    timer = threading.Timer(1.5, srv.camera("cam1").disconnect)
    timer.start()
    start = time.monotonic()
    r = read_pyav(srv.url("cam1"), 300)  # 10 s worth: must end early
    timer.cancel()
    assert 10 <= r.frames < 150 and time.monotonic() - start < 6


@contextmanager
def _udp_session(srv: SimServer, name: str) -> Iterator[tuple[RawRtsp, socket.socket]]:
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    rtcp.bind(("127.0.0.1", 0))
    rtp.settimeout(0.5)
    ports = f"{rtp.getsockname()[1]}-{rtcp.getsockname()[1]}"
    try:
        with RawRtsp(srv.port) as c:
            url = srv.url(name)
            r = c.request(
                "SETUP", url + "/track1", {"Transport": f"RTP/AVP;unicast;client_port={ports}"}
            )
            assert r.status == 200 and "server_port=" in (r.get("Transport") or "")
            session = (r.get("Session") or "").split(";")[0]
            assert c.request("PLAY", url, {"Session": session}).status == 200
            yield c, rtp
    finally:
        rtp.close()
        rtcp.close()


def _rtp_seqs(sock: socket.socket, seconds: float) -> list[int]:
    seqs = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            seqs.append(RtpHeader.parse(sock.recv(2048)).seq)
        except TimeoutError:
            continue
    return seqs


def test_udp_loss_drops_packets(make_sim: Callable[..., SimServer]) -> None:
    srv = make_sim([SimCamera("clean"), SimCamera("lossy", loss=0.25)])
    with _udp_session(srv, "clean") as (_, s1), _udp_session(srv, "lossy") as (_, s2):
        clean, lossy = in_parallel(lambda: _rtp_seqs(s1, 1.5), lambda: _rtp_seqs(s2, 1.5))
    for seqs in (clean, lossy):
        assert len(seqs) > 50
    clean_lost = clean[-1] - clean[0] + 1 - len(clean)
    lossy_lost = (lossy[-1] - lossy[0] + 1 - len(lossy)) / (lossy[-1] - lossy[0] + 1)
    assert clean_lost == 0
    assert 0.1 < lossy_lost < 0.45, lossy_lost


def test_udp_session_expires_without_keepalive(make_sim: Callable[..., SimServer]) -> None:
    srv = make_sim(1, session_timeout_s=1.0)
    with _udp_session(srv, "cam1") as (c, sock):
        played = time.monotonic()  # the PLAY was answered: no request, no RTCP from now on
        assert len(_rtp_seqs(sock, 0.5)) > 10
        assert c.closed_by_server(timeout_s=8.0)  # waited for, not slept on: load delays it
        assert time.monotonic() - played > 0.5  # not before its timeout, 1 s after the PLAY
        _rtp_seqs(sock, 0.3)  # drain what was queued
        assert _rtp_seqs(sock, 0.7) == []


def test_tcp_refused_with_461_and_udp_fallback(make_sim: Callable[..., SimServer]) -> None:
    srv = make_sim(1, allow_tcp=False)
    with RawRtsp(srv.port) as c:
        r = c.request(
            "SETUP", srv.url("cam1") + "/track1", {"Transport": "RTP/AVP/TCP;interleaved=0-1"}
        )
        assert r.status == 461
    with pytest.raises(av.error.FFmpegError):
        av.open(srv.url("cam1"), options={"rtsp_transport": "tcp"}, timeout=5)
    r2 = read_pyav(srv.url("cam1"), 10, transport="udp")
    assert len(r2.decoded) >= 10
