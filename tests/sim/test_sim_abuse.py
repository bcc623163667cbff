"""The simulator under abuse: 37 concurrent clients, over a third of them misbehaving.

21 good clients (rtsplab readers) read two cameras while 16 others send malformed requests,
vanish mid-session (TCP reset, UDP port gone), stop reading, send half a request and wait,
send a head one byte every 0.3 s and never finish it (slowloris), flood the server with UDP
SETUPs, or dribble a request one byte at a time. The server must stay up, hold a bounded
number of threads and sockets, and the good clients' frame ages (capture -> decoded, from the
burned-in timecodes) must match a no-abuse baseline taken with the same clients.
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
from rtsplab.rtsp.messages import format_request
from rtsplab.sim import SimCamera, SimServer
from rtsplab.sim.connection import ServerLimits

pytestmark = pytest.mark.interop

GOOD = 21
SECONDS = 6.0
LIMITS = ServerLimits(max_sessions=64, request_timeout_s=2.0)
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


def _slowloris(port: int, url: str, rng: random.Random) -> None:
    """A head that never ends, one byte every 0.3 s: the server answers 408 and closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=0.3) as s:
        s.sendall(f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nX-Slow: ".encode())
        deadline = time.monotonic() + 3 * LIMITS.request_timeout_s
        while time.monotonic() < deadline:
            try:
                s.sendall(b"z")
                reply = s.recv(4096)
            except TimeoutError:
                continue
            assert reply.startswith(b"RTSP/1.0 408 "), reply
            return
        raise AssertionError("the slowloris client was never cut off")


def _setup_flood(port: int, url: str, rng: random.Random) -> None:
    """100 UDP SETUPs on one connection: the first few get a session, the rest 453."""
    c = RawRtsp(port, timeout_s=3)
    try:
        base = rng.randrange(20000, 60000, 2)
        statuses = [
            c.request(
                "SETUP", url + "/track1", {"Transport": f"RTP/AVP;client_port={base}-{base + 1}"}
            ).status
            for _ in range(100)
        ]
        assert statuses.count(200) <= LIMITS.max_sessions_per_connection, statuses
        assert set(statuses) <= {200, 453}, statuses
    finally:
        _reset(c.sock)


def _dribble(port: int, url: str, rng: random.Random) -> None:
    """A whole request with a 2 KB header, one byte per write: it is answered."""
    request = format_request("DESCRIBE", url, 1, [("X-Pad", "d" * 2000)])
    c = RawRtsp(port, timeout_s=3)
    try:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(request)):
            c.send(request[i : i + 1])
        assert c.response().status == 200
    finally:
        c.close()
    time.sleep(rng.uniform(0.1, 0.3))


ABUSERS: list[Callable[[int, str, random.Random], None]] = [
    _garbage, _garbage, _garbage, _vanish_tcp, _vanish_tcp, _vanish_tcp,
    _vanish_udp, _vanish_udp, _stop_reading, _stop_reading, _half_request,
    _slowloris, _slowloris, _setup_flood, _setup_flood, _dribble,
]  # fmt: skip


def _proc_usage(pid: int) -> tuple[int, int]:
    """(threads, open file descriptors) of process ``pid``, read from /proc."""
    with open(f"/proc/{pid}/status") as f:
        threads = next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
    return threads, len(os.listdir(f"/proc/{pid}/fd"))


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


def test_abusive_clients_leave_good_ages_unchanged_and_the_server_bounded() -> None:
    cams = [SimCamera(n, size=(320, 180), fps=15) for n in ("cam1", "cam2")]
    with SimServer(cams, process=True, send_timeout_s=2.0, limits=LIMITS) as srv:
        baseline = _read_good(srv.urls, None)
        usage = [_proc_usage(srv.pid)]
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
            while not stop.wait(0.25):
                usage.append(_proc_usage(srv.pid))
            for t in threads:
                t.join(10)

        abused = _read_good(srv.urls, abuse)
        with open(f"/proc/{srv.pid}/stat") as f:  # the server process did not die
            assert f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        after = read_pyav(srv.url("cam1"), 15)  # and still serves a newcomer
        assert len(after.decoded) >= 15, after.error

    assert sum(counts.values()) > 50, counts  # the abuse really ran, all kinds of it
    assert {f.__name__ for f in ABUSERS} <= set(counts), (counts, failures[:5])
    # bounded: a thread per connection and per playing session, two sockets per UDP session
    (threads0, fds0), most = usage[0], (max(u[0] for u in usage), max(u[1] for u in usage))
    assert most[0] - threads0 <= LIMITS.max_connections + LIMITS.max_sessions, (usage[0], most)
    assert most[1] - fds0 <= LIMITS.max_connections + 2 * LIMITS.max_sessions, (usage[0], most)
    for df in (baseline, abused):
        assert set(df.clock) == {"timecode"}
    per_client = abused.groupby("stream").size()
    assert per_client.min() >= 0.8 * SECONDS * 15, per_client.describe()  # nobody starved
    b50, b95 = baseline.transit_ms.quantile([0.5, 0.95])
    a50, a95 = abused.transit_ms.quantile([0.5, 0.95])
    print(f"transit p50 {b50:.1f} -> {a50:.1f} ms, p95 {b95:.1f} -> {a95:.1f} ms; {counts}")
    print(f"server threads, fds: {usage[0]} before, {most} at most")
    assert a50 < b50 + 30, (b50, a50)
    assert a95 < b95 + 80, (b95, a95)
