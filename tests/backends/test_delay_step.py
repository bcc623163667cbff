"""A step in the upstream delay is not a backlog: the ``latest`` guard does not skip it away.

The simulated camera becomes 300 ms later all at once (``latency_ms=300``: every frame is held
that long before it is sent). Nothing waits in front of the decoder, so skipping to keyframes
cannot make the frames younger; before the guard judged its skips (``STEP_PROBE_MS``) it did
so for about ``REBASE_S``, and the age climbed from 350 to 1200 ms once a second. Each age is
computed here from the timecode the simulator paints into the image (read by the test) and the
frame's hand-out time, not from rtsplab's clock.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import rtsplab
from rtsplab.rtsp.overload import STEP_PROBE_MS
from rtsplab.sim import SimServer
from rtsplab.timecode import read_timecode

pytestmark = pytest.mark.interop

STEP_MS = 300
FPS = 30
GOP = 30  # the simulator's default: one keyframe a second
CALM_S = 6.0  # more than OVERLOAD_WINDOW_S: a stream that just opened is not judged
SETTLE_S = 2.0  # after the step: its first frames come STEP_MS late, the probe, one GOP
MEASURE_S = 3.0
# Frame age on an idle loopback is tens of ms (decoding, the reader's thread); a busy 2-core
# machine adds scheduling delays of a frame or two and the odd spike.
MARGIN_MS = 250
LOOKS_PER_S = 20


def look(reader: rtsplab.Reader, seconds: float, backend: str) -> tuple[list[float], set[int]]:
    """The frame the reader holds, looked at every 50 ms for ``seconds`` as a view would: its
    age by the painted timecode, and the distinct frames seen."""
    out: list[float] = []
    seqs: set[int] = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(1 / LOOKS_PER_S)
        frame = reader.read_frame(timeout_s=5.0)
        tc = read_timecode(frame.image)
        assert tc is not None, "no timecode in the image"
        assert frame.backend == backend
        out.append((frame.t_read_ns - tc.t_ns) / 1e6)
        seqs.add(tc.seq)
    return out, seqs


@pytest.mark.parametrize("backend", ["native", "pyav"])
def test_a_delay_step_raises_the_age_by_the_step_and_skips_at_most_a_gop(backend: str) -> None:
    with (
        SimServer(1, process=True) as srv,
        rtsplab.open(srv.urls[0], strategy="latest", backend=backend) as reader,
    ):
        calm, _ = look(reader, CALM_S, backend)
        skipped0 = reader.frames_skipped
        srv.camera("cam1").set(latency_ms=STEP_MS)
        look(reader, SETTLE_S, backend)
        settled, seqs = look(reader, MEASURE_S, backend)
        skipped = reader.frames_skipped - skipped0
        before = float(np.median(calm))
        after = float(np.median(settled))
        # the age rose by the step, and no more: no picture held up to the next keyframe
        assert STEP_MS - 50 <= after - before <= STEP_MS + MARGIN_MS, (before, after)
        assert float(np.percentile(settled, 95)) < before + STEP_MS + MARGIN_MS, settled
        # a new frame at most looks (each 50 ms, at 30 fps): skipping to each keyframe would
        # show about one a second
        assert len(seqs) >= 0.5 * len(settled), (len(seqs), len(settled))
        # one skip at most: the probe and the rest of its GOP, or of the next one when the
        # step came just before a keyframe
        assert skipped <= GOP + STEP_PROBE_MS / 1000 * FPS + 1, skipped
        assert reader.state.value == "streaming"
