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
__all__ = ["IN_CI", "free_port", "require_tool", "stop_pid", "wait_port"]

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


@pytest.fixture
def thread_baseline() -> Iterator[int]:
    """The live thread count before the test; the test asserts it returns to this."""
    yield threading.active_count()
