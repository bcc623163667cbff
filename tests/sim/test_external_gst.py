"""The gst-rtsp-server fixture serves what the other interop tests rely on.

Timecoded H.264 on several mounts (also to a client that joins a running shared stream),
authentication with a password full of URL delimiters, and a UDP-only mode that refuses
RTP over TCP. Read with OpenCV's FFmpeg backend, as a user would.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import pytest

from rtsplab.timecode import Timecode, read_timecode

pytestmark = pytest.mark.interop

OPEN_PARAMS = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000]


def open_capture(url: str) -> cv2.VideoCapture:
    return cv2.VideoCapture(url, cv2.CAP_FFMPEG, OPEN_PARAMS)


def read_codes(
    url: str, n_frames: int, on_frame: Callable[[int], None] | None = None
) -> list[Timecode | None]:
    """Read ``n_frames`` with OpenCV; the decoded timecode of each (``None`` if unreadable)."""
    cap = open_capture(url)
    try:
        assert cap.isOpened(), "OpenCV could not open the stream"
        codes: list[Timecode | None] = []
        for i in range(n_frames):
            ok, img = cap.read()
            assert ok, f"read failed after {i} frames"
            codes.append(read_timecode(img))
            if on_frame is not None:
                on_frame(i)
        return codes
    finally:
        cap.release()


def assert_good(codes: list[Timecode | None], n_frames: int) -> list[int]:
    seqs = [c.seq for c in codes if c is not None]
    assert len(codes) == n_frames
    assert len(seqs) >= 0.95 * n_frames, f"only {len(seqs)}/{n_frames} timecodes decoded"
    assert all(b > a for a, b in itertools.pairwise(seqs)), f"seq not increasing: {seqs}"
    return seqs


@pytest.fixture
def opencv_options(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` (OpenCV reads it again at every open)."""

    def set_options(value: str) -> None:
        monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", value)

    yield set_options


def test_two_mounts_and_a_late_joiner_get_decodable_timecodes(gst_server: Callable) -> None:
    srv = gst_server(mounts=("cam1", "cam2"))
    results: dict[str, list[Timecode | None]] = {}
    errors: list[BaseException] = []
    first_reader_running = threading.Event()

    def run(name: str, mount: str, n: int) -> None:
        def progress(i: int) -> None:
            if i == 20:
                first_reader_running.set()

        try:
            results[name] = read_codes(srv.url(mount), n, progress if name == "a" else None)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
            first_reader_running.set()

    threads = [
        threading.Thread(target=run, args=("a", "cam1", 60), daemon=True),
        threading.Thread(target=run, args=("b", "cam2", 60), daemon=True),
    ]
    for t in threads:
        t.start()
    assert first_reader_running.wait(15)
    late = threading.Thread(target=run, args=("late", "cam1", 30), daemon=True)
    late.start()
    for t in [*threads, late]:
        t.join(20)
        assert not t.is_alive()
    assert not errors, errors
    seqs_a = assert_good(results["a"], 60)
    assert_good(results["b"], 60)
    seqs_late = assert_good(results["late"], 30)
    # the late client joined the running shared stream: it starts well after the first one
    assert seqs_late[0] >= seqs_a[0] + 15
    codes_a = [c for c in results["a"] if c is not None]
    assert 0 < (codes_a[-1].t_ns - codes_a[0].t_ns) / 1e9 < 4


@pytest.mark.parametrize("auth", ["basic", "digest"])
def test_auth_with_url_delimiters_in_password(gst_server: Callable, auth: str) -> None:
    password = "p@ss:w/rd"
    srv = gst_server(mounts=("cam1",), credentials=("admin", password), auth=auth)
    cmdline = Path(f"/proc/{srv.pid}/cmdline").read_bytes()
    assert password.encode() not in cmdline
    assert password not in repr(srv)

    assert_good(read_codes(srv.url("cam1", credentials=True), 10), 10)
    for url in (srv.url("cam1").replace("rtsp://", "rtsp://admin:wrong@"), srv.url("cam1")):
        cap = open_capture(url)
        try:
            assert not cap.isOpened()
        finally:
            cap.release()


def test_udp_only_refuses_tcp(gst_server: Callable, opencv_options: Callable[[str], None]) -> None:
    srv = gst_server(mounts=("cam1",), udp_only=True)
    opencv_options("rtsp_transport;tcp")
    cap = open_capture(srv.url("cam1"))
    try:
        assert not cap.isOpened()
    finally:
        cap.release()
    opencv_options("rtsp_transport;udp")
    assert_good(read_codes(srv.url("cam1"), 10), 10)


def test_perl_relay_relays_a_published_stream_over_udp_only(
    perl_relay: Callable, opencv_options: Callable[[str], None]
) -> None:
    relay = perl_relay()
    relay.publish_testsrc("cam1", fps=30, size=(320, 240))
    opencv_options("rtsp_transport;udp")
    cap = open_capture(relay.read_url("cam1"))
    try:
        assert cap.isOpened()
        shapes = set()
        for _ in range(10):
            ok, img = cap.read()
            assert ok
            shapes.add(img.shape)
        assert shapes == {(240, 320, 3)}
    finally:
        cap.release()
    opencv_options("rtsp_transport;tcp")
    cap = open_capture(relay.read_url("cam1"))
    try:
        assert not cap.isOpened()
    finally:
        cap.release()


def test_rtcp_sender_reports_carry_the_capture_wall_clock(gst_server: Callable) -> None:
    import av  # a runtime dependency: missing, the test must fail, not skip

    srv = gst_server(mounts=("cam1",))
    offsets_ms: list[float] = []
    with av.open(srv.url("cam1"), options={"rtsp_transport": "tcp"}, timeout=5) as container:
        for i, frame in enumerate(container.decode(video=0)):
            code = read_timecode(frame.to_ndarray(format="bgr24"))
            start_us = container.start_time_realtime  # set once the first RTCP SR arrived
            if code is not None and start_us and frame.pts is not None:
                rtcp_wall_ns = start_us * 1000 + int(frame.pts * frame.time_base * 1_000_000_000)
                offsets_ms.append((rtcp_wall_ns - code.t_ns) / 1e6)
            if len(offsets_ms) >= 15 or i >= 300:  # the first SR comes after 0.5-3 s
                break
    assert len(offsets_ms) >= 15, "no RTCP sender report within 10 s"
    offsets_ms.sort()
    assert abs(offsets_ms[len(offsets_ms) // 2]) < 20, offsets_ms
