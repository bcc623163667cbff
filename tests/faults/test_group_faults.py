"""A group of four cameras, one of which dies (its server is killed) and comes back.

For each ``on_missing`` and backend: the three live cameras keep giving sets at least 10 times
a second while the fourth is down, and the group is back to whole sets within 3 s of the
camera's return. One row per case goes to data/faults.csv (recovery = time to a whole set).
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from conftest import free_port

import rtsplab
from faults.conftest import MATRIX_BACKENDS
from faults.faultlog import record
from rtsplab.entities import StreamState
from rtsplab.errors import RtspLabError
from rtsplab.sim import SimCamera, SimServer

pytestmark = pytest.mark.interop

LIVE = ["cam1", "cam2", "cam3"]
VICTIM = "cam4"
DOWN_S = 3.0  # how long the fourth camera stays dead
SIZE = (320, 180)  # four encoders and four decoders share two cores with other tests


def _camera_fds(ports: set[int]) -> int:
    """This process's fds that are client sockets to the cameras: TCP sockets whose remote
    port is a camera's, and UDP sockets (the simulator children own every server socket, so
    what is left here after close() is the readers' own)."""
    inodes: set[str] = set()
    for name in ("tcp", "tcp6", "udp", "udp6"):
        with open(f"/proc/net/{name}") as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                remote_port = int(cols[2].rsplit(":", 1)[1], 16)
                if name.startswith("udp") or remote_port in ports:
                    inodes.add(cols[9])
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            count += 1
    return count


def _read_down(g: rtsplab.group.Group, on_missing: str) -> tuple[int, list[str]]:
    """Read fresh sets for DOWN_S seconds; assert what each holds; return (sets, errors)."""
    sets, errors = 0, []
    stale_ages: list[float] = []
    t_end = time.monotonic() + DOWN_S
    while time.monotonic() < t_end:
        t0 = time.monotonic()
        try:
            fs = g.read_set(fresh=True, timeout_s=1.0)
        except RtspLabError as exc:
            assert on_missing == "raise", repr(exc)
            assert time.monotonic() - t0 < 1.5  # bounded by the set's timeout
            errors.append(type(exc).__name__)
            time.sleep(0.02)
            continue
        assert on_missing != "raise" or not fs.missing
        live = [n for n, f in fs.frames.items() if not f.stale]
        assert set(LIVE) <= set(live), fs
        for name in LIVE:
            assert fs[name].age_ms < 1000, fs  # true age from the timecode: not frozen
        if fs.missing:
            assert fs.missing == (VICTIM,), fs
            if on_missing == "stale" and VICTIM in fs.frames:
                assert fs[VICTIM].stale
                stale_ages.append(fs[VICTIM].age_ms)
            else:
                assert VICTIM not in fs.frames, fs
        sets += 1
    if on_missing == "stale":
        assert len(stale_ages) > 10
        assert stale_ages == sorted(stale_ages)  # the repeated frame ages, it is not refreshed
        assert stale_ages[-1] > 2000
    return sets, errors


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Start and stop one simulator child and import the backends first: the first child
    starts multiprocessing's resource tracker (a pipe kept for the process's life), and the
    first open of each backend loads its libraries; neither is a leak of the case."""
    import av  # noqa: F401
    import cv2  # noqa: F401

    SimServer([SimCamera("warm", size=SIZE)], process=True).close()


@pytest.mark.parametrize("backend", MATRIX_BACKENDS)
@pytest.mark.parametrize("on_missing", ["partial", "stale", "raise"])
def test_one_camera_of_four_dies_and_comes_back(on_missing: str, backend: str) -> None:
    threads_before = threading.active_count()
    port = free_port()
    three = SimServer([SimCamera(n, size=SIZE) for n in LIVE], process=True)
    victim = SimServer([SimCamera(VICTIM, size=SIZE)], port=port, process=True)
    g = None
    try:
        g = rtsplab.open_group(
            [*three.urls, victim.url(VICTIM)],
            backend=backend,
            on_missing=on_missing,
            reconnect=True,
            read_timeout_s=1.0,
        )
        deadline = time.monotonic() + 10
        while not g.read_set(fresh=True, timeout_s=3).whole:  # children start in ~1 s
            assert time.monotonic() < deadline
        assert _camera_fds({three.port, port}) >= 4  # the count sees the readers' sockets
        victim.kill()
        sets, errors = _read_down(g, on_missing)
        assert g.states[VICTIM] in (StreamState.STALLED, StreamState.RECONNECTING)
        if on_missing == "raise":
            assert errors and sets < 5, (sets, errors)  # whole sets only: none while down
        else:
            assert sets / DOWN_S >= 10, sets
        victim = SimServer([SimCamera(VICTIM, size=SIZE)], port=port, process=True)
        t_back = time.monotonic()
        while True:
            try:
                if g.read_set(fresh=True, timeout_s=1.0).whole:
                    break
            except RtspLabError:
                assert on_missing == "raise"
            assert time.monotonic() - t_back < 3.0, "no whole set within 3 s of the return"
        recovery_s = time.monotonic() - t_back
        t_close = time.monotonic()
        g.close()
        assert time.monotonic() - t_close < 0.5
    finally:
        if g is not None:
            g.close()
        three.close()
        victim.close()
    time.sleep(0.1)  # a closed reader's daemon threads finish their last instructions
    threads_after = threading.active_count() - threads_before
    fds_after = _camera_fds({three.port, port})
    outcome = f"{sets / DOWN_S:.1f} sets/s while down" + (f", raised {errors[0]}" if errors else "")
    record(
        f"group 1 of 4 killed, on_missing={on_missing}",
        backend,
        outcome,
        errors[0] if errors else "",
        recovery_s,
        threads_after,
        fds_after,
    )
    assert threads_after == 0
    assert fds_after == 0
