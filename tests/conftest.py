"""Shared test utilities: free ports, required tools, process lifetime.

In CI (``CI=true``) a missing server or tool *fails* the test; locally it skips with the
install command, so a developer sees what to install.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator

import pytest

from rtsplab.sim.external import free_port, stop_pid, wait_port

pytest_plugins = ["servers.fixtures", "servers.sim_fixtures"]
__all__ = ["IN_CI", "ThreadBaseline", "free_port", "require_tool", "stop_pid", "wait_port"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(path_or_name: str, apt: str) -> str:
    """The tool's path; fail in CI (skip locally) when it is missing."""
    found = shutil.which(path_or_name) or (path_or_name if os.path.exists(path_or_name) else None)
    if found:
        return found
    msg = f"{path_or_name} is missing: sudo apt-get install -y {apt}"
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


class ThreadBaseline:
    """The threads alive before a test; :meth:`left` names those the test started and left.

    Threads of earlier tests that end meanwhile (an abandoned FFmpeg read finishing) do not
    count, either way: only threads that were not there before do.
    """

    def __init__(self) -> None:
        self.before = frozenset(threading.enumerate())

    def left(self) -> list[str]:
        """Names of threads started since the baseline and still alive."""
        return [t.name for t in threading.enumerate() if t not in self.before and t.is_alive()]


@pytest.fixture
def thread_baseline() -> Iterator[ThreadBaseline]:
    """The threads alive before the test; the test asserts it left none behind."""
    yield ThreadBaseline()
