"""Simulated RTSP cameras: real RTSP/RTP/H.264 with a capture timecode burned into every frame.

Example:
    >>> from rtsplab.sim import SimCamera, SimServer
    >>> with SimServer([SimCamera("cam1"), SimCamera("cam2", fps=15)]) as srv:  # doctest: +SKIP
    ...     srv.camera("cam1").set(latency_ms=100)
    ...     print(srv.url("cam1"))
"""

from __future__ import annotations

from rtsplab.sim.camera import CameraConfig, SimCamera
from rtsplab.sim.server import SimServer

__all__ = ["CameraConfig", "SimCamera", "SimServer"]
