"""A live view of several RTSP streams in Jupyter, built from plain ipywidgets.

:class:`LiveView` opens a group on the URLs and shows the streams side by side with a
caption per stream (frame age, buffer depth, frames dropped, state), live charts of age,
depth and skew, a strategy dropdown and start/stop buttons. It works in JupyterLab and the
classic Notebook without custom JavaScript.

Its refresh loop is one daemon thread that reads a set, encodes it to JPEG and updates the
widgets, paced at ``fps`` sets a second. The charts are inline SVG (a few milliseconds to
draw) redrawn ``chart_hz`` times a second, so they never slow the pictures down. The status
line shows the rate the loop actually achieves. The view keeps no queue of its own; the
``buffered`` strategy's queue is bounded (``maxsize``, oldest frames dropped when full) so a
slow view cannot eat the kernel's memory.

Constructing a new view on the same URLs (re-running a cell) stops the previous one, and an
interrupt of the kernel stops every view (see :mod:`rtsplab.widgets.lifecycle`).

Example:
    >>> from rtsplab.widgets import LiveView
    >>> urls = ["rtsp://127.0.0.1:8554/cam1", "rtsp://127.0.0.1:8554/cam2"]
    >>> view = LiveView(urls)  # doctest: +SKIP
    >>> view  # doctest: +SKIP
    >>> view.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from rtsplab.entities import FrameSet, Strategy, Sync
from rtsplab.errors import ReadTimeout
from rtsplab.group import Group, open_group
from rtsplab.readers import StreamOptions, show_options
from rtsplab.recorder import Recorder
from rtsplab.urls import RtspUrl, redact, scrub, url_secrets
from rtsplab.widgets import lifecycle
from rtsplab.widgets.charts import History
from rtsplab.widgets.panels import (
    RateMeter,
    Shown,
    blank_jpeg,
    caption_html,
    encode_jpeg,
    overload_line,
)
from rtsplab.widgets.panels import html_escape as _html

if TYPE_CHECKING:
    from typing import Unpack

__all__ = ["BUFFERED_MAXSIZE", "MODES", "LiveView"]

log = logging.getLogger(__name__)

MODES = ("naive", "buffered", "latest", "matched")
"""What the strategy selector offers: the three strategies, and ``latest`` read ``matched``."""

BUFFERED_MAXSIZE = 90
"""Default bound of the ``buffered`` queue (3 s at 30 fps); the oldest frame goes when full."""

_VIEWS: weakref.WeakValueDictionary[tuple[str, ...], LiveView] = weakref.WeakValueDictionary()
_VIEWS_LOCK = threading.Lock()


class LiveView(Shown):
    """Live side-by-side view of several RTSP streams, with captions and age/depth/skew charts.

    Args:
        urls: RTSP URLs, one per stream (credentials allowed; they are never shown).
        strategy: ``naive``, ``buffered``, ``latest`` or ``matched`` (``latest`` read with
            ``sync="matched"``); the dropdown switches it live.
        sync: how the group assembles sets for ``latest``: ``latest`` or ``matched``.
        backend: decoding backend name passed to :func:`rtsplab.open_group`.
        fps: sets read (and shown) per second; the status line shows the rate achieved.
        width: width in px of each stream's image (frames are downscaled before encoding).
        chart_hz: refresh rate of the charts.
        chart_window_s: seconds of history the charts show.
        recorder: where every set read is recorded; a new :class:`Recorder` by default.
        autostart: start reading at once.
        read_timeout_s: how long one read waits before the captions show the stream states.
        consumer_ms: time the view spends "processing" each set before the next read, to
            model a slow consumer (the playground's knob).
        display_fps: at most this many picture updates a second (default: ``fps``).
        chart_columns: chart panels per row (3: side by side; 1: stacked).
        **open_kwargs: :class:`~rtsplab.readers.StreamOptions` for every stream (transport,
            timeouts, decoder threads...). Among them ``maxsize``, the bound of the
            ``buffered`` queue (:data:`BUFFERED_MAXSIZE` by default; ``0`` for unbounded,
            which only a short demonstration should use).

    Attributes:
        widget: the ipywidgets layout (display it, or just leave the view last in a cell).
        recorder: the :class:`Recorder` with one row per frame read.
        images: one JPEG ``widgets.Image`` per stream.
        captions: one ``widgets.HTML`` caption per stream.
        chart: the ``widgets.HTML`` holding the SVG charts.
        status: the ``widgets.HTML`` status line (state, strategy, achieved rate).
        sets_shown: sets read since the view was created.
        dropped: frames dropped per stream since the view was created (all strategies).
        rate_sets_s: sets per second over the last two seconds.

    Example:
        >>> from rtsplab.sim import SimServer  # doctest: +SKIP
        >>> with SimServer(2) as srv:  # doctest: +SKIP
        ...     view = LiveView(srv.urls, strategy="latest")
        ...     display(view)
        ...     view.stop()
    """

    @show_options(StreamOptions)
    def __init__(
        self,
        urls: Sequence[str],
        strategy: str = "latest",
        sync: Sync | str = "latest",
        backend: str = "auto",
        fps: float = 10.0,
        width: int = 320,
        chart_hz: float = 4.0,
        chart_window_s: float = 30.0,
        recorder: Recorder | None = None,
        autostart: bool = True,
        read_timeout_s: float = 1.0,
        consumer_ms: float = 0.0,
        display_fps: float | None = None,
        chart_columns: int = 3,
        **open_kwargs: Unpack[StreamOptions],
    ) -> None:
        if not urls:
            raise ValueError("LiveView needs at least one URL")
        maxsize = int(open_kwargs.pop("maxsize", BUFFERED_MAXSIZE))
        if fps <= 0 or chart_hz <= 0 or width < 16 or consumer_ms < 0 or maxsize < 0:
            raise ValueError(
                "fps and chart_hz must be > 0, width >= 16 px, consumer_ms and maxsize >= 0"
            )
        self._urls = list(urls)
        self._redacted = [redact(u) for u in self._urls]
        self._secrets = tuple(s for u in self._urls for s in url_secrets(u))
        self.mode = _mode(strategy, Sync(sync).value)
        self.backend = backend
        self.fps = float(fps)
        self.display_fps = float(display_fps) if display_fps else None
        self.width = int(width)
        self.chart_hz = float(chart_hz)
        self.read_timeout_s = float(read_timeout_s)
        self.consumer_ms = float(consumer_ms)
        self.maxsize = maxsize
        self.recorder = recorder if recorder is not None else Recorder(run="liveview")
        self.sets_shown = 0
        self.names = [_default_name(u, i) for i, u in enumerate(self._urls)]
        self.dropped = dict.fromkeys(self.names, 0)
        self.rate_sets_s = 0.0
        self._open_kwargs = open_kwargs
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._t0 = time.monotonic()
        self._rate = RateMeter(2.0)
        self.history = History(chart_window_s, max_points=int(chart_window_s * fps * 2) + 64)
        self._chart_columns = chart_columns
        self._build_widgets()
        with _VIEWS_LOCK:
            previous = _VIEWS.get(tuple(self._urls))
            _VIEWS[tuple(self._urls)] = self
        if previous is not None and previous is not self:
            previous.stop()
            previous._set_status("stopped: a newer live view of these streams replaced this one")
        lifecycle.install_interrupt_hook()
        if autostart:
            self.start()

    @property
    def strategy(self) -> str:
        """The reader strategy in use (``matched`` reads with ``latest``).

        Example:
            >>> LiveView(["rtsp://127.0.0.1:1/a"], "matched", autostart=False).strategy
            'latest'
        """
        return "latest" if self.mode == "matched" else self.mode

    @property
    def sync(self) -> str:
        """How sets are assembled: ``matched`` in the ``matched`` mode, else ``latest``.

        Example:
            >>> LiveView(["rtsp://127.0.0.1:1/a"], "buffered", autostart=False).sync
            'latest'
        """
        return "matched" if self.mode == "matched" else "latest"

    # -- widgets -------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        w = self.width
        blank = blank_jpeg(min(w, 64))  # until the first frame: grey, not a broken image
        self._titles = [widgets.HTML(f"<b>{_html(n)}</b>") for n in self.names]
        self.images = [
            widgets.Image(
                value=blank,
                format="jpeg",
                layout=widgets.Layout(width=f"{w}px", height=f"{w * 9 // 16}px"),
            )
            for _ in self.names
        ]
        caption_layout = {"width": f"{w}px", "height": "3.4em", "overflow": "hidden"}
        self.captions = [
            widgets.HTML("waiting for frames…", layout=widgets.Layout(**caption_layout))
            for _ in self.names
        ]
        for image in self.images:
            image.add_class("rtsplab-frame")
        for caption in self.captions:
            caption.add_class("rtsplab-caption")
        self.panels = widgets.HBox(
            [
                widgets.VBox(
                    [t, i, c], layout=widgets.Layout(width=f"{w + 8}px", margin="0 8px 0 0")
                )
                for t, i, c in zip(self._titles, self.images, self.captions, strict=True)
            ]
        )
        self.chart = widgets.HTML(self.history.render(self._chart_columns))
        self.chart.add_class("rtsplab-chart")
        self._dropdown = widgets.Dropdown(options=MODES, value=self.mode, description="strategy")
        self._start_button = widgets.Button(description="Start", icon="play")
        self._stop_button = widgets.Button(description="Stop", icon="stop")
        self.status = widgets.HTML("", layout=widgets.Layout(width="520px"))
        self.status.add_class("rtsplab-status")
        self._dropdown.observe(self._on_strategy, names="value")
        self._start_button.on_click(lambda _b: self.start())
        self._stop_button.on_click(lambda _b: self.stop())
        self.controls = widgets.HBox(
            [self._dropdown, self._start_button, self._stop_button, self.status],
            layout=widgets.Layout(align_items="center"),
        )
        self.widget = widgets.VBox([self.controls, self.panels, self.chart])
        self.widget.add_class("rtsplab-liveview")

    def _set_status(self, text: str) -> None:
        self.status.value = (
            f"<span style='font-family:monospace'>{_html(scrub(text, self._secrets))}</span>"
        )

    def _on_strategy(self, change: dict[str, Any]) -> None:
        if change.get("new") and change["new"] != self.mode:
            self.set_strategy(str(change["new"]))

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether the refresh thread is alive.

        Example:
            >>> LiveView(["rtsp://127.0.0.1:1/a"], autostart=False).running
            False
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
            self._rate.clear()
            self._thread = threading.Thread(
                target=self._run,
                args=(self.mode, self._stop_event),
                name="rtsplab-liveview",
                daemon=True,
            )
            lifecycle.register(self)
            self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop the refresh thread, wait for it and close the group; idempotent.

        Example:
            >>> LiveView(["rtsp://127.0.0.1:1/a"], autostart=False).stop()
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
            lifecycle.unregister(self)

    async def wait(self, seconds: float) -> bool:
        """Let the view run for ``seconds`` with the kernel free: ``await view.wait(2)``.

        The wait for a notebook cell that shows something while the view runs: the view's
        buttons and dropdown answer meanwhile (see :func:`rtsplab.widgets.pause`). A click
        on Stop (or :meth:`stop`) ends the wait at once.

        Returns:
            True when the whole time passed with the view running; False as soon as the view
            is not running (at once if it was stopped already).

        Example:
            >>> import asyncio
            >>> view = LiveView(["rtsp://127.0.0.1:1/a"], autostart=False)
            >>> asyncio.run(view.wait(60))  # not running: returns at once
            False
        """
        return await lifecycle.pause(seconds, until=lambda: not self.running)

    def close(self) -> None:
        """Stop, then close every widget (they disappear from the notebook).

        Example:
            >>> LiveView(["rtsp://127.0.0.1:1/a"], autostart=False).close()
        """
        self.stop()
        _close_tree(self.widget)

    def set_strategy(self, strategy: str) -> None:
        """Switch strategy (or ``matched``): stops the running group and reopens it.

        Example:
            >>> view = LiveView(["rtsp://127.0.0.1:1/a"], autostart=False)
            >>> view.set_strategy("matched"); view.mode, view.strategy, view.sync
            ('matched', 'latest', 'matched')
        """
        value = _mode(strategy, "latest")
        with self._lock:
            was_running = self.running
            self.stop()
            self.mode = value
            if self._dropdown.value != value:
                self._dropdown.value = value
            if was_running:
                self.start()

    # -- refresh loop --------------------------------------------------------------------
    def _run(self, mode: str, stop: threading.Event) -> None:
        self._set_status(f"connecting ({mode})…")
        kwargs: StreamOptions = {**self._open_kwargs}
        if mode == "buffered" and self.maxsize:
            kwargs.setdefault("maxsize", self.maxsize)
            kwargs.setdefault("overflow", "drop_oldest")
        try:
            with open_group(
                self._urls,
                strategy="latest" if mode == "matched" else mode,
                sync="matched" if mode == "matched" else "latest",
                recorder=self.recorder,
                backend=self.backend,
                **kwargs,
            ) as group:
                names = list(group.streams)
                self.names[: len(names)] = names
                for title, name in zip(self._titles, names, strict=False):
                    title.value = f"<b>{_html(name)}</b>"
                self._set_status(f"streaming · {mode}")
                self._loop(group, mode, stop, names, kwargs.get("maxsize", 0))
            self._set_status(f"stopped · {mode} · {self.sets_shown} sets read")
        except Exception as e:
            # the status line shows it; a warning would print a second, red copy in Jupyter
            log.info("live view stopped: %s", scrub(str(e), self._secrets))
            self._set_status(f"error: {type(e).__name__}: {e}")
        finally:
            for i, name in enumerate(self.names):
                self.captions[i].value = (
                    "<div class='rtsplab-caption-text' style='font-size:12px;line-height:1.4em'>"
                    f"stopped · dropped {self.dropped.get(name, 0)} since the view started</div>"
                )

    def _loop(
        self, group: Group, mode: str, stop: threading.Event, names: list[str], maxsize: int
    ) -> None:
        next_chart = next_display = next_tick = time.monotonic()
        shown_seq: dict[str, int] = {}
        for name in names:
            self.dropped.setdefault(name, 0)
        while not stop.is_set():
            period_s = 1.0 / self.fps
            display_period_s = 1.0 / min(self.display_fps or self.fps, self.fps)
            try:
                frame_set: FrameSet | None = group.read_set(timeout_s=self.read_timeout_s)
            except ReadTimeout:
                frame_set = None
            now = time.monotonic()
            states = group.states
            reasons = {r.name: r.state_reason for r in group.readers}
            if frame_set is not None:
                self.sets_shown += 1
                self._rate.tick(now)
                for name, frame in frame_set.frames.items():  # a repeated frame has dropped=0
                    self.dropped[name] = self.dropped.get(name, 0) + frame.dropped
            if self.consumer_ms > 0:
                stop.wait(self.consumer_ms / 1000.0)
            if now >= next_display or frame_set is None:
                next_display = max(next_display + display_period_s, now)
                self._show(frame_set, names, states, shown_seq, maxsize, reasons)
            self._add_point(now, mode, frame_set, names)
            if now >= next_chart:
                next_chart = max(next_chart + 1.0 / self.chart_hz, now)
                self.rate_sets_s = self._rate.rate(now)
                self.chart.value = self.history.render(self._chart_columns)
                overload = overload_line(states, reasons)
                self._set_status(
                    f"streaming · {mode} · {self.rate_sets_s:.1f} sets/s (target {self.fps:g})"
                    + (f" · consumer {self.consumer_ms:g} ms" if self.consumer_ms else "")
                    + (f" · {overload}" if overload else "")
                )
            next_tick = max(next_tick + period_s, time.monotonic() - period_s)
            stop.wait(max(0.0, next_tick - time.monotonic()))

    def _show(
        self,
        frame_set: FrameSet | None,
        names: list[str],
        states: dict[str, Any],
        shown_seq: dict[str, int],
        maxsize: int,
        reasons: dict[str, str] | None = None,
    ) -> None:
        frames = frame_set.frames if frame_set is not None else {}
        for i, name in enumerate(names[: len(self.images)]):
            frame = frames.get(name)
            state = _state_text(states.get(name))
            note = (reasons or {}).get(name, "") if state == "overloaded" else ""
            if frame is None:
                self.captions[i].value = caption_html(None, None, self.dropped[name], state)
                continue
            if frame.seq != shown_seq.get(name):  # a stalled stream repeats its frame
                self.images[i].value = encode_jpeg(frame.image, self.width)
                shown_seq[name] = frame.seq
            self.captions[i].value = caption_html(
                frame.age_ms, frame.depth, self.dropped[name], state, maxsize, note
            )

    def _add_point(
        self, now: float, mode: str, frame_set: FrameSet | None, names: list[str]
    ) -> None:
        frames = frame_set.frames if frame_set is not None else {}
        missing = set(getattr(frame_set, "missing", ()) or ())
        ages: dict[str, float | None] = {}
        depths: dict[str, int | None] = {}
        for name in names:
            f = frames.get(name)
            present = f is not None and name not in missing
            ages[name] = f.age_ms if f is not None and present else None
            depths[name] = f.depth if f is not None and present else None
        skew = frame_set.skew_ms if frame_set is not None and len(frames) > 1 else None
        self.history.add(now - self._t0, mode, ages, depths, skew)

    def __repr__(self) -> str:
        return (
            f"LiveView(urls={self._redacted!r}, strategy={self.mode!r}, "
            f"backend={self.backend!r}, running={self.running}, sets_shown={self.sets_shown})"
        )


def _mode(strategy: str, sync: str) -> str:
    value = str(getattr(strategy, "value", strategy))
    if value == "matched":
        return value
    value = Strategy(value).value
    return "matched" if value == "latest" and sync == "matched" else value


def _close_tree(widget: widgets.Widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


def _default_name(url: str, index: int) -> str:
    try:
        path = RtspUrl.parse(url).path.split("?", 1)[0].strip("/")
    except ValueError:
        path = ""
    return path.rsplit("/", 1)[-1] or f"stream{index + 1}"


def _state_text(state: Any) -> str:
    return str(getattr(state, "value", state)) if state is not None else "?"
