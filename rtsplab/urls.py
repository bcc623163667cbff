"""RTSP URLs with credentials: parse them robustly, hand them to FFmpeg safely, never print them.

Camera passwords often contain ``@``, ``:`` or ``/`` (``rtsp://admin:spark@123456@192.168.1.64``).
A plain :func:`urllib.parse.urlsplit` splits such a URL at the *first* ``@`` and gets the host
wrong. rtsplab splits the user-info at the *last* ``@`` that is followed by a valid host, then
percent-encodes user and password, which is the form FFmpeg's URL parser expects.
Because a password may contain ``/``, an ``@`` inside the *path* must be written ``%40``.

Example:
    >>> u = RtspUrl.parse("rtsp://admin:spark@123456@192.168.1.64/stream1")
    >>> u.host, u.username
    ('192.168.1.64', 'admin')
    >>> u.redacted
    'rtsp://admin:***@192.168.1.64/stream1'
    >>> u.for_ffmpeg()
    'rtsp://admin:spark%40123456@192.168.1.64/stream1'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from rtsplab.rtsp.session import DEFAULT_PORTS

__all__ = ["REDACTED", "RtspUrl", "redact", "scrub", "url_secrets"]

REDACTED = "***"

_HOST_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~\-%]+)(:\d{1,5})?$")
_SECRET_QUERY_RE = re.compile(r"(?i)([?&;](?:password|passwd|pwd|pass|token|key)=)[^&;#]*")


@dataclass(frozen=True)
class RtspUrl:
    """An RTSP URL split into parts, with the password kept out of ``repr``.

    Attributes:
        scheme: ``rtsp``, ``rtsps`` or ``rtspt``.
        host: host name or address (IPv6 in brackets).
        port: TCP port, or ``None`` for the scheme default (554; 322 for ``rtsps``).
        path: everything after the authority, including the leading ``/`` and any query.
        username: decoded user name, or ``None``.
        password: decoded password, or ``None``. Never shown by ``repr`` or ``str``.

    Example:
        >>> RtspUrl.parse("rtsp://u:p%2Fw@127.0.0.1:8554/cam1").password
        'p/w'
    """

    scheme: str
    host: str
    port: int | None
    path: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> RtspUrl:
        """Parse ``url``, taking the last ``@`` before a valid host as the credential separator.

        Raises:
            ValueError: the text is not an ``rtsp://`` URL with a host. The message is redacted.

        Example:
            >>> RtspUrl.parse("rtsp://a:b:c@d@cam.local:554/x?y=1").password
            'b:c@d'
        """
        m = re.match(r"^(rtsps?|rtspt)://(.*)$", url.strip(), re.IGNORECASE | re.DOTALL)
        if not m:
            raise ValueError(f"not an rtsp:// URL: {_blank_userinfo(url)!r}")
        scheme, rest = m.group(1).lower(), m.group(2)
        userinfo: str | None = None
        for at in reversed([i for i, ch in enumerate(rest) if ch == "@"]):
            before, after = rest[:at], rest[at + 1 :]
            hostport = re.split(r"[/?#]", after, maxsplit=1)[0]
            user_part = before.split(":", 1)[0]
            if _HOST_RE.match(hostport) and "/" not in user_part:
                userinfo, rest = before, after
                break
        split = re.search(r"[/?#]", rest)
        hostport, path = (rest[: split.start()], rest[split.start() :]) if split else (rest, "")
        hm = _HOST_RE.match(hostport)
        if not hm or not hostport:
            raise ValueError(f"no valid host in RTSP URL: {_blank_userinfo(url)!r}")
        host = hm.group(1)
        port = int(hm.group(2)[1:]) if hm.group(2) else None
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port out of range in RTSP URL: {_blank_userinfo(url)!r}")
        username = password = None
        if userinfo is not None:
            user, sep, pw = userinfo.partition(":")
            username = unquote(user)
            password = unquote(pw) if sep else None
        return cls(scheme, host, port, path, username, password)

    @property
    def effective_port(self) -> int:
        """The port to connect to: ``port``, else the scheme's default (554; 322 for ``rtsps``).

        Example:
            >>> RtspUrl.parse("rtsps://cam/x").effective_port, RtspUrl.parse("rtsp://cam:8554/x").effective_port
            (322, 8554)
        """
        return self.port if self.port is not None else DEFAULT_PORTS[self.scheme]

    @property
    def hostport(self) -> str:
        """``host`` or ``host:port``.

        Example:
            >>> RtspUrl.parse("rtsp://127.0.0.1:8554/a").hostport
            '127.0.0.1:8554'
        """
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def _build(self, user: str | None, pw: str | None) -> str:
        auth = ""
        if user is not None:
            auth = user + (f":{pw}" if pw is not None else "") + "@"
        return f"{self.scheme}://{auth}{self.hostport}{self.path}"

    def for_ffmpeg(self) -> str:
        """The full URL with user and password percent-encoded, for FFmpeg/OpenCV/PyAV.

        Never log this string.

        Example:
            >>> RtspUrl.parse("rtsp://a:b@c@h/p").for_ffmpeg()
            'rtsp://a:b%40c@h/p'
        """
        user = quote(self.username, safe="") if self.username is not None else None
        pw = quote(self.password, safe="") if self.password is not None else None
        return self._build(user, pw)

    def without_credentials(self) -> str:
        """The URL with no user-info at all.

        Example:
            >>> RtspUrl.parse("rtsp://a:b@h:1/p").without_credentials()
            'rtsp://h:1/p'
        """
        return self._build(None, None)

    @property
    def redacted(self) -> str:
        """The URL with the password replaced by ``***``: safe to print and store.

        Example:
            >>> RtspUrl.parse("rtsp://a:b@h/p").redacted
            'rtsp://a:***@h/p'
        """
        pw = REDACTED if self.password is not None else None
        return _SECRET_QUERY_RE.sub(r"\1" + REDACTED, self._build(self.username, pw))

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every spelling of the password that could appear in a log line or error.

        Example:
            >>> RtspUrl.parse("rtsp://a:b@c@h/p").secrets
            ('b%40c', 'b@c')
        """
        if not self.password:
            return ()
        forms = {self.password, quote(self.password, safe=""), quote(self.password)}
        return tuple(sorted(forms, key=lambda s: (-len(s), s)))

    def __str__(self) -> str:
        return self.redacted


def redact(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``; never raises.

    Example:
        >>> redact("rtsp://admin:spark@123456@192.168.1.64")
        'rtsp://admin:***@192.168.1.64'
        >>> redact("not a url")
        'not a url'
    """
    try:
        return RtspUrl.parse(url).redacted
    except ValueError:
        return _blank_userinfo(url)


def url_secrets(url: str) -> tuple[str, ...]:
    """:attr:`RtspUrl.secrets` of ``url``, or ``()`` when it does not parse; never raises.

    Example:
        >>> url_secrets("rtsp://admin:pa/ss@h/cam")
        ('pa%2Fss', 'pa/ss')
        >>> url_secrets("not a url")
        ()
    """
    try:
        return RtspUrl.parse(url).secrets
    except ValueError:
        return ()


def _blank_userinfo(text: str) -> str:
    """Blank anything that looks like ``user:password@`` in text that did not parse as a URL."""
    text = re.sub(r"(://[^:/@\s]*:)\S*@", r"\1" + REDACTED + "@", text)
    return _SECRET_QUERY_RE.sub(r"\1" + REDACTED, text)


def scrub(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """Remove every occurrence of each secret (e.g. from an FFmpeg log line or error text).

    Example:
        >>> scrub("open rtsp://a:b%40c@h failed", ("b@c", "b%40c"))
        'open rtsp://a:***@h failed'
    """
    for s in sorted(secrets, key=len, reverse=True):
        if s:
            text = text.replace(s, REDACTED)
    return text
