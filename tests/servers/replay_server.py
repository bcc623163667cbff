"""A test RTSP server that answers with real cameras' recorded replies, then streams live H.264.

Each capture file in ``tests/rtsp/replays/`` holds the replies one camera model sent
(OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, whichever were recorded) with a header naming
its source, licence and quirks. :class:`ReplayServer` serves one capture on 127.0.0.1:

- every recorded reply goes out as recorded, except: ``CSeq`` follows the request,
  ``{host}``/``{ip}``/``{client_ip}`` become this server's address, ``Content-Length`` is
  recounted after that, later ``Session`` ids match the one the SETUP reply gave (the
  captures come from separate connections), and a SETUP reply recorded over UDP has only its
  ``Transport`` turned into the interleaved form the client asked for;
- a request for a URL the camera would not accept gets ``404``, an unknown session ``454``.
  A relative control is resolved the FFmpeg/live555 way (appended to the Content-Base, or to
  the request URL when there is none: ``.../realmonitor?channel=1&subtype=1/trackID=0``), an
  absolute one is used as is; PLAY must name the aggregate URL (the session-level absolute
  ``a=control``, else the base, with or without a final ``/``) or the video track;
- after PLAY it streams a live H.264 encode of frames with a burned-in timecode
  (SPS/PPS in-band) over interleaved TCP, with the payload type, SSRC, first sequence number
  and RTP time the capture announced.

Requests are parsed here (and replies in :mod:`servers.replay_captures`) on purpose,
independently of rtsplab's own client code, so the client is tested against a second
implementation.

Run one by hand, from the repository root:
``PYTHONPATH=.:tests python -m servers.replay_server tests/rtsp/replays/dahua_ipc.rtsp``.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtsplab.rtsp.h264 import packetize_h264
from rtsplab.sim.media import H264Encoder
from rtsplab.timecode import write_timecode
from servers.replay_captures import (
    Capture,
    Reply,
    interleaved_transport,
    join_control,
    params,
    parse_sdp,
    parse_ssrc,
)

GENERIC_SESSION = "12345678"
DEFAULT_SSRC = 0x5EED5EED
MODE0_MTU = 60_000  # packetization-mode=0: whole NAL units; a $-frame holds at most 65535 bytes
MAX_REQUEST_BYTES = 64 * 1024


# ---- the server ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeenRequest:
    """One request the server answered: method, URL, and the status it gave."""

    method: str
    url: str
    status: int


class ReplayServer:
    """Serves one :class:`Capture` on 127.0.0.1 (a free port) until :meth:`close`.

    Attributes:
        port: the TCP port.
        url: ``rtsp://127.0.0.1:<port><path>``, what a client opens.
        seen: every request answered, in order (all connections).
        video_url: the SETUP URL the camera accepts for the video track.
        play_urls: the PLAY URLs it accepts.
    """

    def __init__(self, capture: Capture, fps: int = 15, size: tuple[int, int] = (320, 180)) -> None:
        self.capture = capture
        self.fps = fps
        self.size = size
        self.seen: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port: int = self._listener.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"rtsp://{self.host}{capture.path}"
        self._plan()
        self._spawn(self._accept_loop, "replay-accept")

    # ---- what the camera would accept, from its DESCRIBE reply --------------------------
    def render(self, text: str) -> str:
        """``text`` with the address placeholders replaced by this server's."""
        return (
            text.replace("{host}", self.host)
            .replace("{client_ip}", "127.0.0.1")
            .replace("{ip}", "127.0.0.1")
        )

    def _plan(self) -> None:
        replies = self.capture.replies
        if "DESCRIBE" in replies:
            self.describe = Reply.parse(self.render(replies["DESCRIBE"]))
        else:
            sdp = self.render(replies["SDP"])
            self.describe = Reply(
                "RTSP/1.0 200 OK",
                [("CSeq", " 0"), ("Content-Type", " application/sdp"), ("Content-Length", " 0")],
                sdp,
            )
        base = self.describe.get("content-base") or self.describe.get("content-location")
        self.base = base or self.url
        session_control, self.media = parse_sdp(self.describe.body)
        video = [m for m in self.media if m.kind == "video" and m.encoding == "H264"]
        if not video:
            raise ValueError(f"{self.capture.name}: no H.264 video section")
        self.video = video[0]
        self.track_urls = {
            join_control(self.base, m.control or "*"): m for m in self.media if m.control
        }
        self.video_url = join_control(self.base, self.video.control or "*")
        if session_control and session_control != "*" and "://" in session_control:
            aggregate = session_control
        else:
            aggregate = self.base
        self.play_urls = {aggregate, aggregate.rstrip("/"), aggregate.rstrip("/") + "/"}
        self.play_urls.add(self.video_url)
        self.payload_type = self.video.payload_types[0]
        self.packetization_mode = self.video.fmtp.get("packetization-mode", "0").strip()

    # ---- threads and sockets --------------------------------------------------------------
    def _spawn(self, target: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._socks.append(conn)
            self._spawn(_Connection(self, conn).run, "replay-conn")

    def record(self, method: str, url: str, status: int) -> None:
        with self._lock:
            self.seen.append(SeenRequest(method, url, status))

    def requests(self, method: str) -> list[SeenRequest]:
        """The answered requests of one method."""
        with self._lock:
            return [r for r in self.seen if r.method == method]

    def close(self) -> None:
        """Stop streaming, close every socket, join the threads (bounded). Idempotent."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()
        deadline = time.monotonic() + 3.0
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> ReplayServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ReplayServer({self.capture.name!r}, port={self.port})"


class _Connection:
    """One client connection: answers requests, streams after PLAY."""

    def __init__(self, server: ReplayServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.send_lock = threading.Lock()
        self.session: str | None = None
        self.channel = 0
        self.ssrc = DEFAULT_SSRC
        self.streaming = threading.Event()

    def run(self) -> None:
        buf = b""
        self.sock.settimeout(None)  # blocking sends for the stream; reads poll below
        try:
            while not self.server._stop.is_set():
                readable, _, _ = select.select([self.sock], [], [], 0.2)
                if not readable:
                    continue
                data = self.sock.recv(65536)
                if not data:
                    return
                buf += data
                while True:
                    if buf[:1] == b"$":  # the client's RTCP receiver reports
                        if len(buf) < 4:
                            break
                        size = 4 + int.from_bytes(buf[2:4], "big")
                        if len(buf) < size:
                            break
                        buf = buf[size:]
                        continue
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        if len(buf) > MAX_REQUEST_BYTES:
                            return
                        break
                    head = buf[:end].decode("utf-8", "replace")
                    m = re.search(r"(?im)^content-length\s*:\s*(\d+)", head)
                    total = end + 4 + (int(m.group(1)) if m else 0)
                    if len(buf) < total:
                        break
                    buf = buf[total:]
                    if not self.handle(head):
                        return
        except OSError:
            return
        finally:
            self.streaming.clear()
            with contextlib.suppress(OSError):
                self.sock.close()

    def send(self, data: bytes) -> None:
        with self.send_lock:
            self.sock.sendall(data)

    # ---- requests ---------------------------------------------------------------------------
    def handle(self, head: str) -> bool:
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            self.send(b"RTSP/1.0 400 Bad Request\r\n\r\n")
            return False
        method, url, _ = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        cseq = headers.get("cseq", "0")
        status, reply = self.answer(method, url, headers)
        self.server.record(method, url, status)
        if reply is None:
            reason = {404: "Not Found", 454: "Session Not Found", 461: "Unsupported Transport"}
            reply = Reply(f"RTSP/1.0 {status} {reason.get(status, 'Error')}", [], "")
        reply.set("CSeq", cseq)
        self.send(reply.encode())
        if method == "PLAY" and status == 200 and not self.streaming.is_set():
            self.streaming.set()
            self.server._spawn(self.stream, "replay-stream")
        return method != "TEARDOWN"

    def _recorded(self, section: str) -> Reply | None:
        text = self.server.capture.replies.get(section)
        if text is None:
            return None
        reply = Reply.parse(self.server.render(text))
        if self.session is not None and reply.get("session") is not None:
            for i, (n, v) in enumerate(reply.headers):  # keep padding and ;timeout=...
                if n.strip().lower() == "session":
                    old = v.split(";")[0].strip()
                    reply.headers[i] = (n, v.replace(old, self.session, 1))
        return reply

    def _session_ok(self, headers: dict[str, str]) -> bool:
        given = headers.get("session", "").split(";")[0].strip()
        return self.session is not None and given == self.session

    def answer(self, method: str, url: str, headers: dict[str, str]) -> tuple[int, Reply | None]:
        srv = self.server
        if method == "OPTIONS":
            reply = self._recorded("OPTIONS") or Reply(
                "RTSP/1.0 200 OK",
                [("Public", " OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER")],
                "",
            )
            if self.session is None:  # a keep-alive reply replayed before any session
                reply.headers = [(n, v) for n, v in reply.headers if n.strip().lower() != "session"]
            return 200, reply
        if method == "DESCRIBE":
            path = re.sub(r"^rtsp://[^/]*", "", url) or "/"
            if path.rstrip("/") != srv.capture.path.rstrip("/"):
                return 404, None
            d = srv.describe
            given = d.get("session")
            if given and self.session is None:  # this server opens the session at DESCRIBE
                self.session = given.split(";")[0].strip()
            return 200, Reply(d.status_line, list(d.headers), d.body)
        if method == "SETUP":
            return self._setup(url, headers)
        if method in ("PLAY", "GET_PARAMETER", "SET_PARAMETER", "TEARDOWN", "PAUSE"):
            if not self._session_ok(headers):
                return 454, None
            if method == "PLAY":
                if url not in srv.play_urls:
                    return 404, None
                return 200, self._recorded("PLAY") or self._generic_ok()
            if method == "TEARDOWN":
                self.streaming.clear()
                return 200, self._recorded("TEARDOWN") or self._generic_ok()
            return 200, self._generic_ok()
        return 501, None

    def _generic_ok(self) -> Reply:
        return Reply("RTSP/1.0 200 OK", [("Session", f" {self.session}")], "")

    def _setup(self, url: str, headers: dict[str, str]) -> tuple[int, Reply | None]:
        srv = self.server
        media = srv.track_urls.get(url)
        if media is None and not srv.video.control and url == srv.base:
            media = srv.video
        if media is None:
            return 404, None
        if "session" in headers and not self._session_ok(headers):
            return 454, None
        asked = headers.get("transport", "")
        wanted = re.search(r"interleaved=(\d+)(?:-(\d+))?", asked)
        if "TCP" not in asked.upper() or wanted is None:
            return 461, None
        asked_channels = f"{wanted.group(1)}-{wanted.group(2) or int(wanted.group(1)) + 1}"
        is_video = media is srv.video
        section = "SETUP" if is_video else f"SETUP {media.control}"
        reply = self._recorded(section) or (None if is_video else self._recorded("SETUP"))
        if reply is None:
            sid = self.session or GENERIC_SESSION
            reply = Reply(
                "RTSP/1.0 200 OK", [("Session", f" {sid}"), ("Transport", f" {asked}")], ""
            )
        transport = reply.get("transport") or asked
        borrowed = not is_video and section not in srv.capture.replies  # the video's reply
        if borrowed or "interleaved=" not in transport:
            transport = interleaved_transport(transport, asked_channels)
            reply.set("Transport", transport)
        if self.session is None:
            self.session = (reply.get("session") or GENERIC_SESSION).split(";")[0].strip()
        if is_video:
            chosen = dict(params(transport))
            chan = chosen.get("interleaved", asked_channels).split("-")[0]
            self.channel = int(chan)
            ssrc = parse_ssrc(chosen["ssrc"]) if "ssrc" in chosen else None
            self.ssrc = ssrc if ssrc is not None else self._rtp_info().get("ssrc", DEFAULT_SSRC)
        return 200, reply

    def _rtp_info(self) -> dict[str, int]:
        """seq, rtptime and ssrc of the video entry of the recorded RTP-Info, if any."""
        text = self.server.capture.replies.get("PLAY")
        info = Reply.parse(self.server.render(text)).get("rtp-info") if text else None
        if not info:
            return {}
        control = self.server.video.control or ""
        entries = [dict(params(e)) for e in info.split(",")]
        chosen = next((e for e in entries if e.get("url", "").endswith(control)), entries[0])
        out: dict[str, int] = {}
        for key in ("seq", "rtptime"):
            if chosen.get(key, "").strip().isdigit():
                out[key] = int(chosen[key])
        if "ssrc" in chosen and (ssrc := parse_ssrc(chosen["ssrc"])) is not None:
            out["ssrc"] = ssrc
        return out

    # ---- media ------------------------------------------------------------------------------
    def stream(self) -> None:
        srv = self.server
        w, h = srv.size
        fps = srv.fps
        enc = H264Encoder(w, h, fps=fps, gop=fps, bitrate=400_000)
        info = self._rtp_info()
        seq = info.get("seq", 1000)
        ts0 = info.get("rtptime", 123_456)
        mtu = MODE0_MTU if srv.packetization_mode == "0" else 1400
        t0_ns = time.time_ns()
        t0 = time.monotonic()
        n = 0
        try:
            while self.streaming.is_set() and not srv._stop.is_set():
                if srv._stop.wait(max(0.0, t0 + n / fps - time.monotonic())):
                    return
                t_ns = time.time_ns()
                image = np.full((h, w), 60 + (n * 7) % 120, np.uint8)
                write_timecode(image, t_ns, n)
                nals, _ = enc.encode(image, pts_90k=n * 90_000 // fps)
                rtp_ts = (ts0 + (t_ns - t0_ns) * 90_000 // 1_000_000_000) & 0xFFFFFFFF
                packets = packetize_h264(nals, seq, rtp_ts, self.ssrc, mtu, srv.payload_type)
                seq = (seq + len(packets)) & 0xFFFF
                frames = b"".join(
                    b"$" + bytes((self.channel,)) + len(p).to_bytes(2, "big") + p for p in packets
                )
                self.send(frames)
                n += 1
        except OSError:
            return
        finally:
            enc.close()


def main(argv: list[str]) -> None:
    """Serve the capture file given on the command line until Ctrl-C."""
    capture = Capture.load(Path(argv[0]))
    with ReplayServer(capture) as srv:
        print(f"{capture.first('vendor')}: {srv.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)


if __name__ == "__main__":
    main(sys.argv[1:])
