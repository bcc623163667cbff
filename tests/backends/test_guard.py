"""The open bound (rtsplab.backends.guard): a slow call is abandoned at the deadline or on
cancel, a late result is released, and a server that is not RTSP is named at once."""

from __future__ import annotations

import threading
import time

import pytest
from faults.fakes import FakeServer

from rtsplab.backends.diagnosis import quote_answer, sniff
from rtsplab.backends.guard import bounded_open
from rtsplab.errors import AuthError, OpenTimeout, ProtocolError, StreamClosed
from rtsplab.urls import RtspUrl

URL = RtspUrl.parse("rtsp://127.0.0.1:1/cam1")


def test_a_late_result_is_released() -> None:
    released: list[object] = []
    done = threading.Event()
    token = object()

    def slow_open() -> object:
        time.sleep(0.4)
        return token

    def release(value: object) -> None:
        released.append(value)
        done.set()

    t0 = time.monotonic()
    with pytest.raises(OpenTimeout):
        bounded_open(URL, slow_open, release, timeout_s=0.2)
    assert 0.15 <= time.monotonic() - t0 < 0.4
    assert done.wait(2.0) and released == [token]


def test_cancel_returns_at_once() -> None:
    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(StreamClosed, match="closed while opening"):
        bounded_open(URL, lambda: time.sleep(1.0), lambda v: None, timeout_s=5.0, cancel=cancel)
    assert time.monotonic() - t0 < 0.3


def test_an_error_in_time_is_raised_as_is() -> None:
    def fail() -> object:
        raise AuthError("rtsp://127.0.0.1:1/cam1: 401 Unauthorized")

    with pytest.raises(AuthError, match="401"):
        bounded_open(URL, fail, lambda v: None, timeout_s=1.0)


def test_a_server_that_is_not_rtsp_fails_a_slow_open_at_once() -> None:
    with FakeServer("http") as srv:
        url = RtspUrl.parse(srv.url())
        t0 = time.monotonic()
        with pytest.raises(ProtocolError, match=r"HTTP/1\.1 400"):
            bounded_open(url, lambda: time.sleep(3.0), lambda v: None, timeout_s=3.0)
        assert time.monotonic() - t0 < 1.0


def test_sniff_tells_rtsp_from_silence() -> None:
    with FakeServer("slow_auth") as rtsp, FakeServer("silent") as silent:
        assert sniff(RtspUrl.parse(rtsp.url()), time.monotonic() + 1.0) is True
        assert sniff(RtspUrl.parse(silent.url()), time.monotonic() + 0.3) is False


def test_quoted_answers_never_show_the_password() -> None:
    url = RtspUrl.parse("rtsp://admin:s3cr:t@x@127.0.0.1/cam1")
    quoted = quote_answer(b"echo: s3cr:t@x and more bytes than fit in a quote", url)
    assert "s3cr:t@x" not in quoted and quoted.endswith("...")
