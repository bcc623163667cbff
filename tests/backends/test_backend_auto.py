"""``backend="auto"``: the native client when it can serve the stream, else PyAV, else OpenCV.

Against real servers: rtsplab's simulator (TCP, UDP only, H.265 over TCP and UDP),
gst-rtsp-server and rtsp-server-perl's relay (UDP only).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from servers.fixtures import rtsp_setup_status

import rtsplab
from rtsplab.errors import NotFound, ProtocolError, TransportRefused
from rtsplab.recorder import Recorder
from rtsplab.sim import SimCamera, SimServer

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def srv() -> Iterator[SimServer]:
    with SimServer([SimCamera("cam1"), SimCamera("hevc", codec="h265")], port=0) as s:
        yield s


def read_ages(url: str, n: int = 10, **kwargs: object) -> tuple[str, str, list[float]]:
    """(backend_used, transport_used, ages of ``n`` fresh frames, from their timecodes)."""
    rec = Recorder()
    with rtsplab.open(url, recorder=rec, **kwargs) as r:  # type: ignore[arg-type]
        frames = [r.read_frame(timeout_s=5.0, fresh=True) for _ in range(n)]
        used, transport = r.backend_used, r.transport_used.value
    assert all(f.clock.value == "timecode" for f in frames)
    assert set(rec.to_dataframe()["backend"]) == {used}
    return used, transport, [f.age_ms for f in frames]


def test_simulator_over_tcp_is_read_natively(srv: SimServer) -> None:
    used, transport, ages = read_ages(srv.url("cam1"))
    assert (used, transport) == ("native", "tcp")
    assert min(ages) > 0 and max(ages) < 1000


def test_udp_only_server_is_read_natively_over_udp(make_sim: Callable[..., SimServer]) -> None:
    s = make_sim(1, allow_tcp=False)
    used, transport, ages = read_ages(s.url("cam1"))
    assert (used, transport) == ("native", "udp")
    assert min(ages) > 0 and max(ages) < 1000


def test_h265_camera_is_read_natively(srv: SimServer) -> None:
    used, transport, ages = read_ages(srv.url("hevc"))
    assert (used, transport) == ("native", "tcp")
    assert min(ages) > 0 and max(ages) < 1000


def test_h265_udp_only_camera_is_read_natively(make_sim: Callable[..., SimServer]) -> None:
    s = make_sim([SimCamera("hevc", codec="h265")], allow_tcp=False)
    used, transport, ages = read_ages(s.url("hevc"))
    assert (used, transport) == ("native", "udp")
    assert min(ages) > 0 and max(ages) < 1000


def test_perl_relay_is_read_natively_over_udp(perl_relay: Callable[..., object]) -> None:
    from rtsplab.sim import Publisher

    relay: Any = perl_relay()
    cam = SimCamera("cam1")
    with Publisher(cam, relay.publish_url("cam1"), transport="udp"):
        deadline = time.monotonic() + 10
        while rtsp_setup_status(relay.read_url("cam1")) != 200:
            assert time.monotonic() < deadline, "the relay never served the stream"
            time.sleep(0.1)
        used, transport, ages = read_ages(relay.read_url("cam1"), n=10)
    assert (used, transport) == ("native", "udp")
    assert min(ages) > 0 and max(ages) < 1000


def test_a_server_refusing_both_transports_is_a_clear_error(
    make_sim: Callable[..., SimServer],
) -> None:
    s = make_sim(1, allow_tcp=False, allow_udp=False)
    t0 = time.monotonic()
    with pytest.raises(TransportRefused, match="both TCP and UDP"):
        rtsplab.open(s.url("cam1"), open_timeout_s=5.0)
    assert time.monotonic() - t0 < 3.0  # not retried with PyAV and OpenCV


def test_gst_rtsp_server_is_read_natively(gst_server: Callable[..., object]) -> None:
    g = gst_server(mounts=("cam1",))
    used, transport, _ = read_ages(g.url("cam1"), n=5)  # type: ignore[attr-defined]
    assert (used, transport) == ("native", "tcp")


def test_unknown_path_stops_at_once(srv: SimServer) -> None:
    t0 = time.monotonic()
    with pytest.raises(NotFound):
        rtsplab.open(srv.url("cam1").replace("/cam1", "/nope"), open_timeout_s=5.0)
    assert time.monotonic() - t0 < 2.0  # not retried with PyAV and OpenCV


def test_a_server_that_is_not_rtsp_is_a_protocol_error_within_the_timeout() -> None:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    port = lsock.getsockname()[1]
    stop = threading.Event()

    def answer_http() -> None:
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=answer_http, daemon=True)
    thread.start()
    try:
        t0 = time.monotonic()
        with pytest.raises(ProtocolError):
            rtsplab.open(f"rtsp://127.0.0.1:{port}/cam1", open_timeout_s=3.0)
        assert time.monotonic() - t0 < 3.5
    finally:
        stop.set()
        thread.join(2)
        lsock.close()


def test_unknown_backend_is_a_value_error(srv: SimServer) -> None:
    with pytest.raises(ValueError, match="unknown backend"):
        rtsplab.open(srv.url("cam1"), backend="vlc")


def test_probe_json_names_the_backend_used(srv: SimServer) -> None:
    cmd = [sys.executable, "-m", "rtsplab.cli", "probe", srv.url("cam1"), "--seconds", "1"]
    out = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=60, check=True)
    report = json.loads(out.stdout)
    assert report["backend"] == "native"
    assert report["frames"] > 5


def test_doctor_reports_the_backend_used(make_sim: Callable[..., SimServer]) -> None:
    from rtsplab.lab.diagnose import DEFAULT, LL, diagnose

    s = make_sim([SimCamera("cam1", gop=10)], process=True)
    d = diagnose(s.urls, seconds=0.5)
    assert d.ok, d.report()
    assert d.info["cam1"]["backend"] == "native"
    assert "backend native" in d.report()
    m = d.measurements
    assert m is not None
    # the default-options comparison is FFmpeg's (through OpenCV), the native client has none
    assert set(m[m.setup == LL].backend) == {"native"}
    assert set(m[m.setup == DEFAULT].backend) == {"opencv"}
