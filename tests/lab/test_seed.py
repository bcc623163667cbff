"""SeedResult's numbers and story from recorder rows made by hand: no camera needed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from rtsplab.entities import Clock, Frame
from rtsplab.lab.seed import ONE_BY_ONE, PARALLEL, SeedResult
from rtsplab.recorder import Recorder

MS = 1_000_000
PERIOD_MS = 100 / 3
STREAMS = ["cam1", "cam2"]


def recorded(
    runs: dict[str, Callable[[str, float], float]],
    skew_ms: float = 0.0,
    transit_ms: dict[str, float] | None = None,
    depth: int = 0,
    n: int = 30,
) -> pd.DataFrame:
    """``n`` sets of both streams per run; ``runs[run](stream, t_ms)`` is the frame age."""
    rec = Recorder()
    image = np.zeros((2, 2, 3), np.uint8)
    for run, age_of in runs.items():
        transit = (transit_ms or {}).get(run, 20.0)
        for i in range(n):
            t_read_ms = 1000.0 + i * PERIOD_MS
            for stream in STREAMS:
                t_source_ms = t_read_ms - age_of(stream, i * PERIOD_MS)
                frame = Frame(
                    image, stream, i, round(t_source_ms * MS), Clock.TIMECODE,
                    round((t_source_ms + transit) * MS), round(t_read_ms * MS), depth=depth,
                )  # fmt: skip
                rec.add(frame, strategy=run, set_id=i, skew_ms=skew_ms, run=run)
    return rec.to_dataframe()


def seed_result() -> SeedResult:
    opens = pd.DataFrame(
        [
            (ONE_BY_ONE, 0, "cam1", 0.95, 1.00, 1900.0),
            (ONE_BY_ONE, 1, "cam2", 0.90, 0.95, 950.0),
            (PARALLEL, 0, "cam1", 0.30, 0.35, 80.0),
            (PARALLEL, 0, "cam2", 0.31, 0.36, 85.0),
        ],
        columns=["setup", "order", "stream", "open_s", "first_frame_s", "first_frame_age_ms"],
    )
    stale = {"cam1": 1000.0, "cam2": 50.0}
    return SeedResult(
        streams=STREAMS,
        seconds=1.0,
        consumer_ms=60.0,
        one_by_one=recorded({ONE_BY_ONE: lambda s, t: stale[s]}, skew_ms=950.0),
        opens=opens,
        lists=recorded({"lists (buffered)": lambda s, t: stale[s]}, skew_ms=940.0, depth=29),
        decoder=recorded(
            {"decoder_threads=0": lambda s, t: 90.0, "decoder_threads=1": lambda s, t: 57.0},
            transit_ms={"decoder_threads=0": 53.0, "decoder_threads=1": 20.0},
        ),
        consumer=recorded(
            {
                "naive": lambda s, t: 50.0 + 0.5 * t,  # falls behind by 500 ms every second
                "buffered": lambda s, t: 50.0 + 0.4 * t,
                "latest": lambda s, t: 45.0,
                "matched": lambda s, t: 50.0,
            },
            skew_ms=12.0,
        ),
    )


def test_numbers_read_the_story_off_the_rows() -> None:
    n = seed_result().numbers()
    assert n["naive_skew_ms"] == 950.0 and n["list_skew_ms"] == 940.0
    assert n["lagging_stream"] == "cam1" and n["naive_age_ms"] == {"cam1": 1000.0, "cam2": 50.0}
    assert n["open_s"] == {"cam1": 0.95, "cam2": 0.9}
    assert n["fixed_first_frame_age_ms"] == {"cam1": 80.0, "cam2": 85.0}
    assert n["list_lengths"] == {"cam1": 30.0, "cam2": 30.0}  # depth + 1: the frame popped
    assert n["decoder_delay_ms"] == 33.0 and n["frame_period_ms"] == 33.3
    assert n["age_growth_ms_per_s"]["naive"] == 500.0 and n["age_growth_ms_per_s"]["latest"] == 0.0
    assert n["age_p50_ms"]["latest"] == 45.0 and n["skew_p99_ms"]["matched"] == 12.0


def test_summary_tells_it_with_those_numbers() -> None:
    text = seed_result().summary()
    assert max(len(line) for line in text.splitlines()) <= 88  # fits a notebook cell
    flat = " ".join(text.split())  # the words, whatever the line breaks
    assert "0.95 s apart" in flat and "cam1 was the stale one" in flat
    assert "500 ms per second with naive reads" in flat
    assert "-0" not in flat
