"""Streams that end, end; time without a decoded frame is bounded; no boundary leaks.

- a reader whose stream ended raises on every read, its iterator ends, and iteration never
  yields a frame twice; ``read_frame(fresh=False)`` may repeat, and the recorder says so;
- ``read_timeout_s`` bounds the time without a *decoded* frame, with packets arriving;
- a failed ``open`` or ``open_group`` raises a typed error and leaves no thread, fd or
  server session behind.
"""

from __future__ import annotations

import os
import time

import pytest
from conftest import ThreadBaseline, free_port
from servers.undecodable import UndecodableServer

import rtsplab
from rtsplab.entities import StreamState
from rtsplab.errors import ConnectError, ReadTimeout, RtspLabError, StreamClosed
from rtsplab.recorder import Recorder
from rtsplab.sim import SimCamera, SimServer

pytestmark = pytest.mark.interop


def _cam(name: str = "cam1") -> SimCamera:
    return SimCamera(name, size=(320, 180), fps=30, gop=15)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _until(predicate: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return bool(predicate())  # type: ignore[operator]


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize("strategy", ["naive", "latest"])
def test_read_timeout_bounds_the_time_without_a_decoded_frame(
    transport: str, strategy: str
) -> None:
    """Packets keep arriving, none decodes: the reader is ``stalled`` after read_timeout_s."""
    with (
        UndecodableServer() as srv,
        rtsplab.open(
            srv.url, strategy=strategy, backend="native", transport=transport,
            read_timeout_s=1.0, reconnect=False,
        ) as r,
    ):  # fmt: skip
        t0 = time.monotonic()
        with pytest.raises(ReadTimeout):
            r.read_frame(timeout_s=1.0)
        waited_s = time.monotonic() - t0
        assert 0.9 <= waited_s < 2.5, waited_s
        assert _until(lambda: r.state is StreamState.STALLED, 1.5)
        assert srv.packets_sent >= 20, "packets arrived all along"
        assert r.frames_decoded == 0


def test_an_ended_latest_stream_raises_on_every_read_and_its_iterator_ends() -> None:
    srv = SimServer([_cam()])
    try:
        with rtsplab.open(srv.url("cam1"), backend="native", reconnect=False) as r:
            seqs = []
            for frame in r:  # each frame once, however fast the loop
                seqs.append(frame.seq)
                if len(seqs) == 15:
                    break
            assert seqs == sorted(set(seqs)), seqs
            srv.close()  # in-process: the connection drops at once
            handed = []
            deadline = time.monotonic() + 5
            with pytest.raises(StreamClosed):
                while time.monotonic() < deadline:  # frames not handed out yet come first
                    handed.append(r.read_frame(timeout_s=1.0).seq)
            assert len(handed) == len(set(handed)) <= 1
            for _ in range(5):
                with pytest.raises(StreamClosed):
                    r.read_frame()
                with pytest.raises(StreamClosed):
                    r.read_frame(timeout_s=0.0, fresh=True)
            assert list(r) == []
            assert r.read() == (False, None)
            assert r.state is StreamState.CLOSED
    finally:
        srv.close()


def test_an_ended_naive_stream_stays_ended() -> None:
    """Without ``reconnect`` a naive reader whose stream ended does not reopen it behind the
    caller's back when a server is there again: every read raises."""
    port = free_port()
    cam = _cam()
    srv = SimServer([cam], port=port)
    try:
        with rtsplab.open(
            srv.url("cam1"), strategy="naive", backend="native", reconnect=False
        ) as r:
            r.read_frame()
            srv.close()
            with pytest.raises(StreamClosed):
                for _ in range(200):  # frames already received may still decode
                    r.read_frame()
            cam = _cam()
            srv = SimServer([cam], port=port)
            for _ in range(3):
                with pytest.raises(StreamClosed):
                    r.read_frame()
            assert list(r) == []
            assert cam._subs == [], "no new session was opened"
    finally:
        srv.close()


def test_recorder_rows_say_which_reads_repeated_a_frame() -> None:
    rec = Recorder()
    with (
        SimServer([_cam()]) as srv,
        rtsplab.open(srv.url("cam1"), backend="native", recorder=rec) as r,
    ):
        r.read_frame(timeout_s=5)
        t_end = time.monotonic() + 0.5
        while time.monotonic() < t_end:  # far faster than 30 fps: most reads repeat
            r.read_frame(fresh=False)
    df = rec.to_dataframe()
    assert df["repeat"].tolist() == (df["seq"].diff() == 0).tolist()
    assert df["repeat"].sum() > len(df) / 2
    summary = rec.summary().iloc[0]
    assert summary["frames"] == df["seq"].nunique()
    assert summary["repeats"] == df["repeat"].sum()
    assert summary["fps"] < 45


@pytest.mark.parametrize("failing", ["refused", "unreadable_sdp"])
def test_a_failed_open_group_closes_every_reader_it_opened(
    failing: str, thread_baseline: ThreadBaseline
) -> None:
    """One stream fails to open (``on_missing="raise"``): the error is typed and the readers
    that did open are closed: no thread, no fd, no session left on the server."""
    cam = _cam()
    bad_sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n"
        "a=rtpmap:96 H265/90000\r\na=fmtp:96 sprop-max-don-diff=\u00b2\r\na=control:track1\r\n"
    )
    with SimServer([cam]) as srv, UndecodableServer(sdp=bad_sdp) as odd:
        rtsplab.open(srv.url("cam1"), backend="native").close()  # warm the libraries up
        assert _until(lambda: cam._subs == [], 2.0)
        fds_before = _fds()
        threads = ThreadBaseline()
        bad = f"rtsp://127.0.0.1:{free_port()}/x" if failing == "refused" else odd.url
        with pytest.raises(RtspLabError) as caught:
            rtsplab.open_group(
                [srv.url("cam1"), bad], on_missing="raise", backend="native", open_timeout_s=3
            )
        if failing == "refused":
            assert isinstance(caught.value, ConnectError)
        assert _until(lambda: cam._subs == [], 2.0), "the server's session is gone"
        assert _until(lambda: not threads.left(), 2.0), threads.left()
        assert _until(lambda: _fds() <= fds_before, 2.0), (fds_before, _fds())
    assert not thread_baseline.left()
