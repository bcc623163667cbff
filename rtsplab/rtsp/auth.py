"""RTSP authentication (RFC 2617): Basic and Digest (MD5), server-side check and client side.

Sans-IO: the server side reads time only through the ``clock`` it is given.

The server side (:class:`Authenticator`) issues a challenge for ``WWW-Authenticate`` and
checks an ``Authorization`` header. Digest nonces are stateless (a timestamp plus an HMAC
with a per-server secret) and expire after ``nonce_ttl_s``. The client side
(:func:`authorization_header`) answers a challenge, e.g. for a DESCRIBE probe.

Passwords are compared in constant time and never appear in any repr or message.

Example:
    >>> a = Authenticator("admin", "spark@123456", scheme="digest")
    >>> header = authorization_header("admin", "spark@123456", "DESCRIBE",
    ...                               "rtsp://127.0.0.1/cam1", a.challenge())
    >>> a.check("DESCRIBE", header)
    True
    >>> a
    Authenticator(user='admin', scheme='digest', realm='rtsplab')
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable

from rtsplab.errors import ProtocolError

__all__ = ["Authenticator", "authorization_header", "parse_auth_header"]

_PARAM = re.compile(r'([A-Za-z0-9_\-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def parse_auth_header(value: str) -> tuple[str, dict[str, str]]:
    """Split ``Digest realm="x", nonce="y"`` into ``("digest", {"realm": "x", ...})``.

    For ``Basic <token>`` the token is returned under the key ``"token"``.

    Example:
        >>> parse_auth_header('Digest realm="r", nonce="n", qop=auth')
        ('digest', {'realm': 'r', 'nonce': 'n', 'qop': 'auth'})
    """
    scheme, _, rest = value.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        return scheme, {"token": rest.strip()}
    params: dict[str, str] = {}
    for m in _PARAM.finditer(rest):
        raw = m.group(3) if m.group(3) is not None else m.group(2)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", raw)
    return scheme, params


def _digest_response(
    user: str, password: str, realm: str, method: str, uri: str, p: dict[str, str]
) -> str:
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if p.get("qop"):
        return _md5(f"{ha1}:{p['nonce']}:{p.get('nc', '')}:{p.get('cnonce', '')}:{p['qop']}:{ha2}")
    return _md5(f"{ha1}:{p['nonce']}:{ha2}")


def authorization_header(
    user: str,
    password: str,
    method: str,
    uri: str,
    challenge: str,
    cnonce: str | None = None,
    nc: int = 1,
) -> str:
    """The ``Authorization`` value answering ``challenge`` (a ``WWW-Authenticate`` value).

    Raises:
        ProtocolError: the challenge scheme is neither Basic nor Digest, or a Digest
            challenge has no nonce.

    Example:
        >>> authorization_header("u", "p:w", "OPTIONS", "*", 'Basic realm="r"')
        'Basic dTpwOnc='
    """
    scheme, params = parse_auth_header(challenge)
    if scheme == "basic":
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    if scheme != "digest":
        raise ProtocolError(f"unsupported authentication scheme {scheme[:20]!r}")
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    if not nonce:
        raise ProtocolError("Digest challenge without a nonce")
    if any(c in realm + nonce + params.get("opaque", "") for c in '"\\\r\n'):
        raise ProtocolError("Digest challenge with quotes or line breaks in its parameters")
    answer = {"nonce": nonce}
    fields = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cn = cnonce or os.urandom(8).hex()
        answer.update(qop="auth", nc=f"{nc:08x}", cnonce=cn)
        fields += ["qop=auth", f"nc={nc:08x}", f'cnonce="{cn}"']
    fields.append(f'response="{_digest_response(user, password, realm, method, uri, answer)}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    fields.append("algorithm=MD5")
    return "Digest " + ", ".join(fields)


class Authenticator:
    """Server-side check of one user's credentials with Basic or Digest.

    Args:
        user: the user name.
        password: the password (any characters, including ``@ : /``).
        scheme: ``"digest"`` (default) or ``"basic"``.
        realm: the protection realm.
        nonce_ttl_s: how long a Digest nonce stays valid.
        clock: wall-clock seconds (``time.time`` unless a test passes its own).

    Example:
        >>> a = Authenticator("u", "p", scheme="basic")
        >>> a.check("DESCRIBE", "Basic dTpw"), a.check("DESCRIBE", "Basic dTpx")
        (True, False)
    """

    def __init__(
        self,
        user: str,
        password: str,
        scheme: str = "digest",
        realm: str = "rtsplab",
        nonce_ttl_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if scheme not in ("digest", "basic"):
            raise ValueError(f"auth scheme must be 'digest' or 'basic', not {scheme!r}")
        self.user = user
        self._password = password
        self.scheme = scheme
        self.realm = realm
        self.nonce_ttl_s = nonce_ttl_s
        self._secret = os.urandom(16)
        self._clock = clock

    def _nonce(self, t: int | None = None) -> str:
        stamp = f"{int(self._clock()) if t is None else t:x}"
        mac = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        return f"{stamp}{mac}"

    def _nonce_ok(self, nonce: str) -> bool:
        stamp = nonce[:-24]
        try:
            t = int(stamp, 16)
        except ValueError:
            return False
        fresh = 0 <= self._clock() - t <= self.nonce_ttl_s
        return fresh and hmac.compare_digest(nonce, self._nonce(t))

    def challenge(self) -> str:
        """A ``WWW-Authenticate`` value (a fresh nonce for Digest).

        Example:
            >>> Authenticator("u", "p", scheme="basic").challenge()
            'Basic realm="rtsplab"'
        """
        if self.scheme == "basic":
            return f'Basic realm="{self.realm}"'
        return f'Digest realm="{self.realm}", nonce="{self._nonce()}", algorithm=MD5'

    def check(self, method: str, authorization: str | None) -> bool:
        """True when ``authorization`` carries this user's valid credentials for ``method``.

        Example:
            >>> Authenticator("u", "p").check("PLAY", None)
            False
        """
        if not authorization:
            return False
        scheme, params = parse_auth_header(authorization)
        if scheme != self.scheme:
            return False
        if scheme == "basic":
            try:
                decoded = base64.b64decode(params["token"], validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return False
            user, sep, password = decoded.partition(":")
            good = hmac.compare_digest(user.encode(), self.user.encode())
            return (
                bool(sep)
                and hmac.compare_digest(password.encode(), self._password.encode())
                and good
            )
        need = ("username", "realm", "nonce", "uri", "response")
        if any(k not in params for k in need) or params["username"] != self.user:
            return False
        if params["realm"] != self.realm or not self._nonce_ok(params["nonce"]):
            return False
        expected = _digest_response(
            self.user, self._password, self.realm, method, params["uri"], params
        )
        return hmac.compare_digest(expected, params["response"].lower())

    def __repr__(self) -> str:
        return f"Authenticator(user={self.user!r}, scheme={self.scheme!r}, realm={self.realm!r})"
