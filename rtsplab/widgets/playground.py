"""A playground: two simulated cameras, a consumer, and the knobs that make it lag.

:class:`Playground` starts two simulated cameras in a child process and a
:class:`~rtsplab.widgets.LiveView` reading them, with sliders for the consumer's time per
frame, the cameras' frame rate and their network jitter, a button that stalls ``cam1``, and
a strategy selector. The charts of age, depth and skew beside the pictures follow a change
within a second: slow the consumer under ``buffered`` and watch the queue and the age climb;
switch to ``latest`` and watch them fall back while frames are dropped instead.

Re-running the cell (a new playground) stops the previous one and its cameras, and so does
an interrupt of the kernel: no thread and no simulator process is left behind.

Example:
    >>> from rtsplab.widgets import Playground
    >>> pg = Playground()  # doctest: +SKIP
    >>> pg  # doctest: +SKIP
    >>> pg.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

import ipywidgets as widgets

from rtsplab.widgets import lifecycle
from rtsplab.widgets.liveview import MODES, LiveView
from rtsplab.widgets.panels import Shown

__all__ = ["Playground"]

log = logging.getLogger(__name__)

_CURRENT: weakref.WeakValueDictionary[str, Playground] = weakref.WeakValueDictionary()
_CURRENT_LOCK = threading.Lock()


class Playground(Shown):
    """Two simulated cameras, a live view of them, and sliders to turn.

    Args:
        strategy: the starting strategy (``naive``, ``buffered``, ``latest`` or ``matched``).
        consumer_ms: the consumer's time per set, in ms (0 to 500).
        fps: the cameras' frame rate (1 to 30); the view reads at most this many sets a second.
        jitter_ms: random extra send delay of each camera's frames, in ms (0 to 300).
        stall_s: how long the stall button freezes ``cam1``.
        width: width in px of each picture.
        backend: decoding backend of the view.
        autostart: start the cameras and the view at once.

    Attributes:
        view: the :class:`~rtsplab.widgets.LiveView` (its ``recorder`` holds every frame read).
        server: the :class:`~rtsplab.sim.SimServer` of the two cameras (None until started).
        consumer, fps_slider, jitter, strategy_buttons, stall_button, stop_button: the controls.
        status: the playground's state (``running``, ``stopped (cameras closed)``...).
        widget: the whole layout.

    Example:
        >>> pg = Playground(autostart=False)
        >>> pg.consumer.value, pg.fps_slider.value, pg.strategy_buttons.value
        (20, 15, 'buffered')
        >>> pg.stop()  # idempotent, also before starting
    """

    def __init__(
        self,
        strategy: str = "buffered",
        consumer_ms: int = 20,
        fps: int = 15,
        jitter_ms: int = 0,
        stall_s: float = 2.0,
        width: int = 280,
        backend: str = "opencv",
        autostart: bool = True,
    ) -> None:
        if strategy not in MODES:
            raise ValueError(f"strategy must be one of {', '.join(MODES)}, not {strategy!r}")
        self.stall_s = float(stall_s)
        self.width = int(width)
        self.backend = backend
        self.server: Any = None
        self.view: LiveView | None = None
        self._lock = threading.RLock()
        self.strategy_buttons = widgets.ToggleButtons(
            options=MODES, value=strategy, description="strategy"
        )
        knob = {
            "continuous_update": False,
            "style": {"description_width": "100px"},
            "layout": widgets.Layout(width="420px"),  # a track long enough to aim at 10 ms
        }
        self.consumer = widgets.IntSlider(
            value=consumer_ms, min=0, max=500, step=10, description="consumer ms", **knob
        )
        self.fps_slider = widgets.IntSlider(
            value=fps, min=1, max=30, description="camera fps", **knob
        )
        self.jitter = widgets.IntSlider(
            value=jitter_ms, min=0, max=300, step=10, description="jitter ms", **knob
        )
        self.consumer.add_class("rtsplab-consumer")
        self.fps_slider.add_class("rtsplab-fps")
        self.jitter.add_class("rtsplab-jitter")
        self.stall_button = widgets.Button(description=f"stall cam1 {self.stall_s:g} s")
        self.stop_button = widgets.Button(description="Stop", icon="stop")
        self.status = widgets.HTML("not started")
        self.status.add_class("rtsplab-playground-status")
        self.consumer.observe(self._on_consumer, names="value")
        self.fps_slider.observe(self._on_fps, names="value")
        self.jitter.observe(self._on_jitter, names="value")
        self.strategy_buttons.observe(self._on_strategy, names="value")
        self.stall_button.on_click(lambda _b: self.stall())
        self.stop_button.on_click(lambda _b: self.stop())
        self._body = widgets.Box()
        self.widget = widgets.VBox(
            [
                self.strategy_buttons,
                widgets.HBox(
                    [
                        widgets.VBox([self.consumer, self.fps_slider, self.jitter]),
                        widgets.VBox([self.stall_button, self.stop_button, self.status]),
                    ]
                ),
                self._body,
            ]
        )
        self.widget.add_class("rtsplab-playground")
        if autostart:
            self.start()

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether the cameras and the view are running.

        Example:
            >>> Playground(autostart=False).running
            False
        """
        return self.view is not None and self.view.running

    def start(self) -> None:
        """Start the cameras (in a child process) and the view; stops a previous playground.

        Example:
            >>> Playground(autostart=False).start()  # doctest: +SKIP
        """
        from rtsplab.sim import SimCamera, SimServer

        with _CURRENT_LOCK:
            previous = _CURRENT.get("current")
            _CURRENT["current"] = self
        if previous is not None and previous is not self:
            previous.stop()
            previous.status.value = "stopped: a newer playground replaced this one"
        with self._lock:
            if self.running:
                return
            self.status.value = "starting the cameras…"
            fps = float(self.fps_slider.value)
            jitter = float(self.jitter.value)
            cams = [SimCamera(n, fps=fps, jitter_ms=jitter) for n in ("cam1", "cam2")]
            server = SimServer(cams, process=True)
            try:
                view = LiveView(
                    server.urls,
                    strategy=self.strategy_buttons.value,
                    backend=self.backend,
                    fps=fps,
                    display_fps=10.0,
                    width=self.width,
                    chart_columns=2,  # beside the pictures: 600 px wide, 360 px tall
                    consumer_ms=float(self.consumer.value),
                    reconnect=True,
                )
            except BaseException:
                server.close()
                raise
            self.server, self.view = server, view
            view.controls.layout.display = "none"  # the playground has its own controls
            self._body.children = [
                widgets.VBox([view.status, widgets.HBox([view.panels, view.chart])])
            ]
            self.status.value = "running"
            lifecycle.register(self)
            lifecycle.install_interrupt_hook()

    def stop(self) -> None:
        """Stop the view, then the cameras' process; idempotent.

        Example:
            >>> Playground(autostart=False).stop()
        """
        with self._lock:
            view, server = self.view, self.server
            if view is not None:
                view.stop()
            if server is not None:
                server.close()
                self.status.value = "stopped (cameras closed)"
            lifecycle.unregister(self)

    def stall(self) -> None:
        """Freeze ``cam1`` for ``stall_s`` seconds (its connection stays open).

        Example:
            >>> Playground(autostart=False).stall()  # not started: nothing to stall
        """
        if self.server is not None and self.running:
            self.server.camera("cam1").stall(self.stall_s)

    # -- knobs ---------------------------------------------------------------------------
    def _on_consumer(self, change: dict[str, Any]) -> None:
        if self.view is not None:
            self.view.consumer_ms = float(change["new"])

    def _on_fps(self, change: dict[str, Any]) -> None:
        self._set_cameras(fps=float(change["new"]))
        if self.view is not None:
            self.view.fps = float(change["new"])

    def _on_jitter(self, change: dict[str, Any]) -> None:
        self._set_cameras(jitter_ms=float(change["new"]))

    def _set_cameras(self, **knobs: float) -> None:
        if self.server is None or not self.running:
            return
        for name in ("cam1", "cam2"):
            self.server.camera(name).set(**knobs)

    def _on_strategy(self, change: dict[str, Any]) -> None:
        if self.view is not None and self.running:
            self.view.set_strategy(str(change["new"]))
        elif self.view is not None:
            self.view.mode = str(change["new"])

    def __repr__(self) -> str:
        return (
            f"Playground(strategy={self.strategy_buttons.value!r}, "
            f"consumer_ms={self.consumer.value}, fps={self.fps_slider.value}, "
            f"jitter_ms={self.jitter.value}, running={self.running})"
        )
