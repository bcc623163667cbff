"""Cameras whose clocks are off, against rtsplab's simulator: every backend that gets the
camera's clock reports the offset and corrects it, and the ages agree with the true ones.

The true age of each frame is computed here, from the timecode the simulator paints into the
picture at capture (true time, whatever clock the camera's RTCP and ONVIF times follow), read
by this test; the readers run with ``timecode=False`` so rtsplab stamps frames from the
camera's clock alone.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import rtsplab
from rtsplab.camera_clock import CameraClockEstimate
from rtsplab.entities import Clock
from rtsplab.recorder import Recorder
from rtsplab.sim import SimCamera, SimServer
from rtsplab.sim.camera import never_set_offset_s
from rtsplab.timecode import read_timecode

pytestmark = pytest.mark.interop

READ_S = 2.0
SETTLE_S = 0.7  # PyAV's first frames come before its first sender report (Clock.PTS)
P50_MS = {"native": 5.0, "pyav": 10.0}
# name: (clock_offset_s, onvif)
CAMERAS = {
    "ahead": (3.0, 0.0),
    "behind": (-3.0, 0.0),
    "never": (None, 0.0),  # a clock never set: 1970-01-02 at boot
    "onvif": (3.0, 1.0),
}


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    cams = [
        SimCamera(name, clock_offset_s=never_set_offset_s() if off is None else off, onvif=onvif)
        for name, (off, onvif) in CAMERAS.items()
    ]
    with SimServer(cams) as srv:
        yield srv


@dataclass
class Run:
    errors_ms: list[float]  # rtsplab's age - the true age, per frame
    ages_ms: list[float]
    clocks: set[Clock]
    estimate: CameraClockEstimate | None
    recorder: Recorder


def _read(srv: SimServer, name: str, backend: str) -> Run:
    rec = Recorder()
    errors, ages, clocks = [], [], set()
    with rtsplab.open(srv.url(name), backend=backend, timecode=False, recorder=rec) as r:
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < SETTLE_S + READ_S:
            f = r.read_frame(fresh=True, timeout_s=3)
            tc = read_timecode(f.image)
            assert tc is not None
            ages.append(f.age_ms)
            if elapsed > SETTLE_S:
                errors.append(f.age_ms - (f.t_read_ns - tc.t_ns) / 1e6)
                clocks.add(f.clock)
        return Run(errors, ages, clocks, r.camera_clock, rec)


def _offset_s(srv: SimServer, name: str) -> float:
    return srv.camera(name).clock_offset_s


@pytest.mark.parametrize("backend", ["native", "pyav"])
@pytest.mark.parametrize("name", ["ahead", "behind", "never"])
def test_camera_clock_off_is_reported_and_corrected(
    server: SimServer, name: str, backend: str
) -> None:
    run = _read(server, name, backend)
    p50 = statistics.median(run.errors_ms)
    print(f"{name} {backend}: age - true age p50 {p50:+.2f} ms over {len(run.errors_ms)} frames")
    assert abs(p50) <= P50_MS[backend]
    assert min(run.ages_ms) >= 0
    assert run.clocks == {Clock.CORRECTED}
    e = run.estimate
    assert e is not None and e.corrected and e.source == "rtcp"
    assert e.verdict == ("ahead" if _offset_s(server, name) > 0 else "behind")
    # the estimate is a lower bound, short by the least transit (a few ms on loopback)
    true_ms = _offset_s(server, name) * 1000
    assert true_ms - 50 < e.offset_ms <= true_ms + 2  # (+2: PyAV's hold is modelled)
    assert "set NTP on the camera; ages are corrected" in e.describe(name)
    df = run.recorder.to_dataframe()
    assert abs(df["clock_offset_ms"].iloc[-1] - e.offset_ms) < 1.0


def test_onvif_capture_times_are_used_and_checked(server: SimServer) -> None:
    run = _read(server, "onvif", "native")
    assert abs(statistics.median(run.errors_ms)) <= P50_MS["native"]
    assert min(run.ages_ms) >= 0
    assert run.estimate is not None and run.estimate.source == "onvif"
    assert run.estimate.verdict == "ahead" and 2950 < run.estimate.offset_ms <= 3001


def test_matched_sync_pairs_frames_captured_together(server: SimServer) -> None:
    """Two cameras 6 s apart in their clocks still pair frames captured together."""
    urls = [server.url("ahead"), server.url("behind")]
    with rtsplab.open_group(urls, sync="matched", backend="native", timecode=False) as g:
        skews, true_skews = [], []
        t0 = time.monotonic()
        while time.monotonic() - t0 < READ_S:
            fs = g.read_set(timeout_s=3)
            tcs = [read_timecode(f.image) for f in fs]
            if time.monotonic() - t0 < SETTLE_S or any(tc is None for tc in tcs):
                continue
            skews.append(fs.skew_ms)
            true_skews.append(abs(tcs[0].t_ns - tcs[1].t_ns) / 1e6)  # type: ignore[union-attr]
    assert len(true_skews) > 10
    assert statistics.median(true_skews) < 17  # frames captured within half a period
    assert max(skews) < 40
