"""rtsplab.widgets.LiveView: unit checks, then live views on real simulated RTSP cameras."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import ThreadBaseline

from rtsplab.sim import SimServer
from rtsplab.widgets import LiveView, encode_jpeg, stop_all

AGE_RE = re.compile(
    r"age <b[^>]*>(\d+) ms</b> · depth (?:<b[^>]*>)?(\d+)(?:</b>)?.*? · dropped (\d+) · (\w+)"
)


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def rtsplab_threads() -> list[str]:
    return [
        t.name
        for t in threading.enumerate()
        if t.name.startswith(("rtsplab-liveview", "rtsplab-reader", "rtsplab-open"))
    ]


def caption_age_ms(view: LiveView, i: int) -> int | None:
    m = AGE_RE.search(view.captions[i].value)
    return int(m.group(1)) if m else None


@pytest.fixture
def sim(thread_baseline: ThreadBaseline) -> Iterator[SimServer]:
    with SimServer(2) as srv:
        yield srv
    # The simulator's own threads go away once it is closed: nothing of ours is left over.
    wait_for(lambda: not thread_baseline.left(), 10.0, "threads to stop")


def test_encode_jpeg_downscales_keeping_aspect() -> None:
    image = np.zeros((360, 640, 3), np.uint8)
    image[:, 320:] = (0, 0, 255)
    data = encode_jpeg(image, 320)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (180, 320, 3)
    assert decoded[90, 300, 2] > 200 and decoded[90, 20, 2] < 50
    assert encode_jpeg(np.zeros((10, 20, 3), np.uint8), 320)[:2] == b"\xff\xd8"


def test_layout_and_repr_without_starting() -> None:
    urls = ["rtsp://admin:p@ss:w0rd@127.0.0.1:1/cam1", "rtsp://127.0.0.1:1/cam2"]
    view = LiveView(urls, autostart=False)
    try:
        assert not view.running
        assert len(view.images) == len(view.captions) == 2
        assert "p@ss:w0rd" not in repr(view) and "w0rd" not in repr(view)
        assert "rtsp://admin:***@127.0.0.1:1/cam1" in repr(view)
        assert view._dropdown.options == ("naive", "buffered", "latest", "matched")
        bundle = view._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert view.recorder is not None and len(view.recorder) == 0
    finally:
        view.close()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        LiveView([], autostart=False)
    with pytest.raises(ValueError):
        LiveView(["rtsp://127.0.0.1:1/a"], strategy="fastest", autostart=False)


@pytest.mark.interop
def test_live_view_updates_images_and_captions(sim: SimServer) -> None:
    view = LiveView(sim.urls, strategy="latest", fps=10, width=320)
    try:
        wait_for(lambda: view.sets_shown >= 3, 15.0, "first sets")
        first_images = [bytes(img.value) for img in view.images]
        first_captions = [c.value for c in view.captions]
        wait_for(
            lambda: (
                all(bytes(img.value) != b for img, b in zip(view.images, first_images, strict=True))
                and all(c.value != f for c, f in zip(view.captions, first_captions, strict=True))
            ),
            5.0,
            "images and captions to change",
        )
        for i, img in enumerate(view.images):
            decoded = cv2.imdecode(np.frombuffer(img.value, np.uint8), cv2.IMREAD_COLOR)
            assert decoded.shape == (180, 320, 3)  # 640x360 camera, downscaled
            m = AGE_RE.search(view.captions[i].value)
            assert m, view.captions[i].value
            assert 0 < int(m.group(1)) < 1000 and m.group(4) == "streaming"
        assert "cam1" in view._titles[0].value and "cam2" in view._titles[1].value
        wait_for(lambda: "sets/s (target 10)" in view.status.value, 5.0, "the achieved rate")
        assert view.rate_sets_s > 0
        wait_for(lambda: "<polyline" in view.chart.value, 5.0, "the chart")
        assert view.chart.value.startswith("<svg") and "Frame age" in view.chart.value
        # A stall shows up as a growing age on that stream only.
        sim.camera("cam1").stall(2.0)
        wait_for(lambda: (caption_age_ms(view, 0) or 0) > 800, 5.0, "cam1's age to grow")
        assert (caption_age_ms(view, 1) or 0) < 800
    finally:
        view.stop()
    assert not view.running
    # close() leaves a read FFmpeg cannot interrupt to its thread, which ends within read_timeout_s
    wait_for(lambda: rtsplab_threads() == [], 3.0, "reader threads to end")
    df = view.recorder.to_dataframe()
    assert set(df["stream"]) == {"cam1", "cam2"} and set(df["strategy"]) == {"latest"}
    assert df["set_id"].nunique() >= 3


@pytest.mark.interop
def test_switching_strategy_reopens_without_leaking(sim: SimServer) -> None:
    view = LiveView(sim.urls, strategy="latest", fps=10)
    try:
        # latest at 10 sets/s from 30 fps cameras drops about 2 frames in 3
        wait_for(lambda: min(view.dropped.values()) >= 10, 15.0, "latest to drop frames")
        dropped_before = dict(view.dropped)
        view._dropdown.value = "buffered"  # what the user does
        assert view.strategy == "buffered"
        wait_for(
            lambda: "buffered" in set(view.recorder.to_dataframe()["strategy"]), 15.0, "buffered"
        )
        names = rtsplab_threads()
        assert names.count("rtsplab-liveview") == 1
        assert len([n for n in names if n.startswith("rtsplab-reader")]) == 2
        view.set_strategy("naive")
        wait_for(lambda: "naive" in set(view.recorder.to_dataframe()["strategy"]), 15.0, "naive")
        assert rtsplab_threads() == ["rtsplab-liveview"]  # naive readers have no thread
    finally:
        view.stop()
    # close() leaves a read FFmpeg cannot interrupt to its thread, which ends within read_timeout_s
    wait_for(lambda: rtsplab_threads() == [], 3.0, "reader threads to end")
    view.stop()  # idempotent
    # "dropped since the view started" survives the switches and the stop
    assert all(view.dropped[n] >= dropped_before[n] for n in dropped_before)
    assert f"dropped {view.dropped['cam1']} since the view started" in view.captions[0].value


@pytest.mark.interop
def test_rerunning_the_cell_stops_the_previous_view(sim: SimServer) -> None:
    first = LiveView(sim.urls, fps=10)
    second = None
    try:
        wait_for(lambda: first.sets_shown >= 1, 15.0, "first view's sets")
        second = LiveView(sim.urls, fps=10)
        assert not first.running
        assert "replaced" in first.status.value
        wait_for(lambda: second is not None and second.sets_shown >= 1, 15.0, "second view")
        assert rtsplab_threads().count("rtsplab-liveview") == 1
    finally:
        stop_all()
    # close() leaves a read FFmpeg cannot interrupt to its thread, which ends within read_timeout_s
    wait_for(lambda: rtsplab_threads() == [], 3.0, "reader threads to end")


# -- pure logic: charts, counters, lifecycle ----------------------------------------------
def _panel_polylines(svg: str, color: str) -> list[list[tuple[float, float]]]:
    age_panel = svg.split('<g transform="translate(300,0)">')[0]  # the first panel only
    lines = re.findall(rf'<polyline points="([^"]+)" fill="none" stroke="{color}"', age_panel)
    return [[tuple(map(float, p.split(","))) for p in line.split()] for line in lines]  # type: ignore[misc]


def test_age_axis_stays_readable_after_a_stall() -> None:
    from rtsplab.plots import strategy_color
    from rtsplab.widgets.charts import History

    h = History(window_s=30.0)
    for i in range(60):  # a 6 s stall: the age climbs to 6 s
        h.add(i * 0.1, "buffered", {"cam1": 100.0 * i}, {"cam1": 0}, 0.0)
    for i in range(20):  # then +300 ms of latency...
        h.add(7 + i * 0.1, "naive", {"cam1": 380.0}, {"cam1": 0}, 0.0)
    for i in range(20):  # ...then a healthy stream
        h.add(10 + i * 0.1, "latest", {"cam1": 80.0}, {"cam1": 0}, 0.0)
    svg = h.render()
    assert ">10 s<" in svg  # the axis reaches the stall's 6 s
    (high,) = _panel_polylines(svg, strategy_color("naive"))
    (low,) = _panel_polylines(svg, strategy_color("latest"))
    plot_h = 170 - 22 - 26
    # On a linear axis to 10 s these two lines would be 3 % of the height apart.
    assert low[0][1] - high[0][1] > 0.15 * plot_h


def test_a_missing_frame_leaves_a_gap() -> None:
    from rtsplab.plots import strategy_color
    from rtsplab.widgets.charts import History

    h = History()
    for i in range(30):
        age = None if 10 <= i < 20 else 50.0
        h.add(i * 0.1, "latest", {"cam1": age, "cam2": 60.0}, {"cam1": 0, "cam2": 0}, None)
    lines = _panel_polylines(h.render(), strategy_color("latest"))
    assert len(lines) == 3  # cam1 before and after its gap, cam2 whole
    assert sorted(len(line) for line in lines) == [10, 10, 30]


def test_history_forgets_points_outside_its_window() -> None:
    from rtsplab.widgets.charts import History

    h = History(window_s=2.0)
    for i in range(100):
        h.add(i * 0.1, "latest", {"a": 1.0}, {"a": 0}, None)
    assert 20 <= len(h) <= 21 and h.points[0].t_s >= 7.9


def test_an_interrupted_cell_stops_registered_views() -> None:
    from rtsplab.widgets import lifecycle

    class Thing:
        stops = 0

        def stop(self) -> None:
            self.stops += 1

    class Result:
        def __init__(self, error: BaseException | None) -> None:
            self.error_in_exec = error

    thing = Thing()
    lifecycle.register(thing)
    try:
        lifecycle.after_cell(Result(None))
        lifecycle.after_cell(Result(ValueError("a plain error")))
        assert thing.stops == 0
        lifecycle.after_cell(Result(KeyboardInterrupt()))
        assert thing.stops == 1
    finally:
        lifecycle.unregister(thing)


def test_playground_controls_without_starting() -> None:
    from rtsplab.widgets import Playground

    pg = Playground(strategy="latest", consumer_ms=100, fps=10, autostart=False)
    assert not pg.running and pg.server is None
    assert pg.strategy_buttons.options == ("naive", "buffered", "latest", "matched")
    assert (pg.consumer.min, pg.consumer.max, pg.fps_slider.max) == (0, 500, 30)
    assert "consumer_ms=100" in repr(pg)
    with pytest.raises(ValueError, match="strategy"):
        Playground(strategy="fastest", autostart=False)


@pytest.mark.interop
def test_buffered_queue_is_bounded_and_its_overflow_shown(sim: SimServer) -> None:
    view = LiveView(sim.urls, strategy="buffered", fps=10, consumer_ms=150, maxsize=8)
    try:
        wait_for(lambda: "waiting = 8," in view.captions[0].value, 15.0, "a full queue")
        dropped = view.dropped["cam1"]
        wait_for(lambda: view.dropped["cam1"] > dropped, 5.0, "overflow drops")
        df = view.recorder.to_dataframe()
        assert df["depth"].max() <= 8
    finally:
        view.stop()
    assert "stopped" in view.captions[0].value and "stopped" in view.captions[1].value
    # close() leaves a read FFmpeg cannot interrupt to its thread, which ends within read_timeout_s
    wait_for(lambda: rtsplab_threads() == [], 3.0, "reader threads to end")


@pytest.mark.interop
def test_playground_slider_moves_the_age_and_an_interrupt_stops_everything(
    thread_baseline: ThreadBaseline,
) -> None:
    from rtsplab.widgets import Playground, lifecycle

    first = Playground(strategy="buffered", consumer_ms=0, fps=15)
    pg = None
    try:
        assert first.view is not None and first.server is not None
        first_pid = first.server.pid
        pg = Playground(strategy="buffered", consumer_ms=0, fps=15)  # the cell is re-run
        assert not first.running and "replaced" in first.status.value
        assert not _pid_alive(first_pid)
        view = pg.view
        assert view is not None
        wait_for(lambda: view.sets_shown >= 10, 20.0, "first sets")
        calm = []
        for _ in range(3):
            time.sleep(0.3)
            calm.append(caption_age_ms(view, 0) or 0)
        assert max(calm) < 600, calm
        pg.consumer.value = 200  # what the slider does: 5 sets/s from 15 fps cameras
        wait_for(lambda: (caption_age_ms(view, 0) or 0) > 1000, 6.0, "the age to climb")
        pid = pg.server.pid
        lifecycle.after_cell(type("Result", (), {"error_in_exec": KeyboardInterrupt()})())
        assert not pg.running and not _pid_alive(pid)
    finally:
        for p in (first, pg):
            if p is not None:
                p.stop()
    # close() leaves a read FFmpeg cannot interrupt to its thread, which ends within read_timeout_s
    wait_for(lambda: rtsplab_threads() == [], 3.0, "reader threads to end")
    wait_for(lambda: not thread_baseline.left(), 10.0, "threads to stop")


def _pid_alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0): look at its state
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def _run(kc: Any, code: str, timeout_s: float = 60.0) -> tuple[str, str]:
    """Execute ``code`` in the kernel; its stdout and the error name, if any."""
    msg_id = kc.execute(code)
    out, error = "", ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=timeout_s)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content["name"] == "stdout":
            out += content["text"]
        elif kind == "error":
            error = content["ename"]
        elif kind == "status" and content["execution_state"] == "idle":
            return out, error
    raise AssertionError(f"the kernel did not finish {code!r} in {timeout_s} s")


CHECK_LEFT = """
import threading
left = sorted(t.name for t in threading.enumerate() if t.name.startswith("rtsplab"))
print(pg.running, pg.server.alive, left)
"""


@pytest.mark.interop
def test_interrupting_the_kernel_stops_the_playground_and_its_cameras() -> None:
    """In a real IPython kernel: interrupt a running cell, then an idle kernel."""
    from jupyter_client.manager import start_new_kernel

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        # A cell still running when the user interrupts it (like notebook 04's fault cells).
        msg_id = kc.execute(
            "from rtsplab.widgets import Playground\nimport time\n"
            "pg = Playground()\nprint('started', flush=True)\ntime.sleep(60)"
        )
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            msg = kc.get_iopub_msg(timeout=60.0)
            if msg["msg_type"] == "stream" and "started" in msg["content"]["text"]:
                break
        time.sleep(1.0)
        km.interrupt_kernel()
        while not (  # the interrupted cell ends (a request sent before then is aborted)
            msg["parent_header"].get("msg_id") == msg_id
            and msg["content"].get("execution_state") == "idle"
        ):
            msg = kc.get_iopub_msg(timeout=30.0)
        out, error = _run(kc, CHECK_LEFT)
        assert out.strip() == "False False []", (out, error)
        # The same with the kernel idle: the playground's cell has finished.
        _, error = _run(kc, "pg = Playground()")
        assert not error
        out, _ = _run(kc, "print(pg.running)")
        assert out.strip() == "True"
        km.interrupt_kernel()
        time.sleep(0.5)
        deadline = time.monotonic() + 15.0
        while (out := _run(kc, CHECK_LEFT)[0].strip()) != "False False []":
            assert time.monotonic() < deadline, out
            time.sleep(0.5)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_stream_missing_from_a_set_shows_as_a_gap_with_its_state() -> None:
    from rtsplab.entities import Clock, Frame, FrameSet, StreamState

    view = LiveView(["rtsp://127.0.0.1:1/cam1", "rtsp://127.0.0.1:1/cam2"], autostart=False)
    now_ns = time.time_ns()
    frame = Frame(np.zeros((36, 64, 3), np.uint8), "cam2", 5, now_ns - 80_000_000,
                  Clock.TIMECODE, now_ns, now_ns)  # fmt: skip
    partial = FrameSet({"cam2": frame}, 0, 0.0)  # cam1 is down: no frame in the set
    states = {"cam1": StreamState.RECONNECTING, "cam2": StreamState.STREAMING}
    view._show(partial, ["cam1", "cam2"], states, {}, 0)
    view._add_point(time.monotonic(), "latest", partial, ["cam1", "cam2"])
    view._add_point(time.monotonic(), "latest", None, ["cam1", "cam2"])  # a read timed out
    assert "no frame" in view.captions[0].value and "reconnecting" in view.captions[0].value
    assert (caption_age_ms(view, 1) or 0) >= 80
    first, second = view.history.points
    assert first.age_ms["cam1"] is None and (first.age_ms["cam2"] or 0) >= 80
    assert second.age_ms == {"cam1": None, "cam2": None} and second.skew_ms is None
    view.close()


def test_a_view_of_a_closed_server_says_so_once(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Re-running the view cell after ``srv.close()``: the status line names the error; nothing
    goes to stderr (Jupyter would show it again, in red: in a kernel without logging set up, a
    WARNING record is printed there) and every picture is a real JPEG (an empty image widget
    draws as a broken image)."""
    srv = SimServer(1)
    urls = srv.urls
    srv.close()
    view = LiveView(urls, fps=10, width=160, autostart=False)
    try:
        assert all(image.value[:2] == b"\xff\xd8" for image in view.images)
        view.start()
        wait_for(lambda: "error" in view.status.value, 20.0, "the error in the status line")
        wait_for(lambda: not view.running, 10.0, "the view to stop")
    finally:
        view.stop()
    assert "ConnectError" in view.status.value and "connection refused" in view.status.value
    assert view.status.value.count("ConnectError") == 1  # once, and only in the status line
    assert not [c.value for c in view.captions if "Error" in c.value or "refused" in c.value]
    assert all(image.value[:2] == b"\xff\xd8" for image in view.images)
    assert all("stopped" in c.value for c in view.captions)
    assert capfd.readouterr().err == ""
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_pause_returns_early_when_its_condition_holds() -> None:
    import asyncio

    from rtsplab.widgets import pause

    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    assert asyncio.run(pause(30, until=stop.is_set)) is False
    assert time.monotonic() - t0 < 2.0
    t0 = time.monotonic()
    assert asyncio.run(pause(0.3)) is True
    assert time.monotonic() - t0 >= 0.3


def test_an_interrupted_awaiting_cell_stops_registered_views() -> None:
    """ipykernel ends an awaiting cell that is interrupted with CancelledError."""
    import asyncio

    from rtsplab.widgets import lifecycle

    class Thing:
        stops = 0

        def stop(self) -> None:
            self.stops += 1

    thing = Thing()
    lifecycle.register(thing)
    try:
        lifecycle.after_cell(type("Result", (), {"error_in_exec": asyncio.CancelledError()})())
        assert thing.stops == 1
    finally:
        lifecycle.unregister(thing)


WAIT_CELL = """
t0 = time.monotonic()
full = await view.wait(30)
print(full, view.running, round(time.monotonic() - t0, 1), flush=True)
"""


@pytest.mark.interop
def test_stop_clicked_while_a_cell_awaits_the_view_takes_effect_at_once() -> None:
    """In a real IPython kernel: the Stop button's click (the comm message the browser sends)
    arrives while a cell awaits ``view.wait(30)``; the view stops and the wait ends at once."""
    from jupyter_client.manager import start_new_kernel

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        out, error = _run(
            kc,
            "import time\nfrom rtsplab.sim import SimServer\nfrom rtsplab.widgets import LiveView\n"
            "srv = SimServer(1)\nview = LiveView(srv.urls, fps=10, width=160)\n"
            "print(view._stop_button.comm.comm_id)",
        )
        assert not error, error
        comm_id = out.strip()
        msg_id = kc.execute(WAIT_CELL)
        time.sleep(2.0)  # the cell waits, the view runs
        t_click = time.monotonic()
        click = {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}}
        kc.shell_channel.send(kc.session.msg("comm_msg", click))
        printed = ""
        while True:
            msg = kc.get_iopub_msg(timeout=40.0)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                printed += msg["content"]["text"]
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        took_s = time.monotonic() - t_click
        assert printed.split()[:2] == ["False", "False"], printed  # cut short; stopped
        assert took_s < 1.0, f"the cell ended {took_s:.1f} s after the click"
        _run(kc, "srv.close()")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
