"""Server replies a hostile or broken RTSP server sends: named skeletons and their mutations.

Shared by the session fuzz (tests/rtsp/test_session_fuzz.py, no sockets) and the socket-level
run against the native client (tests/backends/test_hostile_server.py).
"""

from __future__ import annotations

from collections.abc import Callable

from rtsplab.rtsp.messages import interleave

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\na=control:*\r\n"
    b"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n"
)
RTP = b"\x80\xe0\x00\x01\x00\x00\x00\x01\x00\x00\x00\x07\x65\x88\r\n\r\n"  # CRLF pair inside


def ok(
    cseq: int | None,
    headers: str = "",
    body: bytes = b"",
    status: str = "200 OK",
    eol: str = "\r\n",
) -> bytes:
    """One reply; ``cseq=None`` leaves CSeq out, ``eol="\\n"`` makes it LF-only."""
    lines = [f"RTSP/1.0 {status}"]
    if cseq is not None:
        lines.append(f"CSeq: {cseq}")
    lines += [h for h in headers.split("\r\n") if h]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return (eol.join(lines) + eol + eol).encode() + body


def skeleton(
    method: str, cseq: int | None, url: str, eol: str = "\r\n", transport: str | None = None
) -> bytes:
    """A valid answer to ``method``."""
    if method == "DESCRIBE":
        return ok(cseq, f"Content-Base: {url}/\r\nContent-Type: application/sdp", SDP, eol=eol)
    if method == "SETUP":
        t = transport or "RTP/AVP/TCP;unicast;interleaved=0-1"
        return ok(cseq, f"Transport: {t}\r\nSession: 12345678;timeout=60", eol=eol)
    if method == "PLAY":
        return ok(cseq, f"Session: 12345678\r\nRTP-Info: url={url}/track1;seq=1;rtptime=0", eol=eol)
    return ok(cseq, "Session: 12345678", eol=eol)


Script = Callable[[str, int, str], bytes]  # (method, cseq, url) -> what the server sends


def server_request_first(method: str, cseq: int, url: str) -> bytes:
    """A SET_PARAMETER and an OPTIONS from the server before each answer (some NVRs)."""
    ask = f"SET_PARAMETER {url} RTSP/1.0\r\nCSeq: 900\r\nContent-Length: 5\r\n\r\na: b\n"
    ask += "OPTIONS * RTSP/1.0\r\nCSeq: 901\r\n\r\n"
    return ask.encode() + skeleton(method, cseq, url)


def header_without_colon(method: str, cseq: int, url: str) -> bytes:
    """A vendor line with no colon in every answer."""
    raw = skeleton(method, cseq, url)
    return raw.replace(b"\r\n", b"\r\nX-Vendor-Garbage line\r\n", 1)


def no_cseq(method: str, cseq: int, url: str) -> bytes:
    """Answers without CSeq."""
    return skeleton(method, None, url)


def lf_only_then_frame(method: str, cseq: int, url: str) -> bytes:
    """LF-only answers, each followed by an interleaved frame holding a CRLF pair."""
    return skeleton(method, cseq, url, eol="\n") + interleave(0, RTP)


def channels_out_of_range(method: str, cseq: int, url: str) -> bytes:
    """A SETUP answer naming interleaved channels that do not fit a byte."""
    return skeleton(method, cseq, url, transport="RTP/AVP/TCP;unicast;interleaved=300-301")


def frame_inside_pipelined(method: str, cseq: int, url: str) -> bytes:
    """A stale duplicate answer, an interleaved frame, then the real answer, in one write."""
    return (
        ok(cseq - 1 if cseq > 1 else 999)
        + interleave(1, b"\x81\xc9\x00\x01" + bytes(4))
        + skeleton(method, cseq, url)
    )


def redirect_elsewhere(method: str, cseq: int, url: str) -> bytes:
    """DESCRIBE redirected to another host and scheme."""
    if method == "DESCRIBE":
        return ok(cseq, "Location: rtsp://127.0.0.9:1/elsewhere", status="302 Found")
    return skeleton(method, cseq, url)


def garbage(method: str, cseq: int, url: str) -> bytes:
    """Not RTSP at all."""
    return b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(64)


SCRIPTS: dict[str, Script] = {
    f.__name__: f
    for f in (
        server_request_first,
        header_without_colon,
        no_cseq,
        lf_only_then_frame,
        channels_out_of_range,
        frame_inside_pipelined,
        redirect_elsewhere,
        garbage,
    )
}
# The scripts a correct client opens through (the rest must fail with a typed error).
OPENS = {
    "server_request_first",
    "header_without_colon",
    "no_cseq",
    "lf_only_then_frame",
    "frame_inside_pipelined",
}
