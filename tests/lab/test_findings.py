"""The doctor's rules on measurement rows made by hand: no camera needed."""

from __future__ import annotations

import math
from typing import Any

from rtsplab.lab.findings import DEFAULT, LEVELS, LL, THREADS, Finding, build_findings, fps_of

CONSUMER_MS = 60.0


def row(stream: str, setup: str, **values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "stream": stream,
        "setup": setup,
        "clock": "timecode",
        "transport": "tcp",
        "fps": 30.0,
        "order": 0,
        "open_s": 0.2,
        "first_frame_s": 0.25,
        "first_frame_age_ms": 60.0,
        "age_p50_ms": 45.0,
        "age_p99_ms": 70.0,
        "age_max_ms": 90.0,
        "transit_p50_ms": 20.0,
        "transit_min_ms": 10.0,
        "growth_ms_per_s": 0.0,
        "skew_p50_ms": 10.0,
        "skew_p99_ms": 20.0,
    }
    return {**base, **values}


def consumer_rows(stream: str, naive_growth: float) -> list[dict[str, Any]]:
    return [
        row(stream, f"naive, {CONSUMER_MS:g} ms consumer", growth_ms_per_s=naive_growth,
            age_max_ms=2500.0),
        row(stream, f"latest, {CONSUMER_MS:g} ms consumer", age_p50_ms=48.0, skew_p99_ms=25.0),
        row(stream, f"matched, {CONSUMER_MS:g} ms consumer", skew_p99_ms=15.0),
    ]  # fmt: skip


def by_level(findings: list[Finding], stream: str) -> list[str]:
    return [f.level for f in findings if f.stream == stream]


def test_a_healthy_camera_gets_only_ok() -> None:
    rows = [row("cam1", LL), row("cam1", THREADS, transit_p50_ms=22.0), *consumer_rows("cam1", 2)]
    findings = build_findings(rows, ["cam1"], CONSUMER_MS, 5.0)
    assert findings and all(f.level == "ok" for f in findings), findings
    assert all(f.level in LEVELS for f in findings)


def test_a_slow_loop_with_naive_reads_is_a_problem_with_the_latest_fix() -> None:
    rows = [row("cam1", LL), *consumer_rows("cam1", 120.0)]
    (slow,) = [
        f for f in build_findings(rows, ["cam1"], CONSUMER_MS, 5.0) if "falls behind" in f.text
    ]
    assert slow.level == "problem" and "120 ms every second" in slow.text
    assert "strategy='latest'" in slow.fix and "48 ms" in slow.fix


def test_decoder_threading_delay_is_counted_in_frames() -> None:
    rows = [row("cam1", LL, transit_p50_ms=20.0), row("cam1", THREADS, transit_p50_ms=86.0)]
    (threads,) = [f for f in build_findings(rows, ["cam1"], CONSUMER_MS, 5.0) if "thread" in f.text]
    assert threads.level == "problem"
    assert "66 ms" in threads.text and "2.0 frames at 30 fps" in threads.text


def test_without_a_source_clock_no_absolute_claims_are_made() -> None:
    rows = [row("cam1", LL, clock="pts"), row("cam1", THREADS, transit_p50_ms=500.0)]
    findings = build_findings(rows, ["cam1"], CONSUMER_MS, 5.0)
    assert [f.level for f in findings] == ["note"]  # the clock note; no threading verdict
    assert "arrival time" in findings[0].text and "backend='pyav'" in findings[0].fix


def test_udp_fallback_and_rtcp_clock_are_notes() -> None:
    rows = [row("cam1", LL, transport="udp", clock="rtcp")]
    notes = build_findings(rows, ["cam1"], CONSUMER_MS, 5.0)
    assert by_level(notes, "cam1")[:2] == ["note", "note"]
    assert "refuses RTP over TCP" in notes[0].text and "NTP" in notes[1].fix


def test_open_time_backlog_and_one_second_skew_are_problems() -> None:
    rows = []
    for i, (name, age_ms) in enumerate((("cam1", 1900.0), ("cam2", 900.0))):
        rows += [row(name, LL), *consumer_rows(name, 0.0)]
        rows.append(
            row(name, DEFAULT, order=i, open_s=0.9, first_frame_age_ms=age_ms, skew_p50_ms=980.0)
        )
    findings = build_findings(rows, ["cam1", "cam2"], CONSUMER_MS, 5.0)
    backlog = [f for f in findings if "default options" in f.text and f.stream != "all"]
    assert [f.level for f in backlog] == ["problem", "problem"]
    assert "0.90 s more piled up" in backlog[0].text  # cam2's open, while cam1 waited
    (skew,) = [f for f in findings if f.stream == "all"]
    assert skew.level == "problem" and "0.98 s apart" in skew.text
    assert "open_group" in skew.fix


def test_the_backlog_of_an_opencv_default_row_on_an_rtcp_camera_is_the_burst() -> None:
    """The low-latency row (native) on the camera's RTCP clock, the default row on OpenCV's
    arrival-anchored times: its first-frame age (~0) is no age, the burst is the backlog."""
    rows = []
    for i, name in enumerate(("cam1", "cam2")):
        rows += [row(name, LL, clock="rtcp"), *consumer_rows(name, 0.0)]
        rows.append(
            row(name, DEFAULT, clock="pts", order=i, open_s=0.9, first_frame_age_ms=0.2,
                transit_min_ms=-850.0, skew_p50_ms=0.1)
        )  # fmt: skip
    findings = build_findings(rows, ["cam1", "cam2"], CONSUMER_MS, 5.0)
    backlog = [f for f in findings if "default options" in f.text and f.stream != "all"]
    assert [f.level for f in backlog] == ["problem", "problem"], backlog
    assert all("0.85 s of video arrived at once" in f.text for f in backlog), backlog
    assert not any("-0." in f.text for f in findings), findings
    (skew,) = [f for f in findings if f.stream == "all"]
    assert skew.level == "note" and "not measured" in skew.text and "0.00 s" not in skew.text
    # a burst that is not one (its first frame arrived late) is no backlog, not a negative one
    rows[-1] = {**rows[-1], "transit_min_ms": 35.0}
    (cam2,) = [f for f in build_findings(rows, ["cam2"], CONSUMER_MS, 5.0) if "default" in f.text]
    assert cam2.level == "ok" and "0.00 s of video" in cam2.text, cam2


def test_fps_falls_back_to_nominal_then_30() -> None:
    assert fps_of({"fps": 14.96}) == 15.0
    assert fps_of({"fps": math.nan, "nominal_fps": 25}) == 25.0
    assert fps_of({}) == 30.0


def test_findings_print_wrapped_with_their_fix() -> None:
    text = str(Finding("problem", "cam1", "word " * 40, "do this"))
    lines = text.splitlines()
    assert lines[0].startswith("PROBLEM  cam1: word")
    assert all(len(line) <= 100 for line in lines)
    assert lines[-1].strip() == "fix: do this"
