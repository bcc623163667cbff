"""Lifecycle: child-process mode, kill and restart on the same port, threads all joined."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pytest
from servers.sim_fixtures import RawRtsp, read_pyav

from rtsplab.sim import SimCamera, SimServer

pytestmark = pytest.mark.interop


def _gone(pid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_process_mode_knobs_kill_restart_close() -> None:
    srv = SimServer([SimCamera("cam1", fps=15)], process=True)
    try:
        pid, port = srv.pid, srv.port
        assert pid != os.getpid()
        cam = srv.camera("cam1")
        cam.set(latency_ms=50)
        assert cam.config().latency_ms == 50
        with pytest.raises(ValueError):
            cam.set(loss=2.0)
        with RawRtsp(port) as c:
            c.play_tcp(srv.url("cam1"))
            assert len(c.read_frames(10)) >= 10
            srv.kill()  # a crash: the client's connection dies with the process
            assert c.closed_by_server()
        assert _gone(pid)
    finally:
        srv.close()
    srv2 = SimServer(1, port=port, process=True)  # same port right after the crash
    try:
        r = read_pyav(srv2.url("cam1"), 10)
        assert len(r.decoded) >= 10, r.error
        pid2 = srv2.pid
    finally:
        srv2.close()
    assert _gone(pid2)
    srv2.close()  # idempotent


def test_in_process_restart_same_port_and_threads_joined(thread_baseline: int) -> None:
    cams = [SimCamera("cam1"), SimCamera("cam2")]
    srv = SimServer(cams)
    port = srv.port
    with RawRtsp(port) as c:
        c.play_tcp(srv.url("cam1"))
        assert len(c.read_frames(10)) >= 10
        t0 = time.monotonic()
        srv.close()  # with a client still streaming
        assert time.monotonic() - t0 < 3.0
        assert c.closed_by_server()
    with SimServer(cams, port=port) as again, RawRtsp(port) as c:
        c.play_tcp(again.url("cam2"))
        assert len(c.read_frames(10)) >= 10
    deadline = time.monotonic() + 3
    while threading.active_count() > thread_baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == thread_baseline, [t.name for t in threading.enumerate()]


def test_fixtures(sim_server: SimServer, make_sim: Callable[..., SimServer]) -> None:
    assert [u.rsplit("/", 1)[1] for u in sim_server.urls] == ["cam1", "cam2"]
    other = make_sim(1, credentials=("admin", "spark@123456"))
    assert other.url("cam1", credentials=True).startswith("rtsp://admin:spark%40123456@")
    assert "spark" not in repr(other)
    with pytest.raises(KeyError):
        sim_server.url("cam9")
