"""Misbehaving servers for the fault matrix: real TCP listeners on 127.0.0.1 that do the wrong
thing on purpose (stay silent, answer HTTP, answer junk, stall the auth exchange, describe a
codec nothing decodes), and a relay that can hold a connection's data back, then burst it.

Each runs one daemon thread with a selector, so the tests' thread counts stay predictable.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

__all__ = ["MODES", "FakeServer"]

MODES = ("silent", "http", "junk", "slow_auth", "unsupported_codec")

HTTP_ANSWER = (
    b"HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n"
    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
)
JUNK_ANSWER = bytes(range(0x80, 0x100)) * 4
SDP_UNKNOWN = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=fault\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
    "m=video 0 RTP/AVP 96\r\na=rtpmap:96 X-NODEC/90000\r\na=control:track1\r\n"
)
CHALLENGE = 'Digest realm="fault", nonce="0123456789abcdef"'


def _rtsp_reply(status: str, cseq: str, headers: list[str], body: str = "") -> bytes:
    lines = [f"RTSP/1.0 {status}", f"CSeq: {cseq}", *headers]
    if body:
        lines += ["Content-Type: application/sdp", f"Content-Length: {len(body.encode())}"]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


class FakeServer:
    """A TCP server on a free 127.0.0.1 port that misbehaves as ``mode`` says.

    - ``silent``: accepts and never answers.
    - ``http``: answers any request with an HTTP 400, as a web server does.
    - ``junk``: answers any request with binary bytes.
    - ``slow_auth``: answers 401 with a Digest challenge, then never answers the retry.
    - ``unsupported_codec``: a valid RTSP exchange for a video codec nothing decodes.
    """

    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(mode)
        self.mode = mode
        self._sel = selectors.DefaultSelector()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port = int(self._listener.getsockname()[1])
        self._sel.register(self._listener, selectors.EVENT_READ)
        self._bufs: dict[socket.socket, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fake-{mode}", daemon=True)
        self._thread.start()

    def url(self, path: str = "cam1") -> str:
        return f"rtsp://127.0.0.1:{self.port}/{path}"

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    with contextlib.suppress(OSError):
                        conn, _ = self._listener.accept()
                        conn.setblocking(False)
                        self._bufs[conn] = b""
                        self._sel.register(conn, selectors.EVENT_READ)
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self._drop(sock)
                    continue
                self._bufs[sock] += data
                self._serve(sock)
        for sock in list(self._bufs):
            self._drop(sock)
        self._sel.close()
        self._listener.close()

    def _drop(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(sock)
        self._bufs.pop(sock, None)
        sock.close()

    def _send(self, sock: socket.socket, data: bytes) -> None:
        with contextlib.suppress(OSError):
            sock.setblocking(True)
            sock.sendall(data)
            sock.setblocking(False)

    def _serve(self, sock: socket.socket) -> None:
        if self.mode == "silent":
            self._bufs[sock] = b""
            return
        if self.mode == "http":
            self._send(sock, HTTP_ANSWER)
            self._drop(sock)
            return
        if self.mode == "junk":
            self._send(sock, JUNK_ANSWER)
            self._bufs[sock] = b""
            return
        while b"\r\n\r\n" in self._bufs[sock]:
            head, _, rest = self._bufs[sock].partition(b"\r\n\r\n")
            self._bufs[sock] = rest
            lines = head.decode("latin-1").split("\r\n")
            method = lines[0].split(" ")[0]
            fields = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            cseq = fields.get("cseq", "0")
            self._answer(sock, method, cseq, fields)

    def _answer(self, sock: socket.socket, method: str, cseq: str, fields: dict[str, str]) -> None:
        if method == "OPTIONS":
            public = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"
            self._send(sock, _rtsp_reply("200 OK", cseq, [public]))
        elif self.mode == "slow_auth":
            if "authorization" not in fields:
                challenge = f"WWW-Authenticate: {CHALLENGE}"
                self._send(sock, _rtsp_reply("401 Unauthorized", cseq, [challenge]))
            # an authorized request is never answered
        elif method == "DESCRIBE":
            base = f"Content-Base: rtsp://127.0.0.1:{self.port}/cam1/"
            self._send(sock, _rtsp_reply("200 OK", cseq, [base], SDP_UNKNOWN))
        elif method == "SETUP":
            transport = fields.get("transport", "RTP/AVP/TCP;unicast;interleaved=0-1")
            headers = [f"Transport: {transport}", "Session: 12345678;timeout=60"]
            self._send(sock, _rtsp_reply("200 OK", cseq, headers))
        else:
            self._send(sock, _rtsp_reply("200 OK", cseq, ["Session: 12345678"]))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
