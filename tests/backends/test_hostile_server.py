"""The hostile-server scripts against the real native client over real sockets: each open
either succeeds (the handshake defects a correct client reads through) or fails with a typed
error, and no thread or file descriptor is left once it is closed."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from conftest import ThreadBaseline
from servers.hostile import OPENS, SCRIPTS, skeleton
from servers.scripted import ScriptedServer

from rtsplab.backends import OpenOptions
from rtsplab.backends.native import NativeBackend
from rtsplab.errors import ProtocolError, ReadTimeout, RtspLabError
from rtsplab.rtsp.auth import Authenticator, parse_auth_header
from rtsplab.urls import RtspUrl

pytestmark = pytest.mark.interop

PASSWORD = 'pa"ss:w@rd'


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settle(threads: int, fds: int, timeout_s: float = 2.0) -> tuple[int, int]:
    """Thread and fd counts once they are back to ``threads``/``fds``, or at the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if threading.active_count() <= threads and open_fds() <= fds:
            break
        time.sleep(0.02)
    return threading.active_count(), open_fds()


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_each_hostile_script_opens_or_fails_typed_and_leaves_nothing(name: str) -> None:
    with ScriptedServer(SCRIPTS[name]) as srv:
        url = RtspUrl.parse(srv.url())
        threads, fds = threading.active_count(), open_fds()
        baseline = ThreadBaseline()
        options = OpenOptions(open_timeout_s=2.0, read_timeout_s=0.3)
        backend = None
        try:
            backend = NativeBackend(url, options)
            assert name in OPENS, f"{name} should not open"
            with pytest.raises(ReadTimeout):  # the server sends no video: the read is bounded
                backend.read()
        except RtspLabError as exc:
            assert name not in OPENS, f"{name}: {type(exc).__name__}: {exc}"
            if name == "channels_out_of_range":
                assert isinstance(exc, ProtocolError) and "interleaved" in str(exc)
        finally:
            if backend is not None:
                backend.close()
        _, fds_after = settle(threads, fds)
        left = [n for n in baseline.left() if not n.startswith("scripted-")]  # the server's
        assert fds_after <= fds and not left, left
        if name in OPENS:
            deadline = time.monotonic() + 3  # the server thread may read the last bytes late
            while time.monotonic() < deadline and srv.requests[-1][0] != "TEARDOWN":
                time.sleep(0.02)
            methods = [m for m, _, _ in srv.requests if not m.startswith("RTSP/")]
            assert methods[:3] == ["DESCRIBE", "SETUP", "PLAY"] and methods[-1] == "TEARDOWN"


def test_the_server_requests_were_answered() -> None:
    with ScriptedServer(SCRIPTS["server_request_first"]) as srv:
        NativeBackend(RtspUrl.parse(srv.url()), OpenOptions(open_timeout_s=2.0)).close()
    assert b"RTSP/1.0 200 OK\r\nCSeq: 900\r\n" in srv.received
    assert b"RTSP/1.0 200 OK\r\nCSeq: 901\r\n" in srv.received


def test_a_redirect_to_another_host_does_not_take_the_credentials() -> None:
    with ScriptedServer(lambda m, c, u: skeleton(m, c, u)) as target:

        def redirect(method: str, cseq: int, url: str) -> bytes:
            if method == "DESCRIBE":
                where = f"rtsp://localhost:{target.port}/cam1"  # another host name
                return f"RTSP/1.0 302 Found\r\nCSeq: {cseq}\r\nLocation: {where}\r\n\r\n".encode()
            return b""

        with ScriptedServer(redirect) as first:
            url = RtspUrl.parse(first.url(userinfo="admin:s3cret@"))
            NativeBackend(url, OpenOptions(open_timeout_s=2.0)).close()
    assert target.requests and all("authorization" not in h for _, _, h in target.requests)
    assert b"s3cret" not in target.received and b"admin" not in target.received


def test_rtcp_goes_only_to_the_server_even_when_setup_names_another_source() -> None:
    """A SETUP answer's ``source=`` naming another host does not get the receiver reports."""
    for _ in range(20):  # the same UDP port free on 127.0.0.1 (the server) and 127.0.0.2
        there = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        there.bind(("127.0.0.1", 0))
        rtcp_port = there.getsockname()[1]
        elsewhere = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            elsewhere.bind(("127.0.0.2", rtcp_port))
            break
        except OSError:
            there.close()
            elsewhere.close()
    else:
        pytest.fail("no UDP port free on both 127.0.0.1 and 127.0.0.2")
    transport = (
        f"RTP/AVP;unicast;client_port=1-2;server_port={rtcp_port - 1}-{rtcp_port};source=127.0.0.2"
    )

    def script(method: str, cseq: int, url: str) -> bytes:
        return skeleton(method, cseq, url, transport=transport)

    try:
        with ScriptedServer(script) as srv:
            backend = NativeBackend(
                RtspUrl.parse(srv.url()), OpenOptions(transport="udp", open_timeout_s=2.0)
            )
            try:
                there.settimeout(2.0)
                report, sender = there.recvfrom(2048)  # the hello receiver report after PLAY
                assert report[1] in (200, 201) and sender[0] == "127.0.0.1"
                elsewhere.settimeout(0.3)
                with pytest.raises(TimeoutError):
                    elsewhere.recvfrom(2048)
            finally:
                backend.close()
    finally:
        for s in (elsewhere, there):
            s.close()


class DigestScript:
    """A server that wants Digest on every request (rtsplab's own Authenticator checks it),
    with a short session timeout; its first keep-alive is refused as if the nonce had gone
    stale, with a fresh challenge."""

    def __init__(self) -> None:
        self.auth = Authenticator("admin", PASSWORD, algorithm="SHA-256")
        self.checked: list[tuple[str, bool]] = []
        self.stale: set[str | None] = set()

    def __call__(self, method: str, cseq: int, url: str, headers: dict[str, str]) -> bytes:
        answer = headers.get("authorization") or ""
        nonce = parse_auth_header(answer)[1].get("nonce")
        good = self.auth.check(method, answer, url) and nonce not in self.stale
        if method == "GET_PARAMETER" and not self.stale:
            self.stale.add(nonce)  # from now on that nonce is refused
            good = False
        self.checked.append((method, good))
        if not good:
            challenge = self.auth.challenge() + ", stale=true"
            return f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: {challenge}\r\n\r\n".encode()
        raw = skeleton(method, cseq, url)
        return raw.replace(b"timeout=60", b"timeout=2")


def test_a_401_mid_session_reauthenticates_and_teardown_carries_credentials() -> None:
    script = DigestScript()
    with ScriptedServer(script, with_headers=True) as srv:
        url = RtspUrl.parse(srv.url(userinfo=f"admin:{PASSWORD}@"))
        backend = NativeBackend(url, OpenOptions(open_timeout_s=2.0, read_timeout_s=2.6))
        try:
            with pytest.raises(ReadTimeout):
                backend.read()  # keep-alives go out every second meanwhile
        finally:
            backend.close()
        deadline = time.monotonic() + 2
        while not any(m == "TEARDOWN" for m, _ in script.checked) and time.monotonic() < deadline:
            time.sleep(0.02)
    keepalives = [good for m, good in script.checked if m == "GET_PARAMETER"]
    assert keepalives[0] is False and keepalives[1], script.checked  # retried with the new nonce
    assert ("TEARDOWN", True) in script.checked, script.checked
    assert PASSWORD.encode() not in srv.received


def test_closing_a_threaded_reader_sends_an_authenticated_teardown() -> None:
    """close() interrupts the reader thread's wait without closing the connection's sending
    side, so the TEARDOWN (with credentials) still reaches the camera."""
    import rtsplab

    script = DigestScript()
    script.stale.add("no keep-alive refused in this test")
    with ScriptedServer(script, with_headers=True) as srv:
        url = srv.url(userinfo=f"admin:{PASSWORD}@")
        reader = rtsplab.open(url, backend="native", strategy="latest", read_timeout_s=5.0)
        time.sleep(0.2)  # the reader thread is waiting for a packet
        reader.close()
        deadline = time.monotonic() + 2
        while ("TEARDOWN", True) not in script.checked and time.monotonic() < deadline:
            time.sleep(0.02)
    assert ("TEARDOWN", True) in script.checked, script.checked


def test_the_server_sniff_takes_a_server_request_for_rtsp() -> None:
    """An NVR that sends its own SET_PARAMETER before answering still speaks RTSP; an HTTP
    server does not."""
    from rtsplab.backends.diagnosis import sniff

    with ScriptedServer(SCRIPTS["server_request_first"]) as srv:
        assert sniff(RtspUrl.parse(srv.url()), time.monotonic() + 2) is True
    http = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    with ScriptedServer(lambda m, c, u: http) as srv, pytest.raises(ProtocolError, match="400"):
        sniff(RtspUrl.parse(srv.url()), time.monotonic() + 2)
