"""Real clients (OpenCV, PyAV, ffprobe, GStreamer) read two simulated cameras at once."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from conftest import require_tool
from servers.sim_fixtures import (
    ffprobe_frames,
    in_parallel,
    read_gst,
    read_opencv,
    read_pyav,
)

from rtsplab.sim import SimCamera, SimServer

N = 60
pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def srv() -> Iterator[SimServer]:
    with SimServer(2) as s:
        yield s


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_pyav(srv: SimServer, transport: str) -> None:
    readings = in_parallel(*(lambda u=u: read_pyav(u, N, transport) for u in srv.urls))
    for r in readings:
        r.check(N)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_opencv(srv: SimServer, transport: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", f"rtsp_transport;{transport}")
    readings = in_parallel(*(lambda u=u: read_opencv(u, N) for u in srv.urls))
    for r in readings:
        r.check(N)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_ffprobe(srv: SimServer, transport: str) -> None:
    require_tool("ffprobe", "ffmpeg")
    results = in_parallel(*(lambda u=u: ffprobe_frames(u, transport, 2.5) for u in srv.urls))
    for pts in results:
        assert len(pts) >= N, len(pts)
        assert all(b > a for a, b in itertools.pairwise(pts))
        assert 1.5 < pts[-1] - pts[0] < 3.5  # 30 fps for ~2.5 s of stream time


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_gstreamer(srv: SimServer, protocol: str) -> None:
    readings = in_parallel(*(lambda u=u: read_gst(u, N, protocol) for u in srv.urls))
    for r in readings:
        r.check(N)


def test_second_camera_has_its_own_fps(make_sim: Callable[..., SimServer]) -> None:
    s = make_sim([SimCamera("cam1"), SimCamera("cam2", fps=15)])
    fast, slow = in_parallel(
        lambda: ffprobe_frames(s.url("cam1"), "tcp", 2.0),
        lambda: ffprobe_frames(s.url("cam2"), "tcp", 2.0),
    )
    assert len(fast) > 1.6 * len(slow) > 0
