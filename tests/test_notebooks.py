"""The teaching notebooks: committed with their outputs, and still run top to bottom.

01-03 are stored as ``make notebooks`` ran them on the simulator, so they read on GitHub
without running; the tests check what is stored (images, no errors, no noise, no machine
paths or passwords, size) and then execute every notebook again from scratch, as a reader
would, in quick mode. The kernel is this test run's interpreter, declared in a temporary
Jupyter path, so a fresh ``make test`` needs no kernel installed by hand. ``RTSPLAB_QUICK=1``
shortens every measurement; ``05_your_cameras`` (committed without outputs, with an example of
them) runs with ``URLS`` empty, i.e. on simulated stand-ins. ``04_live_view`` is executed by
the live-view tests.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
WITH_OUTPUTS = [
    "01_why_buffered_reads_lag.ipynb",
    "02_reproducing_the_one_second_skew.ipynb",
    "03_synchronizing_streams.ipynb",
    "04_live_view.ipynb",
    "07_camera_clocks.ipynb",
]
LIVE = {"04_live_view.ipynb"}  # stored with its live view's widget; the browser tests run it
EXECUTED = [*(n for n in WITH_OUTPUTS if n not in LIVE), "05_your_cameras.ipynb"]
KERNEL = "rtsplab-test"


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A kernel spec running this interpreter, found first through ``JUPYTER_PATH``."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "rtsplab tests", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    patch = pytest.MonkeyPatch()
    paths = [str(root), *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep))]
    patch.setenv("JUPYTER_PATH", os.pathsep.join(paths))
    patch.setenv("RTSPLAB_QUICK", "1")
    for name in ("OPENCV_LOG_LEVEL", "OPENCV_FFMPEG_LOGLEVEL"):  # as in a fresh shell:
        patch.delenv(name, raising=False)  # set by rtsplab in this process, not by the user
    yield KERNEL
    patch.undo()


def _outputs(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.parametrize("name", EXECUTED)
def test_notebook_has_a_quick_switch(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    first_code = next(c.source for c in nb.cells if c.cell_type == "code")
    assert 'QUICK = os.environ.get("RTSPLAB_QUICK") == "1"' in first_code
    assert nb.cells[0].cell_type == "markdown"


@pytest.mark.parametrize("name", WITH_OUTPUTS)
def test_notebook_is_committed_with_its_outputs(name: str) -> None:
    path = NOTEBOOKS / name
    assert path.stat().st_size < 1_500_000
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "one clean run"
    outputs = _outputs(nb)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 1
    assert not [o for o in outputs if o.output_type == "error"]
    # no red noise (OpenCV/FFmpeg logs, warnings) and no unfinished progress bars
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    if name not in LIVE:  # a finished progress bar is stored as text, not as a widget
        assert not [
            o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
        ]
    text = json.dumps([o for o in outputs if "image/png" not in o.get("data", {})])
    for leak in ("/work/", "/home/", "/root", "/tmp/", "site-packages", str(NOTEBOOKS.parent)):
        assert leak not in text, f"{name} shows {leak!r}"
    assert not re.search(r"://[^/\s:@]+:(?!\*\*\*@)[^\s@/]+@", text), "a password"
    assert not re.search(r"-0(\.0+)? ms|\d{16,} ns", text), "a -0 or raw nanoseconds"
    bars = [
        o["data"]["text/plain"] for o in outputs if "%|" in o.get("data", {}).get("text/plain", "")
    ]
    assert all("100%|" in b for b in bars), bars


def test_your_cameras_notebook_is_committed_clean_with_an_example() -> None:
    nb = nbformat.read(NOTEBOOKS / "05_your_cameras.ipynb", as_version=4)
    assert _outputs(nb) == [], "05 runs on the reader's cameras: no stored outputs"
    example = [c.source for c in nb.cells if c.cell_type == "markdown" and "```" in c.source]
    assert any("PROBLEM" in e and "measurements" in e for e in example)


def test_your_cameras_notebook_defaults_to_stand_ins() -> None:
    nb = nbformat.read(NOTEBOOKS / "05_your_cameras.ipynb", as_version=4)
    assert re.search(r"^URLS = \[\]", nb.cells[1].source, re.MULTILINE)


@pytest.mark.parametrize("name", EXECUTED)
def test_notebook_runs_top_to_bottom(name: str, kernel_name: str, tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in nb.cells:  # from scratch: the stored outputs must be produced again
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=240,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no plot was produced"
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    errors = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert "[ WARN" not in errors and "[ERROR" not in errors, errors
    assert re.search(r"\d+(\.\d+)? ms", printed), "no measured number was printed"
    if name.startswith("05"):
        assert "simulated cameras stand in" in printed
