"""Findings: the rules that turn ``diagnose``'s measurements into plain-language advice.

Each rule looks at one measured effect (transport fallback, missing source clock, decoders
that cannot keep up, open-time backlog, decoder threading, the FFmpeg parser frame, a slow consumer, inter-stream skew) and
says what it costs, with the numbers, and what to do about it.

Example:
    >>> Finding("problem", "cam1", "decoder threading adds 33 ms", "use decoder_threads=1").level
    'problem'
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import Any

from rtsplab.backends import LOW_LATENCY_OPTIONS

SOURCE_CLOCKS = ("timecode", "onvif", "rtcp", "corrected")
"""Clocks that give a frame's capture time (``corrected``: a camera clock rtsplab shifted)."""

__all__ = [
    "LEVELS",
    "Finding",
    "build_findings",
    "fps_of",
    "overload_finding",
    "setup_row",
    "signed",
]

LEVELS = ("error", "problem", "note", "ok")
"""Finding levels, worst first: the stream failed / costs latency / worth knowing / fine."""

LL, THREADS, NATIVE, DEFAULT = (
    "low-latency, latest",
    "low-latency, latest, decoder threads auto",
    "native backend, latest",
    "default options, naive, opened one by one",
)
CV_OPTIONS = "|".join(f"{k};{v}" for k, v in LOW_LATENCY_OPTIONS.items())


@dataclass(frozen=True)
class Finding:
    """One plain-language finding with the numbers behind it and what to do.

    Attributes:
        level: one of :data:`LEVELS`.
        stream: the stream name, or ``"all"``.
        text: what was measured and what it means.
        fix: what to do about it (empty when nothing needs doing).

    Example:
        >>> print(Finding("ok", "cam1", "fine."))
        OK       cam1: fine.
    """

    level: str
    stream: str
    text: str
    fix: str = ""

    def __str__(self) -> str:
        wrap = textwrap.TextWrapper(width=100, subsequent_indent=" " * 9)
        lines = wrap.wrap(f"{self.level.upper():<8} {self.stream}: {self.text}")
        if self.fix:
            lines += wrap.wrap(f"    fix: {self.fix}")
        return "\n".join(lines)


def setup_row(rows: list[dict[str, Any]], stream: str, setup: str) -> dict[str, Any]:
    """The measurement row of ``stream`` under ``setup``, or ``{}``.

    Example:
        >>> setup_row([{"stream": "cam1", "setup": "x", "fps": 30}], "cam1", "x")["fps"]
        30
    """
    return next((r for r in rows if r["stream"] == stream and r["setup"] == setup), {})


def fps_of(row: dict[str, Any]) -> float:
    """Measured fps of a row, else its nominal fps, else 30.

    Example:
        >>> fps_of({"fps": float("nan"), "nominal_fps": 15})
        15.0
    """
    fps = row.get("fps", math.nan)
    if not fps or math.isnan(fps):
        fps = row.get("nominal_fps") or 30.0
    return round(float(fps), 1)


def build_findings(
    rows: list[dict[str, Any]], streams: list[str], consumer_ms: float, seconds: float
) -> list[Finding]:
    """Turn :func:`rtsplab.lab.diagnose.diagnose`'s measurement rows into findings.

    Example:
        >>> build_findings([], [], 60.0, 2.0)
        []
    """
    out: list[Finding | None] = []
    absolute = {s: setup_row(rows, s, LL)["clock"] in SOURCE_CLOCKS for s in streams}
    for s in streams:
        ll, fps = setup_row(rows, s, LL), fps_of(setup_row(rows, s, LL))
        period_ms = 1000.0 / fps
        out.append(_transport(s, ll))
        out.append(_clock(s, ll))
        out.append(overload_finding(s, ll))
        if setup_row(rows, s, DEFAULT):
            out.append(_backlog(s, rows, absolute[s], period_ms))
        if absolute[s]:
            out.append(_threads(s, ll, setup_row(rows, s, THREADS), fps))
            out.append(_floor(s, ll, setup_row(rows, s, NATIVE), fps))
        naive = setup_row(rows, s, f"naive, {consumer_ms:g} ms consumer")
        latest = setup_row(rows, s, f"latest, {consumer_ms:g} ms consumer")
        if naive and latest:
            out.append(_slow_loop(s, naive, latest, consumer_ms, seconds, fps, absolute[s]))
    if len(streams) > 1:
        out.append(_skew(rows, streams, all(absolute.values()), consumer_ms))
    return [f for f in out if f is not None]


def overload_finding(s: str, row: dict[str, Any]) -> Finding | None:
    """Decoding fell behind the stream while it was measured: frames were skipped, undecoded,
    to the next keyframe (:mod:`rtsplab.rtsp.overload`); None when nothing was skipped.

    Example:
        >>> print(overload_finding("cam1", {"frames_decoded": 69, "frames_skipped": 31}))
        PROBLEM  cam1: decoders cannot keep up: 31 % of frames skipped at keyframes (31 of 100 frames in the
                 low-latency read). The frames handed out stay within about a GOP of the camera, but the
                 picture stops between keyframes.
            fix: give the readers more CPU (fewer streams or other work per process), or ask the camera for
                 less: its substream (a smaller size) or a lower frame rate
        >>> overload_finding("cam1", {"frames_decoded": 60, "frames_skipped": 0}) is None
        True
    """
    skipped = int(row.get("frames_skipped") or 0)
    decoded = int(row.get("frames_decoded") or 0)
    if skipped <= 0:
        return None
    total = skipped + decoded
    return Finding(
        "problem",
        s,
        f"decoders cannot keep up: {100 * skipped / total:.0f} % of frames skipped at keyframes "
        f"({skipped} of {total} frames in the low-latency read). The frames handed out stay "
        "within about a GOP of the camera, but the picture stops between keyframes.",
        "give the readers more CPU (fewer streams or other work per process), or ask the camera "
        "for less: its substream (a smaller size) or a lower frame rate",
    )


def _transport(s: str, ll: dict[str, Any]) -> Finding | None:
    if ll["transport"] != "udp":
        return None
    return Finding(
        "note",
        s,
        "this camera refuses RTP over TCP; using UDP (transport='auto' tried TCP first). "
        "On a busy network UDP loses packets: smeared pictures until the next keyframe.",
        "nothing to do with rtsplab; with plain OpenCV set "
        "OPENCV_FFMPEG_CAPTURE_OPTIONS='rtsp_transport;udp'",
    )


def _clock(s: str, ll: dict[str, Any]) -> Finding:
    if ll.get("clock_corrected"):  # the camera's clock is off: say by how much
        text = (
            f"{ll['clock_note']}. Corrected ages count from the fastest frame's arrival: "
            "the camera's own encoding and network time is not in them."
        )
        return Finding("note", s, text, "set the camera's clock by NTP (its date/time settings)")
    if ll["clock"] == "timecode":
        text = "frames carry a burned-in capture time: the ages are true capture-to-read delays."
        return Finding("ok", s, text)
    if ll["clock"] in ("rtcp", "onvif"):
        offset_ms = ll.get("clock_offset_ms", math.nan)
        checked = (
            f" It agrees with this machine's (offset {offset_ms:.0f} ms, which cannot be told "
            "from latency)."
            if not math.isnan(offset_ms)
            else ""
        )
        text = (
            f"frame age comes from the camera's {ll['clock'].upper()} clock, only as right as "
            f"that clock.{checked}"
        )
        return Finding("note", s, text, "sync the camera's clock with NTP")
    return Finding(
        "note",
        s,
        f"no timecode or RTCP: frame age is measured from arrival time only (clock: "
        f"{ll['clock']}). Delay before a frame reaches this computer (encoder, network) is "
        "invisible; backlogs in the reader are still measured.",
        "try backend='pyav', which reads RTCP sender reports when the camera sends them",
    )


def _backlog(s: str, rows: list[dict[str, Any]], absolute: bool, period_ms: float) -> Finding:
    """The open-time backlog of the default-options row. Its own clock decides how: OpenCV
    reads no RTCP, so with a native low-latency row on a camera's RTCP clock (``absolute``) the
    default row's times are still anchored at arrival, and its first-frame age says nothing."""
    dflt, ll = setup_row(rows, s, DEFAULT), setup_row(rows, s, LL)
    later_s = sum(r["open_s"] for r in rows if r["setup"] == DEFAULT and r["order"] > dflt["order"])
    if dflt.get("clock") in SOURCE_CLOCKS:  # a true age, which the later opens are part of
        backlog_ms = max(0.0, dflt["first_frame_age_ms"] - later_s * 1e3)
        text = (
            f"the first frame was {dflt['first_frame_age_ms'] / 1e3:.2f} s old with OpenCV's "
            f"default options: FFmpeg buffered about {backlog_ms / 1e3:.2f} s of stream while "
            f"probing it (the open took {dflt['open_s']:.2f} s)"
        )
        if later_s:
            text += f", and {later_s:.2f} s more piled up while the other streams opened"
    else:  # the probe's frames come out in one burst: decoded before they were due
        backlog_ms = max(0.0, -dflt["transit_min_ms"])
        text = (
            f"right after opening with OpenCV's default options, {backlog_ms / 1e3:.2f} s of "
            f"video arrived at once: FFmpeg had buffered it while probing the stream (the open "
            f"took {dflt['open_s']:.2f} s)"
        )
    text += f". The low-latency profile opened in {ll['open_s']:.2f} s"
    if absolute:
        text += f" and its first frame was {ll['first_frame_age_ms']:.0f} ms old"
    if ll["first_frame_s"] > ll["open_s"] + 3 * period_ms / 1e3:
        text += (
            f", {ll['first_frame_s']:.2f} s after the open call (decoding starts at a keyframe, "
            "and that is when the camera sent one; a shorter keyframe interval shortens the wait)"
        )
    if backlog_ms - ll["first_frame_age_ms"] < 200:
        return Finding("ok", s, text + ": no significant open-time backlog.")
    return Finding(
        "problem",
        s,
        text + ".",
        "open with rtsplab's low-latency profile (rtsplab.open's default); with plain OpenCV "
        f"set os.environ['OPENCV_FFMPEG_CAPTURE_OPTIONS'] = '{CV_OPTIONS}' before "
        "cv2.VideoCapture(url, cv2.CAP_FFMPEG)",
    )


def _threads(s: str, ll: dict[str, Any], th: dict[str, Any], fps: float) -> Finding | None:
    if not th:
        return None
    delay_ms = th["transit_p50_ms"] - ll["transit_p50_ms"]
    if delay_ms <= max(8.0, 300 / fps):
        return Finding(
            "ok", s, f"decoder threading adds no measurable delay ({signed(delay_ms)} ms)."
        )
    return Finding(
        "problem",
        s,
        f"decoder threading adds {delay_ms:.0f} ms ({delay_ms * fps / 1e3:.1f} frames at "
        f"{fps:.0f} fps): frames were decoded {th['transit_p50_ms']:.0f} ms after capture with "
        f"FFmpeg's automatic threads, {ll['transit_p50_ms']:.0f} ms with one thread.",
        "decode with one thread: rtsplab's low-latency profile does (decoder_threads=1); with "
        "plain OpenCV pass [cv2.CAP_PROP_N_THREADS, 1] as open parameters",
    )


def _floor(s: str, ll: dict[str, Any], nat: dict[str, Any], fps: float) -> Finding:
    text = (
        f"at best (low-latency profile, latest) frames were {ll['age_p50_ms']:.0f} ms old when "
        f"read (median; p99 {ll['age_p99_ms']:.0f} ms), {ll['age_p50_ms'] * fps / 1e3:.1f} frame "
        f"periods at {fps:.0f} fps."
    )
    if ll["age_p50_ms"] > 300:
        return Finding(
            "problem",
            s,
            text + " That delay arises before frames reach this computer; no reader removes it.",
            "check the camera's encoder settings (B-frames, 'smart' codecs), the network path "
            "and any recorder or relay in between",
        )
    if nat and nat["age_p50_ms"] < ll["age_p50_ms"] - 500 / fps:
        return Finding(
            "note",
            s,
            text + " rtsplab's native backend, which decodes a frame as soon as its last packet "
            f"is in instead of when the next frame starts, got {nat['age_p50_ms']:.0f} ms.",
            "use backend='native' (H.264 and H.265, TCP or UDP)",
        )
    return Finding("ok", s, text)


def _slow_loop(
    s: str,
    naive: dict[str, Any],
    latest: dict[str, Any],
    consumer_ms: float,
    seconds: float,
    fps: float,
    absolute: bool = True,
) -> Finding:
    grow = naive["growth_ms_per_s"]
    if grow <= 50:
        return Finding(
            "ok",
            s,
            f"a loop that spends {consumer_ms:g} ms per frame keeps up with this camera "
            f"({fps:.0f} fps): naive reads did not fall behind ({signed(grow)} ms per second).",
        )
    if absolute:
        reached = f" (to {naive['age_max_ms'] / 1e3:.2f} s after {seconds:g} s)"
        kept = f"the age stayed at {latest['age_p50_ms']:.0f} ms (median)"
    else:  # ages anchored at arrival: their growth is real, their level is not
        reached = ""
        kept = f"the age changed by {signed(latest['growth_ms_per_s'])} ms per second"
    return Finding(
        "problem",
        s,
        f"a loop that spends {consumer_ms:g} ms per frame falls behind with naive reads: the "
        f"frame age grew by {grow:.0f} ms every second{reached}.",
        "read with strategy='latest', which drops the frames the loop has no time for: with the "
        f"same loop {kept}",
    )


def signed(value: float) -> str:
    """A measured difference for people: whole units with a sign, and never ``-0``.

    Example:
        >>> signed(-0.3), signed(12.6), signed(-4.5)
        ('0', '+13', '-4')
    """
    rounded = round(value) + 0
    return f"{rounded:+d}" if rounded else "0"


def _skew(
    rows: list[dict[str, Any]], streams: list[str], absolute: bool, consumer_ms: float
) -> Finding:
    if not absolute:
        text = "skew between streams needs a timecode or RTCP clock on every stream: not measured."
        return Finding("note", "all", text)
    dflt = [setup_row(rows, s, DEFAULT) for s in streams]
    timed = all(r.get("clock") in SOURCE_CLOCKS for r in dflt)  # OpenCV reads no RTCP
    one = dflt[0].get("skew_p50_ms", math.nan) if timed else math.nan
    latest = setup_row(rows, streams[0], f"latest, {consumer_ms:g} ms consumer")["skew_p99_ms"]
    matched = setup_row(rows, streams[0], f"matched, {consumer_ms:g} ms consumer")["skew_p99_ms"]
    apart = (
        f"the streams were {one / 1e3:.2f} s apart (median skew)"
        if not math.isnan(one)
        else "their skew was not measured (no source clock in that setup)"
    )
    text = (
        f"opened one after another with OpenCV's default options and read in one loop, "
        f"{apart}. Opened together with the "
        f"low-latency profile and read with latest, the skew was {latest:.0f} ms (p99, "
        f"{consumer_ms:g} ms consumer); {matched:.0f} ms with timestamp-matched sets."
    )
    if not timed:
        return Finding("note", "all", text)
    if math.isnan(one) or one < 200:
        return Finding("ok", "all", text)
    return Finding(
        "problem",
        "all",
        text,
        "open the streams together and read the newest frame of each: "
        "rtsplab.open_group(urls, strategy='latest'); add sync='matched' for frames captured "
        "at the same instant",
    )
