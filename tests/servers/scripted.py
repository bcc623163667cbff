"""A tiny scripted RTSP server on 127.0.0.1 for tests: answers each request with whatever its
script returns, records every byte it receives, optionally over TLS.

Requests are split and read here with a few lines of its own (not rtsplab's parser), so the
client is tested against a second implementation.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import threading
from collections.abc import Callable

Script = Callable[[str, int, str], bytes]  # (method, cseq, url) -> bytes to send


class ScriptedServer:
    """Serves ``script`` to every connection until closed; ``received`` holds what came in.

    Args:
        script: the answer to each request (``b""``: say nothing; ``None`` raised: hang up).
        tls: an SSL server context to wrap each connection in, or None for plain TCP.
        record_only: accept and record, never answer (a plain listener).
        with_headers: call ``script(method, cseq, url, headers)`` (lower-case header names).
    """

    def __init__(
        self,
        script: Script | None = None,
        tls: ssl.SSLContext | None = None,
        record_only: bool = False,
        with_headers: bool = False,
    ) -> None:
        self._script = script
        self._tls = tls
        self._record_only = record_only
        self._with_headers = with_headers
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.received = bytearray()
        self.streams: list[bytearray] = []  # what each connection sent, in order
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.connections = 0
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="scripted-rtsp", daemon=True)
        self._thread.start()

    def url(self, path: str = "cam1", scheme: str = "rtsp", userinfo: str = "") -> str:
        """The URL of ``path`` here."""
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}/{path}"

    def _serve(self) -> None:
        workers = []
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            t = threading.Thread(
                target=self._handle, args=(conn,), name="scripted-rtsp-conn", daemon=True
            )
            t.start()
            workers.append(t)
        for t in workers:
            t.join(timeout=2)

    def _handle(self, conn: socket.socket) -> None:
        stream = bytearray()
        with self._lock:
            self._conns.append(conn)
            self.streams.append(stream)
        try:
            if self._tls is not None:
                conn.settimeout(2)
                conn = self._tls.wrap_socket(conn, server_side=True)
                with self._lock:
                    self._conns.append(conn)
            conn.settimeout(0.1)
            buf = b""
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except (TimeoutError, ssl.SSLWantReadError):
                    continue
                if not data:
                    return
                self.received += data
                stream += data
                if self._record_only:
                    continue
                buf += data
                while True:
                    buf = buf.lstrip(b"\r\n")
                    if buf.startswith(b"$") and len(buf) >= 4:  # client RTCP: skip the frame
                        size = int.from_bytes(buf[2:4], "big")
                        if len(buf) < 4 + size:
                            break
                        buf = buf[4 + size :]
                        continue
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    head, buf = buf[:end].decode("latin-1"), buf[end + 4 :]
                    first, *lines = head.split("\r\n")
                    method, url = ([*first.split(" "), "", ""])[:2]
                    headers = {
                        k.strip().lower(): v.strip()
                        for k, _, v in (line.partition(":") for line in lines)
                    }
                    self.requests.append((method, url, headers))
                    m = re.fullmatch(r"\d+", headers.get("cseq", ""))
                    cseq = int(m.group()) if m else 0
                    if self._script is None or method.startswith("RTSP/"):
                        answer = b""  # the client's answer to a request of ours
                    elif self._with_headers:
                        answer = self._script(method, cseq, url, headers)  # type: ignore[call-arg]
                    else:
                        answer = self._script(method, cseq, url)
                    if answer:
                        conn.sendall(answer)
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        """Stop serving, close every connection and join the threads."""
        self._stop.set()
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.close()
        self._thread.join(timeout=3)
        self._listener.close()

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
