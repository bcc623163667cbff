"""What the ``rtsplab`` command prints: plain-text help, and no OpenCV or FFmpeg log lines.

OpenCV's ``[ WARN:0@0.046] global cap.cpp:212 open VIDEOIO(FFMPEG) ...`` lines show red in
Jupyter and say less than rtsplab's typed errors; rtsplab silences them unless the user sets
``OPENCV_LOG_LEVEL``. The commands run in child processes with this process's log settings
removed, as on a fresh shell.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rtsplab.cli import SUBCOMMANDS, build_parser


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    return env | extra


@pytest.mark.parametrize("command", [None, *SUBCOMMANDS])
def test_help_is_plain_text(command: str | None) -> None:
    parser = build_parser(command)
    if command is None:
        text = parser.format_help()
    else:
        sub = next(a for a in parser._actions if a.dest == "command")
        text = sub.choices[command].format_help()  # type: ignore[index]
    assert "``" not in text and ":func:" not in text and ":class:" not in text, text
    assert len(text.splitlines()) > 3


def _probe(url: str, backend: str = "auto", **env: str) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable, "-m", "rtsplab.cli", "probe", url, "--seconds", "0.5"]
    cmd += ["--backend", backend]
    return subprocess.run(cmd, env=_env(**env), capture_output=True, timeout=60, check=False)


@pytest.mark.interop
def test_probe_prints_no_opencv_log_lines(make_sim) -> None:  # type: ignore[no-untyped-def]
    srv = make_sim(1, process=True)
    for backend in ("auto", "opencv"):  # OpenCV itself, and the default path
        good = _probe(srv.url("cam1"), backend)
        assert good.returncode == 0, good.stderr.decode()
        assert b"clock: timecode" in good.stdout
        missing = _probe(srv.url("cam1").replace("/cam1", "/nope"), backend)
        assert missing.returncode == 2 and b"NotFound" in missing.stdout + missing.stderr
        for proc in (good, missing):
            err = proc.stderr.decode()
            assert "[ WARN" not in err and "[ERROR" not in err and " @ 0x" not in err, err
    # the line is there to hide: a user who asks for OpenCV's log gets it
    loud = _probe(srv.url("cam1").replace("/cam1", "/nope"), "opencv", OPENCV_LOG_LEVEL="WARNING")
    assert "[ WARN" in loud.stderr.decode()
