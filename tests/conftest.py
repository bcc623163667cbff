"""Shared test utilities: free ports, required tools, process lifetime.

In CI (``CI=true``) a missing server or tool *fails* the test; locally it skips with the
install command, so a developer sees what to install.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

pytest_plugins = ["servers.fixtures", "servers.sim_fixtures"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_tool(path_or_name: str, apt: str) -> str:
    """The tool's path; fail in CI (skip locally) when it is missing."""
    found = shutil.which(path_or_name) or (path_or_name if os.path.exists(path_or_name) else None)
    if found:
        return found
    msg = f"{path_or_name} is missing: sudo apt-get install -y {apt}"
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


def wait_port(
    port: int, timeout_s: float = 10.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s}s")


def stop_pid(proc: subprocess.Popen[bytes], timeout_s: float = 5.0) -> None:
    """Stop a server process by PID: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout_s)


@pytest.fixture
def thread_baseline() -> Iterator[int]:
    """The live thread count before the test; the test asserts it returns to this."""
    yield threading.active_count()
