"""What a stream carries on the wire, read with a bare RTSP session (no rtsplab code): the SDP's
media order, and the video's first RTP sequence number and timestamp, their wraps and the
largest packet, so the matrix can check that a shape knob really shaped the stream."""

from __future__ import annotations

import contextlib
import itertools
import re
import socket
import time
from dataclasses import dataclass

__all__ = ["WireStats", "wire_stats"]


@dataclass(frozen=True)
class WireStats:
    """The video track's packets as sent, over ``seconds``."""

    media: tuple[str, ...]  # m= lines in SDP order ("video", "audio", ...)
    packets: int
    first_seq: int
    first_timestamp: int
    seq_wraps: int
    timestamp_wraps: int
    max_packet_bytes: int


def _request(sock: socket.socket, pending: bytearray, text: str) -> tuple[str, str]:
    sock.sendall(text.encode())
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        pending += chunk
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    found = re.search(rb"content-length: *(\d+)", head, re.I)
    length = int(found.group(1)) if found else 0
    while len(rest) < length:
        rest += sock.recv(65536)
    pending[:] = rest[length:]
    return head.decode("latin-1"), rest[:length].decode("latin-1")


def wire_stats(host: str, port: int, url: str, seconds: float) -> WireStats:
    """DESCRIBE, SETUP the video (TCP, channels 0-1), PLAY, and count its packets."""
    with socket.create_connection((host, port), timeout=5) as sock:
        pending = bytearray()
        _, sdp = _request(sock, pending, f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        sections = sdp.split("\r\nm=")[1:]
        media = tuple(s.split(" ", 1)[0] for s in sections)
        video = sections[media.index("video")]
        control = re.search(r"a=control:(\S+)", video)
        assert control is not None, "no a=control for the video"
        track = control.group(1) if "://" in control.group(1) else f"{url}/{control.group(1)}"
        head, _ = _request(
            sock,
            pending,
            f"SETUP {track} RTSP/1.0\r\nCSeq: 2\r\n"
            "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n",
        )
        session = re.search(r"Session: *([^;\r]+)", head)
        assert session is not None, head
        _request(
            sock, pending, f"PLAY {url} RTSP/1.0\r\nCSeq: 3\r\nSession: {session.group(1)}\r\n\r\n"
        )
        data = bytes(pending)
        seqs: list[int] = []
        stamps: list[int] = []
        sizes: list[int] = []
        sock.settimeout(0.2)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with contextlib.suppress(TimeoutError):
                data += sock.recv(65536)
            while len(data) >= 4 and data[0] == 0x24:
                n = int.from_bytes(data[2:4], "big")
                if len(data) < 4 + n:
                    break
                channel, packet, data = data[1], data[4 : 4 + n], data[4 + n :]
                if channel == 0 and len(packet) >= 12:
                    seqs.append(int.from_bytes(packet[2:4], "big"))
                    stamps.append(int.from_bytes(packet[4:8], "big"))
                    sizes.append(len(packet))
            if data and data[0] != 0x24:  # an RTSP message (keep-alive answer): skip to RTP
                at = data.find(b"$")
                data = data[at:] if at >= 0 else b""
    pairs = list(itertools.pairwise(seqs))
    stamp_pairs = list(itertools.pairwise(stamps))
    return WireStats(
        media=media,
        packets=len(seqs),
        first_seq=seqs[0] if seqs else -1,
        first_timestamp=stamps[0] if stamps else -1,
        seq_wraps=sum(1 for a, b in pairs if b < a),
        timestamp_wraps=sum(1 for a, b in stamp_pairs if b < a - 2**31),
        max_packet_bytes=max(sizes, default=0),
    )
