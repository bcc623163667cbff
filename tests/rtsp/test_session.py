"""The sans-IO client session against scripted server replies: no sockets, no clock."""

from __future__ import annotations

import pytest

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.auth import Authenticator, parse_auth_header
from rtsplab.rtsp.messages import InterleavedFrame, interleave, parse_request
from rtsplab.rtsp.session import (
    MAX_HELD_FRAMES,
    MAX_PENDING,
    ClientSession,
    Event,
    Redirect,
    Reply,
    ServerRequest,
    SessionState,
    SetUp,
)

URL = "rtsp://cam:554/live"
SDP = b"v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"


def reply(cseq: int | None, status: str = "200 OK", headers: str = "", body: bytes = b"") -> bytes:
    head = f"RTSP/1.0 {status}\r\n" + (f"CSeq: {cseq}\r\n" if cseq is not None else "") + headers
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def events(s: ClientSession, data: bytes = b"") -> list[Event]:
    s.receive_data(data)
    out = []
    while (e := s.next_event()) is not None:
        out.append(e)
    return out


def sent_requests(s: ClientSession) -> list:
    data = s.data_to_send()
    out = []
    while data:
        end = data.index(b"\r\n\r\n") + 4
        if not data.startswith(b"RTSP/"):
            out.append(parse_request(data[:end]))
        data = data[end:]
    return out


def playing(s: ClientSession) -> None:
    """Walk ``s`` through DESCRIBE, SETUP and PLAY with plain 200s."""
    s.describe()
    events(s, reply(s._cseq, body=SDP))
    s.setup(URL + "/track1", "RTP/AVP/TCP;unicast;interleaved=0-1")
    events(
        s,
        reply(
            s._cseq, headers="Session: abc;timeout=10\r\nTransport: RTP/AVP/TCP;interleaved=0-1\r\n"
        ),
    )
    s.play(URL)
    events(s, reply(s._cseq))
    s.data_to_send()
    assert s.state is SessionState.PLAYING


@pytest.mark.parametrize("method", ["SET_PARAMETER", "OPTIONS", "GET_PARAMETER", "ANNOUNCE"])
def test_a_server_request_during_the_handshake_is_answered_and_the_handshake_goes_on(
    method: str,
) -> None:
    s = ClientSession(URL)
    s.describe()
    s.data_to_send()
    request = f"{method} {URL} RTSP/1.0\r\nCSeq: 77\r\nContent-Length: 4\r\n\r\nx: 1".encode()
    got = events(s, request + reply(1, body=SDP))
    assert isinstance(got[0], ServerRequest) and got[0].request.method == method
    assert isinstance(got[1], Reply) and got[1].response.body == SDP
    answer = s.data_to_send()
    status = b"200 OK" if method != "ANNOUNCE" else b"501 Not Implemented"
    assert answer.startswith(b"RTSP/1.0 " + status) and b"CSeq: 77\r\n" in answer


def test_a_header_line_without_a_colon_is_skipped_and_counted() -> None:
    s = ClientSession(URL)
    s.describe()
    raw = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nX-Vendor garbage line\r\n: empty name\r\nContent-Length: 4\r\n\r\nv=0\n"
    (event,) = events(s, raw)
    assert isinstance(event, Reply) and event.response.body == b"v=0\n"
    assert s.skipped_header_lines == 2


def test_a_reply_without_cseq_answers_the_oldest_request() -> None:
    s = ClientSession(URL)
    s.describe()
    (event,) = events(s, reply(None, body=SDP))
    assert isinstance(event, Reply) and event.method == "DESCRIBE"
    assert s.replies_without_cseq == 1 and not s.waiting
    assert events(s, reply(None)) == [] and s.unmatched_replies == 1  # nothing waits for it


def test_a_reply_with_a_wrong_cseq_is_dropped_and_counted() -> None:
    s = ClientSession(URL)
    s.describe()
    assert events(s, reply(99)) == [] and s.unmatched_replies == 1 and s.waiting
    assert isinstance(events(s, reply(1))[0], Reply)


def test_lf_only_replies_followed_by_an_interleaved_frame_keep_the_frame() -> None:
    s = ClientSession(URL)
    playing(s)
    frame = interleave(0, b"\x80\x60ab\r\n\r\ncd")  # a CRLF pair inside the payload
    keepalive = b"RTSP/1.0 200 OK\nCSeq: 99\n\n"  # LF-only, unmatched: dropped
    got = events(s, keepalive + frame + frame)
    assert [type(e) for e in got] == [InterleavedFrame, InterleavedFrame]
    assert got[0].payload == b"\x80\x60ab\r\n\r\ncd"


@pytest.mark.parametrize(
    "transport",
    [
        "RTP/AVP/TCP;unicast;interleaved=300-301",
        "RTP/AVP/TCP;unicast;interleaved=255-256",
        "RTP/AVP/TCP;unicast;interleaved=-1-0",
        "RTP/AVP;unicast;server_port=0-1",
        "RTP/AVP;unicast;server_port=70000-70001",
        "RTP/AVP;unicast;server_port=65535",
        "HTTP/1.1;interleaved=0-1",
    ],
)
def test_setup_replies_with_channels_or_ports_out_of_range_are_protocol_errors(
    transport: str,
) -> None:
    s = ClientSession(URL)
    s.setup(URL + "/t", "RTP/AVP/TCP;unicast;interleaved=0-1")
    with pytest.raises(ProtocolError, match="SETUP answered a bad Transport"):
        events(s, reply(1, headers=f"Transport: {transport}\r\nSession: a\r\n"))


def test_setup_reads_the_channels_and_session_and_bounds_the_timeout() -> None:
    s = ClientSession(URL)
    s.setup(URL + "/t", "RTP/AVP/TCP;unicast;interleaved=0-1")
    headers = "Transport: RTP/AVP/TCP;interleaved=4-5\r\nSession: s1;timeout=999999999\r\n"
    (event,) = events(s, reply(1, headers=headers))
    assert isinstance(event, SetUp) and event.interleaved == (4, 5)
    assert event.session_id == "s1" and event.keepalive_s == 3600.0
    s.setup(URL + "/u", "RTP/AVP/TCP;unicast;interleaved=2-3")
    with pytest.raises(ProtocolError, match="Session"):
        events(s, reply(2, headers="Session: s1;timeout=-5\r\n"))


def test_frames_before_the_play_answer_are_held_capped_and_come_after_it() -> None:
    s = ClientSession(URL)
    s.play(URL)
    frames = b"".join(interleave(0, bytes([i % 256])) for i in range(MAX_HELD_FRAMES + 10))
    assert events(s, frames) == []
    got = events(s, reply(1))
    assert isinstance(got[0], Reply) and len(got) == 1 + MAX_HELD_FRAMES
    assert s.dropped_frames == 10


def test_digest_is_preferred_in_one_comma_joined_header_and_sha256_over_md5() -> None:
    s = ClientSession(URL, "admin", "pw")
    s.describe()
    s.data_to_send()
    challenge = 'Basic realm="cam", Digest realm="cam", nonce="n1", qop="auth,auth-int"'
    events(s, reply(1, "401 Unauthorized", f"WWW-Authenticate: {challenge}\r\n"))
    (retry,) = sent_requests(s)
    assert (retry.get("Authorization") or "").startswith("Digest ")
    two = (
        'WWW-Authenticate: Digest realm="cam", nonce="m", algorithm=MD5\r\n'
        'WWW-Authenticate: Digest realm="cam", nonce="s", algorithm=SHA-256, userhash=true\r\n'
    )
    s2 = ClientSession(URL, "admin", "pw")
    s2.describe()
    s2.data_to_send()
    events(s2, reply(1, "401 Unauthorized", two))
    (retry,) = sent_requests(s2)
    _scheme, params = parse_auth_header(retry.get("Authorization") or "")
    assert params["algorithm"] == "SHA-256" and params["userhash"] == "true"
    assert params["username"] != "admin"


@pytest.mark.parametrize(
    ("algorithm", "userhash"), [("MD5", False), ("SHA-256", False), ("SHA-256", True)]
)
def test_the_session_authenticates_against_the_simulators_authenticator(
    algorithm: str, userhash: bool
) -> None:
    auth = Authenticator("admin", 'p"w\\x', algorithm=algorithm, userhash=userhash, realm='r"1')
    s = ClientSession(URL, "admin", 'p"w\\x')
    s.describe()
    (first,) = sent_requests(s)
    assert not auth.check("DESCRIBE", first.get("Authorization"), first.uri)
    events(s, reply(1, "401 Unauthorized", f"WWW-Authenticate: {auth.challenge()}\r\n"))
    (retry,) = sent_requests(s)
    assert auth.check("DESCRIBE", retry.get("Authorization"), retry.uri)
    assert not auth.check("DESCRIBE", retry.get("Authorization"), URL + "/other")


def test_a_401_to_a_keepalive_reauthenticates_with_the_new_challenge() -> None:
    auth = Authenticator("u", "p")
    s = ClientSession(URL, "u", "p")
    s.describe()
    s.data_to_send()
    events(s, reply(1, "401 Unauthorized", f"WWW-Authenticate: {auth.challenge()}\r\n"))
    s.data_to_send()
    events(s, reply(2, body=SDP))
    s.play(URL)
    events(s, reply(3))
    s.data_to_send()
    s.tick(0.0)
    s.tick(31.0)
    (keepalive,) = sent_requests(s)
    fresh = 'Digest realm="rtsplab", nonce="fresh-nonce"'
    events(s, reply(keepalive.cseq, "401 Unauthorized", f"WWW-Authenticate: {fresh}\r\n"))
    (again,) = sent_requests(s)
    assert again.method == keepalive.method and 'nonce="fresh-nonce"' in (
        again.get("Authorization") or ""
    )
    assert events(s, reply(again.cseq)) == []  # the keep-alive's answer stays inside


def test_keepalive_falls_back_to_options_and_pending_keepalives_are_capped() -> None:
    s = ClientSession(URL)
    playing(s)
    s.tick(0.0)  # the keep-alive clock starts
    s.tick(100.0)
    (first,) = sent_requests(s)
    assert first.method == "GET_PARAMETER" and first.get("Session") == "abc"
    events(s, reply(first.cseq, "501 Not Implemented"))
    assert s.keepalive_method == "OPTIONS"
    for i in range(MAX_PENDING + 5):  # a server that never answers
        s.tick(100.0 + 6 * (i + 1))
    assert len(s._pending) <= MAX_PENDING and s.abandoned_keepalives > 0
    assert {r.method for r in sent_requests(s)} == {"OPTIONS"}


def test_teardown_carries_the_session_and_the_credentials() -> None:
    s = ClientSession(URL, "u", "p")
    s.describe()
    s.data_to_send()
    events(s, reply(1, "401 Unauthorized", 'WWW-Authenticate: Digest realm="r", nonce="n"\r\n'))
    s.data_to_send()
    s.setup(URL + "/t", "RTP/AVP/TCP;unicast;interleaved=0-1")
    events(s, reply(3, headers="Session: xyz\r\n"))
    s.data_to_send()
    s.close()
    (teardown,) = sent_requests(s)
    assert teardown.method == "TEARDOWN" and teardown.get("Session") == "xyz"
    assert (teardown.get("Authorization") or "").startswith("Digest ")
    assert s.state is SessionState.CLOSED and s.next_event() is None


@pytest.mark.parametrize(
    ("here", "location", "same"),
    [
        ("rtsp://cam/live", "rtsp://cam:554/other", True),
        ("rtsp://cam/live", "/moved", True),
        ("rtsp://cam/live", "rtsp://cam:8554/other", False),
        ("rtsp://cam/live", "rtsp://evil.example/live", False),
        ("rtsp://cam/live", "rtsps://cam/live", False),
        ("rtsps://cam/live", "rtsps://cam:322/x", True),
    ],
)
def test_redirects_say_whether_the_credentials_may_follow(
    here: str, location: str, same: bool
) -> None:
    s = ClientSession(here, "u", "p")
    s.describe()
    (event,) = events(s, reply(1, "302 Found", f"Location: {location}\r\n"))
    assert isinstance(event, Redirect) and event.same_origin is same
    assert "://" in event.location


@pytest.mark.parametrize("location", ["rtsp://cam/live", "rtspt://cam/live", "http://cam/x"])
def test_a_redirect_out_of_rtsps_is_refused(location: str) -> None:
    s = ClientSession("rtsps://cam/live")
    s.describe()
    with pytest.raises(ProtocolError):
        events(s, reply(1, "301 Moved", f"Location: {location}\r\n"))


def test_interleaving_outside_a_byte_is_a_protocol_error() -> None:
    s = ClientSession(URL)
    with pytest.raises(ProtocolError):
        s.send_interleaved(300, b"rr")
    with pytest.raises(ProtocolError):
        s.send_interleaved(1, bytes(70000))
    assert s.data_to_send() == b""
