"""Bad inputs on every backend: each gives its typed, redacted error within the open bound
(``open_timeout_s`` +- 0.2 s for a server that never answers, well under it for one that
answers wrongly), and leaves no thread or fd behind."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from conftest import free_port

import rtsplab
from faults.conftest import MATRIX_BACKENDS
from faults.fakes import FakeServer
from faults.faultlog import case
from rtsplab.errors import (
    AuthError,
    ConnectError,
    NotFound,
    OpenTimeout,
    ProtocolError,
    UnsupportedStream,
)
from rtsplab.sim import SimServer

pytestmark = [pytest.mark.interop, pytest.mark.parametrize("backend", MATRIX_BACKENDS)]

OPEN_TIMEOUT_S = 1.5
BOUND_SLACK_S = 0.2  # the contract: open returns within open_timeout_s +- this
FAST_S = 1.0  # an answered failure is reported well before the open timeout
PASSWORD = "p@ss:w/rd"
WRONG = "n0t:th3@pw"


@pytest.fixture(scope="module")
def auth_srv() -> Iterator[SimServer]:
    srv = SimServer(1, credentials=("admin", PASSWORD), process=True)
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeServer]]:
    servers = {mode: FakeServer(mode) for mode in ("silent", "http", "junk", "slow_auth")}
    servers["unsupported_codec"] = FakeServer("unsupported_codec")
    try:
        yield servers
    finally:
        for srv in servers.values():
            srv.close()


def expect_error(
    name: str,
    backend: str,
    url: str,
    error: type[Exception],
    secrets: tuple[str, ...] = (),
    caplog: pytest.LogCaptureFixture | None = None,
) -> tuple[Exception, float]:
    with case(name, backend) as c:
        t0 = time.monotonic()
        with pytest.raises(error) as info:
            rtsplab.open(url, backend=backend, open_timeout_s=OPEN_TIMEOUT_S).close()
        c.recovery_s = time.monotonic() - t0
        c.error_type = type(info.value).__name__
        assert type(info.value) is error  # the same type on every backend, not a subclass
        assert c.recovery_s <= OPEN_TIMEOUT_S + BOUND_SLACK_S
        logged = caplog.text if caplog is not None else ""
        for text in (str(info.value), repr(info.value), logged):
            for secret in secrets:
                assert secret not in text
    return info.value, c.recovery_s


def with_user(url: str, user: str, password: str) -> str:
    return url.replace("rtsp://", f"rtsp://{user}:{password}@")


def test_wrong_password(
    backend: str, auth_srv: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="rtsplab")
    url = with_user(auth_srv.url("cam1"), "admin", WRONG)
    _, took_s = expect_error("wrong password", backend, url, AuthError, (WRONG, "th3"), caplog)
    assert took_s < FAST_S


def test_no_password(backend: str, auth_srv: SimServer) -> None:
    _, took_s = expect_error("no password", backend, auth_srv.url("cam1"), AuthError)
    assert took_s < FAST_S


def test_wrong_path(backend: str, sim_proc: SimServer) -> None:
    url = sim_proc.url("cam1").rsplit("/", 1)[0] + "/nope"
    _, took_s = expect_error("wrong path", backend, url, NotFound)
    assert took_s < FAST_S


def test_refused_port(backend: str) -> None:
    url = with_user(f"rtsp://127.0.0.1:{free_port()}/cam1", "admin", PASSWORD)
    _, took_s = expect_error("refused port", backend, url, ConnectError, (PASSWORD,))
    assert took_s < FAST_S


def test_silent_server(backend: str, fakes: dict[str, FakeServer]) -> None:
    _, took_s = expect_error("silent server", backend, fakes["silent"].url(), OpenTimeout)
    assert took_s >= OPEN_TIMEOUT_S - BOUND_SLACK_S


def test_slow_auth(
    backend: str, fakes: dict[str, FakeServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="rtsplab")
    url = with_user(fakes["slow_auth"].url(), "admin", PASSWORD)
    _, took_s = expect_error("slow auth", backend, url, OpenTimeout, (PASSWORD,), caplog)
    assert took_s >= OPEN_TIMEOUT_S - BOUND_SLACK_S


def test_http_server(backend: str, fakes: dict[str, FakeServer]) -> None:
    url = with_user(fakes["http"].url(), "admin", PASSWORD)
    error, took_s = expect_error("HTTP server", backend, url, ProtocolError, (PASSWORD,))
    assert "HTTP/1.1 400 Bad Request" in str(error)  # quotes what the server said
    assert took_s < FAST_S


def test_junk_server(backend: str, fakes: dict[str, FakeServer]) -> None:
    error, took_s = expect_error("junk server", backend, fakes["junk"].url(), ProtocolError)
    assert "\\x80\\x81" in str(error) and str(error).endswith("...")  # quoted, truncated
    assert took_s < FAST_S


def test_unsupported_codec(backend: str, fakes: dict[str, FakeServer]) -> None:
    url = fakes["unsupported_codec"].url()
    error, took_s = expect_error("unsupported codec", backend, url, UnsupportedStream)
    assert "X-NODEC" in str(error)
    assert took_s < FAST_S


MALFORMED = (
    f"http://admin:{PASSWORD}@127.0.0.1/cam1",
    f"rtsp://admin:{PASSWORD}@/cam1",
    f"rtsp://admin:{PASSWORD}@127.0.0.1:99999/cam1",
    "rtsp://",
    "",
)


def test_malformed_urls(backend: str) -> None:
    with case("malformed URLs", backend) as c:
        t0 = time.monotonic()
        for url in MALFORMED:
            with pytest.raises(ValueError) as info:
                rtsplab.open(url, backend=backend)
            assert PASSWORD not in str(info.value) and "w/rd" not in str(info.value)
            c.error_type = type(info.value).__name__
        c.recovery_s = (time.monotonic() - t0) / len(MALFORMED)
        assert c.recovery_s < 0.1
