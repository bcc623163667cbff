"""SDP (RFC 8866) as RTSP uses it: parse and build session descriptions; join control URLs.

:func:`parse_sdp` returns the session-level ``a=control`` and, per ``m=`` section, its
payload types, the ``a=rtpmap`` and ``a=fmtp`` of each payload type listed on the ``m=`` line
(attributes for other payload types are ignored), ``a=control`` and ``a=framerate``.
:meth:`SessionDescription.video` picks the first video section, also when audio or ONVIF
metadata (``m=application``) sections come first. :func:`join_control` turns a control
attribute into the URL to SETUP or PLAY.

Example:
    >>> sdp = parse_sdp("v=0\\r\\ns=x\\r\\na=control:*\\r\\n"
    ...                 "m=audio 0 RTP/AVP 0\\r\\na=control:trackID=1\\r\\n"
    ...                 "m=video 0 RTP/AVP 96\\r\\na=rtpmap:96 H264/90000\\r\\n"
    ...                 "a=fmtp:96 packetization-mode=1\\r\\na=control:trackID=0\\r\\n")
    >>> v = sdp.video()
    >>> v.encoding, v.clock_rate, v.fmtp["packetization-mode"], v.control
    ('H264', 90000, '1', 'trackID=0')
    >>> join_control("rtsp://h/cam/realmonitor?channel=1&subtype=1", v.control)
    'rtsp://h/cam/realmonitor?channel=1&subtype=1/trackID=0'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rtsplab.errors import ProtocolError

__all__ = [
    "MediaDescription",
    "RtpMap",
    "SessionDescription",
    "build_sdp",
    "join_control",
    "parse_fmtp",
    "parse_sdp",
]

MAX_SDP_BYTES = 64 * 1024
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


@dataclass(frozen=True)
class RtpMap:
    """One ``a=rtpmap``: encoding name (upper case), clock rate and channels.

    Example:
        >>> RtpMap("H264", 90000).clock_rate
        90000
    """

    encoding: str
    clock_rate: int
    channels: int | None = None


def parse_fmtp(value: str) -> dict[str, str]:
    """The ``key=value`` parameters of an ``a=fmtp`` value (after the payload type).

    Keys are lower-cased; a parameter without ``=`` maps to ``""``.

    Example:
        >>> parse_fmtp("packetization-mode=1; profile-level-id=42e01f")
        {'packetization-mode': '1', 'profile-level-id': '42e01f'}
    """
    out: dict[str, str] = {}
    for part in value.split(";"):
        key, _, val = part.strip().partition("=")
        if key.strip():
            out[key.strip().lower()] = val.strip()
    return out


@dataclass(frozen=True)
class MediaDescription:
    """One ``m=`` section.

    Attributes:
        media: ``video``, ``audio``, ``application``...
        port: the port on the ``m=`` line (0 for RTSP).
        protocol: ``RTP/AVP`` and the like.
        payload_types: the payload types on the ``m=`` line, in order.
        rtpmaps: ``a=rtpmap`` per listed payload type.
        fmtps: raw ``a=fmtp`` value per listed payload type.
        control: ``a=control``, or None.
        framerate: ``a=framerate``, or None.

    Example:
        >>> MediaDescription("video", 0, "RTP/AVP", (96,), {96: RtpMap("H264", 90000)}).encoding
        'H264'
    """

    media: str
    port: int
    protocol: str
    payload_types: tuple[int, ...]
    rtpmaps: dict[int, RtpMap] = field(default_factory=dict)
    fmtps: dict[int, str] = field(default_factory=dict)
    control: str | None = None
    framerate: float | None = None

    @property
    def payload_type(self) -> int | None:
        """The first payload type of the ``m=`` line (the preferred one).

        Example:
            >>> MediaDescription("video", 0, "RTP/AVP", (97, 96)).payload_type
            97
        """
        return self.payload_types[0] if self.payload_types else None

    @property
    def rtpmap(self) -> RtpMap | None:
        """The rtpmap of :attr:`payload_type`; static payload types have none.

        Example:
            >>> MediaDescription("video", 0, "RTP/AVP", (26,)).rtpmap is None
            True
        """
        pt = self.payload_type
        return None if pt is None else self.rtpmaps.get(pt)

    @property
    def encoding(self) -> str | None:
        """The encoding name (``H264``, ``H265``...), also for static types 26 (JPEG) and 32.

        Example:
            >>> MediaDescription("video", 0, "RTP/AVP", (26,)).encoding
            'JPEG'
        """
        if self.rtpmap is not None:
            return self.rtpmap.encoding
        return {26: "JPEG", 32: "MPV", 33: "MP2T", 34: "H263"}.get(self.payload_type or -1)

    @property
    def clock_rate(self) -> int:
        """The RTP clock rate (90000 for video unless the rtpmap says otherwise).

        Example:
            >>> MediaDescription("video", 0, "RTP/AVP", (96,)).clock_rate
            90000
        """
        return self.rtpmap.clock_rate if self.rtpmap is not None else 90_000

    @property
    def fmtp(self) -> dict[str, str]:
        """The parsed fmtp parameters of :attr:`payload_type`.

        Example:
            >>> MediaDescription("video", 0, "RTP/AVP", (96,), fmtps={96: "a=1"}).fmtp
            {'a': '1'}
        """
        pt = self.payload_type
        return parse_fmtp(self.fmtps.get(pt, "")) if pt is not None else {}

    def lines(self) -> list[str]:
        """The SDP lines of this section (for :func:`build_sdp`).

        Example:
            >>> MediaDescription("video", 0, "RTP/AVP", (96,), control="track1").lines()
            ['m=video 0 RTP/AVP 96', 'a=control:track1']
        """
        out = [
            f"m={self.media} {self.port} {self.protocol} " + " ".join(map(str, self.payload_types))
        ]
        for pt in self.payload_types:
            if pt in self.rtpmaps:
                m = self.rtpmaps[pt]
                rate = f"{m.clock_rate}" + (f"/{m.channels}" if m.channels else "")
                out.append(f"a=rtpmap:{pt} {m.encoding}/{rate}")
            if pt in self.fmtps:
                out.append(f"a=fmtp:{pt} {self.fmtps[pt]}")
        if self.framerate is not None:
            out.append(f"a=framerate:{self.framerate:g}")
        if self.control is not None:
            out.append(f"a=control:{self.control}")
        return out


@dataclass(frozen=True)
class SessionDescription:
    """A parsed SDP: session-level control and the media sections in order.

    Example:
        >>> parse_sdp("v=0\\r\\nm=audio 0 RTP/AVP 0\\r\\n").video() is None
        True
    """

    control: str | None = None
    media: tuple[MediaDescription, ...] = ()
    session_name: str = ""

    def video(self) -> MediaDescription | None:
        """The first ``m=video`` section, or None.

        Example:
            >>> parse_sdp("v=0\\r\\nm=video 0 RTP/AVP 96\\r\\n").video().payload_type
            96
        """
        return next((m for m in self.media if m.media == "video"), None)


def _int(text: str, what: str) -> int:
    if not re.fullmatch(r"[0-9]{1,10}", text):
        raise ProtocolError(f"SDP: bad {what} {text[:20]!r}")
    return int(text)


class _Section:
    def __init__(self, media: str, port: int, protocol: str, pts: tuple[int, ...]) -> None:
        self.media, self.port, self.protocol, self.pts = media, port, protocol, pts
        self.rtpmaps: dict[int, RtpMap] = {}
        self.fmtps: dict[int, str] = {}
        self.control: str | None = None
        self.framerate: float | None = None

    def attribute(self, name: str, value: str) -> None:
        if name == "control":
            self.control = value.strip()
        elif name == "framerate":
            try:
                rate = float(value)
            except ValueError:
                return  # informational only: ignore a bad one
            self.framerate = rate if 0 < rate < 10_000 else None
        elif name in ("rtpmap", "fmtp"):
            pt_text, _, rest = value.partition(" ")
            if not re.fullmatch(r"[0-9]{1,3}", pt_text):
                raise ProtocolError(f"SDP: bad payload type in a={name}:{value[:30]}")
            pt = int(pt_text)
            if pt not in self.pts:
                return  # describes a payload type this section does not offer
            if name == "fmtp":
                self.fmtps[pt] = rest.strip()
                return
            parts = rest.strip().split("/")
            if len(parts) < 2 or not parts[0]:
                raise ProtocolError(f"SDP: malformed a=rtpmap:{value[:40]}")
            channels = _int(parts[2], "rtpmap channels") if len(parts) > 2 else None
            rate = _int(parts[1], "rtpmap clock rate")
            if rate == 0:
                raise ProtocolError("SDP: rtpmap clock rate 0")
            self.rtpmaps[pt] = RtpMap(parts[0].upper(), rate, channels)

    def build(self) -> MediaDescription:
        return MediaDescription(
            self.media, self.port, self.protocol, self.pts, self.rtpmaps, self.fmtps,
            self.control, self.framerate,
        )  # fmt: skip


def parse_sdp(text: str | bytes) -> SessionDescription:
    """Parse an SDP body; lines that do not concern RTSP playback are ignored.

    Raises:
        ProtocolError: not text, no ``v=0``-style lines at all, a malformed ``m=`` line or
            rtpmap, or a body over 64 KiB.

    Example:
        >>> parse_sdp("v=0\\r\\nm=video 0 RTP/AVP 96 97\\r\\na=rtpmap:97 H265/90000\\r\\n"
        ...           "a=rtpmap:96 H264/90000\\r\\na=rtpmap:98 VP8/90000\\r\\n").video().encoding
        'H264'
        >>> parse_sdp("m=video 0 RTP/AVP x")
        Traceback (most recent call last):
        ...
        rtsplab.errors.ProtocolError: SDP: bad payload type 'x'
    """
    if isinstance(text, bytes):
        if len(text) > MAX_SDP_BYTES:
            raise ProtocolError(f"SDP of {len(text)} bytes is too large")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("SDP is not UTF-8 text") from exc
    if len(text) > MAX_SDP_BYTES:
        raise ProtocolError(f"SDP of {len(text)} characters is too large")
    control: str | None = None
    name = ""
    sections: list[_Section] = []
    seen = False
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        seen = True
        kind, value = line[0], line[2:]
        if kind == "m":
            parts = value.split()
            if len(parts) < 3:
                raise ProtocolError(f"SDP: malformed m= line {value[:40]!r}")
            port = _int(parts[1].split("/")[0], "port")
            pts = tuple(_int(p, "payload type") for p in parts[3:])
            if any(pt > 127 for pt in pts):
                raise ProtocolError("SDP: payload type over 127")
            sections.append(_Section(parts[0].lower(), port, parts[2], pts))
        elif kind == "s" and not sections:
            name = value
        elif kind == "a":
            attr, _, attr_value = value.partition(":")
            attr = attr.strip().lower()
            if sections:
                sections[-1].attribute(attr, attr_value)
            elif attr == "control":
                control = attr_value.strip()
    if not seen:
        raise ProtocolError("SDP without any type=value line")
    return SessionDescription(control, tuple(s.build() for s in sections), name)


def build_sdp(
    host: str,
    session_name: str,
    media: Sequence[MediaDescription],
    session_id: int = 0,
    control: str = "*",
) -> str:
    """An SDP for RTSP playback: one session with ``a=control`` and the given sections.

    Example:
        >>> sdp = build_sdp("127.0.0.1", "cam1", [MediaDescription(
        ...     "video", 0, "RTP/AVP", (96,), {96: RtpMap("H264", 90000)}, control="track1")])
        >>> parse_sdp(sdp).video().control
        'track1'
    """
    lines = [
        "v=0",
        f"o=- {session_id} 1 IN IP4 {host}",
        f"s={session_name}",
        f"c=IN IP4 {host}",
        "t=0 0",
        f"a=control:{control}",
        "a=range:npt=now-",
    ]
    for m in media:
        lines += m.lines()
    return "\r\n".join(lines) + "\r\n"


def join_control(base: str, control: str | None) -> str:
    """The URL for a control attribute: absolute as is, ``*`` or none is ``base``, else appended.

    A relative control is appended to the base with one ``/`` between them, not resolved the
    RFC 3986 way. That is what FFmpeg (``libavformat/rtsp.c``) and VLC (live555) do, and what
    cameras expect: with Dahua's ``.../realmonitor?channel=1&subtype=1`` or Vivotek's
    ``.../stream.sdp?profile=X`` as the base, RFC resolution drops the query and the SETUP
    fails with 400/404 (bug reports against retina, RtspClientSharp and Axis'
    media-stream-library, fixed by appending as FFmpeg does).

    Example:
        >>> join_control("rtsp://h/cam/realmonitor?channel=1&subtype=1", "trackID=0")
        'rtsp://h/cam/realmonitor?channel=1&subtype=1/trackID=0'
        >>> join_control("rtsp://h/live/", "track1"), join_control("rtsp://h/live", "*")
        ('rtsp://h/live/track1', 'rtsp://h/live')
        >>> join_control("rtsp://h/a", "rtsp://other/b/trackID=1")
        'rtsp://other/b/trackID=1'
    """
    if control is None or control.strip() in ("", "*"):
        return base
    control = control.strip()
    if _ABSOLUTE.match(control):
        return control
    if base.endswith("/"):
        return base + control.lstrip("/")
    return f"{base}/{control.lstrip('/')}"
