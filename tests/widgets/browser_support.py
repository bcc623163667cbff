"""Drive a real JupyterLab in headless Chromium: start the server, open a notebook, run it.

The server runs on 127.0.0.1 on a free port with a random token and private Jupyter
directories; its kernel is this interpreter (the project's venv). It is stopped by PID.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import free_port, stop_pid, wait_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab server."""

    url: str
    token: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    root_dir: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"

    def log_tail(self, n_chars: int = 3000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text.replace(self.token, "***")[-n_chars:]


@contextmanager
def jupyterlab(root_dir: Path, work_dir: Path, env: dict[str, str] | None = None) -> Iterator[Lab]:
    """Run JupyterLab serving ``root_dir`` until the block exits; stopped by PID."""
    port = free_port()
    token = secrets.token_hex(16)
    jdirs = {k: work_dir / k.lower() for k in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR")}
    for d in jdirs.values():
        d.mkdir(parents=True, exist_ok=True)
    full_env = {
        **os.environ,
        **{k: str(v) for k, v in jdirs.items()},
        "IPYTHONDIR": str(work_dir / "ipython"),
        "JUPYTERLAB_SETTINGS_DIR": str(work_dir / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(work_dir / "lab-workspaces"),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
        "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
        "--LabServerApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI runners often run as root
    log_path = work_dir / "jupyterlab.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=root_dir
        )
    lab = Lab(f"http://127.0.0.1:{port}", token, proc, log_path, root_dir)
    try:
        try:
            wait_port(port, 30.0, proc)
        except (TimeoutError, RuntimeError) as e:
            raise RuntimeError(f"JupyterLab did not start: {e}\n{lab.log_tail()}") from e
        yield lab
    finally:
        stop_pid(proc, timeout_s=10.0)


@contextmanager
def chromium_page(viewport: tuple[int, int] = (1400, 1000)) -> Iterator[Any]:
    """A page of headless Debian Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            yield page
        finally:
            browser.close()


def open_and_run_all(page: Any, lab: Lab, notebook: str, timeout_s: float = 40.0) -> None:
    """Open ``notebook`` in JupyterLab, wait for an idle kernel, then run all cells."""
    page.goto(lab.notebook_url(notebook), timeout=timeout_s * 1000)
    # A notebook without kernel metadata asks which kernel to start: take the default.
    select = page.locator(".jp-Dialog button.jp-mod-accept")
    try:
        select.wait_for(timeout=3000)
        select.click()
    except Exception:  # no dialog: the notebook names its kernel
        pass
    page.wait_for_function(
        """() => {
            const app = window.jupyterapp;
            const nb = app && app.shell.currentWidget;
            const kernel = nb && nb.sessionContext && nb.sessionContext.session
                && nb.sessionContext.session.kernel;
            return kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
        }""",
        timeout=timeout_s * 1000,
    )
    # Fire and forget: the command's promise resolves only when every cell has run.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def sample(page: Any, js: str, duration_s: float, period_s: float = 0.25) -> list[Any]:
    """Evaluate ``js`` in the page every ``period_s`` for ``duration_s``; the values seen."""
    seen = []
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        seen.append(page.evaluate(js))
        time.sleep(period_s)
    return seen


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` until true; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


# -- measuring live widgets in the page ----------------------------------------------------
WATCH_JS = """() => {
    if (window.__rtsplab) return;
    const w = window.__rtsplab = {frames: {}, charts: 0, chartTimes: []};
    new MutationObserver(records => {
        const now = performance.now();
        let chart = false;
        for (const r of records) {
            const t = r.target;
            if (r.type === 'attributes' && t.classList && t.classList.contains('rtsplab-frame')) {
                const i = Array.from(document.querySelectorAll('img.rtsplab-frame')).indexOf(t);
                (w.frames[i] = w.frames[i] || []).push(now);
            } else if (r.type === 'childList' && t.closest && t.closest('.rtsplab-chart')) {
                chart = true;
            }
        }
        if (chart) w.chartTimes.push(now);
    }).observe(document.body, {subtree: true, childList: true, attributes: true,
                               attributeFilter: ['src']});
}"""
"""Install (once) an observer that timestamps every picture and chart update in the page."""


def watch_updates(page: Any) -> None:
    """Start timestamping picture and chart updates (see :data:`WATCH_JS`)."""
    page.evaluate(WATCH_JS)


def update_times(page: Any) -> dict[str, Any]:
    """``{"frames": {index: [ms...]}, "chartTimes": [ms...], "now": ms}`` (page clock, ms)."""
    return page.evaluate(
        "() => ({frames: window.__rtsplab.frames, chartTimes: window.__rtsplab.chartTimes,"
        " now: performance.now()})"
    )


def rate_per_s(times_ms: list[float], start_ms: float, end_ms: float) -> float:
    """Events per second in ``[start_ms, end_ms)``."""
    n = sum(1 for t in times_ms if start_ms <= t < end_ms)
    return n / ((end_ms - start_ms) / 1000.0)


def set_slider(page: Any, css_class: str, value: int) -> None:
    """Type ``value`` into the readout of the ipywidgets slider with ``css_class``, as a user would."""
    readout = page.locator(f".{css_class} .widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")


def descendants(pid: int) -> list[tuple[int, str]]:
    """``(pid, command line)`` of every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[tuple[int, str]] = []
    todo = list(children.get(pid, []))
    while todo:
        p = todo.pop()
        try:
            cmd = (Path("/proc") / str(p) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        found.append((p, cmd))
        todo.extend(children.get(p, []))
    return found
