"""Session capture: one RTSP session, both directions, as a pcapng file Wireshark dissects.

The native client calls a :class:`SessionTap` at four points (see :class:`SessionTap`): each
RTSP message it sends or receives, each ``$``-interleaved packet, each UDP datagram. A
:class:`SessionCapture` is such a tap: it frames every item in synthetic IPv4/IPv6 headers
with the transport it travelled on (TCP with consistent sequence numbers, opened by a
handshake; UDP on the real client and server ports), stamps it with its arrival time
(the kernel's receive timestamp where the client has one, see :mod:`rtsplab.backends.rxtime`,
else ``time.time_ns()``; microsecond resolution in the file) and writes it with dpkt's
pcapng writer, in the reader's own thread.

What is written is redacted: the value of every ``Authorization`` header (the scheme word is
kept) and any ``user:password@`` in a URL become ``[redacted]``; the section header's comment
says so. The server's RTSP port is written as 554, the port Wireshark and ``tshark`` dissect
as RTSP without options (the comment gives the real one); from the SETUP exchange they then
decode interleaved and UDP RTP by themselves.

Example:
    >>> import io, dpkt
    >>> buf = io.BytesIO()
    >>> cap = SessionCapture(buf, url="rtsp://admin:secret@127.0.0.1:8554/cam1")
    >>> cap.on_connect(("127.0.0.1", 40000), ("127.0.0.1", 8554))
    >>> cap.on_rtsp(OUT, b"OPTIONS * RTSP/1.0\\r\\nCSeq: 1\\r\\nAuthorization: Basic YWRtaW46c2VjcmV0\\r\\n\\r\\n")
    >>> cap.close()
    >>> packets = list(dpkt.pcapng.Reader(io.BytesIO(buf.getvalue())))
    >>> len(packets), cap.rtsp_messages  # SYN, SYN-ACK, ACK, the request
    (4, 1)
    >>> b"secret" in buf.getvalue(), b"YWRtaW46c2VjcmV0" in buf.getvalue()
    (False, False)
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
import struct
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import dpkt

from rtsplab.urls import RtspUrl, redact

__all__ = [
    "IN",
    "OUT",
    "RTSP_PORT",
    "SessionCapture",
    "SessionTap",
    "capture_comment",
    "internet_checksum",
    "redact_rtsp",
]

IN, OUT = "in", "out"  # from the server to the client / from the client to the server
RTSP_PORT = 554  # the server port written: Wireshark's RTSP port
LINKTYPE_RAW = 101  # raw IPv4/IPv6 packets, no link layer (pcapng link type, not DLT_RAW)
SNAPLEN = 65535
MAX_SEGMENT = 32768  # bytes of TCP payload per synthetic segment (IPv4 caps a packet at 64 KiB)
FLUSH_INTERVAL_NS = 1_000_000_000  # a live capture file is readable within a second
ISN_CLIENT, ISN_SERVER = 0x10000, 0x20000
PROTO_TCP, PROTO_UDP = 6, 17
BATCH_PACKETS = 32  # packets handed to the pcapng writer at once
_TCP = struct.Struct(">HHIIBBHHH")
_UDP = struct.Struct(">HHHH")
_DOLLAR = struct.Struct(">BBH")
TH_SYN, TH_PUSH, TH_ACK = dpkt.tcp.TH_SYN, dpkt.tcp.TH_PUSH, dpkt.tcp.TH_ACK

REDACTED_TAG = b"[redacted]"
_AUTH_RE = re.compile(rb"(?im)^((?:proxy-)?authorization[ \t]*:[ \t]*)(\S+)([ \t]+[^\r\n]*)?")
_USERINFO_RE = re.compile(rb"([a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/?#@]*(?:[^\s@]*)@")

Address = tuple[str, int]
# what the tap queues: a TCP segment (connection, direction, data, flags, SYN advance) or a
# datagram (source, destination, payload)
_Event = tuple[Any, ...]


def redact_rtsp(message: bytes) -> bytes:
    """``message`` with Authorization values and URL user-info replaced by ``[redacted]``.

    The scheme word of an Authorization header stays (``Digest [redacted]``), so the
    exchange still reads; a message without either is returned as is, without a copy.

    Example:
        >>> redact_rtsp(b"DESCRIBE rtsp://u:p@h/c RTSP/1.0\\r\\nAuthorization: Digest username=\\"u\\"\\r\\n\\r\\n")
        b'DESCRIBE rtsp://[redacted]@h/c RTSP/1.0\\r\\nAuthorization: Digest [redacted]\\r\\n\\r\\n'
    """
    if b"uthorization" not in message and b"@" not in message:
        return message
    head, sep, body = message.partition(b"\r\n\r\n")

    def auth(m: re.Match[bytes]) -> bytes:
        return m.group(1) + (m.group(2) + b" " if m.group(3) else b"") + REDACTED_TAG

    head = _AUTH_RE.sub(auth, head)
    out = _USERINFO_RE.sub(lambda m: m.group(1) + REDACTED_TAG + b"@", head + sep)
    if b"@" in body:  # an SDP may carry URLs too (a=control, u=)
        body = _USERINFO_RE.sub(lambda m: m.group(1) + REDACTED_TAG + b"@", body)
    return out + body


def capture_comment(url: str | None, server_port: int | None = None) -> str:
    """The section-header comment: what the file holds and what was redacted.

    Example:
        >>> "redacted" in capture_comment("rtsp://a:b@h:8554/x", 8554)
        True
    """
    where = _public(url) if url else "a stream"
    lines = [
        f"rtsplab session capture of {where}: the RTSP exchange and every RTP/RTCP packet, "
        "both directions, stamped at arrival in the client (wall clock).",
        "Redacted: Authorization header values and user:password in URLs are written as "
        "[redacted]; media payloads are as received.",
    ]
    if server_port is not None and server_port != RTSP_PORT:
        lines.append(
            f"The server's RTSP port {server_port} is written as {RTSP_PORT} so Wireshark "
            "dissects the exchange as RTSP."
        )
    return "\n".join(lines)


def _public(url: str) -> str:
    """``url`` without user-info (what may be shared), never raising."""
    try:
        return RtspUrl.parse(url).without_credentials()
    except ValueError:
        return redact(url)


class SessionTap(Protocol):
    """What the native client reports while it runs; every method is called in its thread.

    Hook points (each one line in the client): :meth:`on_connect` once the TCP connection is
    up; :meth:`on_rtsp` for each RTSP message sent (as written) or received (once parsed
    whole); :meth:`on_interleaved` for each ``$`` packet either way; :meth:`on_udp` for each
    RTP/RTCP datagram received from the server or sent to it. ``t_ns`` is the arrival time
    (wall clock, ns; the kernel's receive timestamp) of what came in, None for "now".

    Example:
        >>> isinstance(SessionCapture.__init__, object)  # SessionCapture implements it
        True
    """

    def on_connect(self, local: Address, remote: Address) -> None:
        """The RTSP TCP connection is established (local and server address)."""

    def on_rtsp(self, direction: str, message: bytes, t_ns: int | None = None) -> None:
        """One whole RTSP message, ``IN`` (from the server) or ``OUT``."""

    def on_interleaved(
        self, direction: str, channel: int, payload: bytes, t_ns: int | None = None
    ) -> None:
        """One ``$``-framed packet on the RTSP connection."""

    def on_udp(
        self,
        direction: str,
        local: Address,
        remote: Address,
        payload: bytes,
        t_ns: int | None = None,
    ) -> None:
        """One datagram on the client's UDP ports (``remote`` is the server's address)."""


class _Connection:
    """Synthetic TCP state of one RTSP connection: addresses and the next sequence numbers."""

    def __init__(self, local: Address, remote: Address) -> None:
        self.client = local
        self.server = (remote[0], RTSP_PORT)
        self.real_server_port = remote[1]
        self.seq = {OUT: ISN_CLIENT, IN: ISN_SERVER}


@functools.lru_cache(maxsize=64)
def _packed(host: str) -> bytes:
    """The 4 or 16 bytes of an address (``"127.0.0.1"``; anything unreadable: 0.0.0.0)."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).packed
    except ValueError:
        return bytes(4)


def _fold(total: int) -> int:
    """The Internet checksum of a sum of 16-bit words (any size): the one's-complement sum
    is the remainder modulo ``0xFFFF`` (as 2**16 = 1 modulo 0xFFFF), ``0xFFFF`` for a
    nonzero multiple; its complement is the checksum."""
    folded = total % 0xFFFF
    if folded == 0 and total:
        folded = 0xFFFF
    return ~folded & 0xFFFF


def internet_checksum(*parts: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``parts`` laid end to end, each but the last of
    even length. Each part is summed with one ``int.from_bytes`` (a big-endian number is
    its 16-bit words' sum modulo 0xFFFF), not a loop over words.

    Example:
        >>> hex(internet_checksum(bytes.fromhex("4500003c1c4640004006"), bytes.fromhex("0000ac100a63ac100a0c")))
        '0xb1e6'
    """
    return _fold(_word_sum(parts))


def _word_sum(parts: tuple[bytes, ...]) -> int:
    """The 16-bit words of ``parts`` summed, modulo 0xFFFF: one ``int.from_bytes`` a part
    (each but the last of even length; an odd tail is padded with a zero)."""
    total = 0
    for part in parts:
        value = int.from_bytes(part, "big")
        total += value << 8 if len(part) & 1 else value
    return total


@functools.lru_cache(maxsize=256)
def _route(src: str, dst: str, proto: int) -> tuple[bytes, bytes, int, int]:
    """What every packet between two addresses shares, computed once: the IP header before
    and after its length field (IPv4: checksum left zero) and the word sums of the IPv4
    header and of the transport pseudo-header without the length (which each packet adds).
    An IPv4 and an IPv6 address are both written as IPv6 (v4-mapped)."""
    s, d = _packed(src), _packed(dst)
    if len(s) != len(d):
        s, d = (bytes(10) + b"\xff\xff" + a if len(a) == 4 else a for a in (s, d))
    pseudo_sum = int.from_bytes(s + d, "big") + proto
    if len(s) == 4:
        before, after = b"\x45\x00", bytes([0, 0, 0x40, 0, 64, proto, 0, 0]) + s + d
        return before, after, int.from_bytes(before + bytes(2) + after, "big"), pseudo_sum
    return b"\x60\x00\x00\x00", bytes([proto, 64]) + s + d, 0, pseudo_sum


def _ip_packet(src: str, dst: str, proto: int, header: bytes, parts: tuple[bytes, ...]) -> bytes:
    """An IPv4 (or, for an IPv6 address, IPv6) packet of a TCP/UDP ``header`` and the
    payload ``parts`` (each but the last of even length), the transport checksum (at byte 16
    of TCP, 6 of UDP) filled in (RFC 768, 793, 8200). The payload is copied once, here."""
    before, after, ip_sum, pseudo_sum = _route(src, dst, proto)
    length = len(header) + sum(map(len, parts))
    total = pseudo_sum + int.from_bytes(header, "big") + _word_sum(parts)
    at = 16 if proto == PROTO_TCP else 6
    check = (_fold(total + length) or 0xFFFF).to_bytes(2, "big")  # UDP: a zero sum as 0xFFFF
    header = header[:at] + check + header[at + 2 :]
    if ip_sum:  # IPv4: its header has its own checksum, over the length too
        ip_len = 20 + length
        ip_check = _fold(ip_sum + ip_len).to_bytes(2, "big")
        ip_head = before + ip_len.to_bytes(2, "big") + after[:6] + ip_check + after[8:]
        return b"".join((ip_head, header, *parts))
    return b"".join((before, length.to_bytes(2, "big"), after, header, *parts))


class SessionCapture:
    """A :class:`SessionTap` that writes a pcapng file of the session.

    Args:
        out: a path (created, parent folders too) or a binary file object.
        url: the stream's URL, for the file's comment (credentials removed).

    Attributes:
        rtp_packets: RTP packets received from the server (interleaved or UDP) and written.
        rtcp_packets: RTCP packets written, both directions.
        rtsp_messages: RTSP messages written, both directions.
        path: where the file is (None for a file object).

    Example:
        >>> import io
        >>> cap = SessionCapture(io.BytesIO(), url="rtsp://h/cam")
        >>> cap.on_udp(IN, ("127.0.0.1", 5000), ("127.0.0.1", 6000), bytes([0x80, 96]) + bytes(10))
        >>> cap.rtp_packets, cap.closed
        (1, False)
        >>> cap.close(); cap.closed
        True
    """

    def __init__(self, out: str | Path | BinaryIO, url: str | None = None) -> None:
        self.path: Path | None = None
        if isinstance(out, str | Path):
            self.path = Path(out)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: BinaryIO = self.path.open("wb", buffering=1 << 16)
            self._owned = True
        else:
            self._file, self._owned = out, False
        self.url = url
        self.rtp_packets = 0
        self.rtcp_packets = 0
        self.rtsp_messages = 0
        self.closed = False
        self._conn: _Connection | None = None
        self._lock = threading.Lock()  # an abandoned open may still report while a new one runs
        self._writer: dpkt.pcapng.Writer | None = None
        self._last_flush_ns = 0
        self._events: list[tuple[int, _Event]] = []

    # ---- the tap: each call queues an event; the packets are built a batch at a time ------
    def on_connect(self, local: Address, remote: Address) -> None:
        """A new RTSP connection: written as a TCP handshake (SYN, SYN-ACK, ACK).

        Example:
            >>> import io; c = SessionCapture(io.BytesIO())
            >>> c.on_connect(("127.0.0.1", 1), ("127.0.0.1", 2)); c.close()
        """
        with self._lock:
            conn = _Connection(local, remote)
            self._conn = conn
            self._start(remote[1])
            t_ns = time.time_ns()
            self._queue(t_ns, (conn, OUT, (), TH_SYN, 1))
            self._queue(t_ns, (conn, IN, (), TH_SYN | TH_ACK, 1))
            self._queue(t_ns, (conn, OUT, (), TH_ACK, 0))

    def on_rtsp(self, direction: str, message: bytes, t_ns: int | None = None) -> None:
        """One RTSP message, redacted and written as TCP segment(s), stamped ``t_ns``
        (None: now).

        Example:
            >>> import io; c = SessionCapture(io.BytesIO())
            >>> c.on_rtsp(IN, b"RTSP/1.0 200 OK\\r\\nCSeq: 1\\r\\n\\r\\n"); c.rtsp_messages
            1
        """
        self.rtsp_messages += 1
        self._stream(direction, (redact_rtsp(message),), t_ns)

    def on_interleaved(
        self, direction: str, channel: int, payload: bytes, t_ns: int | None = None
    ) -> None:
        """One ``$`` packet, written with its 4-byte frame header, stamped ``t_ns`` (None: now).

        Example:
            >>> import io; c = SessionCapture(io.BytesIO())
            >>> c.on_interleaved(IN, 0, bytes([0x80, 96]) + bytes(10)); c.rtp_packets
            1
        """
        self._count(direction, payload)
        self._stream(direction, (_DOLLAR.pack(0x24, channel & 0xFF, len(payload)), payload), t_ns)

    def on_udp(
        self,
        direction: str,
        local: Address,
        remote: Address,
        payload: bytes,
        t_ns: int | None = None,
    ) -> None:
        """One datagram, written as UDP between the real ports, stamped ``t_ns`` (None: now).

        Example:
            >>> import io; c = SessionCapture(io.BytesIO())
            >>> c.on_udp(OUT, ("127.0.0.1", 5001), ("127.0.0.1", 6001), bytes([0x81, 201, 0, 1]) + bytes(4))
            >>> c.rtcp_packets, c.rtp_packets
            (1, 0)
        """
        self._count(direction, payload)
        conn = self._conn
        if conn is not None and local[0] in ("0.0.0.0", "::", ""):  # bound to every interface:
            local = (conn.client[0], local[1])  # the address the RTSP connection uses
        src, dst = (remote, local) if direction == IN else (local, remote)
        with self._lock:
            self._start(None)
            self._queue(time.time_ns() if t_ns is None else t_ns, (src, dst, payload))

    # ---- writing -------------------------------------------------------------------------
    def _count(self, direction: str, payload: bytes) -> None:
        if len(payload) >= 2 and 200 <= payload[1] <= 206:  # RTCP packet types (RFC 3550)
            self.rtcp_packets += 1
        elif direction == IN:
            self.rtp_packets += 1

    def _start(self, server_port: int | None) -> None:
        if self._writer is not None or self.closed:
            return
        if server_port is None and self.url:
            with contextlib.suppress(ValueError):
                server_port = RtspUrl.parse(self.url).port or RTSP_PORT
        comment = capture_comment(self.url, server_port)
        shb = dpkt.pcapng.SectionHeaderBlockLE(
            opts=[
                dpkt.pcapng.PcapngOptionLE(code=dpkt.pcapng.PCAPNG_OPT_COMMENT, text=comment),
                dpkt.pcapng.PcapngOptionLE(
                    code=dpkt.pcapng.PCAPNG_OPT_SHB_USERAPPL, text="rtsplab"
                ),
                dpkt.pcapng.PcapngOptionLE(code=dpkt.pcapng.PCAPNG_OPT_ENDOFOPT),
            ]
        )
        idb = dpkt.pcapng.InterfaceDescriptionBlockLE(snaplen=SNAPLEN, linktype=LINKTYPE_RAW)
        self._writer = dpkt.pcapng.Writer(self._file, snaplen=SNAPLEN, shb=shb, idb=idb)

    def _stream(self, direction: str, parts: tuple[bytes, ...], t_ns: int | None) -> None:
        """Queue bytes on the RTSP connection (``parts`` laid end to end; copied when the
        packet is built, not before)."""
        with self._lock:
            conn = self._conn
            if conn is None:  # no connection reported: invent one so the bytes still land
                conn = self._conn = _Connection(("127.0.0.1", 1), ("127.0.0.1", RTSP_PORT))
                self._start(None)
            t = time.time_ns() if t_ns is None else t_ns
            self._queue(t, (conn, direction, parts, TH_ACK | TH_PUSH, 0))

    def _queue(self, t_ns: int, event: _Event) -> None:
        """Keep one event (its arrival time taken); build and write a batch when due."""
        if self._writer is None or self.closed:
            return
        self._events.append((t_ns, event))
        if len(self._events) >= BATCH_PACKETS or t_ns - self._last_flush_ns > FLUSH_INTERVAL_NS:
            self._flush(t_ns)

    def _flush(self, t_ns: int) -> None:
        """Build the queued events' packets, in order, and hand them to the pcapng writer."""
        events, self._events = self._events, []
        self._last_flush_ns = t_ns
        if self._writer is None or not events:
            return
        packets: list[tuple[float, bytes]] = []
        for t_event_ns, event in events:
            t_s = t_event_ns / 1e9
            if len(event) == 3:  # a datagram
                src, dst, payload = event
                header = _UDP.pack(src[1], dst[1], 8 + len(payload), 0)
                packets.append((t_s, _ip_packet(src[0], dst[0], PROTO_UDP, header, (payload,))))
                continue
            conn, direction, parts, flags, advance = event
            size = sum(map(len, parts))
            if size <= MAX_SEGMENT:  # the usual case: one segment, its parts copied once
                packets.append((t_s, self._tcp(conn, direction, parts, size, flags, advance)))
                continue
            data = b"".join(parts)
            for i in range(0, size, MAX_SEGMENT):
                chunk = data[i : i + MAX_SEGMENT]
                packets.append(
                    (t_s, self._tcp(conn, direction, (chunk,), len(chunk), flags, advance))
                )
        try:
            self._writer.writepkts(packets)
            self._file.flush()
        except (OSError, ValueError):  # a full disk must not end the stream: stop recording
            self.closed = True

    @staticmethod
    def _tcp(
        conn: _Connection,
        direction: str,
        parts: tuple[bytes, ...],
        size: int,
        flags: int,
        advance: int,
    ) -> bytes:
        src, dst = (conn.client, conn.server) if direction == OUT else (conn.server, conn.client)
        other = IN if direction == OUT else OUT
        seq = conn.seq[direction]
        conn.seq[direction] = (seq + size + advance) & 0xFFFFFFFF
        ack = conn.seq[other] if flags & TH_ACK else 0
        header = _TCP.pack(src[1], dst[1], seq, ack, 5 << 4, flags, 65535, 0, 0)
        return _ip_packet(src[0], dst[0], PROTO_TCP, header, parts)

    def close(self) -> None:
        """Flush and close the file (a file object passed in is flushed only). Idempotent.

        Example:
            >>> import io; c = SessionCapture(io.BytesIO()); c.close(); c.close()
        """
        with self._lock:
            if self._writer is None and not self.closed:
                self._start(None)  # an empty capture is still a valid file
            if not self.closed:
                self._flush(time.time_ns())
            self.closed = True
            with contextlib.suppress(OSError, ValueError):
                self._file.flush()
                if self._owned:
                    self._file.close()

    def __enter__(self) -> SessionCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "file object"
        return (
            f"SessionCapture({where}, rtsp={self.rtsp_messages}, rtp={self.rtp_packets}, "
            f"rtcp={self.rtcp_packets}{', closed' if self.closed else ''})"
        )
