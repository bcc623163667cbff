"""RTSP 1.0 message parsing and formatting, the stream splitter and the Session header."""

from __future__ import annotations

import pytest

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.messages import (
    InterleavedFrame,
    MessageReader,
    RtspParseError,
    format_request,
    format_response,
    interleave,
    parse_request,
    parse_response,
    parse_session,
)


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


@pytest.mark.parametrize(
    ("value", "sid", "timeout_s"),
    [
        ("12345678;timeout=60", "12345678", 60),
        ("  A1b2C3 ", "A1b2C3", 60),
        ("abc; timeout = 5", "abc", 5),
        ("47112344;timeout=65;other=1", "47112344", 65),
    ],
)
def test_session_header(value: str, sid: str, timeout_s: int) -> None:
    s = parse_session(value)
    assert (s.id, s.timeout_s) == (sid, timeout_s)
    assert s.keepalive_s == max(1.0, timeout_s / 2)


@pytest.mark.parametrize("value", ["", ";timeout=5", "abc;timeout=x", "abc;timeout=0", "a b"])
def test_bad_session_header(value: str) -> None:
    with pytest.raises(ProtocolError):
        parse_session(value)


def test_unicode_digits_are_not_a_cseq() -> None:
    assert parse_response("RTSP/1.0 200 OK\r\nCSeq: \u00b2\r\n\r\n".encode()).cseq is None
