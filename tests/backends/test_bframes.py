"""B-frames: every decoded picture carries its own capture time, on every backend.

gst-rtsp-server encodes with x264 ``bframes=2`` (``--bframes``), so frames go out in decoding
order and the decoder hands them out in display order, two frames late. rtsplab reads with
its own timecode reader off (``timecode=False``: the age must come from RTCP or the PTS), and
the test reads the timecode the server painted into each picture itself: the independent age
is the read time minus that capture time.
"""

from __future__ import annotations

import itertools
import statistics
import time

import pytest

import rtsplab
from rtsplab.entities import Clock
from rtsplab.timecode import read_timecode

FRAMES = 45  # measured, 1.5 s at 30 fps
WARMUP = 15  # first frames skipped: decoder start
RTCP_WITHIN_S = 8.0  # gst-rtsp-server's first sender report comes after about 1.5 s
BOUND_MS = {"native": 5.0, "pyav": 10.0}
SPREAD_MS = 10.0  # a picture stamped with another unit's time is a frame period (33 ms) off


def measure(url: str, backend: str) -> tuple[list[int], list[float], list[float], set[Clock]]:
    """Read naive (each frame decoded, stamped and handed out in turn): skip the warm-up and,
    where the backend can get one, wait for the RTCP clock; then ``FRAMES`` frames.

    Returns the painted sequence numbers, rtsplab's ages, the independent ages (ms) and the
    clocks rtsplab used, of the frames measured.
    """
    seqs: list[int] = []
    ages: list[float] = []
    true_ages: list[float] = []
    clocks: set[Clock] = set()
    with rtsplab.open(url, strategy="naive", backend=backend, transport="tcp", timecode=False) as r:
        for _ in range(WARMUP):
            r.read_frame()
        if backend != "opencv":  # OpenCV has no RTCP time: its clock stays the PTS
            deadline = time.monotonic() + RTCP_WITHIN_S
            while r.read_frame().clock is not Clock.RTCP:
                assert time.monotonic() < deadline, "no RTCP sender report"
        for _ in range(FRAMES):
            frame = r.read_frame()
            tc = read_timecode(frame.image)
            if tc is None:
                continue
            seqs.append(tc.seq)
            ages.append(frame.age_ms)
            true_ages.append((frame.t_read_ns - tc.t_ns) / 1e6)
            clocks.add(frame.clock)
    return seqs, ages, true_ages, clocks


def errors(ages: list[float], true_ages: list[float]) -> tuple[float, float]:
    """(p50 of rtsplab's age - the independent age, p90 of each frame's distance from it)."""
    errors_ms = [a - t for a, t in zip(ages, true_ages, strict=True)]
    error_ms = statistics.median(errors_ms)
    spread_ms = sorted(abs(e - error_ms) for e in errors_ms)[int(0.9 * len(errors_ms))]
    return error_ms, spread_ms


@pytest.mark.parametrize("backend", ["native", "pyav", "opencv"])
def test_bframes_each_picture_in_display_order_with_its_own_time(gst_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    """Pictures come out in display order, each stamped with its own capture time: the error
    against the painted time is the same for every picture, within ``SPREAD_MS`` (a picture
    stamped with the unit just decoded is one or two frame periods off: 100 ms p90 before).
    OpenCV has no RTCP time; its PTS clock is anchored at the first frame's arrival."""
    srv = gst_server(mounts=("cam1",), extra_args=("--bframes=2", "--sr-capture-time"))
    seqs, ages, true_ages, clocks = measure(srv.url("cam1"), backend)
    assert len(seqs) >= FRAMES * 0.9, "timecodes unreadable: pictures damaged"
    assert all(b > a for a, b in itertools.pairwise(seqs)), seqs  # display order
    error_ms, spread_ms = errors(ages, true_ages)
    print(f"{backend} bframes=2: error p50 {error_ms:+.1f} ms, spread p90 {spread_ms:.1f} ms")
    assert spread_ms <= SPREAD_MS, (error_ms, spread_ms)
    assert clocks == ({Clock.PTS} if backend == "opencv" else {Clock.RTCP})
    assert min(ages) >= 0


@pytest.mark.parametrize("bframes", [0, 2])
@pytest.mark.parametrize("backend", ["native", "pyav"])
def test_rtcp_age_is_the_painted_age(gst_server, backend: str, bframes: int) -> None:  # type: ignore[no-untyped-def]
    """With the RTCP clock, rtsplab's age is the age from the painted time within
    ``BOUND_MS`` at p50, B-frames or not (the server's sender reports give capture times:
    with rtpbin's default send-time clock they were 67 ms late with ``bframes=2``)."""
    srv = gst_server(mounts=("cam1",), extra_args=(f"--bframes={bframes}", "--sr-capture-time"))
    _, ages, true_ages, clocks = measure(srv.url("cam1"), backend)
    error_ms, spread_ms = errors(ages, true_ages)
    print(f"{backend} bframes={bframes}: error p50 {error_ms:+.1f} ms, spread {spread_ms:.1f} ms")
    assert clocks == {Clock.RTCP}
    assert abs(error_ms) <= BOUND_MS[backend], (error_ms, spread_ms)
