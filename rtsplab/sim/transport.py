"""RTP senders of the simulator: interleaved on the RTSP connection, or a UDP port pair.

Example:
    >>> out = []; TcpTransport(out.append, (0, 1)).send_rtcp(b"x"); out
    [b'$\\x01\\x00\\x01x']
"""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Callable

from rtsplab.rtsp.messages import interleave

__all__ = ["TcpTransport", "Transport", "UdpTransport"]


class TcpTransport:
    """RTP and RTCP interleaved on the RTSP connection (``$`` frames).

    Args:
        write: sends bytes on the connection (thread-safe, with a timeout).
        channels: ``(rtp, rtcp)`` interleaved channel numbers.

    Example:
        >>> out = []; TcpTransport(out.append, (0, 1)).send_rtcp(b"x"); out
        [b'$\\x01\\x00\\x01x']
    """

    lossy = False

    def __init__(self, write: Callable[[bytes], None], channels: tuple[int, int]) -> None:
        self._write = write
        self.channels = channels

    def send_rtp(self, packets: list[bytes], loss: float = 0.0) -> int:
        """Send RTP packets in one write; return the number sent.

        Example:
            >>> TcpTransport(lambda b: None, (0, 1)).send_rtp([b"a", b"b"])
            2
        """
        self._write(b"".join(interleave(self.channels[0], p) for p in packets))
        return len(packets)

    def send_rtcp(self, packet: bytes) -> None:
        """Send one (compound) RTCP packet.

        Example:
            >>> TcpTransport(lambda b: None, (0, 1)).send_rtcp(b"")
        """
        self._write(interleave(self.channels[1], packet))

    def sockets(self) -> list[socket.socket]:
        """Sockets to wait on for the client's datagrams: none, RTCP comes on the connection.

        Example:
            >>> TcpTransport(lambda b: None, (0, 1)).sockets()
            []
        """
        return []

    def poll(self, on_rtcp: Callable[[bytes], None] | None = None) -> bool:
        """Nothing to poll: receiver reports arrive on the RTSP connection.

        Example:
            >>> TcpTransport(lambda b: None, (0, 1)).poll()
            False
        """
        return False

    def close(self) -> None:
        """Nothing to release.

        Example:
            >>> TcpTransport(lambda b: None, (0, 1)).close()
        """

    def transport_header(self) -> str:
        """The ``Transport`` response value.

        Example:
            >>> TcpTransport(lambda b: None, (2, 3)).transport_header()
            'RTP/AVP/TCP;unicast;interleaved=2-3'
        """
        return f"RTP/AVP/TCP;unicast;interleaved={self.channels[0]}-{self.channels[1]}"


def _bind_pair(host: str) -> tuple[socket.socket, socket.socket]:
    """Two UDP sockets on an even/odd port pair."""
    for _ in range(64):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind((host, 0))
        port = rtp.getsockname()[1]
        if port % 2 == 0 and port < 65535:
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rtcp.bind((host, port + 1))
                return rtp, rtcp
            except OSError:
                rtcp.close()
        rtp.close()
    raise OSError("no free UDP port pair for RTP/RTCP")


class UdpTransport:
    """RTP and RTCP over UDP from a server port pair to the client's ports.

    Example:
        >>> t = UdpTransport("127.0.0.1", (50000, 50001)); t.lossy
        True
        >>> t.close()
    """

    lossy = True

    def __init__(
        self, client_host: str, client_ports: tuple[int, int], bind_host: str = ""
    ) -> None:
        self._rtp, self._rtcp = _bind_pair(bind_host or "0.0.0.0")
        for s in (self._rtp, self._rtcp):
            s.setblocking(False)
        self.server_ports = (self._rtp.getsockname()[1], self._rtcp.getsockname()[1])
        self.client = (client_host, client_ports[0]), (client_host, client_ports[1])
        self.client_ports = client_ports
        self._random = random.Random()

    def send_rtp(self, packets: list[bytes], loss: float = 0.0) -> int:
        """Send RTP packets, each dropped with probability ``loss``; return the number sent.

        Example:
            >>> t = UdpTransport("127.0.0.1", (9, 10)); t.send_rtp([b"x"], loss=1.0)
            0
            >>> t.close()
        """
        sent = 0
        for p in packets:
            if loss > 0 and self._random.random() < loss:
                continue
            try:
                self._rtp.sendto(p, self.client[0])
                sent += 1
            except (BlockingIOError, ConnectionRefusedError):
                pass  # a full buffer or nobody listening (ICMP): UDP just loses it
        return sent

    def send_rtcp(self, packet: bytes) -> None:
        """Send one RTCP packet to the client's RTCP port.

        Example:
            >>> t = UdpTransport("127.0.0.1", (9, 10)); t.send_rtcp(b"x"); t.close()
        """
        with contextlib.suppress(BlockingIOError, ConnectionRefusedError):
            self._rtcp.sendto(packet, self.client[1])

    def sockets(self) -> list[socket.socket]:
        """Sockets to wait on for the client's datagrams (then :meth:`poll`): RTCP reports and
        keyframe requests should be read as they come, not on the next housekeeping tick.

        Example:
            >>> t = UdpTransport("127.0.0.1", (9, 10)); len(t.sockets()); t.close()
            2
        """
        return [self._rtp, self._rtcp]

    def poll(self, on_rtcp: Callable[[bytes], None] | None = None) -> bool:
        """Drain datagrams from the client (receiver reports, NAT pings); True if any came.
        Those on the RTCP port go to ``on_rtcp``.

        Example:
            >>> t = UdpTransport("127.0.0.1", (9, 10)); t.poll()
            False
            >>> t.close()
        """
        got = False
        for s in (self._rtp, self._rtcp):
            for _ in range(64):
                try:
                    data = s.recv(2048)
                    got = True
                    if on_rtcp is not None and s is self._rtcp:
                        on_rtcp(data)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                except OSError:
                    break
        return got

    def close(self) -> None:
        """Close both sockets.

        Example:
            >>> UdpTransport("127.0.0.1", (9, 10)).close()
        """
        self._rtp.close()
        self._rtcp.close()

    def transport_header(self) -> str:
        """The ``Transport`` response value.

        Example:
            >>> t = UdpTransport("127.0.0.1", (5000, 5001))
            >>> t.transport_header().startswith("RTP/AVP;unicast;client_port=5000-5001;server_port=")
            True
            >>> t.close()
        """
        a, b = self.client_ports
        return f"RTP/AVP;unicast;client_port={a}-{b};server_port={self.server_ports[0]}-{self.server_ports[1]}"


Transport = TcpTransport | UdpTransport
