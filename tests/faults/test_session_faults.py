"""Session faults on every backend: an rtsps:// URL pointed at a plain RTSP port fails as a TLS
error at once (never a plain request to it); a camera serving RTSPS with a self-signed
certificate (gst-rtsp-server) is read; hostile handshakes end within the open bound, opened
or typed. Each leaves no thread or fd behind."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import require_tool
from servers.hostile import SCRIPTS
from servers.scripted import ScriptedServer

import rtsplab
from faults.conftest import MATRIX_BACKENDS
from faults.faultlog import case
from rtsplab.errors import RtspLabError, TlsError
from rtsplab.sim import SimServer
from rtsplab.sim.external import GstServer

pytestmark = [pytest.mark.interop, pytest.mark.parametrize("backend", MATRIX_BACKENDS)]

OPEN_TIMEOUT_S = 3.0
FAST_S = 1.0
PASSWORD = "tl5:p@ss/wd"


@pytest.fixture(scope="module")
def tls_pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    openssl = require_tool("openssl", "openssl")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "k.pem"),
         "-out", str(d / "c.pem"), "-days", "2", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    pem = d / "server.pem"
    pem.write_bytes((d / "c.pem").read_bytes() + (d / "k.pem").read_bytes())
    return pem


@pytest.fixture(scope="module")
def plain_srv() -> Iterator[SimServer]:
    srv = SimServer(1, credentials=("admin", PASSWORD), process=True)
    try:
        yield srv
    finally:
        srv.close()


def test_rtsps_to_a_plain_rtsp_port(backend: str, plain_srv: SimServer) -> None:
    url = plain_srv.url("cam1", credentials=True).replace("rtsp://", "rtsps://", 1)
    with case("rtsps URL, plain RTSP port", backend) as c:
        t0 = time.monotonic()
        with pytest.raises(TlsError) as info:
            rtsplab.open(url, backend=backend, open_timeout_s=OPEN_TIMEOUT_S).close()
        c.recovery_s = time.monotonic() - t0
        c.error_type = type(info.value).__name__
        assert "TLS" in str(info.value) and PASSWORD not in str(info.value)
        assert c.recovery_s < FAST_S


def test_rtsps_with_a_self_signed_certificate(
    backend: str, gst_server: Callable[..., GstServer], tls_pem: Path
) -> None:
    srv = gst_server(mounts=("cam1",), credentials=("admin", PASSWORD), tls_pem=tls_pem)
    url = srv.url("cam1", credentials=True)
    with case("rtsps, self-signed certificate", backend) as c:
        t0 = time.monotonic()
        with rtsplab.open(url, backend=backend, open_timeout_s=10) as reader:
            frame = reader.read_frame(timeout_s=10)
            c.recovery_s = time.monotonic() - t0  # time to the first frame
            assert frame.image.shape[:2] == (360, 640)
            assert reader.backend_used == (backend if backend != "auto" else "native")


HANDSHAKES = ("server_request_first", "no_cseq", "channels_out_of_range")


@pytest.mark.parametrize("script", HANDSHAKES)
def test_hostile_handshake(backend: str, script: str) -> None:
    """A server that asks its own questions mid-handshake, drops CSeq, or names interleaved
    channels past 255 (and then sends no video): the open ends within its bound, opened or
    with a typed error, and leaves nothing behind."""
    with ScriptedServer(SCRIPTS[script]) as srv, case(f"handshake: {script}", backend) as c:
        t0 = time.monotonic()
        try:
            rtsplab.open(srv.url(), backend=backend, open_timeout_s=1.5).close()
        except RtspLabError as exc:
            c.error_type = type(exc).__name__
        c.recovery_s = time.monotonic() - t0
        assert c.recovery_s <= 1.5 + 0.2
        if backend in ("native", "auto") and script != "channels_out_of_range":
            assert c.error_type == "", c.error_type  # the native client reads through
        if backend in ("native", "auto") and script == "channels_out_of_range":
            assert c.error_type == "ProtocolError"
