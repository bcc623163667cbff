"""rtsplab.widgets.LiveView: unit checks, then live views on real simulated RTSP cameras."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import pytest

from rtsplab.sim import SimServer
from rtsplab.widgets import LiveView, encode_jpeg, stop_all

AGE_RE = re.compile(r"age <b[^>]*>(\d+) ms</b> · depth (\d+) · dropped (\d+) · (\w+)")


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
def sim(thread_baseline: int) -> Iterator[SimServer]:
    with SimServer(2) as srv:
        yield srv
    # The simulator's own threads go away once it is closed: nothing of ours is left over.
    wait_for(lambda: threading.active_count() <= thread_baseline, 10.0, "threads to stop")


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
        assert view.widget.children[0].children[0].options == ("naive", "buffered", "latest")
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
        wait_for(lambda: len(view.chart.value) > 0, 5.0, "the chart")
        assert bytes(view.chart.value[:8]) == b"\x89PNG\r\n\x1a\n"
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
        wait_for(lambda: view.sets_shown >= 2, 15.0, "first sets")
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


@pytest.mark.interop
def test_rerunning_the_cell_stops_the_previous_view(sim: SimServer) -> None:
    first = LiveView(sim.urls, fps=10)
    second = None
    try:
        wait_for(lambda: first.sets_shown >= 1, 15.0, "first view's sets")
        second = LiveView(sim.urls, fps=10)
        assert not first.running
        assert "replaced" in first._status.value
        wait_for(lambda: second is not None and second.sets_shown >= 1, 15.0, "second view")
        assert rtsplab_threads().count("rtsplab-liveview") == 1
    finally:
        stop_all()
    # close() leaves a read FFmpeg cannot interrupt to its thread, which ends within read_timeout_s
    wait_for(lambda: rtsplab_threads() == [], 3.0, "reader threads to end")
