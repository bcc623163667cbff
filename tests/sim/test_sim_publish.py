"""Publisher pushes a camera (ANNOUNCE/RECORD) to a real relay; readers get the timecodes back."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from conftest import free_port, require_tool, stop_pid, wait_port
from servers.sim_fixtures import read_pyav

from rtsplab.errors import ConnectError
from rtsplab.sim import Publisher, SimCamera

pytestmark = pytest.mark.interop


@pytest.fixture
def relay() -> Iterator[tuple[int, int]]:
    """``rtsp-server-perl``: readers on port A, publishers on port B (UDP RTP only)."""
    exe = require_tool("/usr/bin/rtsp-server-perl", "rtsp-server-perl")
    client_port, source_port = free_port(), free_port()
    proc = subprocess.Popen(
        [exe, "--clientport", str(client_port), "--serverport", str(source_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(source_port, 10, proc)
        wait_port(client_port, 10, proc)
        yield client_port, source_port
    finally:
        stop_pid(proc)


def test_publish_and_read_back(relay: tuple[int, int]) -> None:
    client_port, source_port = relay
    cam = SimCamera("cam1")
    with Publisher(cam, f"rtsp://127.0.0.1:{source_port}/cam1", transport="udp") as pub:
        assert "cam1" in repr(pub)
        r = read_pyav(f"rtsp://127.0.0.1:{client_port}/cam1", 40, transport="udp")
        assert pub.alive and pub.frames_sent > 0, pub.error
    assert not cam.running  # the publisher released the camera
    assert r.frames >= 40, r.error
    assert len(r.decoded) >= 0.95 * r.frames
    assert r.decoded == sorted(set(r.decoded))
    assert min(r.ages_ms) > 0 and max(r.ages_ms) < 2000


def test_publish_to_nothing_fails_cleanly() -> None:
    with pytest.raises(ConnectError) as e:
        Publisher(SimCamera("cam1"), f"rtsp://u:s3cret@127.0.0.1:{free_port()}/cam1", timeout_s=2)
    assert "s3cret" not in str(e.value)
