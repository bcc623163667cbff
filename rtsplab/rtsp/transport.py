"""The RTSP ``Transport`` header (RFC 2326 §12.39): parse and format transport choices.

Example:
    >>> spec = parse_transport("RTP/AVP;unicast;client_port=5000-5001")[0]
    >>> spec.udp, spec.client_port
    (True, (5000, 5001))
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rtsplab.errors import ProtocolError

__all__ = ["TransportSpec", "parse_transport"]

_RANGE = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?")


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
        m = _RANGE.fullmatch(value)
        if m is None:
            raise ProtocolError(f"bad {name}={value[:20]!r} in Transport")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo + 1
        if hi > 65535:
            raise ProtocolError(f"{name}={value[:20]!r} out of range in Transport")
        return lo, hi

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

        Raises:
            ProtocolError: not ``n`` or ``n-m`` with numbers up to 65535.

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
    def server_port(self) -> tuple[int, int] | None:
        """``server_port=a-b``.

        Example:
            >>> parse_transport("RTP/AVP;server_port=6970-6971")[0].server_port
            (6970, 6971)
        """
        return self._pair("server_port")

    @property
    def ssrc(self) -> int | None:
        """``ssrc=`` as an int (hex by the RFC; cameras also send decimal or short forms).

        Returns None when absent or unreadable: the SSRC is advisory, the stream's own wins.

        Example:
            >>> parse_transport("RTP/AVP/TCP;interleaved=0-1;ssrc=0A1B2C3D")[0].ssrc
            169552957
        """
        value = (self.param("ssrc") or "").strip()
        if not re.fullmatch(r"[0-9A-Fa-f]{1,8}", value):
            return None
        return int(value, 16)

    def format(self) -> str:
        """The header value for this choice.

        Example:
            >>> parse_transport("RTP/AVP/TCP;unicast;interleaved=0-1")[0].format()
            'RTP/AVP/TCP;unicast;interleaved=0-1'
        """
        return ";".join([self.protocol, *(f"{k}={v}" if v else k for k, v in self.params)])

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

    Raises:
        ProtocolError: a protocol that is not ``RTP/...``.

    Example:
        >>> [t.protocol for t in parse_transport("RTP/AVP;unicast,RTP/AVP/TCP;unicast")]
        ['RTP/AVP', 'RTP/AVP/TCP']
    """
    out = []
    for alt in value.split(","):
        parts = [p.strip() for p in alt.split(";") if p.strip()]
        if not parts:
            continue
        if not parts[0].upper().startswith("RTP/"):
            raise ProtocolError(f"Transport protocol {parts[0][:20]!r} is not RTP")
        params = tuple((k.strip(), v.strip()) for k, _, v in (p.partition("=") for p in parts[1:]))
        out.append(TransportSpec(parts[0], params))
    return out
