"""Readers against a real third-party RTSP server (gst-rtsp-server from Debian).

Ages are true ages: decoded from the timecode burned into each frame at capture.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from conftest import ThreadBaseline, free_port

import rtsplab
from rtsplab.entities import Clock, StreamState, Transport
from rtsplab.errors import AuthError, ConnectError, NotFound, OpenTimeout, ReadTimeout, StreamClosed
from rtsplab.recorder import Recorder

pytestmark = pytest.mark.interop

HOSTILE_PASSWORD = "sp@rk:12/34@56"
BACKENDS = ["opencv", "pyav", "native"]


@pytest.fixture
def gst(gst_server):  # type: ignore[no-untyped-def]
    return gst_server(mounts=("cam1", "cam2"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_latest_frames_are_fresh_and_carry_timecodes(gst, backend: str) -> None:  # type: ignore[no-untyped-def]
    with rtsplab.open(gst.url("cam1"), strategy="latest", backend=backend) as r:
        frames = [r.read_frame(fresh=True) for _ in range(45)]
        assert (r.info.width, r.info.height) == (640, 360)
        assert r.state is StreamState.STREAMING
        assert r.transport_used is Transport.TCP
    assert all(f.clock is Clock.TIMECODE for f in frames)
    seqs = [f.source_seq for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    ages = np.array([f.age_ms for f in frames])
    assert (ages > 0).all()
    assert np.median(ages) < 150, ages  # the floor on this machine is ~35 ms
    assert frames[0].image.shape == (360, 640, 3)


def test_strategies_on_a_slow_consumer(gst) -> None:  # type: ignore[no-untyped-def]
    """naive and buffered fall behind a 60 ms consumer; latest stays fresh; matched aligns."""
    from rtsplab.lab.experiment import compare, comparison_json

    urls = [gst.url("cam1"), gst.url("cam2")]
    df = compare(
        urls, strategies=["naive", "buffered", "latest", "matched"], seconds=4.5, progress=False
    )
    s = comparison_json(df)["strategies"]
    assert s["naive"]["age_ms"]["max"] > 1000
    assert s["buffered"]["age_ms"]["max"] > 1000
    assert s["buffered"]["depth"]["max"] > 40
    assert s["latest"]["age_ms"]["p99"] < 150
    assert s["latest"]["dropped"] > 0 and s["latest"]["depth"]["max"] == 0
    assert s["latest"]["skew_ms"]["p99"] < 70
    assert s["matched"]["skew_ms"]["p99"] < 25
    # the naive backlog grows over time: last second older than the first second
    naive = df[df.run == "naive"]
    early = naive[naive.t_s < naive.t_s.min() + 1].age_ms.median()
    late = naive[naive.t_s > naive.t_s.max() - 1].age_ms.median()
    assert late > early + 500


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("strategy", ["naive", "buffered", "latest"])
def test_close_stops_every_thread(
    gst, thread_baseline: ThreadBaseline, strategy: str, backend: str
) -> None:  # type: ignore[no-untyped-def]
    r = rtsplab.open(gst.url("cam1"), strategy=strategy, read_timeout_s=1.0, backend=backend)
    r.read_frame()
    t0 = time.monotonic()
    r.close()
    r.close()  # idempotent
    assert time.monotonic() - t0 < 2 * 1.0 + 1.0
    assert thread_baseline.left() == []
    assert r.state is StreamState.CLOSED
    with pytest.raises(StreamClosed):
        r.read_frame()
    assert r.read() == (False, None)


def test_group_close_stops_every_thread(gst, thread_baseline: ThreadBaseline) -> None:  # type: ignore[no-untyped-def]
    with rtsplab.open_group([gst.url("cam1"), gst.url("cam2")], sync="matched") as g:
        fs = g.read_set()
        assert set(fs.frames) == {"cam1", "cam2"}
    assert thread_baseline.left() == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_stalled_server_gives_read_timeout_then_recovers(gst, backend: str) -> None:  # type: ignore[no-untyped-def]
    with rtsplab.open(
        gst.url("cam1"), strategy="latest", read_timeout_s=1.0, reconnect=True, backend=backend
    ) as r:
        r.read_frame(fresh=True)
        os.kill(gst.pid, signal.SIGSTOP)  # the server stops sending; its sockets stay open
        try:
            t0 = time.monotonic()
            with pytest.raises(ReadTimeout):
                while time.monotonic() - t0 < 5:
                    r.read_frame(fresh=True, timeout_s=1.0)
            assert time.monotonic() - t0 < 4.0  # bounded by the timeouts, not hung
            assert r.state in (StreamState.STALLED, StreamState.RECONNECTING)
        finally:
            os.kill(gst.pid, signal.SIGCONT)
        deadline = time.monotonic() + 10
        while True:  # recovers through reconnect
            try:
                f = r.read_frame(fresh=True, timeout_s=1.0)
                if f.age_ms < 500:
                    break
            except ReadTimeout:
                pass
            assert time.monotonic() < deadline, "did not recover"
        assert r.state is StreamState.STREAMING


def test_naive_read_on_stalled_server_is_bounded(gst) -> None:  # type: ignore[no-untyped-def]
    with rtsplab.open(gst.url("cam1"), strategy="naive", read_timeout_s=1.0) as r:
        r.read_frame()
        os.kill(gst.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            with pytest.raises((ReadTimeout, StreamClosed)):
                for _ in range(200):  # drain what was already buffered, then block
                    r.read_frame()
            assert time.monotonic() - t0 < 4.0
        finally:
            os.kill(gst.pid, signal.SIGCONT)


@pytest.mark.parametrize("backend", BACKENDS)
def test_auth_with_hostile_password(gst_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    srv = gst_server(mounts=("cam1",), credentials=("admin", HOSTILE_PASSWORD))
    rec = Recorder()
    with rtsplab.open(srv.url("cam1", credentials=True), backend=backend, recorder=rec) as r:
        r.read_frame(fresh=True)
        assert HOSTILE_PASSWORD not in repr(r)
    df = rec.to_dataframe()
    assert len(df) == 1
    assert HOSTILE_PASSWORD not in df.to_csv()
    wrong = srv.url("cam1").replace("rtsp://", "rtsp://admin:wrong%40pw@")
    with pytest.raises(AuthError) as e:
        rtsplab.open(wrong, backend=backend, open_timeout_s=3)
    assert "wrong@pw" not in str(e.value) and "wrong%40pw" not in str(e.value)
    with pytest.raises(AuthError):
        rtsplab.open(srv.url("cam1"), backend=backend, open_timeout_s=3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unknown_path_is_not_found(gst, backend: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound):
        rtsplab.open(gst.url("nope"), backend=backend, open_timeout_s=3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_refused_port_is_connect_error(backend: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(ConnectError):
        rtsplab.open(f"rtsp://127.0.0.1:{free_port()}/cam1", backend=backend, open_timeout_s=2)
    assert time.monotonic() - t0 < 5


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never answers: an open must time out, not hang."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(2)
    for c in conns:
        c.close()
    srv.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_silent_server_is_open_timeout(silent_server: int, backend: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(OpenTimeout):
        rtsplab.open(f"rtsp://127.0.0.1:{silent_server}/cam1", backend=backend, open_timeout_s=1.0)
    assert time.monotonic() - t0 < 1.0 * 2 + 2.5


def test_auto_transport_falls_back_to_udp(gst_server) -> None:  # type: ignore[no-untyped-def]
    srv = gst_server(mounts=("cam1",), udp_only=True)
    with rtsplab.open(srv.url("cam1"), transport="auto", backend="pyav") as r:
        f = r.read_frame(fresh=True)
        assert r.transport_used is Transport.UDP
        assert f.clock is Clock.TIMECODE


@pytest.mark.parametrize("backend", ["pyav", "native"])
def test_rtcp_clock_matches_timecode(gst, backend: str) -> None:  # type: ignore[no-untyped-def]
    """Without a timecode, the RTCP sender-report clock still gives the true capture time."""
    from rtsplab.timecode import read_timecode

    with rtsplab.open(gst.url("cam1"), backend=backend, timecode=False) as r:
        deadline = time.monotonic() + 10
        while (f := r.read_frame(fresh=True)).clock not in (Clock.RTCP, Clock.CORRECTED):
            assert f.clock in (Clock.PTS, Clock.NONE)  # fallbacks until the first sender report
            assert time.monotonic() < deadline, "no RTCP sender report within 10 s"
        tc = read_timecode(f.image)
        assert tc is not None
        assert abs(f.t_source_ns - tc.t_ns) / 1e6 < 20


def test_unsupported_codec_is_reported(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A server describing a codec FFmpeg cannot decode gives UnsupportedStream."""
    sdp = (
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n"
        "m=video 0 RTP/AVP 96\r\na=rtpmap:96 X-NOPE/90000\r\na=control:trackID=0\r\n"
    )
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            c.settimeout(2)
            try:
                while data := c.recv(65536):
                    cseq = next(
                        (
                            ln.split(":")[1].strip()
                            for ln in data.decode().split("\r\n")
                            if ln.lower().startswith("cseq")
                        ),
                        "0",
                    )
                    if data.startswith(b"DESCRIBE"):
                        body = sdp.encode()
                        c.sendall(
                            f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\n"
                            f"Content-Length: {len(body)}\r\n\r\n".encode()
                            + body
                        )
                    elif data.startswith(b"OPTIONS"):
                        c.sendall(
                            f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: DESCRIBE, SETUP\r\n\r\n".encode()
                        )
                    else:
                        c.sendall(
                            f"RTSP/1.0 461 Unsupported Transport\r\nCSeq: {cseq}\r\n\r\n".encode()
                        )
            except OSError:
                pass
            finally:
                c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with pytest.raises(rtsplab.errors.UnsupportedStream, match="X-NOPE"):
            rtsplab.open(f"rtsp://127.0.0.1:{port}/cam1", open_timeout_s=2)
    finally:
        stop.set()
        t.join(2)
        srv.close()


def test_bad_url_is_value_error() -> None:
    with pytest.raises(ValueError):
        rtsplab.open("http://127.0.0.1/cam1")


def test_native_backend_skips_the_parser_frame(gst) -> None:  # type: ignore[no-untyped-def]
    """FFmpeg's demuxer holds each frame until the next one starts; native does not.

    Same server, same moment: the native reader's median transit is lower than OpenCV's by
    a sizeable part of the 33 ms frame period (wide margin: 10 ms).
    """
    medians = {}
    for backend in ("opencv", "native"):
        with rtsplab.open(gst.url("cam1"), backend=backend) as r:
            frames = [r.read_frame(fresh=True) for _ in range(40)][5:]
        medians[backend] = float(np.median([f.transit_ms for f in frames]))
    assert medians["native"] < medians["opencv"] - 10, medians


def test_native_reads_a_udp_only_server_over_udp(gst_server) -> None:  # type: ignore[no-untyped-def]
    srv = gst_server(mounts=("cam1",), udp_only=True)
    with rtsplab.open(srv.url("cam1"), backend="native", open_timeout_s=3) as r:
        frame = r.read_frame(fresh=True, timeout_s=5)
        assert r.transport_used.value == "udp"
    assert frame.clock is Clock.TIMECODE and frame.age_ms < 1000


def test_native_over_tcp_only_names_the_refusal(gst_server) -> None:  # type: ignore[no-untyped-def]
    srv = gst_server(mounts=("cam1",), udp_only=True)
    with pytest.raises(rtsplab.errors.TransportRefused, match="TCP"):
        rtsplab.open(srv.url("cam1"), backend="native", transport="tcp", open_timeout_s=3)
