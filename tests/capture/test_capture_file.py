"""The capture writer and reader without a network: redaction, TCP framing, typed errors."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtsplab.capture import IN, OUT, RTSP_PORT, SessionCapture, internet_checksum, redact_rtsp
from rtsplab.capture_file import load_session
from rtsplab.errors import CaptureError

SDP = (
    b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\na=control:*\r\n"
    b"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n"
)


def rtp(seq: int, ts: int, marker: bool = True) -> bytes:
    return struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | 96, seq, ts, 0x1234) + b"\x65" * 20


def sender_report(ntp: int, ts: int) -> bytes:
    return struct.pack(">BBHIQIII", 0x80, 200, 6, 0x1234, ntp, ts, 0, 0)


def write_session(
    cap: SessionCapture, transport: str = "tcp", frames: int = 10, client: str = "127.0.0.1"
) -> None:
    """A whole session as the native client reports it: handshake, then media."""
    cap.on_connect((client, 40000), ("127.0.0.1", 8554))
    url = "rtsp://127.0.0.1:8554/cam1"
    exchange = [
        (f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode(),
         b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Base: " + url.encode() + b"/\r\n"
         b"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n" % len(SDP) + SDP),
    ]  # fmt: skip
    setup = (
        "RTP/AVP/TCP;unicast;interleaved=0-1"
        if transport == "tcp"
        else "RTP/AVP;unicast;client_port=5000-5001;server_port=6000-6001"
    )
    exchange.append(
        (f"SETUP {url}/track1 RTSP/1.0\r\nCSeq: 2\r\nTransport: {setup}\r\n\r\n".encode(),
         f"RTSP/1.0 200 OK\r\nCSeq: 2\r\nTransport: {setup}\r\nSession: 1\r\n\r\n".encode()),
    )  # fmt: skip
    exchange.append(
        (f"PLAY {url}/ RTSP/1.0\r\nCSeq: 3\r\nSession: 1\r\n\r\n".encode(),
         b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: 1\r\n\r\n"),
    )  # fmt: skip
    for request, response in exchange:
        cap.on_rtsp(OUT, request)
        cap.on_rtsp(IN, response)
    for i in range(frames):
        packets = [rtp(100 + i, 3000 * i)]
        if i == 1:
            packets.insert(0, sender_report(0xE000000000000000, 3000))
        for p in packets:
            channel = 1 if p[1] == 200 else 0
            if transport == "tcp":
                cap.on_interleaved(IN, channel, p)
            else:
                cap.on_udp(IN, ("127.0.0.1", 5000 + channel), ("127.0.0.1", 6000 + channel), p)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_written_session_reads_back(tmp_path: Path, transport: str) -> None:
    path = tmp_path / "cam1.pcapng"
    with SessionCapture(path, url="rtsp://127.0.0.1:8554/cam1") as cap:
        write_session(cap, transport)
    assert (cap.rtp_packets, cap.rtcp_packets, cap.rtsp_messages) == (10, 1, 6)
    session = load_session(path)
    assert session.tracks[0].transport == transport
    assert session.rtp_count() == 10
    seqs = [struct.unpack_from(">H", p.payload, 2)[0] for p in session.packets if not p.rtcp]
    assert seqs == list(range(100, 110))
    assert b"a=rtpmap:96 H264/90000" in session.describe.body


def test_tcp_sequence_numbers_are_consistent() -> None:
    buf = io.BytesIO()
    cap = SessionCapture(buf)
    write_session(cap, "tcp", frames=3)
    cap.on_interleaved(IN, 0, bytes([0x80, 96]) + bytes(40000))  # over one segment's size
    cap.close()
    nxt: dict[tuple[int, int], int] = {}
    ports = set()
    for _, raw in dpkt.pcapng.Reader(io.BytesIO(buf.getvalue())):
        ip = dpkt.ip.IP(raw)
        tcp = ip.data
        assert isinstance(tcp, dpkt.tcp.TCP)
        ports.add(tcp.sport)
        key = (tcp.sport, tcp.dport)
        if key in nxt:
            assert tcp.seq == nxt[key], "a gap or overlap in the synthetic TCP stream"
        advance = len(tcp.data) + (1 if tcp.flags & dpkt.tcp.TH_SYN else 0)
        nxt[key] = (tcp.seq + advance) & 0xFFFFFFFF
        assert len(raw) == ip.len <= 65535
    assert RTSP_PORT in ports


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(max_size=64).map(lambda b: b[: len(b) & ~1]), max_size=3),
    st.binary(max_size=1500),
)
def test_the_checksum_is_dpkts(parts: list[bytes], tail: bytes) -> None:
    """The Internet checksum taken a part at a time (big-number remainders) is dpkt's
    word-by-word one over the same bytes (a zero written as 0xFFFF, as UDP does)."""
    assert internet_checksum(*parts, tail) == (dpkt.in_cksum(b"".join(parts) + tail) or 0xFFFF)


def test_comment_says_what_was_redacted() -> None:
    buf = io.BytesIO()
    SessionCapture(buf, url="rtsp://admin:pw1234@10.0.0.5:8554/cam1").close()
    data = buf.getvalue()
    shb = dpkt.pcapng.SectionHeaderBlockLE(data[: struct.unpack_from("<I", data, 4)[0]])
    comment = next(o.text for o in shb.opts if o.code == dpkt.pcapng.PCAPNG_OPT_COMMENT)
    assert "redacted" in comment.lower() and "Authorization" in comment
    assert "pw1234" not in comment and "admin" not in comment and "554" in comment


SECRET = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="@/ "),
    min_size=4,
    max_size=24,
).map(lambda s: "Zq" + s)


@given(password=SECRET)
@settings(max_examples=60, deadline=None)
def test_redaction_removes_every_secret(password: str) -> None:
    import base64

    basic = base64.b64encode(f"admin:{password}".encode()).decode()
    message = (
        f"DESCRIBE rtsp://admin:{password}@10.0.0.5/cam RTSP/1.0\r\nCSeq: 2\r\n"
        f'Authorization: Basic {basic}\r\nProxy-Authorization: Digest username="admin", '
        f'response="{password}"\r\n\r\n'
    ).encode()
    out = redact_rtsp(message)
    assert password.encode() not in out and basic.encode() not in out
    assert out.startswith(b"DESCRIBE rtsp://[redacted]@10.0.0.5/cam RTSP/1.0\r\n")
    assert b"Authorization: Basic [redacted]\r\n" in out


@given(data=st.binary(max_size=400))
@settings(max_examples=60, deadline=None)
def test_garbage_files_give_a_typed_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("g") / "x.pcap"
    path.write_bytes(data)
    with pytest.raises(CaptureError):
        load_session(path)


@given(data=st.binary(min_size=1, max_size=300), n=st.integers(1, 5))
@settings(max_examples=40, deadline=None)
def test_random_packets_in_a_valid_file_give_a_typed_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, n: int
) -> None:
    path = tmp_path_factory.mktemp("p") / "x.pcapng"
    with path.open("wb") as f:
        w = dpkt.pcapng.Writer(f, snaplen=65535, linktype=101)
        for i in range(n):
            w.writepkt_time(data, 1.0 + i)
    with pytest.raises(CaptureError):
        load_session(path)


def test_a_capture_without_rtsp_says_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "udp_only.pcap"
    with path.open("wb") as f:
        w = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
        for i in range(5):
            udp = dpkt.udp.UDP(sport=6000, dport=5000, data=rtp(i, 3000 * i))
            udp.ulen = 8 + len(udp.data)
            ip = dpkt.ip.IP(src=b"\x7f\x00\x00\x01", dst=b"\x7f\x00\x00\x01", p=17, data=udp)
            eth = dpkt.ethernet.Ethernet(type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
            w.writepkt(bytes(eth), 1.0 + i / 30)
    with pytest.raises(CaptureError, match=r"no RTSP exchange in 5 packets.*tcpdump"):
        load_session(path)


def test_a_capture_that_starts_after_describe_says_so(tmp_path: Path) -> None:
    buf = io.BytesIO()
    cap = SessionCapture(buf)
    cap.on_connect(("127.0.0.1", 40000), ("127.0.0.1", 554))
    cap.on_rtsp(OUT, b"PLAY rtsp://h/cam RTSP/1.0\r\nCSeq: 3\r\n\r\n")
    cap.on_rtsp(IN, b"RTSP/1.0 200 OK\r\nCSeq: 3\r\n\r\n")
    cap.close()
    path = tmp_path / "late.pcapng"
    path.write_bytes(buf.getvalue())
    with pytest.raises(CaptureError, match=r"no successful DESCRIBE answer.*PLAY"):
        load_session(path)


def test_foreign_capture_with_ethernet_reordering_and_retransmissions(tmp_path: Path) -> None:
    """What tcpdump writes: Ethernet frames, a real server port, a segment repeated and two
    swapped; the loader reassembles the stream and finds the same packets."""
    buf = io.BytesIO()
    cap = SessionCapture(buf)
    write_session(cap, "tcp", frames=12)
    cap.close()
    frames = list(dpkt.pcapng.Reader(io.BytesIO(buf.getvalue())))
    out: list[tuple[float, bytes]] = []
    for ts, raw in frames:
        ip = dpkt.ip.IP(raw)
        for seg in (ip.data,):
            if seg.sport == RTSP_PORT:
                seg.sport = 8554
            if seg.dport == RTSP_PORT:
                seg.dport = 8554
            seg.sum = 0
        ip.sum = 0
        eth = dpkt.ethernet.Ethernet(type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
        out.append((ts, bytes(eth)))
    out.insert(12, out[11])  # a retransmission
    out[14], out[15] = out[15], out[14]  # reordered on the wire
    path = tmp_path / "tcpdump.pcap"
    with path.open("wb") as f:
        w = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
        for ts, data in out:
            w.writepkt(data, ts)
    session = load_session(path)
    seqs = sorted(struct.unpack_from(">H", p.payload, 2)[0] for p in session.packets if not p.rtcp)
    assert seqs == list(range(100, 112))


def test_rtsps_is_not_recorded(tmp_path: Path) -> None:
    import rtsplab
    from rtsplab.errors import UnsupportedStream

    with pytest.raises(UnsupportedStream, match="RTSPS sessions are not recorded"):
        rtsplab.open("rtsps://admin:pw@127.0.0.1:1/cam", capture=tmp_path / "x.pcapng")
    assert not (tmp_path / "x.pcapng").exists()
    with pytest.raises(ValueError, match="backend='native'"):
        rtsplab.open("rtsp://127.0.0.1:1/cam", backend="pyav", capture=tmp_path / "y.pcapng")


@given(
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=8)
)
@settings(max_examples=40, deadline=None)
def test_a_damaged_capture_loads_or_raises_a_typed_error(
    tmp_path_factory: pytest.TempPathFactory, flips: list[tuple[int, int]]
) -> None:
    buf = io.BytesIO()
    with SessionCapture(buf) as cap:
        write_session(cap, "tcp", frames=6)
    data = bytearray(buf.getvalue())
    for at, xor in flips:
        data[at % len(data)] ^= xor
    path = tmp_path_factory.mktemp("d") / "damaged.pcapng"
    path.write_bytes(bytes(data))
    try:
        session = load_session(path)
    except CaptureError:
        return
    assert session.rtp_count() <= 6 + len(flips)


def test_udp_on_every_interface_is_written_with_the_connection_address(tmp_path: Path) -> None:
    """A client bound to 0.0.0.0 (a camera on the LAN) still writes datagrams a reader of the
    capture can match to the SETUP."""
    path = tmp_path / "lan.pcapng"
    with SessionCapture(path) as cap:
        write_session(cap, "udp", frames=0, client="192.168.1.20")  # the client on a LAN
        for i in range(5):
            cap.on_udp(IN, ("0.0.0.0", 5000), ("127.0.0.1", 6000), rtp(i, 3000 * i))
    session = load_session(path)
    assert session.rtp_count() == 5
