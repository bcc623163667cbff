"""OpenCV opens of several streams run in parallel instead of taking turns.

OpenCV serialises FFmpeg opens behind one lock unless ``OPENCV_FFMPEG_IS_THREAD_SAFE`` is
set; rtsplab sets it. FFmpeg's default options make each open last about a second (the
stream probe), so taking turns is easy to tell from running in parallel.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

import rtsplab
from rtsplab.sim import SimServer

pytestmark = pytest.mark.interop
N = 6


def test_opencv_opens_run_in_parallel(make_sim: Callable[..., SimServer]) -> None:
    srv = make_sim(1, process=True)
    url = srv.url("cam1")
    opts = dict(backend="opencv", profile="default", open_timeout_s=20.0, read_timeout_s=5.0)
    t0 = time.monotonic()
    with rtsplab.open(url, **opts) as r:  # type: ignore[arg-type]
        one_s = time.monotonic() - t0
        assert r.backend_used == "opencv"
    assert one_s > 0.3, f"one open took {one_s:.2f} s: too fast to tell turns from parallel"
    t0 = time.monotonic()
    with rtsplab.open_group([url] * N, names=[f"r{i}" for i in range(N)], **opts) as g:  # type: ignore[arg-type]
        all_s = time.monotonic() - t0
        frames = g.read_set(timeout_s=10.0).frames
    assert len(frames) == N
    # taking turns would take about N * one_s
    assert all_s < 3 * one_s, f"{N} parallel opens took {all_s:.2f} s, one took {one_s:.2f} s"
