"""The native client's UDP side: an RTP/RTCP client port pair, read without blocking.

RTP over UDP (RFC 2326 §12.39) puts each stream on two client ports, RTP on an even port and
RTCP on the next (odd) one. :class:`UdpPortPair` binds such a pair, on the loopback address
when the server is local and on every interface otherwise, learns the server's ports from
the SETUP answer, and hands out the datagrams that are waiting. Datagrams from any other host
are dropped and counted (:attr:`UdpPortPair.foreign_datagrams`).

Example:
    >>> with UdpPortPair("127.0.0.1") as pair:
    ...     rtp, rtcp = pair.ports
    ...     print(rtp % 2, rtcp - rtp, pair.drain(pair.rtp))
    0 1 []
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from typing import TYPE_CHECKING

from rtsplab.backends import rxtime

if TYPE_CHECKING:
    from rtsplab.capture import SessionTap

__all__ = ["UdpPortPair"]

MAX_DATAGRAM = 65536
RECV_BUFFER_BYTES = 4 * 1024 * 1024  # a 1080p keyframe arrives as a burst of ~150 datagrams


def _bind_host(server_host: str) -> tuple[socket.AddressFamily, str]:
    """Where to bind: loopback for a local server (nothing else can reach us), else anywhere."""
    host = server_host.strip("[]")
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:  # a name: resolve it once
        try:
            addr = ipaddress.ip_address(socket.getaddrinfo(host, None)[0][4][0])
        except (OSError, ValueError):
            return socket.AF_INET, "0.0.0.0"
    if addr.version == 6:
        return socket.AF_INET6, "::1" if addr.is_loopback else "::"
    return socket.AF_INET, "127.0.0.1" if addr.is_loopback else "0.0.0.0"


class UdpPortPair:
    """Two non-blocking UDP sockets on an even/odd port pair.

    Args:
        server_host: the RTSP server's host (picks the bind address and the address family).
        tap: sees every datagram received (with the kernel's arrival time) and report sent.

    Attributes:
        server: the server's address; datagrams from another host are dropped.
        server_ports: the server's RTP and RTCP ports (from SETUP), where reports go.
        foreign_datagrams: datagrams dropped because another host sent them.

    Raises:
        OSError: no free port pair.

    Example:
        >>> pair = UdpPortPair("127.0.0.1"); pair.ports[0] % 2, pair.server_ports
        (0, None)
        >>> pair.close(); pair.close()
    """

    def __init__(self, server_host: str, tap: SessionTap | None = None) -> None:
        self.tap = tap  # sees every datagram received from the server and sent to it
        self.family, self.bind_host = _bind_host(server_host)
        self.rtp, self.rtcp = self._bind_pair()
        for s in (self.rtp, self.rtcp):
            s.setblocking(False)
        with contextlib.suppress(OSError):
            self.rtp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER_BYTES)
        self._stamped = tap is not None and all([rxtime.enable(s) for s in (self.rtp, self.rtcp)])
        self.ports: tuple[int, int] = (self.rtp.getsockname()[1], self.rtcp.getsockname()[1])
        self.server: str | None = None
        self.server_ports: tuple[int, int] | None = None
        self.foreign_datagrams = 0

    def _bind_pair(self) -> tuple[socket.socket, socket.socket]:
        for _ in range(64):
            rtp = socket.socket(self.family, socket.SOCK_DGRAM)
            try:
                rtp.bind((self.bind_host, 0))
                port = rtp.getsockname()[1]
                if port % 2 == 0 and port < 65535:
                    rtcp = socket.socket(self.family, socket.SOCK_DGRAM)
                    try:
                        rtcp.bind((self.bind_host, port + 1))
                        return rtp, rtcp
                    except OSError:
                        rtcp.close()
            except OSError:
                pass
            rtp.close()
        raise OSError("no free even/odd UDP port pair for RTP/RTCP")

    def set_server(self, host: str, ports: tuple[int, int] | None) -> None:
        """The server's address and its RTP/RTCP ports (None: not announced; no reports sent).

        Example:
            >>> with UdpPortPair("127.0.0.1") as p:
            ...     p.set_server("127.0.0.1", (6970, 6971)); p.server_ports
            (6970, 6971)
        """
        self.server = host.strip("[]")
        self.server_ports = ports

    def drain(self, sock: socket.socket, limit: int = 256) -> list[bytes]:
        """The datagrams waiting on ``sock`` (at most ``limit``), from the server only.

        Example:
            >>> with UdpPortPair("127.0.0.1") as p:
            ...     p.set_server("127.0.0.1", None)
            ...     s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            ...     _ = s.sendto(b"rtp", ("127.0.0.1", p.ports[0])); s.close()
            ...     p.drain(p.rtp)
            [b'rtp']
        """
        out: list[bytes] = []
        for _ in range(limit):
            try:
                if self.tap is None:
                    data, addr = sock.recvfrom(MAX_DATAGRAM)
                else:
                    data, addr, t_ns = rxtime.recv(sock, MAX_DATAGRAM, self._stamped)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # e.g. an ICMP port-unreachable reported on this socket
                break
            if self.server is not None and addr[0] != self.server:
                self.foreign_datagrams += 1
                continue
            if self.tap is not None:  # tap: a datagram received
                self.tap.on_udp("in", sock.getsockname()[:2], addr[:2], data, t_ns)
            out.append(data)
        return out

    def send_rtcp(self, packet: bytes) -> None:
        """Send an RTCP packet to the server's RTCP port (best effort: UDP may lose it).

        Example:
            >>> with UdpPortPair("127.0.0.1") as p:
            ...     p.send_rtcp(b"x")  # no server port known: nothing is sent
        """
        if self.server is None or self.server_ports is None:
            return
        if self.tap is not None:  # tap: a report sent
            self.tap.on_udp(
                "out", (self.bind_host, self.ports[1]), (self.server, self.server_ports[1]), packet
            )
        with contextlib.suppress(OSError):
            self.rtcp.sendto(packet, (self.server, self.server_ports[1]))

    def close(self) -> None:
        """Close both sockets. Idempotent.

        Example:
            >>> p = UdpPortPair("127.0.0.1"); p.close(); p.close()
        """
        for s in (self.rtp, self.rtcp):
            with contextlib.suppress(OSError):
                s.close()

    def __enter__(self) -> UdpPortPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"UdpPortPair(ports={self.ports}, server_ports={self.server_ports})"
