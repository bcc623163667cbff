"""SimCamera without a server: start/stop from many threads, knob forwarding, keyframe requests."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from rtsplab.rtsp.rtcp import build_fir, build_pli, build_receiver_report
from rtsplab.sim import CameraConfig, SimCamera
from rtsplab.sim.media import Subscriber
from rtsplab.sim.session import MediaSession
from rtsplab.sim.transport import TcpTransport


def _capture_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"rtsplab-sim-{name}"]


def test_start_while_another_thread_stops(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """start() in one thread while stop() in another waits for the capture thread: the old
    thread must still end, stop() must return, and the new run keeps its encoder."""
    in_capture, release = threading.Event(), threading.Event()
    capture = SimCamera._capture_one

    def held_capture(self: SimCamera, *args: Any) -> None:
        in_capture.set()
        release.wait(10)  # a slow frame: stop() and start() meet while it is being made
        capture(self, *args)

    monkeypatch.setattr(SimCamera, "_capture_one", held_capture)
    cam = SimCamera("race", fps=30, size=(320, 180))
    sub = Subscriber()
    cam.subscribe(sub)
    with caplog.at_level(logging.ERROR, logger="rtsplab.sim"):
        cam.start()
        assert in_capture.wait(10)
        stopper = threading.Thread(target=cam.stop)
        stopper.start()
        deadline = time.monotonic() + 5
        while cam.running and time.monotonic() < deadline:
            time.sleep(0.005)
        assert not cam.running  # stop() let go of the thread and now joins it
        starter = threading.Thread(target=cam.start)
        starter.start()
        starter.join(10)
        assert cam.running
        release.set()
        stopper.join(2.0)
        assert not stopper.is_alive()  # the old capture thread ended: stop() returned
        assert len(_capture_threads("race")) == 1
        while sub.get(0.0) is not None:
            pass
        assert sub.get(2.0) is not None  # the new run encodes with its own encoder
        cam.stop()
    assert not cam.running and _capture_threads("race") == []
    assert [r.getMessage() for r in caplog.records] == []  # no frame failed


def test_knobs_forward_while_served_elsewhere() -> None:
    cam = SimCamera("c")
    calls: list[tuple[str, object]] = []

    def child(cmd: str, arg: object) -> CameraConfig:
        calls.append((cmd, arg))
        return CameraConfig("c", latency_ms=40.0 if cmd == "set" else 0.0)

    cam.forward_to(child)
    cam.set(latency_ms=40)
    cam.stall(1.5)
    cam.disconnect()
    assert calls == [("set", {"latency_ms": 40.0}), ("stall", 1.5), ("disconnect", None)]
    assert cam.latency_ms == 40.0
    with pytest.raises(ValueError):
        cam.set(fps=1000)  # checked here, never sent
    with pytest.raises(RuntimeError, match="another process"):
        cam.subscribe(Subscriber())
    cam.forward_to(None)
    cam.set(latency_ms=5)
    assert cam.latency_ms == 5.0 and len(calls) == 3


def test_a_keyframe_request_makes_the_next_frame_an_idr() -> None:
    cam = SimCamera("kf", size=(160, 96), fps=30, gop=1000)  # no keyframe of its own for 33 s
    session = MediaSession("s", cam, TcpTransport(lambda b: None, (0, 1)), 60)
    sub = Subscriber()
    with cam:
        cam.subscribe(sub)

        def next_keys(n: int) -> list[bool]:
            units = [sub.get(2.0) for _ in range(n)]
            assert all(u is not None for u in units)
            return [u.keyframe for u in units if u is not None]

        assert next_keys(4)[0]  # the first unit of a subscriber is a keyframe
        assert not any(next_keys(4))
        session.on_rtcp(build_receiver_report(9) + build_pli(9, session.ssrc ^ 1))
        assert cam.keyframe_requests == 0  # for another source: not ours
        assert not any(next_keys(3))
        session.on_rtcp(build_receiver_report(9) + build_pli(9, session.ssrc))
        assert any(next_keys(6)) and cam.keyframe_requests == 1
        time.sleep(0.06)  # past the camera's limit of one forced IDR per 50 ms
        session.on_rtcp(build_fir(9, session.ssrc, seq=1))
        assert any(next_keys(6)) and cam.keyframe_requests == 2
        cam.unsubscribe(sub)
