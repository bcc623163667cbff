"""The ``rtsplab`` command never prints a password, however the URL is misspelled.

A mistyped separator (``rtsp:/``), no scheme, spaces and tabs, non-ASCII, an out-of-range port:
each once made the password show up in an error message. The commands run as a user runs them,
in a child process, and nothing they print or store holds any 3-character piece of the
password.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rtsplab.lab.diagnose import diagnose

PASSWORD = "Zq7@x:/Kw é\t9"  # @ : / a space, a tab, non-ASCII


def _pieces(text: str, size: int = 3) -> set[str]:
    return {text[i : i + size] for i in range(len(text) - size + 1)}


def _leaks(output: str) -> set[str]:
    return {p for p in _pieces(PASSWORD) if p in output}


SPELLINGS = [
    "rtsp:/admin:{pw}@127.0.0.1/x",
    "rtsp:admin:{pw}@127.0.0.1/x",
    "admin:{pw}@127.0.0.1/x",
    "rtsp://admin:{pw}@127.0.0.1:99999/x",
    "rtsp://admin:{pw}@hôst/x",
    "rtsp://admin:{pw}@127.0.0.1:1/x",  # valid, and refused: the typed error path
]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "rtsplab.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_probe_prints_no_part_of_the_password(spelling: str) -> None:
    url = spelling.format(pw=PASSWORD)
    proc = _run("probe", url, "--seconds", "0.5", "--open-timeout-s", "2")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out and out.startswith("error: "), out  # one line, typed
    assert not _leaks(out), (_leaks(out), out)


def test_probe_json_and_doctor_print_no_part_of_the_password() -> None:
    urls = [s.format(pw=PASSWORD) for s in SPELLINGS[:3]]
    proc = _run("probe", urls[0], "--json")
    assert proc.returncode == 2 and not _leaks(proc.stdout + proc.stderr), proc
    report = json.loads(proc.stdout)
    assert report["error"] == "ValueError" and "two slashes" in report["message"]
    proc = _run("doctor", *urls, "--seconds", "0.2")
    out = proc.stdout + proc.stderr
    assert "not a valid RTSP URL" in out and not _leaks(out), out


def test_doctor_stores_no_part_of_the_password() -> None:
    urls = [s.format(pw=PASSWORD) for s in SPELLINGS[:5]]
    d = diagnose(urls, seconds=0.2)
    stored = [d.report(), repr(d), *d.urls, *(f.text for f in d.findings)]
    if d.measurements is not None:
        stored.append(d.measurements.to_csv())
    assert not d.ok and len(d.urls) == len(urls)
    assert not _leaks(" ".join(stored)), _leaks(" ".join(stored))
