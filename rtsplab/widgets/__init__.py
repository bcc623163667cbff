"""Live views for Jupyter: :class:`LiveView` on any RTSP streams, :class:`Playground` on two
simulated cameras with knobs to turn.

Both are plain ipywidgets (no custom JavaScript) and stop when their cell is re-run or the
kernel is interrupted. A cell that waits while a view runs should ``await view.wait(s)`` (or
``await pause(s)``) rather than ``time.sleep(s)``, so that the view's buttons answer meanwhile.

Example:
    >>> from rtsplab.widgets import LiveView, Playground, stop_all
    >>> stop_all()  # nothing running: nothing to stop
"""

from __future__ import annotations

from rtsplab.widgets.lifecycle import pause, stop_all
from rtsplab.widgets.liveview import BUFFERED_MAXSIZE, MODES, LiveView
from rtsplab.widgets.panels import encode_jpeg
from rtsplab.widgets.playground import Playground

__all__ = [
    "BUFFERED_MAXSIZE",
    "MODES",
    "LiveView",
    "Playground",
    "encode_jpeg",
    "pause",
    "stop_all",
]
