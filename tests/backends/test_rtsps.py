"""RTSPS (RTSP over TLS) on the native client: gst-rtsp-server with a self-signed certificate,
read natively (auto picks native) and by PyAV; certificate checks; and no byte of an rtsps://
session, the server sniff included, ever reaching a server in clear."""

from __future__ import annotations

import hashlib
import json
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import require_tool
from servers.scripted import ScriptedServer

import rtsplab
from rtsplab.errors import OpenTimeout, RtspLabError, TlsError
from rtsplab.sim.external import GstServer
from rtsplab.timecode import read_timecode

pytestmark = pytest.mark.interop

PASSWORD = "s3cr:et@tls"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A self-signed certificate and key in one PEM, and its SHA-256 fingerprint."""
    openssl = require_tool("openssl", "openssl")
    d = tmp_path_factory.mktemp("tls")
    key, cert = d / "key.pem", d / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    pem = d / "server.pem"
    pem.write_bytes(cert.read_bytes() + key.read_bytes())
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    return pem, "sha256:" + ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


@pytest.fixture
def tls_server(gst_server: Callable[..., GstServer], certificate: tuple[Path, str]) -> GstServer:
    return gst_server(mounts=("cam1",), credentials=("admin", PASSWORD), tls_pem=certificate[0])


def test_rtsps_is_read_natively_with_auto_and_true_ages(tls_server: GstServer) -> None:
    url = tls_server.url("cam1", credentials=True)
    assert url.startswith("rtsps://")
    with rtsplab.open(url, strategy="naive", open_timeout_s=10) as reader:
        assert reader.backend_used == "native"
        ages = []
        for _ in range(15):
            frame = reader.read_frame(timeout_s=5)
            stamp = read_timecode(frame.image)  # painted by the server: independent of rtsplab
            if stamp is not None:
                ages.append((frame.t_recv_ns - stamp.t_ns) / 1e6)
    assert len(ages) >= 10 and 0 <= sorted(ages)[len(ages) // 2] < 200, ages


def test_pyav_reads_rtsps_too(tls_server: GstServer) -> None:
    with rtsplab.open(tls_server.url("cam1", credentials=True), backend="pyav") as reader:
        assert reader.read_frame(timeout_s=10).image.shape[:2] == (360, 640)


def test_certificate_checks(tls_server: GstServer, certificate: tuple[Path, str]) -> None:
    url = tls_server.url("cam1", credentials=True)
    with rtsplab.open(url, backend="native", tls_fingerprint=certificate[1]) as reader:
        assert reader.read_frame(timeout_s=10) is not None
    wrong = "sha256:" + "00" * 32
    with pytest.raises(TlsError, match="fingerprint") as pinned:
        rtsplab.open(url, backend="native", tls_fingerprint=wrong)
    with pytest.raises(TlsError, match="not trusted") as verified:
        rtsplab.open(url, backend="native", tls_verify=True)
    for exc in (pinned.value, verified.value):
        assert PASSWORD not in str(exc) and "s3cr" not in str(exc)
    with pytest.raises(ValueError, match="SHA-256"):
        rtsplab.open(url, tls_fingerprint="md5:00")
    with pytest.raises(ValueError, match="native backend only"):
        rtsplab.open(url, backend="pyav", tls_fingerprint=certificate[1])


def test_probe_picks_native_and_reads_rtsps(tls_server: GstServer) -> None:
    cmd = [
        sys.executable,
        "-m",
        "rtsplab.cli",
        "probe",
        tls_server.url("cam1", True),
        "--seconds",
        "2",  # the open counts: a loaded machine takes a second for it
    ]
    out = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=90, check=True)
    report = json.loads(out.stdout)
    assert report["backend"] == "native" and report["frames"] > 5, report
    assert PASSWORD not in out.stdout + out.stderr


@pytest.mark.parametrize("backend", ["auto", "native", "pyav", "opencv"])
def test_no_plaintext_byte_reaches_the_server_of_an_rtsps_url(backend: str) -> None:
    """A plain TCP listener records what an rtsps:// open sends it: TLS ClientHellos only."""
    with ScriptedServer(record_only=True) as listener:
        url = listener.url(scheme="rtsps", userinfo=f"admin:{PASSWORD}@")
        with pytest.raises(RtspLabError) as failed:
            rtsplab.open(url, backend=backend, open_timeout_s=1.5)
        assert isinstance(failed.value, TlsError | OpenTimeout), failed.value
        assert PASSWORD not in str(failed.value)
    assert listener.streams, "nothing connected"
    for stream in listener.streams:
        if stream:  # a TLS record: handshake (0x16), TLS 1.x
            assert stream[0] == 0x16 and stream[1] == 0x03, bytes(stream[:16])
    everything = bytes(listener.received)
    for clear in (b"RTSP/1.0", b"OPTIONS", b"DESCRIBE", b"admin", PASSWORD.encode()):
        assert clear not in everything


def test_rtsps_without_a_port_connects_to_322() -> None:
    assert rtsplab.RtspUrl.parse("rtsps://cam/x").effective_port == 322
    assert rtsplab.RtspUrl.parse("rtsp://cam/x").effective_port == 554


def test_a_threaded_rtsps_reader_closes_promptly(tls_server: GstServer) -> None:
    reader = rtsplab.open(tls_server.url("cam1", credentials=True), strategy="latest")
    try:
        assert reader.read_frame(timeout_s=10) is not None
    finally:
        t0 = time.monotonic()
        reader.close()
        took_s = time.monotonic() - t0
    assert took_s < 0.5 and reader.state is rtsplab.StreamState.CLOSED


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run ``rtsplab ARGV`` in this process; its exit code and everything it printed."""
    from rtsplab.cli import main

    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_probe_checks_the_certificate_it_is_told_to(
    tls_server: GstServer, certificate: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = tls_server.url("cam1", credentials=True)
    code, out = _cli(
        capsys, "probe", url, "--seconds", "2", "--tls-fingerprint", certificate[1], "--json"
    )
    report = json.loads(out)
    assert code == 0 and report["backend"] == "native" and report["frames"] > 5, report
    wrong = "sha256:" + "00" * 32
    for flags, why in (
        (["--tls-fingerprint", wrong], "does not match the pinned"),
        (["--tls-verify"], "not trusted"),
    ):
        code, out = _cli(capsys, "probe", url, "--seconds", "1", *flags, "--json")
        failed = json.loads(out)
        assert code == 2 and failed["error"] == "TlsError" and why in failed["message"], failed
        assert PASSWORD not in out
    code, out = _cli(capsys, "probe", url, "--tls-verify", "--backend", "pyav")
    assert code == 2 and "native backend only" in out, out
    code, out = _cli(capsys, "probe", url, "--tls-fingerprint", "md5:00")
    assert code == 2 and "SHA-256" in out, out


def test_doctor_reads_rtsps_natively_with_a_pinned_certificate(
    tls_server: GstServer, certificate: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = tls_server.url("cam1", credentials=True)
    argv = ["doctor", url, "--seconds", "1", "--tls-fingerprint", certificate[1], "--json"]
    code, out = _cli(capsys, *argv)
    report = json.loads(out)
    assert code == 0 and report["ok"], report["findings"]
    assert report["streams"]["cam1"]["backend"] == "native"
    setups = {row["setup"] for row in report["measurements"]}
    assert not any(s.startswith("default options") for s in setups), setups
    notes = [f["text"] for f in report["findings"] if f["level"] == "note"]
    assert any("FFmpeg cannot check the certificate" in t for t in notes), notes
    assert PASSWORD not in out
    wrong = "sha256:" + "00" * 32
    code, out = _cli(capsys, "doctor", url, "--seconds", "1", "--tls-fingerprint", wrong, "--json")
    failed = json.loads(out)
    assert code == 2 and not failed["ok"], failed
    texts = [f["text"] for f in failed["findings"] if f["level"] == "error"]
    assert any("TLS connection failed" in t and "TlsError" in t for t in texts), texts
    assert PASSWORD not in out
