"""Real cameras' recorded RTSP replies: the capture files and the pieces needed to replay them.

A capture file (``tests/rtsp/replays/*.rtsp``, format in the README there) becomes a
:class:`Capture`; :class:`Reply` parses one recorded reply and writes it back with rewritten
headers; :func:`parse_sdp`, :func:`join_control`, :func:`parse_ssrc` and
:func:`interleaved_transport` read what a camera announced the way common clients do.
Parsed here, independently of rtsplab's own client code, so the client is tested against a
second implementation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

REPLAYS_DIR = Path(__file__).resolve().parent.parent / "rtsp" / "replays"

# ---- capture files -------------------------------------------------------------------------


@dataclass(frozen=True)
class Capture:
    """One camera's recorded replies and what is known about them.

    Attributes:
        name: file stem, e.g. ``dahua_ipc``.
        meta: header fields (``vendor``, ``source``, ``licence``, ``path``, ``quirk``...),
            each a list since some repeat.
        replies: raw replies by section: ``OPTIONS``, ``DESCRIBE``, ``SETUP``,
            ``SETUP <control>`` (another track), ``PLAY``, ``TEARDOWN``, or ``SDP`` when only
            the session description was recorded.
    """

    name: str
    meta: dict[str, list[str]]
    replies: dict[str, str] = field(repr=False)

    @classmethod
    def load(cls, path: Path) -> Capture:
        """Read a capture file (``# key: value`` header, then ``=== SECTION`` blocks).

        Each block is kept byte for byte, up to the next ``=== `` line or the end of file.
        """
        text = path.read_text(encoding="utf-8")
        markers = list(re.finditer(r"^=== (.*)\n", text, re.MULTILINE))
        meta: dict[str, list[str]] = {}
        head = text[: markers[0].start()] if markers else text
        for line in head.splitlines():
            if line.startswith("# "):
                key, _, value = line[2:].partition(":")
                meta.setdefault(key.strip(), []).append(value.strip())
        replies: dict[str, str] = {}
        for m, following in zip(markers, [*markers[1:], None], strict=True):
            end = following.start() if following is not None else len(text)
            replies[m.group(1).strip()] = text[m.end() : end]
        return cls(path.stem, meta, replies)

    def first(self, key: str, default: str = "") -> str:
        """The first value of header field ``key``."""
        return self.meta.get(key, [default])[0]

    @property
    def path(self) -> str:
        """The request path (and query) a client opens, e.g. ``/Streaming/Channels/101``."""
        return self.first("path", "/")

    @property
    def quirks(self) -> list[str]:
        """The habits this capture exercises."""
        return self.meta.get("quirk", [])


def load_captures(folder: Path = REPLAYS_DIR) -> list[Capture]:
    """Every capture in ``folder``, sorted by name."""
    return [Capture.load(p) for p in sorted(folder.glob("*.rtsp"))]


# ---- replies: parse, rewrite, serialise ------------------------------------------------------


@dataclass
class Reply:
    """A recorded reply: status line, headers in order (names as recorded), body."""

    status_line: str
    headers: list[tuple[str, str]]
    body: str

    @classmethod
    def parse(cls, text: str) -> Reply:
        head, sep, body = text.partition("\n\n")
        lines = head.rstrip("\n").split("\n")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if not name:
                continue
            headers.append((name, value))  # value keeps its leading spaces, as recorded
        has_body = any(n.strip().lower() == "content-length" for n, _ in headers)
        return cls(lines[0], headers, body if (sep and has_body) else "")

    def get(self, name: str) -> str | None:
        for n, v in self.headers:
            if n.strip().lower() == name:
                return v.strip()
        return None

    def set(self, name: str, value: str, add: bool = True) -> None:
        """Replace the value of header ``name`` (keeping its spelling); add it if missing."""
        for i, (n, _) in enumerate(self.headers):
            if n.strip().lower() == name.lower():
                self.headers[i] = (n, " " + value)
                return
        if add:
            self.headers.append((name, " " + value))

    def encode(self) -> bytes:
        body = self.body.replace("\n", "\r\n").encode()
        if self.get("content-length") is not None:
            self.set("Content-Length", str(len(body)))
        lines = [self.status_line, *(f"{n}:{v}" for n, v in self.headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def params(value: str) -> list[tuple[str, str]]:
    """``key=value`` pairs of a ``;``-separated header or fmtp value, in order (values raw)."""
    out = []
    for part in value.split(";"):
        key, eq, val = part.partition("=")
        out.append((key.strip(), val if eq else ""))
    return out


def parse_ssrc(text: str) -> int | None:
    """An SSRC as cameras write it: 8 hex digits (any case), fewer, ``0x``-prefixed, or decimal.

    >>> [parse_ssrc(s) for s in ("30A98EE7", " d6d6627", "0x6f7c", "0", "4294962989")]
    [816418535, 225273383, 28540, 0, 4294962989]
    """
    s = text.strip().strip('"')
    if s.lower().startswith("0x"):
        return int(s[2:], 16)
    if re.fullmatch(r"[0-9A-Fa-f]{1,8}", s):
        return int(s, 16)
    if s.isdigit() and int(s) < 2**32:
        return int(s)
    return None


def join_control(base: str, control: str) -> str:
    """A media URL from a control attribute, as FFmpeg and live555 build it.

    >>> join_control("rtsp://h/cam/realmonitor?channel=1&subtype=1", "trackID=0")
    'rtsp://h/cam/realmonitor?channel=1&subtype=1/trackID=0'
    >>> join_control("rtsp://h/a/", "rtsp://h/b/video")
    'rtsp://h/b/video'
    """
    if control == "*":
        return base
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", control):
        return control
    return base + ("" if base.endswith("/") else "/") + control


@dataclass
class Media:
    """One m= section: kind, payload types, control, fmtp parameters of the first type."""

    kind: str
    payload_types: list[int]
    control: str | None = None
    encoding: str | None = None
    fmtp: dict[str, str] = field(default_factory=dict)


def parse_sdp(sdp: str) -> tuple[str | None, list[Media]]:
    """The session-level control and the media sections of an SDP."""
    session_control: str | None = None
    media: list[Media] = []
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            fields = line[2:].split()
            pts = [int(f) for f in fields[3:] if f.isdigit()]
            media.append(Media(fields[0] if fields else "", pts))
        elif line.startswith("a=control:"):
            value = line[len("a=control:") :].strip()
            if media:
                media[-1].control = value
            else:
                session_control = value
        elif media and line.startswith(("a=rtpmap:", "a=fmtp:")):
            key, _, rest = line[2:].partition(":")
            pt, _, value = rest.partition(" ")
            m = media[-1]
            if not m.payload_types or pt.strip() != str(m.payload_types[0]):
                continue
            if key == "rtpmap":
                m.encoding = value.strip().split("/")[0].upper()
            else:
                m.fmtp = {k.lower(): v for k, v in params(value) if k}
    return session_control, media


def interleaved_transport(transport: str, channels: str) -> str:
    """A Transport value in the interleaved TCP form: UDP ports out, ``interleaved=`` in,
    every other parameter kept in order.

    >>> interleaved_transport("RTP/AVP;unicast;mode=PLAY;client_port=1-2;server_port=3-4;ssrc=0", "0-1")
    'RTP/AVP/TCP;unicast;mode=PLAY;interleaved=0-1;ssrc=0'
    """
    out = []
    placed = False
    for key, value in params(transport):
        k = key.lower()
        if k.startswith("rtp/avp"):
            out.append("RTP/AVP/TCP")
        elif k in ("client_port", "server_port", "port", "interleaved"):
            if not placed:
                out.append(f"interleaved={channels}")
                placed = True
        else:
            out.append(f"{key}={value}" if value else key)
    if not placed:
        out.append(f"interleaved={channels}")
    return ";".join(out)
