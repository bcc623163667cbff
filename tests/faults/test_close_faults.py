"""``close()`` returns within 0.5 s in every state, on every backend: streaming, with the
server process frozen mid-read, while a reopen is blocked on a frozen server, and while
reconnecting to a server that is gone. Whatever close() could not interrupt finishes in a
daemon thread that releases the stream: the case checks no thread and no fd is left."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import rtsplab
from faults.conftest import MATRIX_BACKENDS, timed_close
from faults.faultlog import case
from rtsplab.entities import StreamState
from rtsplab.errors import ReadTimeout, RtspLabError, StreamClosed
from rtsplab.readers import Reader
from rtsplab.sim import SimServer
from rtsplab.sim.external import free_port

pytestmark = [pytest.mark.interop, pytest.mark.parametrize("backend", MATRIX_BACKENDS)]


def open_reader(url: str, backend: str) -> Reader:
    reader = rtsplab.open(url, backend=backend, read_timeout_s=1.0, open_timeout_s=2.0)
    reader.read_frame(fresh=True, timeout_s=5)
    return reader


def wait_state(reader: Reader, state: StreamState, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while reader._state is not state:  # the recorded state, not the derived view
        assert time.monotonic() < deadline, f"never {state.value}: {reader.state_reason}"
        time.sleep(0.02)


def test_close_while_streaming(backend: str, sim_proc: SimServer) -> None:
    with case("close() while streaming", backend) as c:
        r = open_reader(sim_proc.url("cam1"), backend)
        c.recovery_s = timed_close(r)


def test_close_while_peer_frozen(backend: str, sim_proc: SimServer) -> None:
    with case("close() while the server is frozen", backend) as c:
        r = open_reader(sim_proc.url("cam1"), backend)
        os.kill(sim_proc.pid, signal.SIGSTOP)
        try:
            time.sleep(0.3)  # the decode thread is now blocked in a read
            c.recovery_s = timed_close(r)
        finally:
            os.kill(sim_proc.pid, signal.SIGCONT)


def test_close_while_opening(backend: str, sim_proc: SimServer) -> None:
    with case("close() while opening (reopen blocked on a frozen server)", backend) as c:
        r = open_reader(sim_proc.url("cam1"), backend)
        os.kill(sim_proc.pid, signal.SIGSTOP)
        try:
            wait_state(r, StreamState.RECONNECTING, within_s=3)
            time.sleep(0.2)  # an open attempt is in progress, waiting for the frozen server
            c.recovery_s = timed_close(r)
        finally:
            os.kill(sim_proc.pid, signal.SIGCONT)


def test_close_while_reconnecting(backend: str) -> None:
    srv = SimServer(1, port=free_port(), process=True)
    try:
        with case("close() while reconnecting (server gone)", backend) as c:
            r = open_reader(srv.url("cam1"), backend)
            srv.kill()
            wait_state(r, StreamState.RECONNECTING, within_s=3)
            deadline = time.monotonic() + 3
            while not r.state_reason.startswith("reopen failed"):
                assert time.monotonic() < deadline
                time.sleep(0.02)
            c.recovery_s = timed_close(r)
    finally:
        srv.close()


def test_close_while_a_naive_read_is_blocked(backend: str, sim_proc: SimServer) -> None:
    with case("close() while a naive read is blocked (frozen server)", backend) as c:
        r = rtsplab.open(
            sim_proc.url("cam1"), strategy="naive", backend=backend, read_timeout_s=1.0
        )
        r.read_frame()
        raised: list[BaseException] = []

        def consume() -> None:
            try:
                while True:
                    r.read_frame()
            except RtspLabError as exc:
                raised.append(exc)

        consumer = threading.Thread(target=consume, name="consumer", daemon=True)
        consumer.start()
        os.kill(sim_proc.pid, signal.SIGSTOP)
        try:
            time.sleep(0.3)  # the consumer's read is now blocked in the backend
            c.recovery_s = timed_close(r)
            consumer.join(timeout=2.0)  # its read returns within read_timeout_s
            assert not consumer.is_alive()
            assert raised and isinstance(raised[0], StreamClosed | ReadTimeout)
            c.error_type = type(raised[0]).__name__
        finally:
            os.kill(sim_proc.pid, signal.SIGCONT)
