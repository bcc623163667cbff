"""``rtsplab demo``: the problem statement's second of skew, then one fix per row.

The demo runs end to end in a child process, as ``make demo`` does, on simulated cameras; the
assertions are on capture times decoded from the frames, with wide margins.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rtsplab.lab.experiment import comparison_json
from rtsplab.lab.story import STORY, plot_story, story_table


def _quiet_env(**extra: str) -> dict[str, str]:
    """This environment without the log levels rtsplab set in this process, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    return env | extra


def test_story_rows_add_one_fix_each() -> None:
    first, *rest = STORY
    # the problem statement's loop: cv2 with its own options, cameras opened one by one
    assert first.one_by_one and first.profile == "default" and first.strategy == "naive@opencv"
    assert all(s.adds.startswith("+ ") for s in rest)
    assert [s.strategy for s in STORY[-3:]] == ["latest@opencv", "matched@opencv", "latest@native"]
    assert len({s.label for s in STORY}) == len(STORY)


def test_story_table_reads_like_the_story() -> None:
    def row(skew: float, age: float, growth: float | None) -> dict[str, object]:
        return {
            "skew_ms": {"p50": skew, "p99": skew + 1},
            "age_ms": {"p50": age},
            "age_growth_ms_per_s": growth,
        }

    summary = {
        "strategies": {"naive, one by one": row(951, 2400, 452.4), "latest": row(6, 52, -0.3)}
    }
    lines = story_table(summary).splitlines()
    assert lines[2].split()[:8] == ["naive,", "one", "by", "one", "951", "ms", "952", "ms"]
    assert "+452 ms/s" in lines[2] and STORY[0].adds in lines[2]
    assert "0 ms/s" in lines[3] and "-0" not in lines[3]  # no "-0 ms/s"
    assert lines[3].endswith(next(s.adds for s in STORY if s.label == "latest"))


@pytest.mark.interop
def test_demo_shows_the_second_and_its_fix(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "rtsplab.cli", "demo", "--seconds", "2", "--out", str(tmp_path)]
    proc = subprocess.run(
        [*cmd, "--json"], env=_quiet_env(), capture_output=True, timeout=240, check=False
    )
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "[ WARN" not in err and "[ERROR" not in err, err
    rows = json.loads(proc.stdout)["strategies"]
    assert list(rows) == [s.label for s in STORY]
    assert rows["naive, one by one"]["skew_ms"]["p50"] >= 500  # about one open time
    assert rows["naive, one by one"]["clock"] == "timecode"
    assert rows["naive, parallel"]["skew_ms"]["p50"] < 200  # opened together: the second is gone
    for label in ("latest", "matched", "latest, native"):
        assert rows[label]["skew_ms"]["p50"] < 50, rows[label]
        assert rows[label]["age_ms"]["p50"] < 200, rows[label]
    assert rows["naive, parallel"]["age_growth_ms_per_s"] > 150  # a 60 ms loop falls behind
    assert abs(rows["latest"]["age_growth_ms_per_s"]) < 100
    picture = tmp_path / "demo.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    df = pd.read_csv(tmp_path / "demo.csv")
    assert comparison_json(df)["strategies"].keys() == rows.keys()
    fig = plot_story(df)
    assert [t.get_text().split("\n")[0] for t in fig.axes[0].get_yticklabels()] == list(rows)
