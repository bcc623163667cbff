"""The live widgets in a real JupyterLab, rendered by headless Chromium.

One JupyterLab serves a copy of ``notebooks/`` to both tests. For the live view, Chromium
(driven by Playwright) opens ``04_live_view.ipynb`` and runs every cell with ``RTSPLAB_QUICK=1``. While the kernel
injects faults into the simulated cameras, the page is sampled: the stream pictures must
keep changing at the view's rate (timed in the browser: at least 8 new pictures a second at
``fps=10``) while the charts redraw at least twice a second, the captions must keep updating
without moving the panels, and the stall must show up as a rising age in the browser. The
notebook must then finish (view stopped, captions saying so, simulator closed) with no error.

On a copy of ``04_live_view.ipynb`` (its own kernel), Stop is clicked during Run All while the
stall section's cell waits: the view must say stopped within a second of the click and show
no picture after that, the sections still to come must say they measured nothing and the
notebook finish with no error and no simulator process left. The view cell, re-run on the
closed server, must then show its error once, with nothing on stderr and no broken image.

For the playground, Chromium opens ``00_playground.ipynb``, types a slower consumer into its
slider and watches the age in the caption climb; an interrupt of the (idle) kernel must then
stop the view and the cameras' child process.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import (
    CHROMIUM,
    Lab,
    chromium_page,
    descendants,
    jupyterlab,
    open_and_run_all,
    rate_per_s,
    set_slider,
    update_times,
    watch_updates,
)
from conftest import require_tool

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK = "04_live_view.ipynb"
DONE_TEXT = "live view stopped, simulator closed"
CAPTION_RE = re.compile(r"age (\d+) ms · depth (\d+).*? · dropped (\d+) · (\w+)")

SAMPLE_JS = """() => ({
    srcs: Array.from(document.querySelectorAll('img.rtsplab-frame')).map(i => i.src),
    captions: Array.from(document.querySelectorAll('.rtsplab-caption')).map(c => c.textContent),
    lefts: Array.from(document.querySelectorAll('img.rtsplab-frame'))
        .map(i => Math.round(i.getBoundingClientRect().left)),
    status: (document.querySelector('.rtsplab-status') || {}).textContent,
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


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    require_tool(CHROMIUM, "chromium")
    work = tmp_path_factory.mktemp("lab")
    root = work / "notebooks"
    shutil.copytree(NOTEBOOKS, root)
    with jupyterlab(root, work, env={"RTSPLAB_QUICK": "1"}) as server:
        yield server


@pytest.mark.browser
def test_live_view_notebook_in_jupyterlab(lab: Lab, tmp_path: Path) -> None:
    samples: list[dict[str, Any]] = []
    with chromium_page() as page:
        try:
            t0 = time.monotonic()
            open_and_run_all(page, lab, NOTEBOOK)
            t_run = time.monotonic()
            watch_updates(page)
            page.wait_for_function(
                "() => document.querySelectorAll('img.rtsplab-frame[src]').length === 2",
                timeout=30_000,
            )
            t_first = time.monotonic()
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
            times = update_times(page)
            t_done = time.monotonic()
            print(
                f"lab+kernel {t_run - t0:.1f} s, first pictures {t_first - t_run:.1f} s,"
                f" notebook done {t_done - t_first:.1f} s later"
            )
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
    # The rate, timed in the browser over 4 s of calm-to-stall (cam2 is never faulted then).
    cam2 = times["frames"]["1"]
    start = cam2[0] + 500.0
    rate = rate_per_s(cam2, start, start + 4000.0)
    chart_rate = rate_per_s(times["chartTimes"], start, start + 4000.0)
    print(f"browser: cam2 {rate:.1f} pictures/s, charts {chart_rate:.1f} redraws/s")
    assert rate >= 8.0, f"the view showed {rate:.1f} sets/s in the browser, configured 10"
    assert chart_rate >= 2.0, f"the charts redrew {chart_rate:.1f} times a second"
    assert any("sets/s" in (s["status"] or "") for s in live), "no achieved rate in the status"
    # Panels keep their place whatever the captions say.
    lefts = {tuple(s["lefts"]) for s in live}
    assert len(lefts) == 1, f"the pictures moved sideways: {lefts}"
    assert all("stopped" in c for c in last["captions"]), last["captions"]


# -- Stop while a demonstration cell of 04 runs (Run All), then the view cell re-run --------
# The time of the real click on the view's Stop button, and when its status and both captions
# first said "stopped" (page clock, ms).
STOP_WATCH_JS = """() => {
    const w = window.__rtsplabStop = {clickAt: null, stoppedAt: null};
    document.addEventListener('click', (e) => {
        if (w.clickAt === null && e.target.closest('.rtsplab-liveview button')) {
            w.clickAt = performance.now();
        }
    }, true);
    const stopped = () => {
        const status = (document.querySelector('.rtsplab-status') || {}).textContent || '';
        const captions = Array.from(document.querySelectorAll('.rtsplab-caption'));
        return status.startsWith('stopped') && captions.length === 2
            && captions.every((c) => c.textContent.includes('stopped'));
    };
    new MutationObserver(() => {
        if (w.clickAt !== null && w.stoppedAt === null && stopped()) w.stoppedAt = performance.now();
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""

# What the re-run view cell shows: its output's text, red (stderr) outputs, broken pictures.
VIEW_CELL_JS = """(index) => {
    const cell = window.jupyterapp.shell.currentWidget.content.widgets[index].node;
    const images = Array.from(cell.querySelectorAll('img.rtsplab-frame'));
    return {
        text: (cell.querySelector('.jp-OutputArea') || {}).textContent || '',
        status: (cell.querySelector('.rtsplab-status') || {}).textContent || '',
        stderr: cell.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]').length,
        images: images.length,
        broken: images.filter((i) => !i.complete || i.naturalWidth === 0).length,
    };
}"""


def _until_then_idle(page: Any, js: str, arg: Any) -> None:
    """Wait (30 s at most) until ``js(arg)`` holds in the page, then for an idle kernel."""
    page.wait_for_function(js, arg=arg, timeout=30_000)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=15_000)


@pytest.mark.browser
def test_stop_during_run_all_takes_effect_at_once(lab: Lab, tmp_path: Path) -> None:
    """Stop clicked while a fault cell of 04 waits (Run All): the view stops within a second,
    the rest of the notebook runs at once and says so, nothing is left running; then the view
    cell re-run on the closed server shows its error once, with no red box or broken image."""
    name = "04_live_view_stop.ipynb"  # its own kernel and file: the other test's are untouched
    shutil.copy(lab.root_dir / NOTEBOOK, lab.root_dir / name)
    with chromium_page() as page:
        try:
            open_and_run_all(page, lab, name)
            watch_updates(page)
            page.evaluate(STOP_WATCH_JS)
            page.wait_for_function(
                "() => document.querySelectorAll('img.rtsplab-frame[src]').length === 2",
                timeout=30_000,
            )
            page.wait_for_function(  # streaming at its rate: the stall section's cell waits
                "() => ((document.querySelector('.rtsplab-status') || {}).textContent || '')"
                ".includes('sets/s')",
                timeout=15_000,
            )
            time.sleep(1.0)
            page.locator(".rtsplab-liveview button", has_text="Stop").click()
            page.wait_for_function(
                "() => window.__rtsplabStop.stoppedAt !== null", timeout=20_000, polling=50
            )
            stop = page.evaluate("() => window.__rtsplabStop")
            stop_s = (stop["stoppedAt"] - stop["clickAt"]) / 1000.0
            t_stopped = time.monotonic()
            _until_then_idle(
                page,
                "(t) => Array.from(document.querySelectorAll('.jp-OutputArea-output'))"
                ".some((o) => o.textContent.includes(t))",
                DONE_TEXT,
            )
            done_s = time.monotonic() - t_stopped
            sample = page.evaluate(SAMPLE_JS)
            times = update_times(page)
            print(
                f"Stop: stopped {stop_s:.2f} s after the click; notebook done {done_s:.1f} s later"
            )
            assert stop_s <= 1.0, f"the view said stopped {stop_s:.1f} s after the click"
            assert not sample["errors"], sample["errors"]
            late = [t for ts in times["frames"].values() for t in ts if t > stop["stoppedAt"]]
            assert late == [], f"{len(late)} pictures changed after the view said stopped"
            texts = page.evaluate(
                "() => Array.from(document.querySelectorAll('.jp-OutputArea-output'))"
                ".map((o) => o.textContent)"
            )
            # The click landed while the stall section's cell ran: it and the three sections
            # after it cut short their waits and said so.
            said = sum("the view was stopped before this section ended" in t for t in texts)
            assert said == 4, f"{said} sections of 4 said the view was stopped: {texts}"
            assert _sim_children(lab) == [], "the cameras' child process was left running"

            # The view cell again, now that the notebook closed the server.
            index = page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.content.widgets"
                ".findIndex((c) => c.model.sharedModel.getSource().includes('view = LiveView('))"
            )
            page.evaluate(
                "(i) => { const nb = window.jupyterapp.shell.currentWidget;"
                " nb.content.activeCellIndex = i;"
                " window.jupyterapp.commands.execute('notebook:run-cell'); }",
                index,
            )
            _until_then_idle(
                page,
                "(i) => ((window.jupyterapp.shell.currentWidget.content.widgets[i].node"
                ".querySelector('.rtsplab-status') || {}).textContent || '').startsWith('error')",
                index,
            )
            time.sleep(0.5)  # anything printed late (a red box) has arrived
            view_cell = page.evaluate(VIEW_CELL_JS, index)
            print(f"view cell after srv.close(): {view_cell}")
            assert "ConnectError" in view_cell["status"], view_cell
            assert view_cell["text"].count("ConnectError") == 1, view_cell
            assert view_cell["stderr"] == 0, view_cell
            assert view_cell["images"] == 2 and view_cell["broken"] == 0, view_cell
        finally:
            page.screenshot(path=str(tmp_path / "notebook.png"), full_page=True)


PLAYGROUND_JS = """() => ({
    captions: Array.from(document.querySelectorAll('.rtsplab-caption')).map(c => c.textContent),
    status: (document.querySelector('.rtsplab-playground-status') || {}).textContent,
    errors: Array.from(document.querySelectorAll('.jp-OutputArea-output'))
        .filter(o => o.textContent.includes('Traceback')).map(o => o.textContent.slice(0, 2000)),
})"""


def _sim_children(lab: Lab) -> list[tuple[int, str]]:
    return [
        (p, cmd)
        for p, cmd in descendants(lab.proc.pid)
        if "rtsplab.sim" in cmd and "--child" in cmd
    ]


# Scrolled to the notebook's top, as a reader opens it: where the pictures, the chart and the
# consumer slider's track are (px, in the viewport).
PLAYGROUND_LAYOUT_JS = """() => {
  const first = document.querySelector('.jp-Notebook .jp-Cell');
  if (first) first.scrollIntoView({block: 'start'});
  const rect = (el) => el ? el.getBoundingClientRect() : {left: 0, right: 0, bottom: 1e9, width: 0};
  const images = [...document.querySelectorAll('.rtsplab-playground img.rtsplab-frame')];
  const chart = rect(document.querySelector('.rtsplab-playground .rtsplab-chart svg'));
  const track = rect(document.querySelector('.rtsplab-consumer .slider-container'));
  return {
    imagesRight: Math.max(...images.map((i) => i.getBoundingClientRect().right)),
    chartLeft: chart.left, chartBottom: chart.bottom, sliderTrack: track.width,
  };
}"""


@pytest.mark.browser
def test_playground_slider_changes_the_age_in_jupyterlab(lab: Lab, tmp_path: Path) -> None:
    def cam1_age() -> int | None:
        sample = page.evaluate(PLAYGROUND_JS)
        assert not sample["errors"], sample["errors"]
        m = CAPTION_RE.search(sample["captions"][0]) if sample["captions"] else None
        return int(m.group(1)) if m else None

    with chromium_page(viewport=(1400, 900)) as page:
        try:
            open_and_run_all(page, lab, "00_playground.ipynb")
            watch_updates(page)
            page.wait_for_function(
                "() => document.querySelectorAll('img.rtsplab-frame[src]').length === 2",
                timeout=40_000,
            )
            assert _sim_children(lab), "the cameras' child process is not running"
            layout = page.evaluate(PLAYGROUND_LAYOUT_JS)
            print(f"playground layout at 1400x900: {layout}")
            # the charts beside the pictures, their legend (the chart's bottom) on the first
            # screen, and a consumer slider long enough to aim at
            assert layout["chartLeft"] >= layout["imagesRight"] - 1, layout
            assert layout["chartBottom"] <= 900, layout
            assert layout["sliderTrack"] >= 200, layout  # 10 ms steps about 4 px apart
            time.sleep(0.5)
            calm = []
            for _ in range(6):  # buffered, 20 ms per set, 15 fps cameras: it keeps up
                calm.append(cam1_age() or 0)
                time.sleep(0.25)
            assert 0 < max(calm) < 600, calm
            set_slider(page, "rtsplab-consumer", 250)  # 4 sets/s from 15 fps cameras
            t_moved = time.monotonic()
            climbed_s = None
            ages = []
            while time.monotonic() < t_moved + 6.0:
                ages.append(cam1_age() or 0)
                if climbed_s is None and ages[-1] > max(calm) + 300:
                    climbed_s = time.monotonic() - t_moved
                if max(ages) > 1500:
                    break
                time.sleep(0.1)
            page.locator(".rtsplab-playground").screenshot(path=str(tmp_path / "playground.png"))
            print(
                f"playground: calm age <= {max(calm)} ms; climbed after {climbed_s} s;"
                f" {max(ages)} ms {time.monotonic() - t_moved:.1f} s after the move"
            )
            assert climbed_s is not None, f"the age did not respond to the slider: {ages}"
            assert climbed_s < 3.0, f"the age took {climbed_s:.1f} s to respond"
            assert max(ages) > 1500, f"the backlog did not build up: {ages}"
            times = update_times(page)
            assert rate_per_s(times["chartTimes"], times["now"] - 3000, times["now"]) >= 2.0
            # An interrupt of the idle kernel stops the view and closes the cameras' process.
            page.evaluate(
                "() => { window.jupyterapp.commands.execute('notebook:interrupt-kernel'); }"
            )
            page.wait_for_function(
                "() => (document.querySelector('.rtsplab-playground-status') || {})"
                ".textContent === 'stopped (cameras closed)'",
                timeout=15_000,
            )
            assert _sim_children(lab) == []
        finally:
            page.screenshot(path=str(tmp_path / "notebook.png"), full_page=True)
