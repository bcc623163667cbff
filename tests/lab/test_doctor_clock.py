"""The doctor and the probe report a camera clock that is off, against the simulator."""

from __future__ import annotations

import argparse
import json

import pytest

from rtsplab.cli.lab import add_probe_arguments, run_probe
from rtsplab.lab.diagnose import LL, diagnose
from rtsplab.sim import SimCamera, SimServer

pytestmark = pytest.mark.interop


def test_probe_json_reports_the_camera_clock(make_sim, capsys) -> None:  # type: ignore[no-untyped-def]
    srv: SimServer = make_sim([SimCamera("cam1", clock_offset_s=3.0), SimCamera("cam2")])
    parser = argparse.ArgumentParser()
    add_probe_arguments(parser)
    reports = {}
    for name in ("cam1", "cam2"):
        argv = [srv.url(name), "--seconds", "1", "--backend", "native", "--json"]
        assert run_probe(parser.parse_args(argv)) == 0
        reports[name] = json.loads(capsys.readouterr().out)
    ahead, fine = reports["cam1"]["camera_clock"], reports["cam2"]["camera_clock"]
    assert ahead["source"] == "rtcp" and ahead["verdict"] == "ahead" and ahead["corrected"]
    assert 2950 < ahead["offset_ms"] <= 3001
    assert ahead["note"] == (
        "cam1's clock (rtcp) is 3.0 s ahead of this machine; set NTP on the camera; "
        "ages are corrected"
    )
    assert fine["verdict"] == "ok" and not fine["corrected"] and -50 < fine["offset_ms"] <= 0


def test_doctor_says_the_camera_clock_is_behind(make_sim) -> None:  # type: ignore[no-untyped-def]
    srv = make_sim([SimCamera("cam1", clock_offset_s=-3.0)])
    d = diagnose(srv.urls, seconds=0.5, timecode=False, backend="native")
    assert d.ok, d.report()
    assert d.info["cam1"]["clock"] == "corrected"
    hits = [f for f in d.findings if "3.0 s behind this machine" in f.text]
    assert hits, d.report()
    assert "set NTP on the camera; ages are corrected" in hits[0].text
    m = d.measurements
    assert m is not None
    ll = m[m.setup == LL].set_index("stream")
    assert -3050 < ll.clock_offset_ms["cam1"] < -2999
    assert 0 <= ll.age_p50_ms["cam1"] < 100  # corrected ages: not 3 s
