"""An H.265 simulated camera, read by real clients (PyAV, ffprobe) over TCP and UDP."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Callable, Iterator

import av
import numpy as np
import pytest
from conftest import free_port, require_tool, stop_pid, wait_port
from servers.sim_fixtures import RawRtsp, read_pyav

import rtsplab
from rtsplab.rtsp.h265 import H265Depacketizer, nal_type, parse_h265_fmtp
from rtsplab.rtsp.rtp import RtpHeader
from rtsplab.sim import SimCamera, SimServer
from rtsplab.timecode import read_timecode

N = 45
pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def srv() -> Iterator[SimServer]:
    with SimServer([SimCamera("cam1", codec="h265")], port=0) as s:
        yield s


def test_sdp_and_rtp_follow_rfc_7798(srv: SimServer) -> None:
    """The SDP names H265/90000 with sprop-vps/sps/pps; the RTP depacketizes and decodes."""
    url = srv.url("cam1")
    with RawRtsp(srv.port) as raw:
        sdp = raw.request("DESCRIBE", url).body.decode()
        assert "a=rtpmap:96 H265/90000" in sdp
        fmtp = next(line for line in sdp.splitlines() if line.startswith("a=fmtp:96 "))
        params = parse_h265_fmtp(fmtp.removeprefix("a=fmtp:"))
        assert [nal_type(n) for n in params.nals] == [32, 33, 34]
        raw.frames.clear()
        raw.play_tcp(url)
        rtp = [f.payload for f in raw.read_frames(400, timeout_s=5.0) if f.channel == 0]
    depack = H265Depacketizer()
    decoder = av.CodecContext.create("hevc", "r")
    access_unit: list[bytes] = []
    seqs: list[int] = []
    first_key: bool | None = None
    for pkt in rtp:
        access_unit += depack.push(RtpHeader.payload(pkt))
        if not RtpHeader.parse(pkt).marker:
            continue
        if first_key is None:
            first_key = H265Depacketizer.is_keyframe(access_unit)
        data = b"".join(b"\x00\x00\x00\x01" + n for n in access_unit)
        for frame in decoder.decode(av.Packet(data)):
            tc = read_timecode(np.asarray(frame.to_ndarray(format="gray"), np.uint8))
            assert tc is not None
            seqs.append(tc.seq)
        access_unit = []
    assert first_key, "the stream must start at an IRAP picture"
    assert len(seqs) >= 10, len(seqs)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # every frame, in order


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_pyav_reads_h265(srv: SimServer, transport: str) -> None:
    read_pyav(srv.url("cam1"), N, transport).check(N)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize("backend", ["pyav", "opencv"])
def test_rtsplab_backends_read_h265(srv: SimServer, backend: str, transport: str) -> None:
    with rtsplab.open(srv.url("cam1"), backend=backend, transport=transport) as r:
        frames = [r.read_frame(timeout_s=5.0, fresh=True) for _ in range(20)]
        assert r.info.codec in ("hevc", "h265")
    assert [f.clock.value for f in frames] == ["timecode"] * 20
    seqs = [f.source_seq for f in frames]
    assert all(a is not None and b is not None and b > a for a, b in itertools.pairwise(seqs))
    assert all(0 < f.age_ms < 1000 for f in frames)


def test_process_server_serves_h265(make_sim: Callable[..., SimServer]) -> None:
    s = make_sim([SimCamera("cam1", codec="h265")], process=True)
    with RawRtsp(s.port) as raw:
        assert b"H265/90000" in raw.request("DESCRIBE", s.url("cam1")).body


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_ffprobe_reads_h265(srv: SimServer, transport: str) -> None:
    ffprobe = require_tool("ffprobe", "ffmpeg")
    codec = subprocess.run(
        [ffprobe, "-v", "error", "-rtsp_transport", transport, "-select_streams", "v",
         "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", srv.url("cam1")],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.strip()  # fmt: skip
    assert codec == "hevc,640,360"
    out = subprocess.run(
        [ffprobe, "-v", "error", "-rtsp_transport", transport, "-select_streams", "v",
         "-show_entries", "frame=pts_time", "-of", "csv=p=0", "-read_intervals", "%+2.5",
         srv.url("cam1")],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    # a frame carrying SEI side data prints as "pts," and the very first one's pts is N/A
    pts = [float(x.rstrip(",")) for x in out.split() if x.rstrip(",") not in ("", "N/A")]
    assert len(pts) >= N, len(pts)
    assert all(b > a for a, b in itertools.pairwise(pts))


def test_cli_serves_h265() -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "rtsplab.cli", "sim", "--cameras", "1", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--codec", "h265"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_port(port, 20, proc)
        with RawRtsp(port) as c:
            r = c.request("DESCRIBE", f"rtsp://127.0.0.1:{port}/cam1")
        assert r.status == 200 and b"H265/90000" in r.body and b"sprop-vps=" in r.body
    finally:
        stop_pid(proc)
