"""RTSP 1.0 message parsing and formatting, the stream splitter, Transport and auth headers."""

from __future__ import annotations

import pytest

from rtsplab.sim.auth import Authenticator, authorization_header, parse_auth_header
from rtsplab.sim.connection import camera_path
from rtsplab.sim.rtsp import (
    InterleavedFrame,
    MessageReader,
    RtspParseError,
    format_request,
    format_response,
    interleave,
    parse_request,
    parse_response,
)
from rtsplab.sim.transport import parse_transport


def test_request_round_trip() -> None:
    raw = format_request(
        "SETUP",
        "rtsp://127.0.0.1:8554/cam1/track1",
        3,
        {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1", "User-Agent": "t"},
    )
    assert raw.startswith(b"SETUP rtsp://127.0.0.1:8554/cam1/track1 RTSP/1.0\r\nCSeq: 3\r\n")
    req = parse_request(raw)
    assert (req.method, req.version, req.cseq) == ("SETUP", "RTSP/1.0", 3)
    assert req.get("transport") == "RTP/AVP/TCP;unicast;interleaved=0-1"


def test_response_with_body_and_repeated_headers() -> None:
    raw = format_response(
        401,
        7,
        [
            ("WWW-Authenticate", 'Digest realm="a", nonce="b"'),
            ("WWW-Authenticate", "Basic realm=a"),
        ],
        body=b"v=0\r\n",
    )
    r = parse_response(raw)
    assert (r.status, r.reason, r.cseq, r.ok) == (401, "Unauthorized", 7, False)
    assert r.get_all("www-authenticate") == ['Digest realm="a", nonce="b"', "Basic realm=a"]
    assert r.get("Content-Length") == "5" and r.body == b"v=0\r\n"


def test_header_injection_is_refused() -> None:
    with pytest.raises(ValueError):
        format_request("OPTIONS", "*", 1, {"X": "a\r\nEvil: 1"})


@pytest.mark.parametrize(
    "raw",
    [b"GARBAGE\r\n\r\n", b"PLAY rtsp://h/a\r\n\r\n", b"OPTIONS * RTSP/1.0\r\nNoColon\r\n\r\n"],
)
def test_malformed_requests(raw: bytes) -> None:
    with pytest.raises(RtspParseError) as e:
        parse_request(raw)
    assert e.value.status == 400


def test_cseq_missing_or_not_a_number() -> None:
    assert parse_request(b"OPTIONS * RTSP/1.0\r\n\r\n").cseq is None
    assert parse_request(b"OPTIONS * RTSP/1.0\r\nCSeq: x1\r\n\r\n").cseq is None


def test_reader_splits_messages_frames_and_partial_data() -> None:
    r = MessageReader()
    body = b"a=1\r\n"
    msg = format_request("ANNOUNCE", "rtsp://h/a", 1, {}, body)
    stream = interleave(1, b"\x80\xc9\x00\x01abcd") + msg + b"OPTIONS * RTSP/1.0\r\nCSeq: 2\r\n\r\n"
    out = []
    for i in range(len(stream)):  # byte by byte
        r.feed(stream[i : i + 1])
        while (item := r.next()) is not None:
            out.append(item)
    assert isinstance(out[0], InterleavedFrame) and out[0].channel == 1
    assert out[1] == msg and parse_request(out[1]).body == body
    assert parse_request(out[2]).cseq == 2  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"\x00\x01\x02garbage", 400),
        (b"OPTIONS * RTSP/1.0\r\nX: " + b"a" * 70_000, 400),
        (b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 99999999999\r\n\r\n", 413),
        (b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: -5\r\n\r\n", 400),
    ],
)
def test_reader_fatal_errors(data: bytes, status: int) -> None:
    r = MessageReader()
    r.feed(data)
    with pytest.raises(RtspParseError) as e:
        r.next()
    assert e.value.status == status and e.value.fatal


def test_transport_header() -> None:
    specs = parse_transport(
        "RTP/AVP/UDP;unicast;client_port=5000-5001,RTP/AVP/TCP;unicast;interleaved=2-3"
    )
    assert specs[0].udp and specs[0].client_port == (5000, 5001) and not specs[0].tcp
    assert specs[1].tcp and specs[1].interleaved == (2, 3)
    with pytest.raises(ValueError):
        _ = parse_transport("RTP/AVP;client_port=abc")[0].client_port


def test_camera_path() -> None:
    assert camera_path("rtsp://127.0.0.1:8554/cam1") == "cam1"
    assert camera_path("rtsp://127.0.0.1:8554/cam1/") == "cam1"
    assert camera_path("rtsp://127.0.0.1:8554/cam1/track1") == "cam1"
    assert camera_path("rtsp://127.0.0.1:8554/live/cam1/trackID=0?x=1") == "live/cam1"


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
