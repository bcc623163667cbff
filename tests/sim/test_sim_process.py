"""Lifecycle: child-process mode (handles, crash, a script without a main guard), restarts."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ThreadBaseline
from servers.sim_fixtures import RawRtsp, read_pyav

import rtsplab
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


def test_in_process_restart_same_port_and_threads_joined(thread_baseline: ThreadBaseline) -> None:
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
    while thread_baseline.left() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert thread_baseline.left() == []


def test_fixtures(sim_server: SimServer, make_sim: Callable[..., SimServer]) -> None:
    assert [u.rsplit("/", 1)[1] for u in sim_server.urls] == ["cam1", "cam2"]
    other = make_sim(1, credentials=("admin", "spark@123456"))
    assert other.url("cam1", credentials=True).startswith("rtsp://admin:spark%40123456@")
    assert "spark" not in repr(other)
    with pytest.raises(KeyError):
        sim_server.url("cam9")


def _rtp_arrivals(c: RawRtsp, seconds: float) -> list[float]:
    """Monotonic arrival times of the RTP packets (channel 0) read during ``seconds``."""
    times: list[float] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        n = len(c.frames)
        c.read_frames(n + 1, timeout_s=left)
        times += [time.monotonic() for f in c.frames[n:] if f.channel == 0]
    return times


def test_child_mode_camera_handles_act_in_the_child(make_sim: Callable[..., SimServer]) -> None:
    cam = SimCamera("cam1", fps=15)
    srv = make_sim([cam], process=True)
    assert srv.cameras == [cam] and srv.camera("cam1") is cam
    assert srv.connections == 0
    with RawRtsp(srv.port) as c:
        c.play_tcp(srv.url("cam1"))
        assert len(_rtp_arrivals(c, 0.5)) >= 3
        assert srv.connections == 1  # counted in the child
        srv.cameras[0].set(latency_ms=40, jitter_ms=5)
        assert srv.call("config", "cam1")["latency_ms"] == 40.0  # the child's own camera
        assert cam.latency_ms == 40.0 and cam.config().jitter_ms == 5.0
        with pytest.raises(ValueError, match="loss"):
            cam.set(loss=2.0)
        cam.stall(1.2)
        t_stall = time.monotonic()
        arrivals = [t_stall, *_rtp_arrivals(c, 3.0)]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert gaps and 0.9 <= max(gaps) < 2.5, max(gaps, default=None)
    assert arrivals[-1] - arrivals[gaps.index(max(gaps)) + 1] >= 0.3  # it resumed
    with pytest.raises(RuntimeError, match="another process"):
        cam.start()  # the camera runs in the child, not here
    srv.close()
    cam.set(fps=10)  # after close the camera is local again
    assert cam.fps == 10.0 and not cam.running


def test_process_mode_from_a_script_without_main_guard(tmp_path: Path) -> None:
    script = tmp_path / "serve.py"
    script.write_text(
        "from rtsplab.sim import SimServer\n"
        "srv = SimServer(1, process=True)\n"
        "print(srv.pid, srv.url('cam1'), srv.connections, flush=True)\n"
        "srv.close()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(rtsplab.__file__).resolve().parents[1]))
    proc = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    pid, url, connections = proc.stdout.split()
    assert url.startswith("rtsp://127.0.0.1:") and url.endswith("/cam1")
    assert connections == "0"
    assert _gone(int(pid))
