"""Simulated RTSP cameras: real RTSP/RTP/H.264 with a capture timecode burned into every frame.

Dependencies point one way: ``camera`` (drawing, encoding, knobs) <- ``connection`` and
``session`` (RTSP and RTP I/O) <- ``server`` (in-process) / ``process`` (child process, run by
``child``), both behind :class:`~rtsplab.sim.base.Server`; ``publish`` pushes a camera to
another server.

Example:
    >>> from rtsplab.sim import SimCamera, SimServer
    >>> with SimServer([SimCamera("cam1"), SimCamera("cam2", fps=15)]) as srv:  # doctest: +SKIP
    ...     srv.camera("cam1").set(latency_ms=100)
    ...     print(srv.url("cam1"))
"""

from __future__ import annotations

from rtsplab.sim.base import Server
from rtsplab.sim.camera import CameraConfig, SimCamera
from rtsplab.sim.process import ChildProcessServer
from rtsplab.sim.publish import Publisher
from rtsplab.sim.server import InProcessServer, SimServer

__all__ = [
    "CameraConfig",
    "ChildProcessServer",
    "InProcessServer",
    "Publisher",
    "Server",
    "SimCamera",
    "SimServer",
]
