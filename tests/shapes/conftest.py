"""Stream-shapes matrix fixtures: one gst-rtsp-server at a time, shared by the backends that
read its shape, and the session hook that writes ``data/shapes.csv``."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import IN_CI
from servers.fixtures import require_gst_rtsp_server

from rtsplab.sim.external import GstServer, start_gst_server
from shapes import shapelog


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shapelog.flush()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each shape's wire check right after its rows, on the server they started (one server
    start per shape, not one more for the wire checks at the end)."""
    at = [i for i, item in enumerate(items) if item.path.name == "test_shapes.py"]
    if not at or at != list(range(at[0], at[-1] + 1)):  # not one block: leave the order
        return

    def shape_name(item: pytest.Item) -> str:
        callspec = getattr(item, "callspec", None)
        return str(getattr(callspec.params.get("shape"), "name", "")) if callspec else ""

    block = items[at[0] : at[-1] + 1]
    rank: dict[str, int] = {}
    for item in block:
        rank.setdefault(shape_name(item), len(rank))
    items[at[0] : at[-1] + 1] = sorted(block, key=lambda item: rank[shape_name(item)])


# GStreamer elements the shapes need beyond x264enc (package: gstreamer1.0-plugins-*)
SHAPE_ELEMENTS = (
    "x265enc", "rtph265pay", "jpegenc", "rtpjpegpay", "voaacenc", "rtpmp4gpay", "opusenc",
    "rtpopuspay", "alawenc", "rtppcmapay", "mulawenc", "rtppcmupay", "audiotestsrc",
)  # fmt: skip
_elements_missing: list[str] = []


def require_shape_elements(python: str) -> None:
    """Fail in CI (skip locally) when the system GStreamer lacks an element a shape needs."""
    if not _elements_missing:
        check = (
            "import gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst; "
            f"Gst.init(None); print(' '.join(e for e in {SHAPE_ELEMENTS!r} "
            "if not Gst.ElementFactory.find(e)))"
        )
        proc = subprocess.run(
            [python, "-c", check], capture_output=True, text=True, timeout=30, check=False
        )
        _elements_missing.append(proc.stdout.strip() if proc.returncode == 0 else "gstreamer")
    if _elements_missing[0]:
        msg = (
            f"GStreamer elements missing: {_elements_missing[0]}: sudo apt-get install -y "
            "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
        )
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)


class ServerCache:
    """The server of the shape being measured; a new shape stops the previous one by PID, so
    only one encoder runs at a time (the matrix runs its rows shape by shape)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.key: tuple[object, ...] | None = None
        self.server: GstServer | None = None

    def get(self, fps: int, size: tuple[int, int], extra_args: tuple[str, ...]) -> GstServer:
        key = (fps, size, extra_args)
        if self.key != key or self.server is None or self.server.proc.poll() is not None:
            self.stop()
            python = require_gst_rtsp_server()
            require_shape_elements(python)
            self.server = start_gst_server(
                self.log_dir, ("cam1",), fps, size, python=python, extra_args=extra_args
            )
            self.key = key
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.server, self.key = None, None


@pytest.fixture(scope="session")
def shape_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerCache]:
    """The one-at-a-time server cache; everything stopped by PID at the end."""
    cache = ServerCache(tmp_path_factory.mktemp("shapes"))
    try:
        yield cache
    finally:
        cache.stop()


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate and its key in one PEM file (as cameras ship), by openssl."""
    from conftest import require_tool

    openssl = require_tool("openssl", "openssl")
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    both = folder / "server.pem"
    both.write_bytes(cert.read_bytes() + key.read_bytes())
    return both
