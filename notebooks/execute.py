"""Run teaching notebooks on the simulator and store them with their outputs (``make notebooks``).

    python notebooks/execute.py notebooks/01_why_buffered_reads_lag.ipynb ...

Each notebook runs top to bottom in a fresh kernel on this interpreter, in a temporary working
folder, with its full durations (``RTSPLAB_QUICK`` unset). What is stored is what a reader on
GitHub should see: a progress bar (a widget, which GitHub cannot draw) is replaced by its final
text, and no run timings are kept. A notebook is not written when a cell failed, when its
outputs show a path of this machine or an unredacted password, when one of its figures hides
a line it names (tests/figure_checks.py), or when it grows past 1.5 MB.

A markdown cell that shows ``attachment:result.png`` gets, as that attachment, a small copy of
the last picture of the code cell tagged ``result-picture``: the first screen of the notebook
shows the result of the stored run.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

MAX_BYTES = 1_500_000
KERNEL = "rtsplab-notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# user:password@ in a URL: rtsplab prints "user:***@"
CREDENTIALS = re.compile(r"://[^/\s:@]+:(?!\*\*\*@)[^\s@/]+@")


def _kernel_path(root: Path) -> str:
    """A kernel spec running this interpreter, placed first on ``JUPYTER_PATH``."""
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "rtsplab", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return os.pathsep.join(
        [str(root), *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep))]
    )


def _progress_text(model_id: str, state: dict[str, Any]) -> str | None:
    """The final text of a tqdm notebook bar, as tqdm draws it in a terminal.

    The bar is an HBox of three widgets: an HTML label ("naive: 100%"), a progress bar and an
    HTML counter ("8/8 [00:08<00:00, 1.01s/s]").
    """
    children = state.get(model_id, {}).get("state", {}).get("children", [])
    parts: list[str] = []
    for child in children:
        s = state.get(str(child).removeprefix("IPY_MODEL_"), {}).get("state", {})
        if "max" in s and "value" in s:
            filled = round(10 * s["value"] / s["max"]) if s["max"] else 0
            parts.append("█" * filled + " " * (10 - filled))
        elif "value" in s:
            text = html.unescape(re.sub(r"<[^>]+>", "", str(s["value"])))
            parts.append(text.replace("\u2007", " ").strip())
    return "|".join(parts) if len(parts) == 3 else None


def _unwidget(nb: nbformat.NotebookNode) -> None:
    """Replace progress-bar widgets with their final text. Other widgets (a live view) stay,
    with the widget state they need; without them, no widget state is stored."""
    widgets = nb.metadata.pop("widgets", {})
    state = widgets.get(WIDGET_STATE, {}).get("state", {})
    kept = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.outputs:
            view = out.get("data", {}).get(WIDGET_VIEW)
            text = None if view is None else _progress_text(view["model_id"], state)
            if text is None:
                outputs.append(out)
                kept = kept or view is not None
            else:
                outputs.append(nbformat.v4.new_output("display_data", {"text/plain": text}))
        cell.outputs = outputs
    if kept:
        nb.metadata["widgets"] = widgets


def _leaks(nb: nbformat.NotebookNode, where: Path) -> list[str]:
    """Outputs that show this machine's paths or a password."""
    text = json.dumps([c.get("outputs", []) for c in nb.cells])
    text = re.sub(r'"image/png": "[^"]*"', "", text)
    found = [m.group(0) for m in CREDENTIALS.finditer(text)]
    for path in {str(where), str(Path.home()), sys.prefix, tempfile.gettempdir()}:
        if path and path != "/" and path in text:
            found.append(path)
    return found


TESTS = Path(__file__).resolve().parent.parent / "tests"
COVER = "result.png"
COVER_WIDTH_PX = 520


def figure_check_cells(tests: Path = TESTS) -> tuple[Any, Any]:
    """A first cell that checks every figure as it is shown, and a last one that prints what
    failed as JSON (both removed from what is stored)."""
    first = nbformat.v4.new_code_cell(
        f"import sys\nsys.path.insert(0, {str(tests)!r})\n"
        "import figure_checks\nfigure_checks.install()"
    )
    last = nbformat.v4.new_code_cell("import json\nprint(json.dumps(figure_checks.FOUND))")
    return first, last


def _small_png(png_b64: str, width_px: int = COVER_WIDTH_PX) -> str:
    """A copy of a PNG scaled down to ``width_px`` wide, base64 again."""
    import matplotlib.image as mpimg
    from matplotlib.figure import Figure

    image = mpimg.imread(io.BytesIO(base64.b64decode(png_b64)), format="png")
    h, w = image.shape[:2]
    scale = min(1.0, width_px / w)
    fig = Figure(figsize=(w * scale / 100, h * scale / 100), dpi=100)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(image, interpolation="antialiased")
    ax.set_axis_off()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    return base64.b64encode(out.getvalue()).decode()


def cover(nb: nbformat.NotebookNode) -> None:
    """Attach the tagged cell's last picture to the markdown cell that shows it."""
    pictures = [
        o["data"]["image/png"]
        for c in nb.cells
        if c.cell_type == "code" and "result-picture" in c.metadata.get("tags", [])
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    for cell in nb.cells:
        if cell.cell_type == "markdown" and f"attachment:{COVER}" in cell.source:
            if not pictures:
                raise SystemExit(
                    f"a cell shows attachment:{COVER} but no cell tagged result-picture has one"
                )
            cell["attachments"] = {COVER: {"image/png": _small_png(pictures[-1])}}


def execute(path: Path, timeout_s: float) -> int:
    """Run one notebook and store it with its outputs; returns its size in bytes."""
    nb = nbformat.read(path, as_version=4)
    kernelspec = nb.metadata.get("kernelspec")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    first, last = figure_check_cells()
    nb.cells = [first, *nb.cells, last]
    with tempfile.TemporaryDirectory() as tmp:
        env_before = dict(os.environ)
        os.environ["JUPYTER_PATH"] = _kernel_path(Path(tmp))
        os.environ.pop("RTSPLAB_QUICK", None)
        try:
            workdir = Path(tmp) / "run"
            workdir.mkdir()
            client = NotebookClient(
                nb, kernel_name=KERNEL, timeout=int(timeout_s), record_timing=False,
                store_widget_state=True, resources={"metadata": {"path": str(workdir)}},
            )  # fmt: skip
            client.execute()
        finally:
            os.environ.clear()
            os.environ.update(env_before)
    nb.cells = nb.cells[1:-1]
    hidden = json.loads(last.outputs[0]["text"]) if last.outputs else ["no figure check ran"]
    if hidden:
        raise SystemExit(f"{path}: figures that hide what they name: {hidden}; not written")
    for cell in nb.cells:  # numbered from 1 again, without the check cell
        if cell.cell_type == "code" and cell.execution_count is not None:
            cell.execution_count -= 1
            for out in cell.outputs:
                if out.get("execution_count") is not None:
                    out["execution_count"] -= 1
    cover(nb)
    _unwidget(nb)
    if kernelspec is not None:
        nb.metadata["kernelspec"] = kernelspec
    leaks = _leaks(nb, Path(__file__).resolve().parent.parent)
    if leaks:
        raise SystemExit(f"{path}: outputs show {sorted(set(leaks))}; not written")
    body = nbformat.writes(nb) + "\n"
    if len(body.encode()) > MAX_BYTES:
        raise SystemExit(f"{path}: {len(body) / 1e6:.1f} MB with outputs (limit 1.5 MB)")
    path.write_text(body)
    return len(body.encode())


def main(argv: list[str] | None = None) -> int:
    """Execute every notebook given; stop at the first that fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout-s", type=float, default=600.0, help="per cell")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        print(f"running {path} ...", flush=True)
        size = execute(path, args.timeout_s)
        print(f"wrote {path} with outputs ({size / 1e3:.0f} kB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
