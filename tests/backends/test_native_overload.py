"""The native client once overloaded reads its socket in batches, against the simulator.

Past the knee each wake-up for new data takes the interpreter lock from the thread that hands
frames out (see ``BATCH_WHEN_OVERLOADED``): an overloaded reader waits for its next drain
instead. It must still hand out whole, fresh frames, and ``interrupt()`` must end that wait
at once (``close()`` returns within its bound in every state).
"""

from __future__ import annotations

import threading
import time

import pytest

from rtsplab.backends.base import OpenOptions
from rtsplab.backends.native import DRAIN_INTERVAL_S, NativeBackend
from rtsplab.errors import StreamClosed
from rtsplab.sim import SimCamera, SimServer
from rtsplab.timecode import read_timecode
from rtsplab.urls import RtspUrl

pytestmark = pytest.mark.interop


def overloaded_backend(srv: SimServer) -> NativeBackend:
    """A native backend whose guard has just caught up twice: ``overloaded`` for 2 s."""
    b = NativeBackend(RtspUrl.parse(srv.url("cam1")), OpenOptions(read_timeout_s=2.0))
    b.read()
    now = time.monotonic_ns()
    assert b.catchup is not None
    b.catchup.note_skipped(1, now)
    b.catchup.note_skipped(1, now)
    assert b.overloaded
    return b


def test_an_overloaded_native_reader_waits_for_its_drains_and_hands_out_whole_frames() -> None:
    with SimServer([SimCamera("cam1", size=(320, 180))]) as srv:
        b = overloaded_backend(srv)
        try:
            waits: list[float] = []
            wait = b._batch_wait

            def counted(deadline: float) -> bool:
                t0 = time.monotonic()
                waited = wait(deadline)
                if waited:
                    waits.append(time.monotonic() - t0)
                return waited

            b._batch_wait = counted  # type: ignore[method-assign]
            t0 = time.monotonic()
            frames = [b.read() for _ in range(15)]  # 0.5 s at 30 fps
            took = time.monotonic() - t0
            assert b.overloaded  # still within the 2 s hold: the whole read was batched
            # about one wait per drain, not one per frame
            assert 0.5 * took / DRAIN_INTERVAL_S <= len(waits) <= took / DRAIN_INTERVAL_S + 2
            for f in frames:
                tc = read_timecode(f.image)
                assert tc is not None  # whole pictures
                # fresh: a frame waits at most about a drain interval in the socket
                assert (f.t_recv_ns - tc.t_ns) / 1e6 < 1000 * DRAIN_INTERVAL_S + 150
        finally:
            b.close()


def test_interrupt_ends_a_batch_wait_at_once() -> None:
    with SimServer([SimCamera("cam1", size=(320, 180))]) as srv:
        b = overloaded_backend(srv)
        ended: list[float] = []

        def loop() -> None:
            try:
                while True:
                    b.read()
            except StreamClosed:
                ended.append(time.monotonic())

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        b.interrupt()
        t.join(1.0)
        b.close()
        assert ended and ended[0] - t0 < 0.1
