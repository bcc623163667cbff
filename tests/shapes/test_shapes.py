"""The stream-shapes matrix: streams shaped the way real cameras send them, each read on every
backend that can date it, each frame's age checked against the timecode the server painted.

Every row starts gst-rtsp-server (``tests/servers/gst_rtsp_server.py``) with one shape knob,
opens the stream with ``timecode=False`` (so rtsplab dates frames by the camera's own clocks,
RTCP sender reports, as on a real camera), waits for the clock to settle, then reads fresh
frames for :data:`READ_S`. For each frame the test reads the server's painted send time
itself (:func:`rtsplab.timecode.read_timecode` on the picture) and computes the independent
age, ``t_read_ns - t_painted_ns``; rtsplab's is ``Frame.age_ms``. A row passes when the
medians agree within :data:`BOUND_MS` for its backend, no age is negative and the frames came
at the shape's rate. Each row goes to ``data/shapes.csv``; ``benchmarks/shapes_table.py``
turns it into the README's table.

OpenCV gives no capture clock (no RTCP time, only a position), so rtsplab cannot date its
frames without the painted timecode: it has one row, which checks that rtsplab says so
(``Clock.PTS``) rather than claiming a camera clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import rtsplab
from rtsplab.entities import Clock
from rtsplab.timecode import read_timecode
from shapes import shapelog
from shapes.conftest import ServerCache

READ_S = 1.5  # fresh frames read per row, once the clock has settled
BOUND_MS = {"native": 5.0, "pyav": 10.0, "opencv": 10.0}
# Sender reports every second (as rtsplab's simulator and many cameras send them) for the
# shapes that are not about RTCP; the audio shapes keep GStreamer's 5 s, where a client that
# set up only the video got none.
FAST_RTCP = ("--rtcp-interval-s", "1")
# GStreamer maps RTP time to the *send* time in its sender reports, the capture time plus the
# pipeline's latency, which an audio encoder raises (40 ms with AAC, 60 ms with Opus): every
# RTCP reader then reads the video's ages that much low, and nothing in the stream shows it
# (a camera clock offset under any plausible bound). Cameras stamp the capture time; so do
# the audio rows, to test what they are about: which track's clock the reader takes.
AUDIO = ("--sr-capture-time",)
CLOCK_WAIT_S = {True: 4.0, False: 9.0}  # fast RTCP or not: bound on the first sender report


@dataclass(frozen=True)
class Shape:
    """One stream shape: the server's knobs and the backends that read it."""

    name: str
    args: tuple[str, ...] = ()
    fps: int = 30
    size: tuple[int, int] = (640, 360)
    backends: tuple[str, ...] = ("native", "pyav")
    fast_rtcp: bool = True
    # backend -> why the row cannot pass on this branch yet (the fix is elsewhere)
    xfail: dict[str, str] = field(default_factory=dict)
    tls: bool = False

    def server_args(self, certificate: Path | None) -> tuple[str, ...]:
        args = self.args + (FAST_RTCP if self.fast_rtcp else ())
        if self.tls and certificate is not None:
            args += ("--tls", str(certificate))
        return args


SLICES = "FFmpeg's RTSP demuxer damages multi-slice pictures: most timecodes fail their CRC"
CLOCKS = "needs camera clock offsets estimated and corrected"

SHAPES = (
    Shape("H.264 640x360 30 fps (baseline)", backends=("native", "pyav", "opencv", "auto")),
    Shape("4 slices per picture", ("--slices", "4"), xfail={"pyav": SLICES}),
    Shape("AAC after the video", ("--audio", "aac", *AUDIO), fast_rtcp=False),
    Shape(
        "AAC before the video",
        ("--audio", "aac", "--audio-first", *AUDIO),
        fast_rtcp=False,
    ),
    Shape("Opus after the video", ("--audio", "opus", *AUDIO), fast_rtcp=False),
    Shape(
        "Opus before the video",
        ("--audio", "opus", "--audio-first", *AUDIO),
        fast_rtcp=False,
    ),
    Shape("PCMA after the video", ("--audio", "pcma", *AUDIO), fast_rtcp=False),
    Shape(
        "PCMU before the video",
        ("--audio", "pcmu", "--audio-first", *AUDIO),
        fast_rtcp=False,
    ),
    # 16-bit sequence numbers wrap after about 40 packets, 32-bit timestamps after 1 s
    Shape("sequence and timestamp wrap", ("--seq-offset", "65500", "--ts-offset", "4294877296")),
    Shape("400-byte MTU", ("--mtu", "400")),
    Shape("5 fps", fps=5),
    Shape("60 fps", fps=60),
    Shape("10 s GOP", ("--gop", "300")),
    Shape("1080p", size=(1920, 1080), args=("--bitrate-kbps", "4000")),
    Shape("H.265 (rtph265pay)", ("--codec", "h265")),
    Shape("MJPEG (auto falls back to PyAV)", ("--codec", "mjpeg"), backends=("pyav", "auto")),
    Shape(
        "B-frames (x264 bframes=2)",
        ("--bframes", "2"),
        xfail={
            "native": "needs each picture stamped with its own access unit's time",
            "pyav": "needs each picture stamped with its own access unit's time",
        },
    ),
    Shape(
        "RTSPS (self-signed)",
        tls=True,
        backends=("native", "pyav"),
        xfail={"native": "needs RTSPS on the native client"},
    ),
    Shape("camera clock 3 s ahead", ("--ntp-offset-s", "3"), xfail=dict.fromkeys(("native", "pyav"), CLOCKS)),
    Shape("camera clock 3 s behind", ("--ntp-offset-s", "-3"), xfail=dict.fromkeys(("native", "pyav"), CLOCKS)),
    Shape(
        "camera clock never set (1970 + a day)",
        ("--ntp-never-set",),
        xfail=dict.fromkeys(("native", "pyav"), CLOCKS),
    ),
)


def _cases() -> list[object]:
    cases: list[object] = []
    for shape in SHAPES:
        for backend in shape.backends:
            marks = []
            if backend in shape.xfail:
                marks.append(pytest.mark.xfail(strict=False, reason=shape.xfail[backend]))
            cases.append(pytest.param(shape, backend, id=f"{shape.name}-{backend}", marks=marks))
    return cases


def _p(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


@pytest.mark.parametrize(("shape", "backend"), _cases())
def test_shape(
    shape: Shape, backend: str, shape_servers: ServerCache, tls_certificate: Path
) -> None:
    srv = shape_servers.get(shape.fps, shape.size, shape.server_args(tls_certificate))
    url = srv.url("cam1")
    if shape.tls:
        url = url.replace("rtsp://", "rtsps://", 1)
    dated = backend != "opencv"
    ages: list[float] = []
    independent: list[float] = []
    clocks: set[str] = set()
    with rtsplab.open(
        url, backend=backend, timecode=False, open_timeout_s=10, read_timeout_s=5, reconnect=False
    ) as reader:
        settle_until = time.monotonic() + CLOCK_WAIT_S[shape.fast_rtcp]
        frame = reader.read_frame(fresh=True, timeout_s=10)
        while dated and frame.clock in (Clock.PTS, Clock.NONE) and time.monotonic() < settle_until:
            frame = reader.read_frame(fresh=True, timeout_s=5)
        end = time.monotonic() + READ_S
        while time.monotonic() < end:
            frame = reader.read_frame(fresh=True, timeout_s=5)
            tc = read_timecode(frame.image)
            clocks.add(frame.clock.value)
            if tc is None:
                continue
            ages.append(frame.age_ms)
            independent.append((frame.t_read_ns - tc.t_ns) / 1e6)
        offset = getattr(reader, "clock_offset_ms", None)
        used = reader.backend_used
        transport = reader.transport_used.value
    differences = [a - i for a, i in zip(ages, independent)]
    diff_p50 = _p(differences, 50)
    min_frames = max(3, int(0.5 * shape.fps * READ_S))
    bound_ms = BOUND_MS[used]
    failures = []
    if len(ages) < min_frames:
        failures.append(f"{len(ages)} timecoded frames in {READ_S} s, expected >= {min_frames}")
    if dated:
        if clocks != {Clock.RTCP.value}:
            failures.append(f"clock {sorted(clocks)}, expected rtcp")
        if diff_p50 is None or abs(diff_p50) > bound_ms:
            failures.append(f"age off the independent age by {diff_p50} ms (bound {bound_ms})")
        if ages and min(ages) < 0:
            failures.append(f"negative age {min(ages):.1f} ms")
    elif clocks - {Clock.PTS.value, Clock.NONE.value}:
        failures.append(f"clock {sorted(clocks)} claimed without a capture clock")
    outcome = "; ".join(failures) if failures else ("ok" if dated else "n/a: no capture clock")
    shapelog.record(
        shapelog.Row(
            shape.name, backend, used, transport, len(ages), _p(ages, 50), _p(ages, 99),
            _p(independent, 50), _p(independent, 99), diff_p50, "/".join(sorted(clocks)),
            offset, outcome if not failures else f"FAIL: {outcome}",
        )
    )  # fmt: skip
    assert not failures, f"{shape.name} on {backend}: {outcome}"
