"""The native client over UDP and with H.265, against real servers: order, loss, reports;
and DESCRIBE redirects.

Loss: the simulator drops 2 % of its UDP packets. A damaged access unit must be dropped at
once (no waiting past the reorder bound) and decoding must resume at the next keyframe, so
every frame handed out is whole: its burned-in timecode reads back (a smeared picture fails
the timecode's CRC), and its age stays low. The client asks for that keyframe (RTCP PLI) and
the simulated camera sends one, so a loss costs a few frames, not the rest of the GOP
(without the requests: about 8-14 of 30 fps at 2 % loss, about 1 at 10 %).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

import rtsplab
from rtsplab.entities import Clock
from rtsplab.errors import ProtocolError, ReadTimeout, StreamClosed
from rtsplab.recorder import Recorder
from rtsplab.sim import SimCamera, SimServer

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("codec", ["h264", "h265"])
@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_native_reads_both_codecs_over_both_transports(
    make_sim: Callable[..., SimServer], codec: str, transport: str
) -> None:
    s = make_sim([SimCamera("cam1", codec=codec)])
    with rtsplab.open(s.url("cam1"), backend="native", transport=transport) as r:
        frames = [r.read_frame(timeout_s=5.0, fresh=True) for _ in range(15)]
        assert r.backend_used == "native" and r.transport_used.value == transport
        assert r.info.codec == {"h264": "h264", "h265": "hevc"}[codec]
        assert (r.bad_packets, r.lost_packets) == (0, 0)
    assert all(f.clock is Clock.TIMECODE for f in frames)
    assert max(f.age_ms for f in frames) < 1000


def read_for(r: rtsplab.Reader, seconds: float) -> list[rtsplab.Frame]:
    """Fresh frames read for ``seconds`` (a read may time out while a keyframe is awaited)."""
    frames = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        with contextlib.suppress(ReadTimeout):  # damaged frames until the next keyframe
            frames.append(r.read_frame(timeout_s=2.0, fresh=True))
    return frames


def test_udp_loss_drops_damaged_frames_asks_for_keyframes_and_keeps_age_low(
    make_sim: Callable[..., SimServer],
) -> None:
    cam = SimCamera("cam1", loss=0.02)
    s = make_sim([cam], allow_tcp=False)  # in-process: the camera's counters are ours to read
    rec = Recorder()
    with rtsplab.open(s.url("cam1"), strategy="latest", recorder=rec) as r:
        assert (r.backend_used, r.transport_used.value) == ("native", "udp")
        frames = read_for(r, 6.0)
        lost = r.lost_packets
    # 30 fps sent; each loss costs the damaged frame and the one or two until the requested
    # keyframe lands (more when that keyframe is hit too)
    assert len(frames) >= 20 * 6.0, f"{len(frames) / 6.0:.1f} fps, {lost} packets lost"
    assert cam.keyframe_requests > 0
    # every frame handed out is whole: its timecode reads back (a smeared one fails the CRC)
    assert all(f.clock is Clock.TIMECODE for f in frames), [f.clock for f in frames]
    ages = np.array([f.age_ms for f in frames])
    assert np.percentile(ages, 99) <= 100, np.percentile(ages, [50, 99])
    assert lost > 0
    df = rec.to_dataframe()
    assert df.lost_packets.is_monotonic_increasing and df.lost_packets.iloc[-1] > 0


def test_keyframe_requests_keep_frames_coming_at_10_percent_loss(
    make_sim: Callable[..., SimServer],
) -> None:
    # a keyframe of ~20 packets arrives whole about one time in eight: without requests the
    # first picture may take seconds (one keyframe a second); with them it comes soon
    cam = SimCamera("cam1", loss=0.10)
    s = make_sim([cam], allow_tcp=False)
    with rtsplab.open(s.url("cam1"), backend="native", transport="udp") as r:
        frames = read_for(r, 5.0)
        assert r.lost_packets > 0
    assert len(frames) >= 5 * 5.0, f"{len(frames) / 5.0:.1f} fps"
    assert all(f.clock is Clock.TIMECODE for f in frames)  # whole pictures only
    assert cam.keyframe_requests > 0


def test_no_keyframe_requests_without_loss(make_sim: Callable[..., SimServer]) -> None:
    for transport in ("udp", "tcp"):
        cam = SimCamera("cam1")
        s = make_sim([cam])
        with rtsplab.open(s.url("cam1"), backend="native", transport=transport) as r:
            frames = read_for(r, 2.0)
            assert r.lost_packets == 0
        assert len(frames) >= 20 and cam.keyframe_requests == 0, transport


def test_the_camera_receives_receiver_reports(make_sim: Callable[..., SimServer]) -> None:
    for transport in ("udp", "tcp"):
        cam = SimCamera("cam1")
        s = make_sim([cam])
        with rtsplab.open(s.url("cam1"), backend="native", transport=transport) as r:
            t0 = time.monotonic()
            while cam.receiver_reports < 2:
                r.read_frame(timeout_s=2.0)
                assert time.monotonic() - t0 < 6.0, f"no receiver reports over {transport}"


def test_udp_session_outlives_a_short_session_timeout(make_sim: Callable[..., SimServer]) -> None:
    # the server drops a silent UDP session after 2 s: keep-alives and reports must prevent it
    s = make_sim(1, allow_tcp=False, session_timeout_s=2.0)
    with rtsplab.open(s.url("cam1"), backend="native", transport="udp") as r:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 5.0:
            frame = r.read_frame(timeout_s=2.0, fresh=True)
        assert r.reconnects == 0 and frame.age_ms < 1000


def test_gst_rtsp_server_over_udp(gst_server: Callable[..., object]) -> None:
    g = gst_server(mounts=("cam1",))
    with rtsplab.open(g.url("cam1"), backend="native", transport="udp") as r:  # type: ignore[attr-defined]
        frames = [r.read_frame(timeout_s=5.0, fresh=True) for _ in range(10)]
        assert r.transport_used.value == "udp"
    assert all(f.clock is Clock.TIMECODE for f in frames)


class Redirector:
    """An RTSP server that answers every request with ``302`` to ``location`` (itself: a loop)."""

    def __init__(self, location: str | None = None) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.location = location or f"rtsp://127.0.0.1:{self.port}/again"
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(4096) or b"\r\n\r\n"
                self.requests += 1
                cseq = re.search(rb"CSeq: *(\d+)", data)
                reply = (
                    f"RTSP/1.0 302 Moved Temporarily\r\nCSeq: {int(cseq[1]) if cseq else 0}\r\n"
                    f"Location: {self.location}\r\nContent-Length: 0\r\n\r\n"
                )
                with contextlib.suppress(OSError):
                    conn.sendall(reply.encode())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._listener.close()


def test_describe_follows_a_redirect(make_sim: Callable[..., SimServer]) -> None:
    s = make_sim(1)
    redirector = Redirector(s.url("cam1"))
    try:
        url = f"rtsp://127.0.0.1:{redirector.port}/old-path"
        with rtsplab.open(url, backend="native") as r:
            frame = r.read_frame(timeout_s=5.0, fresh=True)
        assert frame.clock is Clock.TIMECODE and redirector.requests == 1
    finally:
        redirector.close()


def test_a_redirect_loop_is_a_protocol_error() -> None:
    redirector = Redirector()
    try:
        with pytest.raises(ProtocolError, match="more than 3 redirects"):
            rtsplab.open(f"rtsp://127.0.0.1:{redirector.port}/x", backend="native")
        assert redirector.requests <= 8  # 4 DESCRIBEs, and the ones that explain the failure
    finally:
        redirector.close()


def test_close_during_a_blocked_udp_read_is_prompt_and_leaks_nothing(
    make_sim: Callable[..., SimServer],
) -> None:
    s = make_sim([SimCamera("cam1")], allow_tcp=False, process=True)  # its fds are not ours
    cam = s.camera("cam1")
    fds_before = len(os.listdir("/proc/self/fd"))
    threads_before = threading.active_count()
    r = rtsplab.open(s.url("cam1"), backend="native", strategy="naive", read_timeout_s=10)
    r.read_frame(timeout_s=5.0)
    cam.stall(5.0)
    errors: list[BaseException] = []

    def blocked_read() -> None:
        try:
            while True:
                r.read_frame(timeout_s=10.0)
        except BaseException as exc:
            errors.append(exc)

    reader_thread = threading.Thread(target=blocked_read, daemon=True)
    reader_thread.start()
    time.sleep(0.3)  # let the read block in its wait for datagrams
    t0 = time.monotonic()
    r.close()
    reader_thread.join(2.0)
    assert time.monotonic() - t0 < 1.0 and not reader_thread.is_alive()
    assert errors and isinstance(errors[0], StreamClosed)
    assert len(os.listdir("/proc/self/fd")) <= fds_before
    assert threading.active_count() <= threads_before
