"""The simulator's request routing: which camera a request URI names."""

from __future__ import annotations

from rtsplab.sim.connection import camera_path


def test_camera_path() -> None:
    assert camera_path("rtsp://127.0.0.1:8554/cam1") == "cam1"
    assert camera_path("rtsp://127.0.0.1:8554/cam1/") == "cam1"
    assert camera_path("rtsp://127.0.0.1:8554/cam1/track1") == "cam1"
    assert camera_path("rtsp://127.0.0.1:8554/live/cam1/trackID=0?x=1") == "live/cam1"
