"""Basic and Digest authentication, both sides, without a server."""

from __future__ import annotations

import pytest

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.auth import Authenticator, authorization_header, parse_auth_header


@pytest.mark.parametrize("password", ["spark@123456", "pa:ss/wo@rd"])
@pytest.mark.parametrize("scheme", ["digest", "basic"])
def test_auth_round_trip(password: str, scheme: str) -> None:
    a = Authenticator("admin", password, scheme=scheme)
    uri = "rtsp://127.0.0.1:8554/cam1"
    good = authorization_header("admin", password, "DESCRIBE", uri, a.challenge())
    assert a.check("DESCRIBE", good)
    bad = authorization_header("admin", password + "x", "DESCRIBE", uri, a.challenge())
    assert not a.check("DESCRIBE", bad)
    assert not a.check("DESCRIBE", None) and not a.check("DESCRIBE", "Bearer x")
    assert password not in repr(a)


def test_digest_qop_and_foreign_nonce() -> None:
    a = Authenticator("u", "p")
    challenge = a.challenge() + ', qop="auth"'
    header = authorization_header("u", "p", "PLAY", "rtsp://h/a", challenge, cnonce="c0ffee")
    assert "qop=auth" in header and a.check("PLAY", header)
    assert not a.check("SETUP", header)  # method is part of the digest
    other = Authenticator("u", "p").challenge()  # nonce signed by another server
    assert not a.check("PLAY", authorization_header("u", "p", "PLAY", "rtsp://h/a", other))
    scheme, params = parse_auth_header('Digest realm="r\\"x", nonce=abc')
    assert scheme == "digest" and params == {"realm": 'r"x', "nonce": "abc"}


def test_nonce_expires_on_the_given_clock() -> None:
    now = [1_000_000.0]
    a = Authenticator("u", "p", nonce_ttl_s=10, clock=lambda: now[0])
    header = authorization_header("u", "p", "PLAY", "rtsp://h/a", a.challenge())
    assert a.check("PLAY", header)
    now[0] += 11
    assert not a.check("PLAY", header)


@pytest.mark.parametrize(
    "challenge", ['Bearer realm="x"', 'Digest realm="x"', 'Digest realm="a\nb", nonce="n"', ""]
)
def test_unanswerable_challenges_raise_protocol_error(challenge: str) -> None:
    with pytest.raises(ProtocolError):
        authorization_header("u", "p", "DESCRIBE", "rtsp://h/a", challenge)
