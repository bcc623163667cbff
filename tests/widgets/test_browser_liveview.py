"""The live-view notebook in a real JupyterLab, rendered by headless Chromium.

JupyterLab serves a copy of ``notebooks/``; Chromium (driven by Playwright) opens
``04_live_view.ipynb`` and runs every cell with ``RTSPLAB_QUICK=1``. While the kernel
injects faults into the simulated cameras, the page is sampled: the stream pictures must
keep changing, the captions must keep updating, and the stall must show up as a rising age
in the browser. The notebook must then finish (view stopped, simulator closed) with no error.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from browser_support import CHROMIUM, chromium_page, jupyterlab, open_and_run_all
from conftest import require_tool

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOK = "04_live_view.ipynb"
DONE_TEXT = "live view stopped, simulator closed"
CAPTION_RE = re.compile(r"age (\d+) ms · depth (\d+) · dropped (\d+) · (\w+)")

SAMPLE_JS = """() => ({
    srcs: Array.from(document.querySelectorAll('img.rtsplab-frame')).map(i => i.src),
    captions: Array.from(document.querySelectorAll('.rtsplab-caption')).map(c => c.textContent),
    done: Array.from(document.querySelectorAll('.jp-OutputArea-output'))
        .some(o => o.textContent.includes(DONE_TEXT)),
    errors: Array.from(document.querySelectorAll('.jp-OutputArea-output'))
        .filter(o => o.textContent.includes('Traceback')).map(o => o.textContent.slice(0, 2000)),
})""".replace("DONE_TEXT", json.dumps(DONE_TEXT))

KERNEL_IDLE_JS = """() => {
    const nb = window.jupyterapp.shell.currentWidget;
    const k = nb.sessionContext.session && nb.sessionContext.session.kernel;
    return !!k && k.status === 'idle';
}"""


@pytest.mark.browser
def test_live_view_notebook_in_jupyterlab(tmp_path: Path) -> None:
    require_tool(CHROMIUM, "chromium")
    root = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, root)
    samples: list[dict[str, Any]] = []
    with (
        jupyterlab(root, tmp_path, env={"RTSPLAB_QUICK": "1"}) as lab,
        chromium_page() as page,
    ):
        try:
            open_and_run_all(page, lab, NOTEBOOK)
            page.wait_for_function(
                "() => document.querySelectorAll('img.rtsplab-frame[src]').length === 2",
                timeout=30_000,
            )
            view = page.locator(".rtsplab-liveview")
            shot_at = time.monotonic() + 2.5
            deadline = time.monotonic() + 45.0
            while time.monotonic() < deadline:
                sample = page.evaluate(SAMPLE_JS)
                samples.append(sample)
                if sample["done"] or sample["errors"]:
                    break
                if shot_at and time.monotonic() >= shot_at:
                    view.screenshot(path=str(tmp_path / "liveview.png"))
                    shot_at = 0.0
                time.sleep(0.2)
            page.wait_for_function(KERNEL_IDLE_JS, timeout=15_000)
            # The stopped view keeps its last chart: the whole run, coloured by strategy.
            view.screenshot(path=str(tmp_path / "liveview_final.png"))
        finally:
            page.screenshot(path=str(tmp_path / "notebook.png"), full_page=True)
    last = samples[-1]
    assert not last["errors"], last["errors"]
    assert last["done"], f"the notebook did not finish; see {tmp_path / 'notebook.png'}"
    live = [s for s in samples if len(s["srcs"]) == 2 and len(s["captions"]) == 2]
    for i in range(2):
        srcs = {s["srcs"][i] for s in live if s["srcs"][i]}
        assert len(srcs) >= 5, f"stream {i}: the picture changed only {len(srcs)} times"
        parsed = [CAPTION_RE.search(s["captions"][i]) for s in live]
        texts = {m.group(0) for m in parsed if m}
        assert len(texts) >= 3, f"stream {i}: the caption changed only {len(texts)} times"
    # The stall of cam1 (2 s in quick mode) is visible in the browser as a rising age.
    cam1_ages = [int(m.group(1)) for s in live if (m := CAPTION_RE.search(s["captions"][0]))]
    assert max(cam1_ages) >= 1000, f"cam1's age never showed the stall: max {max(cam1_ages)} ms"
    assert (tmp_path / "liveview.png").stat().st_size > 10_000
