"""The Transport header: alternatives, port pairs, SSRC forms, formatting."""

from __future__ import annotations

import pytest

from rtsplab.errors import ProtocolError
from rtsplab.rtsp.transport import parse_transport


def test_transport_header() -> None:
    specs = parse_transport(
        "RTP/AVP/UDP;unicast;client_port=5000-5001,RTP/AVP/TCP;unicast;interleaved=2-3"
    )
    assert specs[0].udp and specs[0].client_port == (5000, 5001) and not specs[0].tcp
    assert specs[1].tcp and specs[1].interleaved == (2, 3)
    with pytest.raises(ProtocolError):
        _ = parse_transport("RTP/AVP;client_port=abc")[0].client_port


@pytest.mark.parametrize(
    ("value", "ssrc"),
    [("0A1B2C3D", 0x0A1B2C3D), ("1a2b", 0x1A2B), ("zz", None), ("123456789", None), ("", None)],
)
def test_ssrc_forms(value: str, ssrc: int | None) -> None:
    assert parse_transport(f"RTP/AVP/TCP;interleaved=0-1;ssrc={value}")[0].ssrc == ssrc


def test_format_round_trip_and_non_rtp() -> None:
    value = "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=12345678"
    assert parse_transport(value)[0].format() == value
    with pytest.raises(ProtocolError):
        parse_transport("MP2T/H2221/UDP;unicast")
    with pytest.raises(ProtocolError):
        _ = parse_transport("RTP/AVP;client_port=99999")[0].client_port
