"""A test RTSP server whose stream never decodes: valid RTSP and RTP, H.264 slices without a
keyframe or parameter sets (garbage non-IDR slices), 30 packets a second, over interleaved TCP
or UDP, so a reader sees packets arriving but no picture, ever.

Requests are parsed here on purpose, independently of rtsplab's client code.

Example:
    >>> with UndecodableServer() as srv:  # doctest: +SKIP
    ...     srv.url
    'rtsp://127.0.0.1:40123/cam1'
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

__all__ = ["UndecodableServer"]

SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=undecodable\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
    "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    "a=fmtp:96 packetization-mode=1\r\na=control:track1\r\n"
)


def _rtp(seq: int, ts: int) -> bytes:
    """One RTP packet (marker set) carrying a garbage non-IDR slice (NAL type 1)."""
    header = bytes((0x80, 0x80 | 96)) + seq.to_bytes(2, "big") + ts.to_bytes(4, "big")
    return header + (0x0BAD).to_bytes(4, "big") + b"\x41" + os.urandom(200)


class UndecodableServer:
    """Serves ``/cam1`` on a free 127.0.0.1 port until :meth:`close`; one thread per client.

    Args:
        sdp: the session description DESCRIBE answers (default: H.264 without parameter sets).

    Attributes:
        packets_sent: RTP packets sent so far, every client counted.
    """

    def __init__(self, sdp: str = SDP) -> None:
        self.sdp = sdp
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"rtsp://127.0.0.1:{self.port}/cam1"
        self.packets_sent = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self._spawn(self._accept)

    def _spawn(self, target: object, *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True, name="undecodable")  # type: ignore[arg-type]
        self._threads.append(t)
        t.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._socks.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        buf = b""
        udp: tuple[socket.socket, tuple[str, int]] | None = None
        streaming = threading.Event()
        with contextlib.suppress(OSError):
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                buf += data
                while b"\r\n\r\n" in buf:
                    while buf[:1] == b"$" and len(buf) >= 4:  # the client's RTCP: skip it
                        size = int.from_bytes(buf[2:4], "big")
                        if len(buf) < 4 + size:
                            break
                        buf = buf[4 + size :]
                    head, sep, rest = buf.partition(b"\r\n\r\n")
                    if not sep or head[:1] == b"$":
                        break
                    buf = rest
                    lines = head.decode("latin-1").split("\r\n")
                    method = lines[0].split(" ")[0]
                    headers = {}
                    for line in lines[1:]:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                    reply = [f"CSeq: {headers.get('cseq', '0')}"]
                    body = ""
                    if method == "DESCRIBE":
                        body = self.sdp
                        reply += [f"Content-Base: {self.url}/", "Content-Type: application/sdp"]
                    elif method == "SETUP":
                        transport = headers.get("transport", "")
                        reply.append("Session: 1234;timeout=60")
                        if "client_port=" in transport:
                            ports = transport.split("client_port=")[1].split(";")[0]
                            rtp_port = int(ports.split("-")[0])
                            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                            sock.bind(("127.0.0.1", 0))
                            self._socks.append(sock)
                            udp = (sock, ("127.0.0.1", rtp_port))
                            here = sock.getsockname()[1]
                            reply.append(
                                f"Transport: RTP/AVP;unicast;client_port={ports};"
                                f"server_port={here}-{here + 1}"
                            )
                        else:
                            reply.append("Transport: RTP/AVP/TCP;unicast;interleaved=0-1")
                    elif method == "PLAY":
                        reply.append("Session: 1234")
                        streaming.set()
                        self._spawn(self._stream, conn, udp, streaming)
                    elif method == "OPTIONS":
                        reply.append("Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN")
                    if body:
                        reply.append(f"Content-Length: {len(body)}")
                    out = "RTSP/1.0 200 OK\r\n" + "\r\n".join(reply) + "\r\n\r\n" + body
                    conn.sendall(out.encode())
        streaming.clear()
        conn.close()

    def _stream(
        self,
        conn: socket.socket,
        udp: tuple[socket.socket, tuple[str, int]] | None,
        streaming: threading.Event,
    ) -> None:
        seq, ts = 1, 0
        with contextlib.suppress(OSError):
            while streaming.is_set() and not self._stop.wait(1 / 30):
                packet = _rtp(seq, ts)
                if udp is not None:
                    udp[0].sendto(packet, udp[1])
                else:
                    conn.sendall(b"$\x00" + len(packet).to_bytes(2, "big") + packet)
                self.packets_sent += 1
                seq, ts = (seq + 1) & 0xFFFF, (ts + 3000) & 0xFFFFFFFF

    def close(self) -> None:
        """Stop every thread and close every socket."""
        self._stop.set()
        for sock in [self._listener, *self._socks]:
            with contextlib.suppress(OSError):
                sock.close()
        deadline = time.monotonic() + 2
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> UndecodableServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
