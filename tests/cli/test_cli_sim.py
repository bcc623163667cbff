"""``rtsplab sim``: prints redacted URLs, serves real clients, exits 0 on SIGTERM and Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from conftest import free_port, wait_port
from servers.sim_fixtures import RawRtsp

from rtsplab.rtsp.auth import authorization_header

pytestmark = pytest.mark.interop

PASSWORD = "spark@123456"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_exits_cleanly(sig: signal.Signals) -> None:
    port = free_port()
    env = dict(os.environ, RTSPLAB_SIM_PASSWORD=PASSWORD)
    cmd = [sys.executable, "-m", "rtsplab.cli", "sim", "--cameras", "2", "--port", str(port)]
    cmd += ["--user", "admin", "--fps", "15", "--size", "320x180"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_port(port, 20, proc)
        assert proc.stdout is not None
        lines = [proc.stdout.readline().decode().strip() for _ in range(2)]
        assert lines == [f"rtsp://admin:***@127.0.0.1:{port}/cam{i}" for i in (1, 2)]
        url = f"rtsp://127.0.0.1:{port}/cam2"
        with RawRtsp(port) as c:
            challenge = c.request("DESCRIBE", url).get("WWW-Authenticate") or ""
            auth = authorization_header("admin", PASSWORD, "DESCRIBE", url, challenge)
            r = c.request("DESCRIBE", url, {"Authorization": auth})
            assert r.status == 200 and b"a=framerate:15" in r.body
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert PASSWORD.encode() not in out + err and b"spark%40" not in out + err


def test_cli_needs_a_password_for_a_user() -> None:
    env = {k: v for k, v in os.environ.items() if k != "RTSPLAB_SIM_PASSWORD"}
    cmd = [sys.executable, "-m", "rtsplab.cli", "sim", "--port", "0", "--user", "admin"]
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=30, check=False)
    assert proc.returncode == 2 and b"RTSPLAB_SIM_PASSWORD" in proc.stderr
