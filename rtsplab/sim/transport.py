"""RTP transports: the ``Transport`` header (RFC 2326 §12.39), interleaved TCP and UDP senders.

Example:
    >>> spec = parse_transport("RTP/AVP;unicast;client_port=5000-5001")[0]
    >>> spec.udp, spec.client_port
    (True, (5000, 5001))
"""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass

from rtsplab.sim.rtsp import interleave

__all__ = ["TcpTransport", "Transport", "TransportSpec", "UdpTransport", "parse_transport"]


@dataclass(frozen=True)
class TransportSpec:
    """One transport choice from a ``Transport`` header.

    Example:
        >>> t = parse_transport("RTP/AVP/TCP;unicast;interleaved=0-1")[0]
        >>> t.tcp, t.interleaved
        (True, (0, 1))
    """

    protocol: str
    params: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str | None:
        """Value of parameter ``name`` (``""`` for a flag), or None.

        Example:
            >>> parse_transport("RTP/AVP;unicast")[0].param("unicast")
            ''
        """
        for k, v in self.params:
            if k.lower() == name.lower():
                return v
        return None

    def _pair(self, name: str) -> tuple[int, int] | None:
        value = self.param(name)
        if not value:
            return None
        lo, _, hi = value.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise ValueError(f"bad {name} in Transport")
        return int(lo), int(hi) if hi else int(lo) + 1

    @property
    def tcp(self) -> bool:
        """True for ``RTP/AVP/TCP`` (interleaved).

        Example:
            >>> parse_transport("RTP/AVP;unicast;client_port=5000-5001")[0].tcp
            False
        """
        return self.protocol.upper() == "RTP/AVP/TCP"

    @property
    def udp(self) -> bool:
        """True for ``RTP/AVP`` or ``RTP/AVP/UDP``.

        Example:
            >>> parse_transport("RTP/AVP/UDP;unicast;client_port=5000-5001")[0].udp
            True
        """
        return self.protocol.upper() in ("RTP/AVP", "RTP/AVP/UDP")

    @property
    def interleaved(self) -> tuple[int, int] | None:
        """``interleaved=a-b`` channels.

        Example:
            >>> parse_transport("RTP/AVP/TCP;interleaved=2-3")[0].interleaved
            (2, 3)
        """
        return self._pair("interleaved")

    @property
    def client_port(self) -> tuple[int, int] | None:
        """``client_port=a-b``.

        Example:
            >>> parse_transport("RTP/AVP;client_port=4588-4589")[0].client_port
            (4588, 4589)
        """
        return self._pair("client_port")

    @property
    def multicast(self) -> bool:
        """True when the client asks for multicast.

        Example:
            >>> parse_transport("RTP/AVP;multicast")[0].multicast
            True
        """
        return self.param("multicast") is not None


def parse_transport(value: str) -> list[TransportSpec]:
    """Every comma-separated alternative in a ``Transport`` header, in preference order.

    Example:
        >>> [t.protocol for t in parse_transport("RTP/AVP;unicast,RTP/AVP/TCP;unicast")]
        ['RTP/AVP', 'RTP/AVP/TCP']
    """
    out = []
    for alt in value.split(","):
        parts = [p.strip() for p in alt.split(";") if p.strip()]
        if not parts:
            continue
        params = tuple((k.strip(), v.strip()) for k, _, v in (p.partition("=") for p in parts[1:]))
        out.append(TransportSpec(parts[0], params))
    return out


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

    def poll(self) -> bool:
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

    def poll(self) -> bool:
        """Drain datagrams from the client (receiver reports, NAT pings); True if any came.

        Example:
            >>> t = UdpTransport("127.0.0.1", (9, 10)); t.poll()
            False
            >>> t.close()
        """
        got = False
        for s in (self._rtp, self._rtcp):
            for _ in range(64):
                try:
                    s.recv(2048)
                    got = True
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
