"""A live view of several RTSP streams in Jupyter, built from plain ipywidgets.

:class:`LiveView` opens a group on the URLs and shows the streams side by side with a
caption per stream (frame age, buffer depth, frames dropped, state), a live chart of age and
skew, a strategy dropdown and start/stop buttons. It works in JupyterLab and the classic
Notebook without custom JavaScript.

Its refresh loop is one daemon thread that reads a set, encodes it to JPEG, updates the
widgets, then sleeps until the next tick (``fps``). It keeps no queue of its own: what piles
up, if anything, is what the chosen strategy piles up, which is the point of the demo. The
chart is re-rendered at most ``chart_hz`` times a second.

Constructing a new view on the same URLs (re-running a cell) stops the previous one.

Example:
    >>> from rtsplab.widgets import LiveView
    >>> urls = ["rtsp://127.0.0.1:8554/cam1", "rtsp://127.0.0.1:8554/cam2"]
    >>> view = LiveView(urls)  # doctest: +SKIP
    >>> view  # doctest: +SKIP
    >>> view.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import io
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from rtsplab.entities import FrameSet, Strategy, Sync
from rtsplab.errors import ReadTimeout
from rtsplab.group import Group, open_group
from rtsplab.plots import strategy_color
from rtsplab.recorder import Recorder
from rtsplab.urls import RtspUrl, redact, scrub

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from matplotlib.typing import LineStyleType

__all__ = ["LiveView", "encode_jpeg", "stop_all"]

log = logging.getLogger(__name__)

_LINE_STYLES: tuple[LineStyleType, ...] = ("-", "--", ":", "-.")
_VIEWS: weakref.WeakValueDictionary[tuple[str, ...], LiveView] = weakref.WeakValueDictionary()
_VIEWS_LOCK = threading.Lock()


def encode_jpeg(image: npt.NDArray[np.uint8], width: int, quality: int = 75) -> bytes:
    """Downscale a BGR image to ``width`` px (keeping its aspect) and encode it as JPEG.

    Example:
        >>> import numpy as np
        >>> encode_jpeg(np.zeros((360, 640, 3), np.uint8), 160)[:2]
        b'\\xff\\xd8'
    """
    import cv2

    h, w = image.shape[:2]
    small: npt.NDArray[Any] = image
    if w > width:
        size = (width, max(1, round(h * width / w)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"JPEG encoding failed for an image of shape {small.shape}")
    return bytes(buf.tobytes())


def stop_all() -> None:
    """Stop every live view of this kernel.

    Example:
        >>> stop_all()
    """
    with _VIEWS_LOCK:
        views = list(_VIEWS.values())
    for view in views:
        view.stop()


class _Chart:
    """Age per stream and skew over the last ``window_s`` seconds, rendered to PNG bytes.

    Points keep the strategy they were read with, so a switch shows as a change of colour.
    """

    def __init__(self, width_px: int, window_s: float, max_points: int) -> None:
        from matplotlib.figure import Figure

        dpi = 80
        self.window_s = window_s
        self._fig = Figure(figsize=(width_px / dpi, 2.4), dpi=dpi, layout="constrained")
        self._ax_age, self._ax_skew = self._fig.subplots(1, 2)
        # (t_s, strategy, age_ms by stream, skew_ms)
        self._points: deque[tuple[float, str, dict[str, float], float]] = deque(maxlen=max_points)
        self._streams: list[str] = []

    def add(self, t_s: float, strategy: str, frame_set: FrameSet) -> None:
        ages = {name: f.age_ms for name, f in frame_set.frames.items()}
        self._streams.extend(n for n in ages if n not in self._streams)
        self._points.append((t_s, strategy, ages, frame_set.skew_ms))

    def _segments(self) -> list[list[tuple[float, str, dict[str, float], float]]]:
        """Runs of consecutive points with one strategy; a pause of > 1 s also cuts a run."""
        runs: list[list[tuple[float, str, dict[str, float], float]]] = []
        for p in self._points:
            if not runs or runs[-1][-1][1] != p[1] or p[0] - runs[-1][-1][0] > 1.0:
                runs.append([])
            runs[-1].append(p)
        return runs

    def render(self) -> bytes:
        from matplotlib.lines import Line2D

        ax_age, ax_skew = self._ax_age, self._ax_skew
        ax_age.clear()
        ax_skew.clear()
        strategies: list[str] = []
        for run in self._segments():
            strategy = run[0][1]
            color = strategy_color(strategy)
            strategies += [strategy] if strategy not in strategies else []
            t = [p[0] for p in run]
            for i, name in enumerate(self._streams):
                ages = [p[2].get(name, float("nan")) for p in run]
                ax_age.plot(t, ages, color=color, linestyle=_LINE_STYLES[i % 4])
            ax_skew.plot(t, [p[3] for p in run], color=color)
        for ax, ylabel, title in (
            (ax_age, "frame age (ms)", "Frame age"),
            (ax_skew, "skew (ms)", "Skew across streams"),
        ):
            ax.set_xlabel("time (s)")
            ax.set_ylabel(ylabel)
            ax.set_title(title, fontsize="medium")
            ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.3)
            if self._points:
                t_end = self._points[-1][0]
                ax.set_xlim(max(0.0, t_end - self.window_s), max(t_end, 1.0))
        handles = [
            Line2D([], [], color="0.3", linestyle=_LINE_STYLES[i % 4], label=name)
            for i, name in enumerate(self._streams)
        ] + [Line2D([], [], color=strategy_color(s), linewidth=3, label=s) for s in strategies]
        if handles:
            ax_age.legend(handles=handles, fontsize="small", loc="upper left")
        buf = io.BytesIO()
        self._fig.savefig(buf, format="png")
        return buf.getvalue()


class LiveView:
    """Live side-by-side view of several RTSP streams, with age/depth/drop captions and a chart.

    Args:
        urls: RTSP URLs, one per stream (credentials allowed; they are never shown).
        strategy: ``naive``, ``buffered`` or ``latest`` (the dropdown switches it live).
        sync: how the group assembles sets: ``latest`` or ``matched``.
        backend: decoding backend name passed to :func:`rtsplab.open_group`.
        fps: refresh rate of the images and captions.
        width: width in px of each stream's image (frames are downscaled before encoding).
        chart_hz: maximum refresh rate of the chart.
        chart_window_s: seconds of history the chart shows.
        recorder: where every set read is recorded; a new :class:`Recorder` by default.
        autostart: start reading at once.
        read_timeout_s: how long one read waits before the captions show the stream states.
        **open_kwargs: more keyword arguments for :func:`rtsplab.open_group`.

    Attributes:
        widget: the ipywidgets layout (display it, or just leave the view last in a cell).
        recorder: the :class:`Recorder` with one row per frame shown.
        images: one JPEG ``widgets.Image`` per stream.
        captions: one ``widgets.HTML`` caption per stream.
        chart: the PNG ``widgets.Image`` of the age and skew chart.
        sets_shown: number of sets displayed since the view was created.

    Example:
        >>> from rtsplab.sim import SimServer  # doctest: +SKIP
        >>> with SimServer(2) as srv:  # doctest: +SKIP
        ...     view = LiveView(srv.urls, strategy="latest")
        ...     display(view)
        ...     view.stop()
    """

    def __init__(
        self,
        urls: Sequence[str],
        strategy: Strategy | str = "latest",
        sync: Sync | str = "latest",
        backend: str = "auto",
        fps: float = 10.0,
        width: int = 320,
        chart_hz: float = 2.0,
        chart_window_s: float = 30.0,
        recorder: Recorder | None = None,
        autostart: bool = True,
        read_timeout_s: float = 1.0,
        **open_kwargs: Any,
    ) -> None:
        if not urls:
            raise ValueError("LiveView needs at least one URL")
        if fps <= 0 or chart_hz <= 0 or width < 16:
            raise ValueError("fps and chart_hz must be > 0 and width >= 16 px")
        self._urls = list(urls)
        self._redacted = [redact(u) for u in self._urls]
        self._secrets = tuple(s for u in self._urls for s in _secrets_of(u))
        self.strategy = Strategy(strategy).value
        self.sync = Sync(sync).value
        self.backend = backend
        self.fps = float(fps)
        self.width = int(width)
        self.chart_hz = float(chart_hz)
        self.read_timeout_s = float(read_timeout_s)
        self.recorder = recorder if recorder is not None else Recorder(run="liveview")
        self.sets_shown = 0
        self._open_kwargs = open_kwargs
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._t0 = time.monotonic()
        self._chart = _Chart(max(2 * width, 480), chart_window_s, int(chart_window_s * fps) + 8)
        self._build_widgets()
        with _VIEWS_LOCK:
            previous = _VIEWS.get(tuple(self._urls))
            _VIEWS[tuple(self._urls)] = self
        if previous is not None and previous is not self:
            previous.stop()
            previous._set_status("stopped: a newer live view of these streams replaced this one")
        if autostart:
            self.start()

    # -- widgets -------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        names = [_default_name(u, i) for i, u in enumerate(self._urls)]
        self._titles = [widgets.HTML(f"<b>{_html(n)}</b>") for n in names]
        self.images = [widgets.Image(format="jpeg", width=self.width) for _ in names]
        self.captions = [widgets.HTML("waiting for frames…") for _ in names]
        for image in self.images:
            image.add_class("rtsplab-frame")
        for caption in self.captions:
            caption.add_class("rtsplab-caption")
        panels = [
            widgets.VBox([t, i, c], layout=widgets.Layout(margin="0 8px 0 0"))
            for t, i, c in zip(self._titles, self.images, self.captions, strict=True)
        ]
        self.chart = widgets.Image(format="png")
        self.chart.add_class("rtsplab-chart")
        self._dropdown = widgets.Dropdown(
            options=[s.value for s in Strategy], value=self.strategy, description="strategy"
        )
        self._start_button = widgets.Button(description="Start", icon="play")
        self._stop_button = widgets.Button(description="Stop", icon="stop")
        self._status = widgets.HTML("")
        self._status.add_class("rtsplab-status")
        self._dropdown.observe(self._on_strategy, names="value")
        self._start_button.on_click(lambda _b: self.start())
        self._stop_button.on_click(lambda _b: self.stop())
        controls = widgets.HBox(
            [self._dropdown, self._start_button, self._stop_button, self._status],
            layout=widgets.Layout(align_items="center"),
        )
        self.widget = widgets.VBox([controls, widgets.HBox(panels), self.chart])
        self.widget.add_class("rtsplab-liveview")

    def _set_status(self, text: str) -> None:
        self._status.value = _html(scrub(text, self._secrets))

    def _on_strategy(self, change: dict[str, Any]) -> None:
        if change.get("new") and change["new"] != self.strategy:
            self.set_strategy(str(change["new"]))

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether the refresh thread is alive.

        Example:
            >>> view.running  # doctest: +SKIP
            True
        """
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Open the group and start the refresh thread (no-op when already running).

        Example:
            >>> view.start()  # doctest: +SKIP
        """
        with self._lock:
            if self.running:
                return
            self._stop_event = threading.Event()
            self._thread = threading.Thread(
                target=self._run,
                args=(self.strategy, self._stop_event),
                name="rtsplab-liveview",
                daemon=True,
            )
            self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop the refresh thread, wait for it and close the group; idempotent.

        Example:
            >>> view.stop()  # doctest: +SKIP
        """
        with self._lock:
            self._stop_event.set()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout_s)
                if thread.is_alive():
                    log.warning("live view thread still running %.0f s after stop()", timeout_s)
                else:
                    self._thread = None

    def close(self) -> None:
        """Stop, then close every widget (they disappear from the notebook).

        Example:
            >>> view.close()  # doctest: +SKIP
        """
        self.stop()
        _close_tree(self.widget)

    def set_strategy(self, strategy: Strategy | str) -> None:
        """Switch strategy: stops the running group and reopens it with ``strategy``.

        Example:
            >>> view.set_strategy("buffered")  # doctest: +SKIP
        """
        value = Strategy(strategy).value
        with self._lock:
            was_running = self.running
            self.stop()
            self.strategy = value
            if self._dropdown.value != value:
                self._dropdown.value = value
            if was_running:
                self.start()

    # -- refresh loop --------------------------------------------------------------------
    def _run(self, strategy: str, stop: threading.Event) -> None:
        self._set_status(f"connecting ({strategy})…")
        try:
            with open_group(
                self._urls,
                strategy=strategy,
                sync=self.sync,
                recorder=self.recorder,
                backend=self.backend,
                **self._open_kwargs,
            ) as group:
                names = list(group.streams)
                for title, name in zip(self._titles, names, strict=False):
                    title.value = f"<b>{_html(name)}</b>"
                self._set_status(f"streaming · {strategy}")
                self._loop(group, strategy, stop, names)
            self._set_status(f"stopped · {strategy}")
        except Exception as e:
            log.warning("live view stopped: %s", scrub(str(e), self._secrets))
            self._set_status(f"error: {type(e).__name__}: {e}")

    def _loop(self, group: Group, strategy: str, stop: threading.Event, names: list[str]) -> None:
        period_s = 1.0 / self.fps
        chart_period_s = 1.0 / self.chart_hz
        next_chart = 0.0
        shown_seq: dict[str, int] = {}
        dropped = dict.fromkeys(names, 0)
        while not stop.is_set():
            tick = time.monotonic()
            try:
                frame_set = group.read_set(timeout_s=self.read_timeout_s)
            except ReadTimeout:
                states = group.states
                for caption, name in zip(self.captions, names, strict=False):
                    caption.value = (
                        f"<span style='font-family:monospace'>no frame for "
                        f"{self.read_timeout_s:g} s · {_state_text(states.get(name))}</span>"
                    )
                continue
            states = group.states
            for i, name in enumerate(names[: len(self.images)]):
                frame = frame_set.frames.get(name)
                if frame is None:
                    continue
                if frame.seq != shown_seq.get(name):  # a stalled stream repeats its frame
                    dropped[name] = dropped.get(name, 0) + frame.dropped
                    self.images[i].value = encode_jpeg(frame.image, self.width)
                    shown_seq[name] = frame.seq
                self.captions[i].value = _caption(
                    frame.age_ms, frame.depth, dropped[name], _state_text(states.get(name))
                )
            self.sets_shown += 1
            now = time.monotonic()
            self._chart.add(now - self._t0, strategy, frame_set)
            if now >= next_chart:
                self.chart.value = self._chart.render()
                next_chart = now + chart_period_s
            stop.wait(max(0.0, period_s - (time.monotonic() - tick)))

    # -- display -------------------------------------------------------------------------
    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return (
            f"LiveView(urls={self._redacted!r}, strategy={self.strategy!r}, sync={self.sync!r}, "
            f"backend={self.backend!r}, running={self.running}, sets_shown={self.sets_shown})"
        )


def _close_tree(widget: widgets.Widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


def _secrets_of(url: str) -> tuple[str, ...]:
    try:
        return RtspUrl.parse(url).secrets
    except ValueError:
        return ()


def _default_name(url: str, index: int) -> str:
    try:
        path = RtspUrl.parse(url).path.split("?", 1)[0].strip("/")
    except ValueError:
        path = ""
    return path.rsplit("/", 1)[-1] or f"stream{index + 1}"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _state_text(state: Any) -> str:
    return str(getattr(state, "value", state)) if state is not None else "?"


def _caption(age_ms: float, depth: int, dropped: int, state: str) -> str:
    color = "#2ca02c" if age_ms < 250 else "#ff7f0e" if age_ms < 1000 else "#d62728"
    return (
        f"<span style='font-family:monospace'>age <b style='color:{color}'>{age_ms:.0f} ms</b>"
        f" · depth {depth} · dropped {dropped} · {_html(state)}</span>"
    )
