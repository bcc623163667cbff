"""The experiment engine: the problem statement reproduced on simulated cameras, and the
summaries the CLI prints.

The reproduction asserts the story's effects on decoded timecodes with wide margins: the
naive one-by-one skew is about one open time (~1 s), the fixed skew tens of ms.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from conftest import free_port

from rtsplab.entities import Clock, Frame, FrameSet
from rtsplab.errors import ConnectError
from rtsplab.lab.experiment import age_growth_ms_per_s, comparison_json, open_one_by_one
from rtsplab.lab.seed import reproduce_seed
from rtsplab.recorder import Recorder


def _frame(stream: str, seq: int, t_source_ms: float, t_read_ms: float, depth: int = 0) -> Frame:
    ms = 1_000_000
    return Frame(
        np.zeros((2, 2, 3), np.uint8), stream, seq, int(t_source_ms * ms), Clock.TIMECODE,
        int((t_source_ms + 30) * ms), int(t_read_ms * ms), depth=depth,
    )  # fmt: skip


def _recorded() -> Recorder:
    """Two runs on two streams: 'slow' falls behind by 0.5 s per second, 'fresh' does not."""
    rec = Recorder()
    for run, lag_per_s in (("slow", 0.5), ("fresh", 0.0)):
        for i in range(20):
            t_read = 1000.0 + i * 100
            frames = {
                s: _frame(s, i, t_read - 40 - lag_per_s * i * 100 - off, t_read, depth=i // 2)
                for s, off in (("cam1", 0.0), ("cam2", 10.0))
            }
            rec.add_set(FrameSet(frames, i, 10.0), strategy="latest", run=run)
    return rec


def test_comparison_json_shape() -> None:
    out = comparison_json(_recorded().to_dataframe(), {"seconds": 2})
    assert out["config"] == {"seconds": 2}
    assert list(out["strategies"]) == ["slow", "fresh"]
    s = out["strategies"]["slow"]
    assert set(s) == {
        "age_ms", "skew_ms", "age_growth_ms_per_s", "depth", "frames", "sets", "dropped", "fps",
        "clock",
    }  # fmt: skip
    assert s["age_growth_ms_per_s"] == pytest.approx(500.0, abs=1)
    assert set(s["age_ms"]) == {"p50", "p95", "p99", "max"}
    assert set(s["skew_ms"]) == {"p50", "p99", "max"}
    assert s["frames"] == 40 and s["sets"] == 20 and s["clock"] == "timecode"
    assert s["skew_ms"]["p99"] == 10.0
    assert s["depth"] == {"max": 9, "final": 9}
    assert s["fps"] == pytest.approx(10.0)
    assert out["strategies"]["fresh"]["age_ms"]["max"] == pytest.approx(50.0)


def test_age_growth_is_the_slope_of_age_over_time() -> None:
    growth = age_growth_ms_per_s(_recorded().to_dataframe())
    assert growth["slow"] == pytest.approx(500.0, abs=1)
    assert growth["fresh"] == pytest.approx(0.0, abs=1)


@pytest.mark.interop
def test_open_one_by_one_closes_what_it_opened_on_failure(make_sim) -> None:  # type: ignore[no-untyped-def]
    srv = make_sim(1, process=True)  # no server threads in this process
    baseline = threading.active_count()
    with pytest.raises(ConnectError):
        open_one_by_one(
            [srv.url("cam1"), f"rtsp://127.0.0.1:{free_port()}/cam1"], "latest", open_timeout_s=2
        )
    assert threading.active_count() == baseline


@pytest.mark.interop
def test_reproduce_seed_on_simulated_cameras() -> None:
    result = reproduce_seed(seconds=1.5, consumer_ms=60)
    n = result.numbers()
    # (a) captures opened one by one with default options and read naively: ~1 s apart
    assert n["naive_skew_ms"] > 400
    assert n["lagging_stream"] == "cam1"
    assert n["naive_age_ms"]["cam1"] > n["naive_age_ms"]["cam2"] + 400
    # (b) the open-time backlog: cam1's first frame also waited for cam2's open
    first = n["first_frame_age_ms"]
    assert first["cam2"] > 300
    assert first["cam1"] > first["cam2"] + 0.5 * n["open_s"]["cam2"] * 1e3
    # the problem statement's lists: one full, one nearly empty; threads gone after close
    assert n["list_lengths"]["cam1"] > 10 >= n["list_lengths"]["cam2"]
    assert n["list_skew_ms"] > 400
    assert n["threads_left"] == 0
    # (c) both decoder-thread runs measured with true timecodes
    assert set(n["transit_ms"]) == {"decoder_threads=0", "decoder_threads=1"}
    assert set(result.decoder["clock"]) == {"timecode"}
    assert 20 < n["frame_period_ms"] < 50
    # (d) the slow consumer: naive and buffered fall behind, latest does not
    growth = n["age_growth_ms_per_s"]
    assert growth["naive"] > 200 and growth["buffered"] > 200
    assert abs(growth["latest"]) < 100
    # (e) the fix
    assert n["skew_p99_ms"]["latest"] < 60
    assert n["skew_p99_ms"]["matched"] < 60
    assert max(n["fixed_first_frame_age_ms"].values()) < 200
    text = result.summary()
    assert max(len(line) for line in text.splitlines()) <= 88  # no mid-word wrapping
    assert "-0 " not in text
    text = " ".join(text.split())
    assert f"{n['naive_skew_ms'] / 1e3:.2f} s apart" in text
    assert f"skew p99 {n['skew_p99_ms']['latest']:.0f} ms" in text
    assert not any(math.isnan(v) for v in growth.values())
    fig = result.plot()
    assert len(fig.axes) == 6
