"""The simulator under abuse: 32 concurrent clients, a third of them misbehaving.

21 good clients (rtsplab readers) read two cameras while 11 others send malformed requests,
vanish mid-session (TCP reset, UDP port gone), stop reading, or send half a request and
wait. The server must stay up, and the good clients' frame ages (capture -> decoded, from
the burned-in timecodes) must match a no-abuse baseline taken with the same clients.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import struct
import threading
import time
from collections.abc import Callable

import pandas as pd
import pytest
from servers.sim_fixtures import RawRtsp, read_pyav

import rtsplab
from rtsplab.recorder import Recorder
from rtsplab.sim import SimCamera, SimServer

pytestmark = pytest.mark.interop

GOOD, BAD = 21, 11
SECONDS = 6.0
MALFORMED = [
    b"\x00\xff\x13\x37garbage\r\n\r\n",
    b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    b"DESCRIBE rtsp://127.0.0.1/cam1 RTSP/1.0\r\nCSeq: x\r\n\r\n",
    b"ANNOUNCE * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 999999999999\r\n\r\n",
    b"PLAY rtsp://127.0.0.1/cam1 RTSP/1.0\r\nCSeq: 1\r\nSession: deadbeef\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
]


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (no FIN, no TEARDOWN): a client that vanished."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _garbage(port: int, url: str, rng: random.Random) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        data = rng.choice([*MALFORMED, os.urandom(rng.randint(1, 3000))])
        s.sendall(data)
        with contextlib.suppress(OSError):
            s.recv(4096)


def _vanish_tcp(port: int, url: str, rng: random.Random) -> None:
    c = RawRtsp(port, timeout_s=3)
    c.play_tcp(url)
    c.read_frames(rng.randint(1, 30), timeout_s=2)
    _reset(c.sock)


def _vanish_udp(port: int, url: str, rng: random.Random) -> None:
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    p = rtp.getsockname()[1]
    c = RawRtsp(port, timeout_s=3)
    try:
        assert c.request("DESCRIBE", url).status == 200
        r = c.request(
            "SETUP", url + "/track1", {"Transport": f"RTP/AVP;unicast;client_port={p}-{p + 1}"}
        )
        session = (r.get("Session") or "").split(";")[0]
        c.request("PLAY", url + "/", {"Session": session})
        time.sleep(rng.uniform(0.05, 0.5))
    finally:
        rtp.close()  # the server keeps sending to a port that is gone
        _reset(c.sock)


def _stop_reading(port: int, url: str, rng: random.Random) -> None:
    c = RawRtsp(port, timeout_s=3)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.play_tcp(url)
    time.sleep(rng.uniform(1.0, 3.0))  # never reads: the server's send buffer fills
    _reset(c.sock)


def _half_request(port: int, url: str, rng: random.Random) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\n".encode())  # no blank line
        time.sleep(rng.uniform(0.5, 2.0))


ABUSERS: list[Callable[[int, str, random.Random], None]] = [
    _garbage, _garbage, _garbage, _vanish_tcp, _vanish_tcp, _vanish_tcp,
    _vanish_udp, _vanish_udp, _stop_reading, _stop_reading, _half_request,
]  # fmt: skip


def _read_good(urls: list[str], abuse: Callable[[], None] | None) -> pd.DataFrame:
    """The good clients' frames over SECONDS, while ``abuse`` runs in the background."""
    rec = Recorder()
    names = [f"good{i}" for i in range(GOOD)]
    with rtsplab.open_group(
        [urls[i % len(urls)] for i in range(GOOD)], strategy="buffered", recorder=rec,
        names=names, backend="native", open_timeout_s=10, read_timeout_s=2,
    ) as g:  # fmt: skip
        assert not g.open_errors
        g.read_set(timeout_s=5)  # every stream has started
        rec.clear()
        stop = threading.Event()
        bg = threading.Thread(target=abuse, args=(stop,)) if abuse else None
        if bg is not None:
            bg.start()
        try:
            t_end = time.monotonic() + SECONDS
            while time.monotonic() < t_end:
                fs = g.read_set(timeout_s=2)
                assert fs.whole, fs  # no good client lost its stream
        finally:
            stop.set()
            if bg is not None:
                bg.join(10)
    return rec.to_dataframe()


def test_thirty_two_clients_a_third_abusive_leave_good_ages_unchanged() -> None:
    cams = [SimCamera(n, size=(320, 180), fps=15) for n in ("cam1", "cam2")]
    with SimServer(cams, process=True, send_timeout_s=2.0) as srv:
        baseline = _read_good(srv.urls, None)
        counts: dict[str, int] = {}
        failures: list[str] = []

        def abuser(
            fn: Callable[[int, str, random.Random], None], seed: int, stop: threading.Event
        ) -> None:
            rng = random.Random(seed)
            while not stop.is_set():
                try:
                    fn(srv.port, srv.urls[seed % 2], rng)
                    counts[fn.__name__] = counts.get(fn.__name__, 0) + 1
                except (OSError, ConnectionError, AssertionError) as exc:
                    failures.append(f"{fn.__name__}: {exc!r}")
                    stop.wait(0.05)

        def abuse(stop: threading.Event) -> None:
            threads = [
                threading.Thread(target=abuser, args=(fn, i, stop), daemon=True)
                for i, fn in enumerate(ABUSERS)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)

        abused = _read_good(srv.urls, abuse)
        with open(f"/proc/{srv.pid}/stat") as f:  # the server process did not die
            assert f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        after = read_pyav(srv.url("cam1"), 15)  # and still serves a newcomer
        assert len(after.decoded) >= 15, after.error

    assert sum(counts.values()) > 50, counts  # the abuse really ran, all kinds of it
    assert {f.__name__ for f in ABUSERS} <= set(counts), (counts, failures[:5])
    for df in (baseline, abused):
        assert set(df.clock) == {"timecode"}
    per_client = abused.groupby("stream").size()
    assert per_client.min() >= 0.8 * SECONDS * 15, per_client.describe()  # nobody starved
    b50, b95 = baseline.transit_ms.quantile([0.5, 0.95])
    a50, a95 = abused.transit_ms.quantile([0.5, 0.95])
    print(f"transit p50 {b50:.1f} -> {a50:.1f} ms, p95 {b95:.1f} -> {a95:.1f} ms; {counts}")
    assert a50 < b50 + 30, (b50, a50)
    assert a95 < b95 + 80, (b95, a95)
