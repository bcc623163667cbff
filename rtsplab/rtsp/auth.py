"""RTSP authentication: Basic, and Digest with MD5 (RFC 2617) or SHA-256 (RFC 7616), both sides.

Sans-IO: the server side reads time only through the ``clock`` it is given.

The server side (:class:`Authenticator`) issues a challenge for ``WWW-Authenticate`` and
checks an ``Authorization`` header. Digest nonces are stateless (a timestamp plus an HMAC
with a per-server secret) and expire after ``nonce_ttl_s``; an answer counts only for the
request-URI it names (RFC 7616 §3.4.6), so a captured header cannot be replayed elsewhere.

The client side picks the strongest challenge a server offers (:func:`choose_challenge`:
Digest SHA-256, then Digest MD5, then Basic, also from one comma-joined header, see
:func:`split_challenges`) and answers it (:func:`authorization_header`), with ``userhash``
when the server asks for it. Quoted values are escaped (RFC 7230 quoted-pair).

Passwords are compared in constant time and never appear in any repr or message.

Example:
    >>> a = Authenticator("admin", "spark@123456", scheme="digest")
    >>> header = authorization_header("admin", "spark@123456", "DESCRIBE",
    ...                               "rtsp://127.0.0.1/cam1", a.challenge())
    >>> a.check("DESCRIBE", header, "rtsp://127.0.0.1/cam1")
    True
    >>> a.check("DESCRIBE", header, "rtsp://127.0.0.1/cam2")  # bound to the URI it names
    False
    >>> a
    Authenticator(user='admin', scheme='digest', realm='rtsplab', algorithm='MD5')
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

__all__ = [
    "ALGORITHMS",
    "Authenticator",
    "authorization_header",
    "choose_challenge",
    "parse_auth_header",
    "quote_string",
    "split_challenges",
]

_PARAM = re.compile(r'([A-Za-z0-9_\-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)')
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~\-]+")

# Digest algorithms (RFC 7616 §3.3 / §6.1), strongest first: the hash each one names.
ALGORITHMS: dict[str, str] = {"SHA-256": "sha256", "MD5": "md5"}


def _hash(algorithm: str, text: str) -> str:
    return hashlib.new(ALGORITHMS[algorithm], text.encode("utf-8")).hexdigest()


def quote_string(value: str) -> str:
    """``value`` as an RFC 7230 quoted-string: ``"`` and ``\\`` escaped.

    Raises:
        ProtocolError: the value holds a line break or another control character.

    Example:
        >>> quote_string('a"b\\\\c')
        '"a\\\\"b\\\\\\\\c"'
    """
    if any((ord(c) < 0x20 and c != "\t") or c == "\x7f" for c in value):
        raise ProtocolError("an authentication value holds a control character")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


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
        params.setdefault(m.group(1).lower(), re.sub(r"\\(.)", r"\1", raw))
    return scheme, params


def split_challenges(value: str) -> list[str]:
    """Split one ``WWW-Authenticate`` value into its challenges (RFC 7235 §4.1 allows several,
    comma-joined); commas inside quoted strings and between parameters do not split.

    Example:
        >>> split_challenges('Basic realm="a, b", Digest realm="x", nonce="n", qop="auth,auth-int"')
        ['Basic realm="a, b"', 'Digest realm="x", nonce="n", qop="auth,auth-int"']
    """
    out: list[str] = []
    start = i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if c == '"':  # skip the quoted string, escapes included
            i += 1
            while i < n and value[i] != '"':
                i += 2 if value[i] == "\\" else 1
            i += 1
            continue
        if c == ",":
            j = i + 1
            while j < n and value[j] in " \t,":
                j += 1
            m = _TOKEN.match(value, j)
            if m is not None:
                k = m.end()
                while k < n and value[k] in " \t":
                    k += 1
                if k >= n or value[k] != "=":  # a new scheme, not a parameter
                    out.append(value[start:i].strip())
                    start = j
                    i = j
                    continue
        i += 1
    out.append(value[start:].strip())
    return [c for c in out if c]


def _strength(challenge: str) -> int:
    scheme, params = parse_auth_header(challenge)
    if scheme == "digest":
        algorithm = _algorithm(params)
        if algorithm is None or not params.get("nonce"):
            return -1
        return 3 if algorithm == "SHA-256" else 2
    return 1 if scheme == "basic" else -1


def _algorithm(params: dict[str, str]) -> str | None:
    """The hash of a Digest challenge's ``algorithm`` (``-sess`` variants are not served)."""
    name = params.get("algorithm", "MD5").strip().upper()
    return name if name in ALGORITHMS else None


def choose_challenge(values: list[str]) -> str | None:
    """The strongest challenge this client answers among ``WWW-Authenticate`` values:
    Digest SHA-256, then Digest MD5, then Basic; ``None`` when none can be answered.

    Example:
        >>> choose_challenge(['Basic realm="c", Digest realm="c", nonce="n"'])
        'Digest realm="c", nonce="n"'
        >>> choose_challenge(['Digest realm="c", nonce="n", algorithm=MD5',
        ...                   'Digest realm="c", nonce="m", algorithm=SHA-256'])
        'Digest realm="c", nonce="m", algorithm=SHA-256'
        >>> choose_challenge(['Bearer realm="x"']) is None
        True
    """
    candidates = [c for v in values for c in split_challenges(v)]
    ranked = sorted(
        ((_strength(c), i, c) for i, c in enumerate(candidates)), key=lambda t: (-t[0], t[1])
    )
    if not ranked or ranked[0][0] < 0:
        return None
    return ranked[0][2]


def _digest_response(
    algorithm: str, user: str, password: str, realm: str, method: str, uri: str, p: dict[str, str]
) -> str:
    ha1 = _hash(algorithm, f"{user}:{realm}:{password}")
    ha2 = _hash(algorithm, f"{method}:{uri}")
    if p.get("qop"):
        return _hash(
            algorithm,
            f"{ha1}:{p['nonce']}:{p.get('nc', '')}:{p.get('cnonce', '')}:{p['qop']}:{ha2}",
        )
    return _hash(algorithm, f"{ha1}:{p['nonce']}:{ha2}")


def authorization_header(
    user: str,
    password: str,
    method: str,
    uri: str,
    challenge: str,
    cnonce: str | None = None,
    nc: int = 1,
) -> str:
    """The ``Authorization`` value answering ``challenge`` (one ``WWW-Authenticate`` value;
    the strongest of several comma-joined challenges is answered).

    Raises:
        ProtocolError: no Basic or Digest (MD5, SHA-256) challenge, a Digest challenge with
            no nonce, or a value with a line break.

    Example:
        >>> authorization_header("u", "p:w", "OPTIONS", "*", 'Basic realm="r"')
        'Basic dTpwOnc='
        >>> h = authorization_header("u", "p", "PLAY", "*", 'Digest realm="r", nonce="n", '
        ...                          'algorithm=SHA-256, userhash=true')
        >>> 'algorithm=SHA-256' in h, 'userhash=true' in h, 'username="u"' in h
        (True, True, False)
    """
    chosen = choose_challenge([challenge])
    scheme, params = parse_auth_header(chosen or challenge)
    if scheme == "basic":
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    if scheme != "digest":
        raise ProtocolError(f"unsupported authentication scheme {scheme[:20]!r}")
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    if not nonce:
        raise ProtocolError("Digest challenge without a nonce")
    algorithm = _algorithm(params)
    if algorithm is None:
        raise ProtocolError(f"unsupported Digest algorithm {params.get('algorithm', '')[:20]!r}")
    userhash = params.get("userhash", "").strip().lower() == "true"
    name = _hash(algorithm, f"{user}:{realm}") if userhash else user
    answer = {"nonce": nonce}
    fields = [
        f"username={quote_string(name)}",
        f"realm={quote_string(realm)}",
        f"nonce={quote_string(nonce)}",
        f"uri={quote_string(uri)}",
    ]
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cn = cnonce or os.urandom(8).hex()
        answer.update(qop="auth", nc=f"{nc:08x}", cnonce=cn)
        fields += ["qop=auth", f"nc={nc:08x}", f"cnonce={quote_string(cn)}"]
    response = _digest_response(algorithm, user, password, realm, method, uri, answer)
    fields.append(f'response="{response}"')
    if "opaque" in params:
        fields.append(f"opaque={quote_string(params['opaque'])}")
    fields.append(f"algorithm={algorithm}")
    if userhash:
        fields.append("userhash=true")
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
        algorithm: the Digest hash, ``"MD5"`` (default, what every client answers) or
            ``"SHA-256"`` (RFC 7616).
        userhash: ask Digest clients to send the user name hashed (RFC 7616 §3.4.4).

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
        algorithm: str = "MD5",
        userhash: bool = False,
    ) -> None:
        if scheme not in ("digest", "basic"):
            raise ValueError(f"auth scheme must be 'digest' or 'basic', not {scheme!r}")
        if algorithm not in ALGORITHMS:
            raise ValueError(f"Digest algorithm must be one of {', '.join(ALGORITHMS)}")
        self.user = user
        self._password = password
        self.scheme = scheme
        self.realm = realm
        self.nonce_ttl_s = nonce_ttl_s
        self.algorithm = algorithm
        self.userhash = userhash
        self._secret = os.urandom(16)
        self._clock = clock

    def _nonce(self, t: int | None = None) -> str:
        stamp = f"{int(self._clock()) if t is None else t:x}"
        mac = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        return f"{stamp}{mac}"

    def _nonce_ok(self, nonce: str) -> bool:
        stamp = nonce[:-24]
        if not re.fullmatch(r"[0-9a-f]{1,16}", stamp):
            return False
        t = int(stamp, 16)
        fresh = 0 <= self._clock() - t <= self.nonce_ttl_s
        return fresh and hmac.compare_digest(nonce, self._nonce(t))

    def challenge(self) -> str:
        """A ``WWW-Authenticate`` value (a fresh nonce for Digest).

        Example:
            >>> Authenticator("u", "p", scheme="basic").challenge()
            'Basic realm="rtsplab"'
            >>> Authenticator("u", "p", algorithm="SHA-256").challenge().endswith("algorithm=SHA-256")
            True
        """
        if self.scheme == "basic":
            return f"Basic realm={quote_string(self.realm)}"
        extra = ", userhash=true" if self.userhash else ""
        return (
            f'Digest realm={quote_string(self.realm)}, nonce="{self._nonce()}", '
            f"algorithm={self.algorithm}{extra}"
        )

    def check(self, method: str, authorization: str | None, uri: str | None = None) -> bool:
        """True when ``authorization`` carries this user's valid credentials for ``method``
        (and, when given, the request-URI ``uri``, which a Digest answer must name).

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
        if any(k not in params for k in need):
            return False
        if params.get("algorithm", "MD5").upper() != self.algorithm:
            return False
        hashed = params.get("userhash", "").lower() == "true"
        name = _hash(self.algorithm, f"{self.user}:{self.realm}") if hashed else self.user
        if not hmac.compare_digest(params["username"].encode(), name.encode()):
            return False
        if params["realm"] != self.realm or not self._nonce_ok(params["nonce"]):
            return False
        if uri is not None and params["uri"] != uri:
            return False
        expected = _digest_response(
            self.algorithm, self.user, self._password, self.realm, method, params["uri"], params
        )
        return hmac.compare_digest(expected, params["response"].lower())

    def __repr__(self) -> str:
        return (
            f"Authenticator(user={self.user!r}, scheme={self.scheme!r}, realm={self.realm!r}, "
            f"algorithm={self.algorithm!r})"
        )
