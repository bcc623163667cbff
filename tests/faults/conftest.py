"""Fault matrix fixtures: servers shared per module, the backends every case runs on, and the
session hook that writes ``data/faults.csv``."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from faults import faultlog
from rtsplab.backends import BACKENDS
from rtsplab.entities import StreamState
from rtsplab.readers import Reader
from rtsplab.sim import SimServer

# Every backend rtsplab offers runs every case; a new backend joins the matrix by being listed
# in rtsplab.backends.BACKENDS.
MATRIX_BACKENDS = tuple(BACKENDS)
CLOSE_BOUND_S = 0.5  # the contract: close() returns within this, in every state


def timed_close(reader: Reader) -> float:
    """Close ``reader``, assert the contract's bound and the closed state; the seconds it took."""
    t0 = time.monotonic()
    reader.close()
    took_s = time.monotonic() - t0
    assert took_s <= CLOSE_BOUND_S, f"close() took {took_s:.2f} s"
    assert reader.state is StreamState.CLOSED
    return took_s


@pytest.fixture(scope="session", autouse=True)
def _libraries_warm() -> None:
    """Read a frame once with every backend before any case counts threads: FFmpeg and the
    libraries around it start a few native threads on first use that live as long as the
    process, and the first case of a session would otherwise be blamed for them."""
    import rtsplab

    with SimServer(1) as srv:
        for backend in ("native", "pyav", "opencv"):
            with rtsplab.open(srv.url("cam1"), backend=backend, read_timeout_s=2.0) as reader:
                reader.read_frame(timeout_s=5)


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
