"""A hostile-server fuzz of the sans-IO client session: valid reply skeletons, then mutations
(wrong or missing CSeq, odd header lines, huge or negative lengths, channels and ports out of
range, interleaved frames inside a reply, pipelined replies, LF-only lines, server requests,
redirects to other hosts and schemes), cut into arbitrary chunks. Whatever comes, only
RtspLabError subclasses come out, every buffer stays under its cap, and each example runs in
bounded time (hypothesis' deadline). RTSPLAB_FUZZ_EXAMPLES=N runs more."""

from __future__ import annotations

import contextlib
import itertools
import os
import tracemalloc
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers.hostile import SCRIPTS, skeleton

from rtsplab.errors import RtspLabError
from rtsplab.rtsp.messages import MAX_BODY_BYTES, MAX_HEADER_BYTES, interleave
from rtsplab.rtsp.session import (
    MAX_HELD_BYTES,
    MAX_HELD_FRAMES,
    MAX_PENDING,
    ClientSession,
    Redirect,
    Reply,
    SetUp,
)

EXAMPLES = int(os.environ.get("RTSPLAB_FUZZ_EXAMPLES", "200"))
URL = "rtsp://127.0.0.1:8554/cam1"
METHODS = ("DESCRIBE", "SETUP", "PLAY", "GET_PARAMETER")

cseqs = st.one_of(
    st.integers(0, 8).map(str),
    st.sampled_from(["", "-1", "99999999999999999999", "0x10", "1 2", "abc", "  3  "]),
    st.none(),
)
odd_lines = st.sampled_from(
    [
        b"no colon here",
        b": empty name",
        b" folded continuation",
        b"\tfolded tab",
        b"Content-Length: -5",
        b"Content-Length: 99999999999",
        b"Content-Length: 12abc",
        b"Content-Length: 3",
        b"Transport: RTP/AVP/TCP;interleaved=300-301",
        b"Transport: RTP/AVP/TCP;interleaved=255-256",
        b"Transport: RTP/AVP;server_port=0-70000;source=10.9.9.9",
        b"Transport: RTP/AVP;unicast;server_port=65535",
        b"Transport: HTTP/1.1",
        b"Transport: ",
        b"Session: ",
        b"Session: a b;timeout=0",
        b"Session: s;timeout=99999999999999999999",
        b"Session: s;timeout=-1",
        b'WWW-Authenticate: Basic realm="a", Digest realm="b", nonce="n"',
        b'WWW-Authenticate: Digest realm="a\\"b", nonce="n", algorithm=SHA-256, userhash=true',
        b'WWW-Authenticate: Digest nonce="", algorithm=SHA-512-256',
        b"WWW-Authenticate: Bearer x",
        b"Location: rtsp://10.1.2.3/elsewhere",
        b"Location: rtsps://127.0.0.1:8554/cam1",
        b"Location: http://127.0.0.1/x",
        b"Location: /relative",
        b"Location: rtsp://u:p@[::1",
        b"RTP-Info: url=x;seq=99999999;rtptime=-1",
        b"\xff\xfe not utf-8",
        b"X: \x00\x01",
    ]
)
statuses = st.sampled_from(
    [b"200 OK", b"401 Unauthorized", b"302 Found", b"301 Moved", b"404 Not Found", b"461 Unsupported Transport",
     b"501 Not Implemented", b"999 What", b"20 Short", b"200"]
)  # fmt: skip
frames = st.builds(
    interleave, st.integers(0, 255), st.binary(max_size=64).map(lambda b: b + b"\r\n\r\n")
)
server_requests = st.builds(
    lambda m, c, body: (
        f"{m} {URL} RTSP/1.0\r\nCSeq: {c}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    ),
    st.sampled_from(["SET_PARAMETER", "OPTIONS", "GET_PARAMETER", "ANNOUNCE", "REDIRECT", "X"]),
    st.integers(0, 10),
    st.binary(max_size=16),
)


def reply_to(method: str, cseq: int) -> st.SearchStrategy[bytes]:
    """An answer to ``method``/``cseq``: the valid skeleton half the time, else mutated."""
    challenge = (
        f'RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Basic realm="c", '
        f'Digest realm="c", nonce="n{cseq}", algorithm=SHA-256, qop="auth"\r\n\r\n'
    ).encode()
    return st.one_of(
        st.just(skeleton(method, cseq, URL)), st.just(challenge), mutated(method, cseq)
    )


@st.composite
def mutated(draw: st.DrawFn, method: str | None = None, cseq: int = 1) -> bytes:
    """One reply: a valid skeleton, then mutated."""
    method = method or draw(st.sampled_from(METHODS))
    raw = skeleton(method, cseq, URL)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if draw(st.booleans()):
        lines[0] = b"RTSP/1.0 " + draw(statuses)
    if draw(st.booleans()):
        new = draw(cseqs)
        lines = [ln for ln in lines if not ln.startswith(b"CSeq:")]
        if new is not None:
            lines.insert(1, b"CSeq: " + new.encode())
    for _ in range(draw(st.integers(0, 3))):
        lines.insert(draw(st.integers(1, len(lines))), draw(odd_lines))
    if draw(st.booleans()):
        lines = [ln for ln in lines if not ln.startswith(b"Content-Length")]
        body = b""
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    out = eol.join(lines) + eol + eol + body
    if draw(st.booleans()):  # an interleaved frame in the middle of the reply
        at = draw(st.integers(0, len(out)))
        out = out[:at] + draw(frames) + out[at:]
    return out


replies = mutated()
items = st.one_of(replies, frames, server_requests, st.binary(max_size=32))
streams = st.lists(items, min_size=1, max_size=8).map(b"".join)


def fuzz_settings(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``examples`` hypothesis examples, each bounded in time (the session must never spin)."""
    return settings(
        max_examples=examples,
        deadline=2000,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def new_session(creds: bool) -> ClientSession:
    """A session with credentials whose password needs quoting in a Digest answer, or none."""
    return ClientSession(URL, "admin" if creds else None, 'p"a:ss' if creds else None)


def answer_events(session: ClientSession, follow_redirects: bool = False) -> ClientSession:
    """Answer the session's events as the native client does (DESCRIBE -> SETUP -> PLAY; a
    redirect starts a new session at its location when ``follow_redirects``); return the
    session that goes on."""
    for _ in range(10_000):
        event = session.next_event()
        if event is None:
            return session
        if isinstance(event, Reply) and event.method == "DESCRIBE" and event.response.ok:
            session.setup(URL + "/track1", "RTP/AVP/TCP;unicast;interleaved=0-1")
        elif isinstance(event, SetUp):
            assert event.interleaved is None or all(0 <= c <= 255 for c in event.interleaved)
            session.play(URL)
        elif isinstance(event, Redirect) and follow_redirects:
            assert event.location.split("://")[0] in ("rtsp", "rtsps", "rtspt")
            session = ClientSession(event.location)
            session.describe()
    raise AssertionError("an unbounded run of events")


def check_bounds(session: ClientSession) -> None:
    """Every buffer of the session is under its cap (a frame's worth of slack)."""
    assert session._reader.buffered <= MAX_HEADER_BYTES + MAX_BODY_BYTES + 70_000
    assert len(session._held) <= MAX_HELD_FRAMES
    assert session._held_bytes <= MAX_HELD_BYTES + 70_000
    assert len(session._pending) <= MAX_PENDING + 4


def drive(session: ClientSession, data: bytes, cuts: list[int]) -> None:
    """Feed ``data`` in the chunks ``cuts`` makes, answering events as the native client does
    (DESCRIBE, SETUP, PLAY, keep-alive, redirects), and check every bound on the way."""
    session.describe()
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    now_s = 0.0
    for lo, hi in itertools.pairwise(bounds):
        session.receive_data(data[lo:hi])
        session = answer_events(session, follow_redirects=True)
        now_s += 40.0
        session.tick(now_s)
        assert len(session.data_to_send()) < 64 * 1024 + 4 * len(data)
        check_bounds(session)


def drive_chunk(session: ClientSession, data: bytes, cut: int) -> None:
    """Feed ``data`` in two pieces and answer events as the native client does."""
    for piece in (data[:cut], data[cut:]):
        session.receive_data(piece)
        answer_events(session)
    session.tick(40.0 * session._cseq)
    check_bounds(session)


@fuzz_settings(EXAMPLES)
@given(st.data(), st.booleans())
def test_a_hostile_server_answering_each_request_raises_only_typed_errors(
    data: st.DataObject, creds: bool
) -> None:
    """The server answers every request the session makes (so the session gets deep into
    the handshake and past PLAY), mostly well, sometimes mutated, with junk between."""
    session = new_session(creds)
    stream = bytearray()
    try:
        session.describe()
        for _ in range(8):
            sent = session.data_to_send()
            asked = [ln.split(b" ")[0].decode() for ln in sent.split(b"\r\n") if b" RTSP/1.0" in ln]
            method = asked[-1] if asked else "GET_PARAMETER"
            chunk = data.draw(st.lists(items, max_size=2).map(b"".join))
            chunk += data.draw(reply_to(method, session._cseq))
            stream += chunk
            drive_chunk(session, bytes(chunk), data.draw(st.integers(0, len(chunk))))
    except RtspLabError:
        pass
    assert len(stream) < 10 * 1024 * 1024


@fuzz_settings(max(20, EXAMPLES // 3))
@given(streams, st.lists(st.integers(0, 10_000), max_size=6), st.booleans())
def test_a_hostile_byte_stream_raises_only_typed_errors(
    data: bytes, cuts: list[int], creds: bool
) -> None:
    with contextlib.suppress(RtspLabError):
        drive(new_session(creds), data, cuts)


@fuzz_settings(max(20, EXAMPLES // 8))
@given(st.lists(st.sampled_from(sorted(SCRIPTS)), min_size=1, max_size=4), st.integers(1, 6))
def test_the_named_hostile_scripts_pipelined_raise_only_typed_errors(
    names: list[str], cseq: int
) -> None:
    data = b"".join(SCRIPTS[n](m, cseq + i, URL) for i, n in enumerate(names) for m in METHODS[:1])
    with contextlib.suppress(RtspLabError):
        drive(ClientSession(URL), data, [len(data) // 3])


def test_a_flood_of_frames_before_play_is_held_within_its_cap() -> None:
    session = ClientSession(URL)
    session.play(URL)
    frame = interleave(0, bytes(1400))
    tracemalloc.start()
    try:
        for _ in range(64):  # 64 x 100 frames x 1.4 kB: 9 MB before any PLAY answer
            session.receive_data(frame * 100)
            assert session.next_event() is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MAX_HELD_BYTES + 2 * 1024 * 1024, peak
    assert session.dropped_frames == 6400 - MAX_HELD_FRAMES
