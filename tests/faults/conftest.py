"""Fault matrix fixtures: servers shared per module, the backends every case runs on, and the
session hook that writes ``data/faults.csv``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from faults import faultlog
from rtsplab.backends import BACKENDS
from rtsplab.sim import SimServer

# Every backend rtsplab offers runs every case; a new backend joins the matrix by being listed
# in rtsplab.backends.BACKENDS.
MATRIX_BACKENDS = tuple(BACKENDS)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    faultlog.flush()


@pytest.fixture(scope="module")
def sim_proc() -> Iterator[SimServer]:
    """One simulated camera served by a child process (so it can be frozen with SIGSTOP)."""
    srv = SimServer(1, process=True)
    try:
        yield srv
    finally:
        srv.close()
