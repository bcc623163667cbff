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

import contextlib
import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

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
        port: TCP port, or ``None`` for the scheme default (554).
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
            ValueError: the text is not an ``rtsp://`` URL with a host. The message says what
                is wrong and quotes the text with any password blanked, however it is spelled.

        Example:
            >>> RtspUrl.parse("rtsp://a:b:c@d@cam.local:554/x?y=1").password
            'b:c@d'
            >>> RtspUrl.parse("rtsp:/admin:s3cret@cam/x")
            Traceback (most recent call last):
            ...
            ValueError: not an rtsp:// URL (write two slashes after 'rtsp:'): 'rtsp:/admin:***@cam/x'
        """
        m = re.match(r"^(rtsps?|rtspt)://(.*)$", url.strip(), re.IGNORECASE | re.DOTALL)
        if not m:
            raise ValueError(f"{_what_is_wrong(url)}: {_blank_userinfo(url)!r}")
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
        return _blank_userinfo(self._build(self.username, pw))

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

    def __repr__(self) -> str:
        # the path too: a user name with '/' or '?' in it sends the user-info there
        return (
            f"RtspUrl(scheme={self.scheme!r}, host={self.host!r}, port={self.port!r}, "
            f"path={_blank_userinfo(self.path)!r}, username={self.username!r})"
        )


def redact(url: str) -> str:
    """Return ``url`` (or any text) with any password replaced by ``***``; never raises.

    Works on text that is not a valid URL too: a mistyped separator (``rtsp:/``, ``rtsp:``),
    no scheme at all, spaces, tabs or non-ASCII in the password, an out-of-range port. Where
    the text is ambiguous it blanks more, never less: everything between the first ``:`` of
    the user-info and its last ``@``.

    Example:
        >>> redact("rtsp://admin:spark@123456@192.168.1.64")
        'rtsp://admin:***@192.168.1.64'
        >>> redact("rtsp:admin:s3 cret@cam:99999/x"), redact("admin:pw@10.0.0.9/live")
        ('rtsp:admin:***@cam:99999/x', 'admin:***@10.0.0.9/live')
        >>> redact("not a url")
        'not a url'
    """
    try:
        text = RtspUrl.parse(url).redacted
    except ValueError:
        text = url
    return _blank_userinfo(text)


def url_secrets(url: str) -> tuple[str, ...]:
    """Every spelling of the password in ``url`` (for :func:`scrub`); never raises.

    What :func:`redact` blanks counts as a password too, so text that does not parse has
    secrets as well.

    Example:
        >>> url_secrets("rtsp://admin:pa/ss@h/cam")
        ('pa%2Fss', 'pa/ss')
        >>> url_secrets("rtsp:/admin:s3cret@cam/x")
        ('s3cret',)
        >>> url_secrets("not a url")
        ()
    """
    forms: set[str] = set()
    with contextlib.suppress(ValueError):
        forms |= set(RtspUrl.parse(url).secrets)
    for start, end in _password_spans(url):
        pw = url[start:end]
        forms |= {pw, unquote(pw), quote(unquote(pw), safe="")}
    return tuple(sorted((f for f in forms if f), key=lambda s: (-len(s), s)))


# A scheme and its slashes, however many: where a URL's user-info may begin. Not preceded by
# a letter or digit, so "xrtsp:" inside a password is no scheme.
_SCHEME_MARK = re.compile(r"(?i)(?<![A-Za-z0-9+.\-])(?:[a-z][a-z0-9+.\-]*://|rtsp[st]?:/{0,2})")


def _password_spans(text: str) -> list[tuple[int, int]]:
    """Where passwords may be in ``text``: from the first ``:`` of each user-info to its last
    ``@``. User-info begins after a scheme mark (or at the start of the text) and runs to the
    next mark; a stretch with a ``:`` but no ``@`` runs on into the next one (a scheme mark
    inside a password)."""
    marks = [(m.start(), m.end()) for m in _SCHEME_MARK.finditer(text)]
    bounds = [(0, marks[0][0] if marks else len(text))]
    bounds += [
        (end, marks[k + 1][0] if k + 1 < len(marks) else len(text))
        for k, (_, end) in enumerate(marks)
    ]
    spans: list[tuple[int, int]] = []
    begin: int | None = None  # start of a user-info that runs on past a scheme mark
    for start, stop in bounds:
        begin = start if begin is None else begin
        at = text.rfind("@", begin, stop)
        if at < 0:
            if text.find(":", begin, stop) < 0:
                begin = None
            continue  # a ':' but no '@' yet: the user-info may go on past a scheme mark
        colon = text.find(":", begin, at)
        if colon >= 0 and colon + 1 < at:
            spans.append((colon + 1, at))
        begin = None
    return spans


def _blank_userinfo(text: str) -> str:
    """Blank what may be a password in any text (see :func:`_password_spans`), and secret
    query parameters."""
    for start, end in reversed(_password_spans(text)):
        if text[start:end] != REDACTED:
            text = text[:start] + REDACTED + text[end:]
    return _SECRET_QUERY_RE.sub(r"\1" + REDACTED, text)


def _what_is_wrong(url: str) -> str:
    """What keeps ``url`` from being an ``rtsp://`` URL, in words (no part of the URL)."""
    text = url.strip()
    if not text:
        return "not an rtsp:// URL (the text is empty)"
    m = re.match(r"(?i)^(rtsp[st]?)(:/?)(?!/)", text)
    if m:
        return f"not an rtsp:// URL (write two slashes after '{m.group(1)}:')"
    if re.match(r"(?i)^[a-z][a-z0-9+.\-]*://", text):
        return "not an rtsp:// URL (the scheme must be rtsp, rtsps or rtspt)"
    if "://" not in text:
        return "not an rtsp:// URL (no scheme: write rtsp://user:password@host[:port]/path)"
    return "not an rtsp:// URL"


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
