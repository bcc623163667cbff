"""``diagnose`` / ``rtsplab doctor`` against real servers: the simulator and gst-rtsp-server.

Every assertion is on measured numbers or on findings built from them; the expected effects
(open-time backlog, slow-consumer growth, one-by-one skew) are large, the margins wide.
"""

from __future__ import annotations

import argparse
import json
import re

import pytest
from conftest import free_port

from rtsplab.cli.lab import add_doctor_arguments, run_doctor
from rtsplab.lab.diagnose import DEFAULT, LL, Diagnosis, diagnose
from rtsplab.sim import SimCamera

pytestmark = pytest.mark.interop

HOSTILE_PASSWORD = "sp@rk:12/34@56"


def _doctor(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_doctor_arguments(parser)
    return run_doctor(parser.parse_args(argv))


def _find(d: Diagnosis, level: str, stream: str, needle: str) -> str:
    hits = [f for f in d.findings if f.level == level and f.stream == stream and needle in f.text]
    assert hits, f"no {level} finding for {stream} with {needle!r}:\n{d.report()}"
    return hits[0].text


def test_doctor_on_two_simulated_cameras(make_sim) -> None:  # type: ignore[no-untyped-def]
    srv = make_sim([SimCamera("cam1", gop=10), SimCamera("cam2", gop=10)], process=True)
    d = diagnose(srv.urls, seconds=1.0, backend="opencv")  # the FFmpeg findings
    assert d.ok, d.report()
    m = d.measurements
    assert m is not None
    dflt = m[m.setup == DEFAULT].set_index("stream")
    ll = m[m.setup == LL].set_index("stream")
    assert set(ll.clock) == {"timecode"} and set(ll.transport) == {"tcp"}
    # default options: an open-time backlog; the first opened stream also waited for the second
    assert (dflt.first_frame_age_ms > ll.first_frame_age_ms + 300).all()
    assert dflt.first_frame_age_ms["cam1"] > dflt.first_frame_age_ms["cam2"] + 300
    assert (ll.age_p50_ms < 150).all()
    for cam in ("cam1", "cam2"):
        text = _find(d, "problem", cam, "first frame was")
        assert f"{dflt.first_frame_age_ms[cam] / 1e3:.2f} s old" in text
        assert f"opened in {ll.open_s[cam]:.2f} s" in text
        _find(d, "problem", cam, "falls behind with naive reads")
        _find(d, "ok", cam, "burned-in capture time")
        assert any("decoder threading adds" in f.text for f in d.findings if f.stream == cam)
    skew = _find(d, "problem", "all", "apart (median skew)")
    assert f"{dflt.skew_p50_ms['cam1'] / 1e3:.2f} s apart" in skew
    assert dflt.skew_p50_ms["cam1"] > 400
    assert not any("UDP" in f.text for f in d.findings)
    json.dumps(d.to_dict())  # JSON-ready


def test_doctor_backlog_on_rtcp_native_and_opencv_defaults(make_sim) -> None:  # type: ignore[no-untyped-def]
    """The low-latency row on native has the camera's RTCP clock; the default-options row is
    OpenCV, which reads no RTCP: its backlog comes from the burst, never a negative age."""
    srv = make_sim([SimCamera("cam1", gop=10), SimCamera("cam2", gop=10)], process=True)
    d = diagnose(srv.urls, seconds=0.5, timecode=False)  # auto: native, RTCP sender reports
    assert d.ok, d.report()
    rows = d.measurements
    assert set(rows[rows.setup == LL].clock) == {"rtcp"}, rows
    dflt = rows[rows.setup == DEFAULT]
    assert set(dflt.backend) == {"opencv"} and "rtcp" not in set(dflt.clock), dflt
    for cam in ("cam1", "cam2"):
        text = _find(d, "problem", cam, "arrived at once")
        burst_s = float(re.search(r"options, (-?[0-9.]+) s of video", text).group(1))  # type: ignore[union-attr]
        assert burst_s > 0.4, text  # FFmpeg's probe: about a second of stream
    report = d.report()
    assert not re.search(r"-[0-9.]+ s\b", report), report  # no negative duration anywhere
    assert "skew was not measured" in _find(d, "note", "all", "one after another")
    table = d.table()
    assert table[table.setup == DEFAULT]["first_frame_age_ms"].isna().all(), table


def test_doctor_without_a_clock_says_so(make_sim) -> None:  # type: ignore[no-untyped-def]
    srv = make_sim([SimCamera("cam1", gop=10)], process=True)
    d = diagnose(srv.urls, seconds=0.5, timecode=False, backend="opencv")  # no RTCP clock
    assert d.ok, d.report()
    assert d.info["cam1"]["clock"] != "timecode"
    _find(d, "note", "cam1", "no timecode or RTCP: frame age is measured from arrival time only")
    # the open-time backlog is still seen: the probe's frames arrive in one burst
    _find(d, "problem", "cam1", "arrived at once")
    # ages anchored at arrival are not ages: never shown as numbers, let alone negative ones
    report = d.report()
    table = report[report.index("measurements (ms unless _s):") :].splitlines()
    head, note = table[1].split(), [ln.startswith("n/a: no source clock") for ln in table]
    assert any(note), report
    for line in table[2 : note.index(True)]:
        cells = dict(zip(head[::-1], line.split()[::-1], strict=False))  # setups hold spaces
        for col in ("first_frame_age_ms", "age_p50_ms", "age_p99_ms", "transit_p50_ms"):
            assert cells[col] in ("n/a", "-"), line
        assert not cells["growth_ms_per_s"].startswith("-0"), line
    assert not re.search(r"-\d+(\.\d+)? (ms|s)\b(?! per second)", report), report
    for row in d.to_dict()["measurements"]:
        assert row["age_p50_ms"] is None and row.get("first_frame_age_ms") is None, row


def test_doctor_cli_on_gst_udp_only_with_password(gst_server, capsys) -> None:  # type: ignore[no-untyped-def]
    srv = gst_server(mounts=("cam1",), udp_only=True, credentials=("admin", HOSTILE_PASSWORD))
    url = srv.url("cam1", credentials=True)
    assert _doctor([url, "--seconds", "1", "--json"]) == 0
    out = capsys.readouterr()
    assert HOSTILE_PASSWORD not in out.out + out.err and "sp%40rk" not in out.out + out.err
    report = json.loads(out.out)
    assert report["ok"] is True
    assert report["urls"] == [srv.url("cam1").replace("rtsp://", "rtsp://admin:***@")]
    assert report["streams"]["cam1"]["transport"] == "udp"
    udp = [f for f in report["findings"] if "refuses RTP over TCP; using UDP" in f["text"]]
    assert udp and udp[0]["stream"] == "cam1"
    backlog = [f for f in report["findings"] if "first frame was" in f["text"]]
    assert backlog and backlog[0]["level"] == "problem"
    setups = {m["setup"] for m in report["measurements"]}
    assert LL in setups and DEFAULT in setups


def test_doctor_turns_errors_into_findings(make_sim, capsys) -> None:  # type: ignore[no-untyped-def]
    srv = make_sim(1, credentials=("admin", HOSTILE_PASSWORD))
    good = srv.url("cam1", credentials=True)
    wrong = re.sub(r"admin:[^@]+@127", "admin:wr0ng%40pw@127", good)
    urls = [
        good,
        wrong,
        good.replace("/cam1", "/nope"),
        f"rtsp://admin:{HOSTILE_PASSWORD}@127.0.0.1:{free_port()}/cam1",
        "http://admin:hunter2@example/cam1",
    ]
    assert _doctor([*urls, "--open-timeout-s", "2", "--seconds", "0.5"]) == 2
    out = capsys.readouterr().out
    for secret in (HOSTILE_PASSWORD, "sp%40rk", "wr0ng", "hunter2"):
        assert secret not in out
    errors = [ln for ln in out.splitlines() if ln.startswith("ERROR")]
    assert len(errors) == 4, out
    assert "AuthError" in errors[0] and "refused the user name or password" in errors[0]
    assert "NotFound" in errors[1]
    assert "ConnectError" in errors[2]
    assert "not a valid RTSP URL" in errors[3]
    assert "Traceback" not in out
    # the good stream was still measured
    assert re.search(
        r"cam1 .*h264 640x360 at \d+ fps, RTP over TCP, backend \w+, clock: timecode", out
    ), out
    assert "PROBLEM  cam1: the first frame was" in out


def test_doctor_json_when_every_stream_failed(capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing measured: the findings still print as one JSON object, exit code 2."""
    url = f"rtsp://admin:{HOSTILE_PASSWORD}@127.0.0.1:{free_port()}/cam1"
    assert _doctor([url, "--seconds", "0.5", "--json"]) == 2
    out = capsys.readouterr().out
    report = json.loads(out)
    assert not report["ok"] and report["measurements"] == []
    assert [f["level"] for f in report["findings"]] == ["error"], report["findings"]
    assert "refused" in report["findings"][0]["text"]
    assert HOSTILE_PASSWORD not in out
