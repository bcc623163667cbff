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

import base64
import importlib.util
import json
import os
import re
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
KERNEL = "rtsplab-test"


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def _outputs(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


ALL = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
# stored with what a run showed (text or pictures, not only a widget)
WITH_OUTPUTS = [
    n for n in ALL if any(WIDGET_VIEW not in o.get("data", {}) for o in _outputs(_read(n)))
]
# stored with a live widget's state: the browser tests run them
LIVE = {n for n in ALL if WIDGET_STATE in _read(n).metadata.get("widgets", {})}
EXECUTED = [n for n in ALL if n not in LIVE and not n.startswith("00")]


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
    first, last = _execute_module().figure_check_cells()
    nb.cells = [first, *nb.cells, last]  # every figure shown is checked as it is displayed
    client = NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=240,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    assert json.loads(last.outputs[0]["text"]) == [], "a figure hides a line it names"
    nb.cells = nb.cells[1:-1]
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no plot was produced"
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    errors = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert "[ WARN" not in errors and "[ERROR" not in errors, errors
    assert re.search(r"\d+(\.\d+)? ms", printed), "no measured number was printed"
    if name.startswith("05"):
        assert "simulated cameras stand in" in printed


def _execute_module() -> Any:
    """notebooks/execute.py, which also builds the figure-check cells."""
    spec = importlib.util.spec_from_file_location("notebooks_execute", NOTEBOOKS / "execute.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- what the text says, checked against what the run printed -------------------------------
#
# A markdown cell carries its claims in its metadata, ``"claims": [...]``, each one:
#   text      a regex the cell's text must contain (whitespace collapsed); a group ``v`` is
#             the number the text states, else ``value`` is (e.g. "about one second": 1.0)
#   cell      the id of the code cell whose printed output backs the claim
#   output    a regex that output must contain; group ``v`` is the measured number
#   scale     what the text's number is multiplied by to compare (3 s against ms: 1000)
#   relation  "about" (within ``tolerance`` of the text's number, relative, default 0.25),
#             "at least", "at most" or "equal"; none: the output must only match;
#             with ``than`` (a second output regex with a group ``v``): "more than" or
#             "less than" that second number
# A sentence that stops matching its output (or an output that stops backing the sentence)
# fails here.


def _claims(nb: nbformat.NotebookNode) -> list[tuple[str, dict[str, Any]]]:
    return [
        (c.source, claim)
        for c in nb.cells
        if c.cell_type == "markdown"
        for claim in c.metadata.get("claims", [])
    ]


def _printed(cell: nbformat.NotebookNode) -> str:
    parts = []
    for o in cell.get("outputs", []):
        parts.append(o.get("text", "") if o.output_type == "stream" else "")
        parts.append(o.get("data", {}).get("text/plain", "") if "data" in o else "")
    return " ".join(" ".join(parts).split())


def check_claim(nb: nbformat.NotebookNode, source: str, claim: dict[str, Any]) -> str | None:
    """What is wrong with one claim, or None when its output backs it."""
    text = " ".join(source.split())
    said = re.search(claim["text"], text)
    if said is None:
        return f"the text no longer says {claim['text']!r}"
    cells = {c.get("id"): c for c in nb.cells if c.cell_type == "code"}
    if claim["cell"] not in cells:
        return f"no code cell {claim['cell']!r} backs {said.group(0)!r}"
    printed = _printed(cells[claim["cell"]])
    shown = re.search(claim["output"], printed)
    if shown is None:
        return f"{said.group(0)!r}: cell {claim['cell']} does not print {claim['output']!r}"
    relation = claim.get("relation")
    if relation is None:
        return None
    measured = float(shown.group("v"))
    if "than" in claim:  # one output against another: "cam1's age rises above cam2's"
        other = re.search(claim["than"], printed)
        if other is None:
            return f"{said.group(0)!r}: cell {claim['cell']} does not print {claim['than']!r}"
        ok = measured > float(other.group("v"))
        if relation == "less than":
            ok = measured < float(other.group("v"))
        if ok:
            return None
        return (
            f"the text says {said.group(0)!r} but cell {claim['cell']} printed "
            f"{shown.group(0)!r} against {other.group(0)!r}"
        )
    stated = float(claim["value"]) if "value" in claim else float(said.group("v"))
    stated *= float(claim.get("scale", 1.0))  # "3 s" against an output in ms: scale 1000
    ok = {
        "about": abs(measured - stated) <= claim.get("tolerance", 0.25) * abs(stated),
        "at least": measured >= stated,
        "at most": measured <= stated,
        "equal": measured == stated,
    }[relation]
    if ok:
        return None
    return (
        f"the text says {said.group(0)!r} ({relation} {stated:g}) but cell {claim['cell']} "
        f"printed {shown.group(0)!r}"
    )


@pytest.mark.parametrize("name", WITH_OUTPUTS)
def test_what_the_text_claims_is_what_the_run_printed(name: str) -> None:
    nb = _read(name)
    claims = _claims(nb)
    wrong = [w for source, claim in claims if (w := check_claim(nb, source, claim))]
    assert not wrong, f"{name}: " + "; ".join(wrong)


@pytest.mark.parametrize("name", ["01_why_buffered_reads_lag.ipynb",
                                  "02_reproducing_the_one_second_skew.ipynb"])  # fmt: skip
def test_the_first_screen_shows_the_result(name: str) -> None:
    """A small picture of the stored run's result, right under the title, before the prose."""
    first = _read(name).cells[0]
    lines = [line for line in first.source.splitlines() if line.strip()]
    assert lines[0].startswith("# ") and "(attachment:result.png)" in lines[1]
    png = base64.b64decode(first.attachments["result.png"]["image/png"])
    width, height = struct.unpack(">II", png[16:24])  # the PNG header's size
    assert 300 <= width <= 700 and height <= 450, (width, height)


def test_the_kernel_figure_check_sees_a_line_outside_its_axes(
    kernel_name: str, tmp_path: Path
) -> None:
    """The check that notebook runs get is live: a figure shown with ``%matplotlib inline``
    by ``plt.show()``, with a line above its axes' top, is reported."""
    code = (
        "%matplotlib inline\n"
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots()\n"
        "ax.plot([0, 1], [5, 5], label='skew')\n"
        "ax.set_ylim(0, 1)\n"
        "ax.set_title('hidden')\n"
        "plt.show()"
    )
    first, last = _execute_module().figure_check_cells()
    nb = nbformat.v4.new_notebook(cells=[first, nbformat.v4.new_code_cell(code), last])
    NotebookClient(
        nb, kernel_name=kernel_name, timeout=60, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    assert json.loads(last.outputs[0]["text"]) == [
        "figure 'hidden': 'skew': no point inside the axes (x -0.05..1.05, y 0..1)"
    ]
