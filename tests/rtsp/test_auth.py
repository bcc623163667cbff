"""Basic and Digest authentication, both sides, without a server."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.auth import (
    Authenticator,
    authorization_header,
    choose_challenge,
    parse_auth_header,
    quote_string,
    split_challenges,
)


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


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
@pytest.mark.parametrize("userhash", [False, True])
def test_rfc7616_round_trip(algorithm: str, userhash: bool) -> None:
    a = Authenticator('ad"min', "pw\\x", algorithm=algorithm, userhash=userhash, realm='r"q')
    challenge = a.challenge() + ', qop="auth"'
    header = authorization_header('ad"min', "pw\\x", "SETUP", "rtsp://h/a", challenge)
    assert f"algorithm={algorithm}" in header and ("userhash=true" in header) is userhash
    assert ('username="ad\\"min"' in header) is not userhash  # escaped, or hashed
    assert a.check("SETUP", header, "rtsp://h/a")
    assert not a.check("SETUP", header, "rtsp://h/b")  # the answer is bound to its URI
    assert not a.check("PLAY", header, "rtsp://h/a")
    other = Authenticator('ad"min', "pw\\x", algorithm="SHA-256" if algorithm == "MD5" else "MD5")
    assert not other.check("SETUP", header)


def test_the_strongest_challenge_is_chosen() -> None:
    joined = 'Basic realm="cam, 1", Digest realm="cam", nonce="n", qop="auth,auth-int", Digest realm="cam", nonce="s", algorithm=SHA-256'
    assert split_challenges(joined) == [
        'Basic realm="cam, 1"',
        'Digest realm="cam", nonce="n", qop="auth,auth-int"',
        'Digest realm="cam", nonce="s", algorithm=SHA-256',
    ]
    assert choose_challenge([joined]) == 'Digest realm="cam", nonce="s", algorithm=SHA-256'
    assert choose_challenge(['Basic realm="x"', 'Digest realm="x", nonce="n"']).startswith("Digest")
    assert (
        choose_challenge(['Digest realm="x", nonce="n", algorithm=SHA-512-256', "Basic"]) == "Basic"
    )
    header = authorization_header("u", "p", "DESCRIBE", "*", joined)  # one header, three offers
    assert header.startswith("Digest ") and "algorithm=SHA-256" in header


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Basic", "Digest", "Negotiate"]),
            st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_split_challenges_undoes_a_comma_join(offers: list[tuple[str, str]]) -> None:
    challenges = [f'{scheme} realm={quote_string(realm)}, nonce="x"' for scheme, realm in offers]
    assert split_challenges(", ".join(challenges)) == challenges
