"""Basic and Digest authentication against real clients; wrong credentials get 401."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import av
import cv2
import pytest
from servers.sim_fixtures import RawRtsp, read_opencv, read_pyav

from rtsplab.rtsp.auth import authorization_header
from rtsplab.sim import SimServer

pytestmark = pytest.mark.interop

CASES = [("digest", "spark@123456"), ("basic", "spark@123456"), ("digest", "pa:ss/w@rd")]


@pytest.mark.parametrize(("scheme", "password"), CASES)
def test_raw_socket(make_sim: Callable[..., SimServer], scheme: str, password: str) -> None:
    srv = make_sim(1, credentials=("admin", password), auth=scheme)
    url = srv.url("cam1")
    with RawRtsp(srv.port) as c:
        assert c.request("OPTIONS", url).status == 200  # OPTIONS stays open, like most cameras
        r = c.request("DESCRIBE", url)
        assert r.status == 401
        challenge = r.get("WWW-Authenticate") or ""
        assert challenge.lower().startswith(scheme)
        bad = authorization_header("admin", password + "x", "DESCRIBE", url, challenge)
        assert c.request("DESCRIBE", url, {"Authorization": bad}).status == 401
        wrong_user = authorization_header("root", password, "DESCRIBE", url, challenge)
        assert c.request("DESCRIBE", url, {"Authorization": wrong_user}).status == 401
        good = authorization_header("admin", password, "DESCRIBE", url, challenge)
        r = c.request("DESCRIBE", url, {"Authorization": good})
        assert r.status == 200 and b"H264/90000" in r.body
    assert password not in repr(srv) and quote(password, safe="") not in repr(srv)


@pytest.mark.parametrize(("scheme", "password"), CASES)
def test_pyav(make_sim: Callable[..., SimServer], scheme: str, password: str) -> None:
    srv = make_sim(1, credentials=("admin", password), auth=scheme)
    good = read_pyav(srv.url("cam1", credentials=True), 10)
    assert good.error is None and len(good.decoded) >= 10
    wrong = srv.url("cam1").replace("rtsp://", "rtsp://admin:nope@")
    with pytest.raises(av.error.HTTPUnauthorizedError):
        av.open(wrong, options={"rtsp_transport": "tcp"}, timeout=5)
    with pytest.raises(av.error.HTTPUnauthorizedError):
        av.open(srv.url("cam1"), options={"rtsp_transport": "tcp"}, timeout=5)


def test_opencv(make_sim: Callable[..., SimServer], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    srv = make_sim(1, credentials=("admin", "spark@123456"), auth="digest")
    r = read_opencv(srv.url("cam1", credentials=True), 10)
    assert len(r.decoded) >= 10
    cap = cv2.VideoCapture(srv.url("cam1").replace("rtsp://", "rtsp://admin:x@"), cv2.CAP_FFMPEG)
    assert not cap.isOpened()
    cap.release()
