"""The native reader against a hostile stream: malformed packets, a broken RTSP connection."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import rtsplab
from rtsplab.recorder import Recorder
from rtsplab.sim import SimCamera, SimServer

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hostile_sim() -> Iterator[SimServer]:
    """One camera that mixes a malformed RTP/RTCP packet into about a fifth of its frames."""
    cam = SimCamera("cam1", fps=30, gop=15, malformed=0.2)
    with SimServer([cam]) as srv:
        yield srv


def test_native_reader_drops_and_counts_malformed_packets(hostile_sim: SimServer) -> None:
    rec = Recorder()
    frames = []
    with rtsplab.open(
        hostile_sim.url("cam1"), backend="native", recorder=rec, read_timeout_s=3
    ) as r:
        t_end = time.monotonic() + 4
        while time.monotonic() < t_end:
            frames.append(r.read_frame(timeout_s=3, fresh=True))
        bad_packets, reconnects = r.bad_packets, r.reconnects
    assert bad_packets >= 5  # ~24 malformed packets are sent in 4 s
    assert reconnects == 0
    assert len(frames) >= 30
    assert {f.clock for f in frames} == {rtsplab.Clock.TIMECODE}
    assert max(f.age_ms for f in frames) < 500, "frames handed out are fresh"
    seqs = [f.source_seq for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    df = rec.to_dataframe()
    assert df.bad_packets.is_monotonic_increasing and df.bad_packets.iloc[-1] > 0


def test_probe_reports_frames_and_dropped_packets(hostile_sim: SimServer) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["probe", hostile_sim.url("cam1"), "--backend", "native", "--json", "--seconds", "3"]
    out = subprocess.run(
        [sys.executable, "-m", "rtsplab.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert "error" not in report
    assert report["frames"] >= 20 and report["bad_packets"] > 0
    assert report["clock"] == "timecode" and report["age_ms"]["p50"] < 300


class GarbageProxy:
    """A TCP proxy to the simulator that, on its first connection only, writes non-RTSP
    bytes to the client after ``after_bytes`` bytes of the server's reply stream."""

    def __init__(self, target_port: int, after_bytes: int = 200_000) -> None:
        self.target_port = target_port
        self.after_bytes = after_bytes
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._socks: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._socks += [client, server]
            self.connections += 1
            poison = self.after_bytes if self.connections == 1 else None
            threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, poison), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, poison_after: int | None) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
                sent += len(data)
                if poison_after is not None and sent >= poison_after:
                    dst.sendall(b"\x00\x01 this is not RTSP \xff\xfe")
                    poison_after = None
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.close()


def test_broken_rtsp_connection_reconnects() -> None:
    with SimServer(1) as srv:
        proxy = GarbageProxy(srv.port)
        try:
            url = f"rtsp://127.0.0.1:{proxy.port}/cam1"
            with rtsplab.open(url, backend="native", reconnect=True, read_timeout_s=2) as r:
                t_end = time.monotonic() + 15
                while r.reconnects == 0 and time.monotonic() < t_end:
                    r.read_frame(timeout_s=3)
                assert r.reconnects >= 1, "garbage on the control channel ends the connection"
                fresh = [r.read_frame(timeout_s=3, fresh=True) for _ in range(10)]
            assert proxy.connections >= 2
            assert all(f.clock is rtsplab.Clock.TIMECODE and f.age_ms < 500 for f in fresh)
        finally:
            proxy.close()


def test_broken_rtsp_connection_without_reconnect_is_a_typed_error() -> None:
    with SimServer(1) as srv:
        proxy = GarbageProxy(srv.port, after_bytes=50_000)
        try:
            url = f"rtsp://127.0.0.1:{proxy.port}/cam1"
            with (
                rtsplab.open(url, backend="native", read_timeout_s=2, reconnect=False) as r,
                pytest.raises(rtsplab.errors.StreamClosed, match="broken RTSP stream"),
            ):
                for _ in range(300):
                    r.read_frame(timeout_s=3, fresh=True)
        finally:
            proxy.close()
