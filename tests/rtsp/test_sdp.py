"""SDP: section picking, rtpmap matched to the m= line, fmtp, control URLs."""

from __future__ import annotations

import pytest

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.sdp import MediaDescription, RtpMap, build_sdp, join_control, parse_sdp

# Audio and ONVIF metadata before the video, absolute controls, an rtpmap for a payload type
# the m= line does not offer, and a second video payload type.
CAMERA_SDP = """v=0
o=- 1 1 IN IP4 192.0.2.10
s=Media Presentation
a=control:rtsp://192.0.2.10/onvif/profile1/media.smp
m=audio 0 RTP/AVP 0
a=control:rtsp://192.0.2.10/onvif/profile1/media.smp/trackID=a
a=rtpmap:0 PCMU/8000
m=application 0 RTP/AVP 107
a=rtpmap:107 vnd.onvif.metadata/90000
a=control:rtsp://192.0.2.10/onvif/profile1/media.smp/trackID=m
m=video 0 RTP/AVP 97 96
a=rtpmap:98 H265/90000
a=rtpmap:96 MP4V-ES/90000
a=rtpmap:97 H264/90000
a=fmtp:97 packetization-mode=1;profile-level-id=4D0029;sprop-parameter-sets=Z00AKZpkA8ARPyzUBAQFAAADA+gAAOpgBA==,aO48gA==
a=framerate:25.0
a=control:rtsp://192.0.2.10/onvif/profile1/media.smp/trackID=v
"""


def test_camera_sdp_with_sections_before_the_video() -> None:
    sdp = parse_sdp(CAMERA_SDP.replace("\n", "\r\n").encode())
    assert [m.media for m in sdp.media] == ["audio", "application", "video"]
    v = sdp.video()
    assert v is not None
    assert v.payload_types == (97, 96)
    assert (v.payload_type, v.encoding, v.clock_rate) == (97, "H264", 90_000)
    assert 98 not in v.rtpmaps  # not offered on the m= line
    assert v.fmtp["profile-level-id"] == "4D0029"
    assert v.framerate == 25.0
    assert join_control("rtsp://192.0.2.10/x/", v.control) == v.control
    assert sdp.control == "rtsp://192.0.2.10/onvif/profile1/media.smp"


def test_bare_newlines_no_session_control_static_payload() -> None:
    sdp = parse_sdp("v=0\nm=video 0 RTP/AVP 26\na=control:track1\n")
    v = sdp.video()
    assert sdp.control is None and v is not None
    assert (v.encoding, v.clock_rate, v.fmtp) == ("JPEG", 90_000, {})


@pytest.mark.parametrize(
    "text",
    [
        b"\xff\xfe",
        "",
        "m=video",
        "m=video x RTP/AVP 96",
        "m=video 0 RTP/AVP 96 300",
        "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264",
        "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/0",
        "m=video 0 RTP/AVP 96\r\na=rtpmap:x H264/90000",
        "v=0\r\n" + "a=x\r\n" * 20000,
    ],
)
def test_malformed_sdp_raises_protocol_error(text: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_sdp(text)


def test_build_round_trip() -> None:
    video = MediaDescription(
        "video",
        0,
        "RTP/AVP",
        (96,),
        {96: RtpMap("H264", 90_000)},
        {96: "packetization-mode=1"},
        control="track1",
        framerate=30.0,
    )
    parsed = parse_sdp(build_sdp("127.0.0.1", "cam1", [video], 5))
    assert parsed.media == (video,) and parsed.control == "*" and parsed.session_name == "cam1"


@pytest.mark.parametrize(
    ("base", "control", "url"),
    [
        # Dahua: the query stays, the control goes after it (FFmpeg's rule)
        (
            "rtsp://192.0.2.1:554/cam/realmonitor?channel=1&subtype=1",
            "trackID=0",
            "rtsp://192.0.2.1:554/cam/realmonitor?channel=1&subtype=1/trackID=0",
        ),
        # Vivotek-style query with a trailing slash in Content-Base
        (
            "rtsp://h/media2/stream.sdp?profile=Profile381b/",
            "trackID=2",
            "rtsp://h/media2/stream.sdp?profile=Profile381b/trackID=2",
        ),
        ("rtsp://h/live/ch0", "trackID=1", "rtsp://h/live/ch0/trackID=1"),
        ("rtsp://h/live/ch0/", "/trackID=1", "rtsp://h/live/ch0/trackID=1"),
        ("rtsp://h/live", "*", "rtsp://h/live"),
        ("rtsp://h/live", None, "rtsp://h/live"),
        ("rtsp://h/live", "", "rtsp://h/live"),
        ("rtsp://h/a", "RTSP://other:8554/b", "RTSP://other:8554/b"),
    ],
)
def test_join_control_appends_like_ffmpeg(base: str, control: str | None, url: str) -> None:
    assert join_control(base, control) == url
