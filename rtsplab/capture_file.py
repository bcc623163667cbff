"""Read one RTSP session out of a pcap or pcapng file: rtsplab's own captures or anyone's.

:func:`load_session` decodes the link layer (raw IP, Ethernet, Linux cooked v1/v2, BSD
loopback), reassembles every TCP connection (in order, retransmissions dropped), finds the
RTSP exchange in them and picks the session: the first successful DESCRIBE, the SETUPs that
follow it and their PLAY. The media comes from the ``$``-interleaved frames of the SETUP
channels or from the UDP datagrams to the client ports the SETUP answer names. What is
missing raises :class:`~rtsplab.errors.CaptureError` saying what and how to capture it.

Example:
    >>> load_session("/nonexistent.pcap")
    Traceback (most recent call last):
    ...
    rtsplab.errors.CaptureError: /nonexistent.pcap: cannot read the capture (No such file or directory)
"""

from __future__ import annotations

import contextlib
import itertools
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dpkt

from rtsplab.errors import CaptureError, ProtocolError
from rtsplab.rtsp.messages import (
    InterleavedFrame,
    MessageReader,
    RtspRequest,
    RtspResponse,
    parse_request,
    parse_response,
)
from rtsplab.rtsp.sdp import MediaDescription, SessionDescription, join_control, parse_sdp
from rtsplab.rtsp.transport import parse_transport

__all__ = ["CapturedPacket", "CapturedSession", "CapturedTrack", "load_session"]

HINT = (
    "capture from before the client connects, on the camera's RTSP port and the UDP ports, "
    "e.g. tcpdump -i any -w cam.pcap 'tcp port 554 or udp'"
)
_REQUEST_LINE = re.compile(rb"^[A-Z_]+ \S+ RTSP/1\.[01]\r?\n")
Flow = tuple[str, int, str, int]  # src, sport, dst, dport


@dataclass(frozen=True)
class CapturedPacket:
    """One RTP or RTCP packet from the server, as captured.

    Attributes:
        t_ns: arrival time in the capture (its wall clock, ns since 1970).
        track: index into :attr:`CapturedSession.tracks`.
        rtcp: an RTCP (compound) packet rather than RTP.
        payload: the packet, from its RTP/RTCP header on.

    Example:
        >>> CapturedPacket(0, 0, False, b"").rtcp
        False
    """

    t_ns: int
    track: int
    rtcp: bool
    payload: bytes = field(repr=False)


@dataclass(frozen=True)
class CapturedTrack:
    """One set-up stream of the session.

    Attributes:
        uri: the SETUP request's URI (as the original client sent it).
        media: its SDP section (None when no control matched it).
        clock_rate: RTP clock rate (90000 unless the SDP says otherwise).
        transport: ``tcp`` (interleaved) or ``udp``, as captured.

    Example:
        >>> CapturedTrack("rtsp://h/cam/track1", None, 90000, "tcp").clock_rate
        90000
    """

    uri: str
    media: MediaDescription | None
    clock_rate: int
    transport: str


@dataclass(frozen=True)
class CapturedSession:
    """An RTSP session read from a capture: the DESCRIBE answer, the tracks, the packets.

    Attributes:
        source: the capture file.
        describe_uri: the URI the DESCRIBE was sent to.
        describe: the server's answer (its headers and SDP, quirks included).
        sdp: the parsed SDP.
        tracks: the set-up tracks, in SETUP order.
        packets: every RTP/RTCP packet from the server, in arrival order.
        options: the server's OPTIONS answer, when captured.

    Example:
        >>> s = CapturedSession("x", "rtsp://h/c", RtspResponse(200, "OK"), parse_sdp("v=0"), (), ())
        >>> s.duration_s
        0.0
    """

    source: str
    describe_uri: str
    describe: RtspResponse
    sdp: SessionDescription
    tracks: tuple[CapturedTrack, ...]
    packets: tuple[CapturedPacket, ...] = field(repr=False)
    options: RtspResponse | None = None

    @property
    def duration_s(self) -> float:
        """Seconds from the first packet to the last.

        Example:
            >>> CapturedSession("x", "u", RtspResponse(200, "OK"), parse_sdp("v=0"), (), ()).duration_s
            0.0
        """
        if not self.packets:
            return 0.0
        return (self.packets[-1].t_ns - self.packets[0].t_ns) / 1e9

    def rtp_count(self, track: int | None = None) -> int:
        """RTP packets (of ``track``, else of all tracks).

        Example:
            >>> CapturedSession("x", "u", RtspResponse(200, "OK"), parse_sdp("v=0"), (), ()).rtp_count()
            0
        """
        return sum(1 for p in self.packets if not p.rtcp and (track is None or p.track == track))


# ---- link layer and transport -----------------------------------------------------------
def _ip_of(linktype: int, buf: bytes) -> Any:
    """The IP packet inside one captured frame, or None."""
    if linktype in (101, 12, 14, 228, 229):  # raw IP (LINKTYPE_RAW, DLT_RAW, IPV4, IPV6)
        if not buf:
            return None
        return dpkt.ip.IP(buf) if buf[0] >> 4 == 4 else dpkt.ip6.IP6(buf)
    if linktype == 1:
        frame: Any = dpkt.ethernet.Ethernet(buf)
    elif linktype == 113:
        frame = dpkt.sll.SLL(buf)
    elif linktype == 276:
        frame = dpkt.sll2.SLL2(buf)
    elif linktype in (0, 108):
        frame = dpkt.loopback.Loopback(buf)
    else:
        raise CaptureError(f"link type {linktype} is not supported (raw IP, Ethernet, Linux SLL)")
    return frame.data


def _addr(raw: bytes) -> str:
    import ipaddress

    return str(ipaddress.ip_address(raw))


def _frames(path: str) -> tuple[list[tuple[int, Any]], int]:
    """(t_ns, IP packet) of every decodable frame, and the number of frames."""
    try:
        f = Path(path).open("rb")  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        raise CaptureError(f"{path}: cannot read the capture ({exc.strerror})") from None
    with f:
        magic = f.read(4)
        f.seek(0)
        try:
            reader: Any = (
                dpkt.pcapng.Reader(f) if magic == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(f)
            )
        except (ValueError, dpkt.UnpackError, dpkt.NeedData) as exc:
            raise CaptureError(f"{path}: not a pcap or pcapng file ({exc})") from None
        linktype = reader.datalink()
        out: list[tuple[int, Any]] = []
        total = 0
        try:
            for ts, buf in reader:
                total += 1
                with contextlib.suppress(dpkt.UnpackError, dpkt.NeedData, ValueError, IndexError):
                    ip = _ip_of(linktype, buf)
                    if isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6):
                        out.append((round(float(ts) * 1e9), ip))
        except (dpkt.UnpackError, dpkt.NeedData, ValueError):
            pass  # a truncated last block: keep what was read
    return out, total


def _reassemble(segments: list[tuple[int, int, bytes, bool]]) -> list[tuple[int, bytes]]:
    """In-order payload chunks of one TCP direction: (t_ns, bytes), duplicates dropped."""
    chunks: list[tuple[int, bytes]] = []
    expected: int | None = None
    pending: dict[int, tuple[int, bytes]] = {}
    for t_ns, seq, data, syn in segments:
        if syn:
            expected = (seq + 1) & 0xFFFFFFFF
            continue
        if not data:
            continue
        if expected is None:
            expected = seq
        rel = (seq - expected) & 0xFFFFFFFF
        if rel >= 1 << 31:  # starts before what we have: a retransmission, maybe partial
            skip = (1 << 32) - rel
            if skip >= len(data):
                continue
            data, seq, rel = data[skip:], expected, 0
        if rel > 0:
            pending[seq] = (t_ns, data)
            continue
        chunks.append((t_ns, data))
        expected = (expected + len(data)) & 0xFFFFFFFF
        while expected in pending:
            t_p, d_p = pending.pop(expected)
            chunks.append((max(t_ns, t_p), d_p))
            expected = (expected + len(d_p)) & 0xFFFFFFFF
    return chunks


def _items(chunks: list[tuple[int, bytes]]) -> list[tuple[int, bytes | InterleavedFrame]]:
    """RTSP messages and interleaved frames of one direction, each with its arrival time."""
    reader = MessageReader()
    out: list[tuple[int, bytes | InterleavedFrame]] = []
    for t_ns, data in chunks:
        reader.feed(data)
        try:
            while (item := reader.next()) is not None:
                out.append((t_ns, item))
        except ProtocolError:
            break  # the stream stopped being RTSP: keep what came before
    return out


@dataclass
class _Exchange:
    t_ns: int
    request: RtspRequest
    response: RtspResponse | None = None


def _exchanges(
    client_items: list[tuple[int, bytes | InterleavedFrame]],
    server_items: list[tuple[int, bytes | InterleavedFrame]],
) -> list[_Exchange]:
    by_cseq: dict[int, _Exchange] = {}
    out: list[_Exchange] = []
    for t_ns, item in client_items:
        if isinstance(item, bytes):
            with contextlib.suppress(ProtocolError):
                ex = _Exchange(t_ns, parse_request(item))
                out.append(ex)
                if ex.request.cseq is not None:
                    by_cseq[ex.request.cseq] = ex
    for _, item in server_items:
        if isinstance(item, bytes):
            with contextlib.suppress(ProtocolError):
                resp = parse_response(item)
                ex_for = by_cseq.get(resp.cseq) if resp.cseq is not None else None
                if ex_for is not None and ex_for.response is None:
                    ex_for.response = resp
    return out


def _track_of(uri: str, base: str, sdp: SessionDescription) -> MediaDescription | None:
    for m in sdp.media:
        control = join_control(base, m.control)
        if uri.rstrip("/") == control.rstrip("/") or (
            m.control and uri.rstrip("/").endswith(m.control.rstrip("/"))
        ):
            return m
    return sdp.media[0] if len(sdp.media) == 1 else None


def load_session(path: str | Path) -> CapturedSession:
    """The RTSP session in the capture at ``path`` (pcap or pcapng, TCP or UDP media).

    Raises:
        CaptureError: not a capture file; no RTSP exchange, no successful DESCRIBE, SETUP or
            PLAY, or no RTP packet of the session in it (the message says which).

    Example:
        >>> session = load_session("caps/cam1.pcapng")  # doctest: +SKIP
        >>> session.tracks[0].transport, session.rtp_count() > 0  # doctest: +SKIP
        ('tcp', True)
    """
    path = str(path)
    frames, total = _frames(path)
    tcp: dict[Flow, list[tuple[int, int, bytes, bool]]] = defaultdict(list)
    udp: list[tuple[int, Flow, bytes]] = []
    for t_ns, ip in frames:
        seg = ip.data
        src, dst = _addr(ip.src), _addr(ip.dst)
        if isinstance(seg, dpkt.tcp.TCP):
            syn = bool(seg.flags & dpkt.tcp.TH_SYN)
            tcp[(src, seg.sport, dst, seg.dport)].append((t_ns, seg.seq, bytes(seg.data), syn))
        elif isinstance(seg, dpkt.udp.UDP):
            udp.append((t_ns, (src, seg.sport, dst, seg.dport), bytes(seg.data)))
    streams = {flow: _reassemble(segs) for flow, segs in tcp.items()}
    rtsp_flows = [f for f, ch in streams.items() if ch and _REQUEST_LINE.match(ch[0][1])]
    if not rtsp_flows:
        raise CaptureError(
            f"{path}: no RTSP exchange in {total} packets ({len(tcp)} TCP flows, {len(udp)} UDP "
            "datagrams): a replay needs the RTSP requests and answers (plain RTSP, not RTSPS); "
            + HINT
        )
    conns = []
    for flow in rtsp_flows:
        back = (flow[2], flow[3], flow[0], flow[1])
        client_items = _items(streams[flow])
        server_items = _items(streams.get(back, []))
        conns.append((flow, _exchanges(client_items, server_items), server_items))
    conns.sort(key=lambda c: c[1][0].t_ns if c[1] else 0)
    return _pick(path, conns, udp)


def _pick(
    path: str,
    conns: list[tuple[Flow, list[_Exchange], list[tuple[int, bytes | InterleavedFrame]]]],
    udp: list[tuple[int, Flow, bytes]],
) -> CapturedSession:
    """The first DESCRIBE-SETUP-PLAY session among the RTSP connections."""
    seen = sorted({ex.request.method for _, exs, _ in conns for ex in exs})
    options = next(
        (
            ex.response
            for _, exs, _ in conns
            for ex in exs
            if ex.request.method == "OPTIONS" and ex.response is not None and ex.response.ok
        ),
        None,
    )
    describe: _Exchange | None = None
    for _flow, exs, _ in conns:
        for ex in exs:
            if ex.request.method == "DESCRIBE" and ex.response is not None and ex.response.ok:
                describe = ex
                break
        if describe is not None:
            break
    if describe is None or describe.response is None:
        raise CaptureError(
            f"{path}: no successful DESCRIBE answer (requests seen: {', '.join(seen)}): the SDP "
            "and the tracks come from it; " + HINT
        )
    try:
        sdp = parse_sdp(describe.response.body)
    except ProtocolError as exc:
        raise CaptureError(f"{path}: the DESCRIBE answer's SDP is unreadable ({exc})") from None
    resp = describe.response
    base = resp.get("content-base") or resp.get("content-location") or describe.request.uri
    tracks: list[CapturedTrack] = []
    routes_tcp: dict[tuple[Flow, int], tuple[int, bool]] = {}
    routes_udp: dict[tuple[str, int], tuple[int, bool]] = {}
    t_play: int | None = None
    for flow, exs, _ in conns:
        for ex in exs:
            if ex.t_ns < describe.t_ns or ex.response is None or not ex.response.ok:
                continue
            if ex.request.method == "SETUP":
                offered = []
                with contextlib.suppress(ProtocolError):
                    offered = parse_transport(ex.response.get("transport") or "")
                if not offered:
                    with contextlib.suppress(ProtocolError):
                        offered = parse_transport(ex.request.get("transport") or "")
                if not offered:
                    continue
                spec = offered[0]
                media = _track_of(ex.request.uri, base, sdp)
                rate = media.clock_rate if media is not None else 90000
                index = len(tracks)
                if spec.tcp:
                    pair = spec.interleaved or (2 * index, 2 * index + 1)
                    routes_tcp[(flow, pair[0])] = (index, False)
                    routes_tcp[(flow, pair[1])] = (index, True)
                    tracks.append(CapturedTrack(ex.request.uri, media, rate, "tcp"))
                else:
                    ports = spec.client_port
                    if ports is None:
                        continue
                    routes_udp[(flow[0], ports[0])] = (index, False)
                    routes_udp[(flow[0], ports[1])] = (index, True)
                    tracks.append(CapturedTrack(ex.request.uri, media, rate, "udp"))
            elif ex.request.method == "PLAY" and tracks and t_play is None:
                t_play = ex.t_ns
    if not tracks:
        raise CaptureError(
            f"{path}: the DESCRIBE answer is there but no successful SETUP after it "
            f"(requests seen: {', '.join(seen)}); " + HINT
        )
    if t_play is None:
        raise CaptureError(f"{path}: the session was set up but never played (no PLAY answer)")
    packets: list[CapturedPacket] = []
    for flow, _exs, server_items in conns:
        for t_ns, item in server_items:
            if isinstance(item, InterleavedFrame):
                route = routes_tcp.get((flow, item.channel))
                if route is not None:
                    packets.append(
                        CapturedPacket(
                            t_ns, route[0], _is_rtcp(item.payload, route[1]), item.payload
                        )
                    )
    for t_ns, (_src, _sport, dst, dport), data in udp:
        route = routes_udp.get((dst, dport))
        if route is not None and t_ns >= describe.t_ns:
            packets.append(CapturedPacket(t_ns, route[0], _is_rtcp(data, route[1]), data))
    packets.sort(key=lambda p: p.t_ns)
    if not any(not p.rtcp for p in packets):
        where = ", ".join(f"{t.uri} over {t.transport.upper()}" for t in tracks)
        raise CaptureError(
            f"{path}: the session ({where}) was played but the capture holds none of its RTP "
            "packets; for UDP, capture the client's UDP ports too (filter 'udp')"
        )
    return CapturedSession(
        path, describe.request.uri, resp, sdp, tuple(tracks), tuple(packets), options
    )


def _is_rtcp(payload: bytes, on_rtcp_channel: bool) -> bool:
    """RTCP by its channel or port, or by its packet type (RTCP multiplexed with RTP)."""
    return on_rtcp_channel or (len(payload) >= 2 and 200 <= payload[1] <= 206)


def median_step(values: list[int]) -> int:
    """The median positive difference between consecutive distinct values (0 if none).

    Example:
        >>> median_step([0, 0, 3000, 3000, 6000, 9000])
        3000
    """
    steps = [b - a for a, b in itertools.pairwise(values) if b > a]
    return int(statistics.median(steps)) if steps else 0
