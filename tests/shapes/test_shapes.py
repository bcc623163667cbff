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
from rtsplab.errors import RtspLabError
from rtsplab.timecode import read_timecode
from shapes import shapelog
from shapes.conftest import ServerCache
from shapes.wire import wire_stats

pytestmark = pytest.mark.interop

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
    transport: str = "auto"
    # the camera's clock minus this machine's, in ms, that the reader must report and correct
    # (None: the clock is right and must be taken as it is)
    offset_ms: float | None = None

    def server_args(self, certificate: Path | None) -> tuple[str, ...]:
        args = self.args + (FAST_RTCP if self.fast_rtcp else ())
        if self.tls and certificate is not None:
            args += ("--tls", str(certificate))
        return args


SLICES = "FFmpeg's RTSP demuxer damages multi-slice pictures: most timecodes fail their CRC"
NEVER_SET = float("-inf")  # an offset of decades: checked as "more than a year behind"
YEAR_MS = 365 * 86_400_000.0

SHAPES = (
    Shape("H.264 640x360 30 fps (baseline)", backends=("native", "pyav", "opencv", "auto")),
    Shape("4 slices per picture", ("--slices", "4"), xfail={"pyav": SLICES}),
    Shape("AAC after the video", ("--audio", "aac", *AUDIO), fast_rtcp=False),
    Shape(
        "AAC after the video, UDP",
        ("--audio", "aac", *AUDIO),
        fast_rtcp=False,
        transport="udp",
    ),
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
    Shape("metadata track after the video", ("--metadata", *AUDIO), fast_rtcp=False),
    Shape(
        "metadata before the video, AAC after",
        ("--metadata", "--metadata-first", "--audio", "aac", *AUDIO),
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
    # capture-time sender reports: rtpbin's send-time ones are x264's reordering delay late
    Shape("B-frames (x264 bframes=2)", ("--bframes", "2", *AUDIO)),
    Shape(
        "RTSPS (self-signed)",
        tls=True,
        backends=("native", "pyav"),
    ),
    Shape("camera clock 3 s ahead", ("--ntp-offset-s", "3"), offset_ms=3000.0),
    Shape("camera clock 3 s behind", ("--ntp-offset-s", "-3"), offset_ms=-3000.0),
    # 1970-01-02 at the server's start: this machine's time since then, behind
    Shape("camera clock never set (1970 + a day)", ("--ntp-never-set",), offset_ms=NEVER_SET),
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


@dataclass
class Measured:
    """What one row read: per-frame ages, the clocks seen, what the reader reported."""

    ages: list[float] = field(default_factory=list)
    independent: list[float] = field(default_factory=list)
    clocks: set[str] = field(default_factory=set)
    offset_ms: float | None = None
    backend_used: str = ""
    transport: str = ""


def measure(url: str, shape: Shape, backend: str, dated: bool, out: Measured) -> None:
    """Open ``url``, wait for the camera clock (bounded), read fresh frames for READ_S."""
    with rtsplab.open(
        url,
        backend=backend,
        transport=shape.transport,
        timecode=False,
        open_timeout_s=10,
        read_timeout_s=5,
        reconnect=False,
    ) as reader:
        out.backend_used = reader.backend_used
        out.transport = reader.transport_used.value
        settle_until = time.monotonic() + CLOCK_WAIT_S[shape.fast_rtcp]
        frame = reader.read_frame(fresh=True, timeout_s=10)
        while dated and frame.clock in (Clock.PTS, Clock.NONE) and time.monotonic() < settle_until:
            frame = reader.read_frame(fresh=True, timeout_s=5)
        end = time.monotonic() + READ_S
        while time.monotonic() < end:
            frame = reader.read_frame(fresh=True, timeout_s=5)
            tc = read_timecode(frame.image)  # the server's painted send time, read here
            out.clocks.add(frame.clock.value)
            if tc is None:
                continue
            out.ages.append(frame.age_ms)
            out.independent.append((frame.t_read_ns - tc.t_ns) / 1e6)
        out.offset_ms = getattr(reader, "clock_offset_ms", None)


def check_offset(m: Measured, expected_ms: float) -> list[str]:
    """A camera clock that is off: reported within 50 ms (or as decades behind), corrected."""
    failures = []
    if m.clocks != {Clock.CORRECTED.value}:
        failures.append(f"clock {sorted(m.clocks)}, expected corrected")
    got = m.offset_ms
    if got is None:
        failures.append("no clock offset reported")
    elif expected_ms == NEVER_SET:
        if got > -YEAR_MS:
            failures.append(f"offset {got:.0f} ms reported for a clock never set")
    elif abs(got - expected_ms) > 50:
        failures.append(f"offset {got:.0f} ms reported, expected {expected_ms:.0f}")
    return failures


def check(m: Measured, shape: Shape, dated: bool) -> list[str]:
    """What is wrong with a row's measurement; empty when it passes."""
    differences = [a - i for a, i in zip(m.ages, m.independent, strict=True)]
    diff_p50 = _p(differences, 50)
    min_frames = max(3, int(0.4 * shape.fps * READ_S))
    failures = []
    if len(m.ages) < min_frames:
        failures.append(f"{len(m.ages)} timecoded frames in {READ_S} s, expected >= {min_frames}")
    if dated:
        bound_ms = BOUND_MS[m.backend_used]
        if shape.offset_ms is None and m.clocks != {Clock.RTCP.value}:
            failures.append(f"clock {sorted(m.clocks)}, expected rtcp")
        if shape.offset_ms is not None:
            failures += check_offset(m, shape.offset_ms)
        if diff_p50 is None or abs(diff_p50) > bound_ms:
            off = "no frames" if diff_p50 is None else f"{diff_p50:.1f} ms"
            failures.append(f"age off the independent age by {off} (bound {bound_ms:g})")
        if m.ages and min(m.ages) < 0:
            failures.append(f"negative age {min(m.ages):.1f} ms")
    elif m.clocks - {Clock.PTS.value, Clock.NONE.value}:
        failures.append(f"clock {sorted(m.clocks)} claimed without a capture clock")
    return failures


@pytest.mark.parametrize(("shape", "backend"), _cases())
def test_shape(
    shape: Shape, backend: str, shape_servers: ServerCache, request: pytest.FixtureRequest
) -> None:
    certificate: Path | None = request.getfixturevalue("tls_certificate") if shape.tls else None
    srv = shape_servers.get(shape.fps, shape.size, shape.server_args(certificate))
    url = srv.url("cam1")
    if shape.tls:
        url = url.replace("rtsp://", "rtsps://", 1)
    dated = backend != "opencv"
    m = Measured(backend_used=backend, transport=shape.transport)
    try:
        measure(url, shape, backend, dated, m)
    except RtspLabError as exc:
        message = str(exc).splitlines()[0].replace(url, "URL")
        failures = [f"{type(exc).__name__}: {message[:80]}"]
    else:
        failures = check(m, shape, dated)
    outcome = "; ".join(failures) if failures else ("ok" if dated else "n/a: no capture clock")
    differences = [a - i for a, i in zip(m.ages, m.independent, strict=True)]
    shapelog.record(
        shapelog.Row(
            shape.name, backend, m.backend_used, m.transport, len(m.ages), _p(m.ages, 50),
            _p(m.ages, 99), _p(m.independent, 50), _p(m.independent, 99), _p(differences, 50),
            "/".join(sorted(m.clocks)), m.offset_ms, f"FAIL: {outcome}" if failures else outcome,
        )
    )  # fmt: skip
    assert not failures, f"{shape.name} on {backend}: {outcome}"


# shape name -> what its knob must have done to the stream on the wire
WIRE = {
    "sequence and timestamp wrap": lambda w: (
        w.first_seq >= 65500 and w.seq_wraps == 1 and w.timestamp_wraps == 1
    ),
    "400-byte MTU": lambda w: 0 < w.max_packet_bytes <= 400,
    "AAC after the video": lambda w: w.media == ("video", "audio"),
    "Opus before the video": lambda w: w.media == ("audio", "video"),
    "metadata before the video, AAC after": lambda w: w.media == ("application", "video", "audio"),
}


@pytest.mark.parametrize("shape", [s for s in SHAPES if s.name in WIRE], ids=lambda s: s.name)
def test_shape_knob_reaches_the_wire(shape: Shape, shape_servers: ServerCache) -> None:
    """The knob shaped the stream: read with a bare RTSP session, not by rtsplab."""
    srv = shape_servers.get(shape.fps, shape.size, shape.server_args(None))
    stats = wire_stats("127.0.0.1", srv.port, srv.url("cam1"), seconds=1.5)
    assert stats.packets > 20, stats
    assert WIRE[shape.name](stats), stats
