"""More streams than the CPU can decode: every stream's age stays bounded, every stream delivers.

128 ``latest`` readers of one simulated 640x360 camera (encoded once, in a child process) in
one group, on a 2-core machine: more than the decoders can keep up with (the reader process
saturates and, before readers skipped their backlog, every stream fell seconds behind within
a few seconds of opening). Each stream's age is computed here from the timecode the simulator
paints into each image (read by the test) and the frame's hand-out time, not from rtsplab's
source clock; the
bound is the simulator's GOP (1 s) plus a wide margin for a busy machine (and, for OpenCV,
which can only reopen, the second behind at which it does). One row per backend
goes to data/faults.csv (the outcome holds the worst stream's age p99 and the share skipped).
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest

import rtsplab
from faults.conftest import MATRIX_BACKENDS
from faults.faultlog import case
from rtsplab.backends.opencv import REOPEN_BEHIND_MS
from rtsplab.errors import ReadTimeout
from rtsplab.sim import SimCamera, SimServer
from rtsplab.timecode import read_timecode

pytestmark = pytest.mark.interop

STREAMS = 128
SIZE = (640, 360)
GOP_S = 1.0  # the simulator's default: a keyframe every 30 frames at 30 fps
# The skip's bound, a frame, and a busy machine's scheduling (128 reader threads share the
# interpreter lock with the set's assembly). Measured with this case on a 2-core machine under
# a load average of 20-40: worst stream p99 about 2-3 s with the backlog skipped, 40-90 s
# (and 5 of the 128 streams silent) without.
MARGIN_S = 2.5
WARMUP_S = 3.0
MEASURE_S = 5.0
SET_EVERY_S = 0.25


# PyAV on a quiet 2-core machine: most streams keep to the bound, but the thread taking the
# sets gets the interpreter lock so rarely beside 128 PyAV demux threads (one lock hand-over
# per packet; the native reader batches its reads when overloaded, FFmpeg's demuxer cannot)
# that a set takes ~7 s (2 sets in 15 s): a stream whose held frame was already late when the
# set began is handed out 6-11 s old. Not fixed yet; the row reports it as a known failure.
PYAV_STARVED = "pyav: the set-taking thread starves for the interpreter lock (a set takes ~7 s)"
# `auto` reads these streams with `native`, which has its own row.
BACKENDS = [
    pytest.param(b, marks=pytest.mark.xfail(strict=False, reason=PYAV_STARVED))
    if b == "pyav"
    else b
    for b in MATRIX_BACKENDS
    if b != "auto"
]
# A stream "hands out no new frame" only if sets came and its frame never changed: with one
# set in the window every stream would count as silent. Past the knee the thread that takes
# the sets competes with 128 decode threads for the interpreter lock, and one set has taken
# over 10 s on this machine under a load average of 30, so the window lasts for at least this
# many sets.
MIN_SETS = 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_more_streams_than_the_cpu_can_decode(backend: str) -> None:
    srv = SimServer([SimCamera("cam1", size=SIZE)], process=True)
    try:
        with case("more streams than the CPU can decode (128 x 640x360)", backend, 10.0) as c:
            names = [f"s{i}" for i in range(STREAMS)]
            with rtsplab.open_group(
                [srv.url("cam1")] * STREAMS,
                names=names,
                backend=backend,
                open_timeout_s=30.0,
                read_timeout_s=5.0,
            ) as g:
                end_warmup = time.monotonic() + WARMUP_S
                while time.monotonic() < end_warmup:
                    with contextlib.suppress(ReadTimeout):
                        g.read_set(timeout_s=1.0)
                    time.sleep(SET_EVERY_S)
                skipped0 = sum(r.frames_skipped for r in g.readers)
                decoded0 = sum(r.frames_decoded for r in g.readers)
                ages: dict[str, list[float]] = {n: [] for n in names}
                codes: dict[str, set[int]] = {n: set() for n in names}
                states: set[str] = set()
                end = time.monotonic() + MEASURE_S
                sets = 0
                while time.monotonic() < end or sets < MIN_SETS:
                    fs = g.read_set(timeout_s=5.0)
                    sets += 1
                    states |= {s.value for s in g.states.values()}
                    for name, frame in fs.frames.items():
                        tc = read_timecode(frame.image)
                        assert tc is not None, f"{name}: no timecode in the image"
                        # hand-out time minus the capture time painted by the simulator
                        ages[name].append((frame.t_read_ns - tc.t_ns) / 1e6)
                        codes[name].add(tc.seq)
                    time.sleep(SET_EVERY_S)
                skipped = sum(r.frames_skipped for r in g.readers) - skipped0
                decoded = sum(r.frames_decoded for r in g.readers) - decoded0
            p99 = {n: float(np.percentile(a, 99)) for n, a in ages.items() if a}
            worst = max(p99, key=p99.__getitem__)
            share = 100 * skipped / max(1, skipped + decoded)
            c.outcome = f"worst stream age p99 {p99[worst]:.0f} ms, {share:.0f} % of frames skipped"
            assert len(p99) == STREAMS
            silent = [n for n in names if len(codes[n]) < 2]
            assert not silent, f"{len(silent)} stream(s) handed out no new frame: {silent[:5]}"
            # OpenCV cannot skip: it reopens once a second behind (REOPEN_BEHIND_MS)
            bound_s = GOP_S + MARGIN_S + (REOPEN_BEHIND_MS / 1000 if backend == "opencv" else 0)
            assert p99[worst] < bound_s * 1000, (worst, p99[worst], sorted(states))
            if backend != "opencv":  # OpenCV only reopens past a second behind; these skip
                assert skipped > 0, "no frame skipped: the case did not overload the decoders"
                assert "overloaded" in states, sorted(states)
    finally:
        srv.close()
