"""Live views for Jupyter: :class:`LiveView` on any RTSP streams, :class:`Playground` on two
simulated cameras with knobs to turn.

Both are plain ipywidgets (no custom JavaScript) and stop when their cell is re-run or the
kernel is interrupted.

Example:
    >>> from rtsplab.widgets import LiveView, Playground, stop_all
    >>> stop_all()  # nothing running: nothing to stop
"""

from __future__ import annotations

from rtsplab.widgets.lifecycle import stop_all
from rtsplab.widgets.liveview import BUFFERED_MAXSIZE, MODES, LiveView
from rtsplab.widgets.panels import encode_jpeg
from rtsplab.widgets.playground import Playground

__all__ = ["BUFFERED_MAXSIZE", "MODES", "LiveView", "Playground", "encode_jpeg", "stop_all"]
