"""Execute the teaching notebooks top to bottom, as a reader would, in quick mode.

The kernel is this test run's interpreter, declared in a temporary Jupyter path, so a fresh
``make test`` needs no kernel installed by hand. ``RTSPLAB_QUICK=1`` shortens every
measurement; ``05_your_cameras`` runs with ``URLS`` empty, i.e. on simulated stand-ins.
``04_live_view`` is executed by the live-view tests.
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
EXECUTED = [
    "01_why_buffered_reads_lag.ipynb",
    "02_reproducing_the_one_second_skew.ipynb",
    "03_synchronizing_streams.ipynb",
    "05_your_cameras.ipynb",
]
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
    yield KERNEL
    patch.undo()


def _outputs(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.parametrize("name", EXECUTED)
def test_notebook_is_committed_clean_with_a_quick_switch(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert _outputs(nb) == [], "commit notebooks without outputs"
    assert all(c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    first_code = next(c.source for c in nb.cells if c.cell_type == "code")
    assert 'QUICK = os.environ.get("RTSPLAB_QUICK") == "1"' in first_code
    assert nb.cells[0].cell_type == "markdown"


def test_your_cameras_notebook_defaults_to_stand_ins() -> None:
    nb = nbformat.read(NOTEBOOKS / "05_your_cameras.ipynb", as_version=4)
    assert re.search(r"^URLS = \[\]", nb.cells[1].source, re.MULTILINE)


@pytest.mark.parametrize("name", EXECUTED)
def test_notebook_runs_top_to_bottom(name: str, kernel_name: str, tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
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
    assert re.search(r"\d+(\.\d+)? ms", printed), "no measured number was printed"
    if name.startswith("05"):
        assert "simulated cameras stand in" in printed
