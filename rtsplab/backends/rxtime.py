"""Kernel receive timestamps: when a packet reached this host, not when the reader got to it.

A reader that decodes in its own thread reads its sockets between pictures, so a time taken
when it reads (``time.time_ns()``) is late by whatever the thread was doing. Linux stamps
every packet as it arrives (``SO_TIMESTAMPNS``, wall clock, the clock ``time.time_ns()``
reads) and hands the stamp over with ``recvmsg``: for a datagram the stamp of that datagram;
for TCP the stamp of the last segment the read consumed (``tcp_recvmsg``). A session capture
uses these, so its arrival times are the network's, whatever the reader's thread did.

Elsewhere (or on a TLS socket, which has no ``recvmsg``) :func:`enable` returns False and
:func:`recv` stamps with ``time.time_ns()`` as the data is read.

Example:
    >>> import socket, time
    >>> a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(("127.0.0.1", 0))
    >>> enable(a); time.sleep(0.05)  # the kernel turns its stamping on a moment later
    True
    >>> b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    >>> _ = b.sendto(b"rtp", a.getsockname()); time.sleep(0.05); t_read = time.time_ns()
    >>> data, _, t_ns = recv(a, 2048, stamped=True)
    >>> data, 0 < t_read - t_ns < 1e9  # stamped on arrival, before the read
    (b'rtp', True)
    >>> a.close(); b.close()
"""

from __future__ import annotations

import socket
import ssl
import struct
import sys
import time
from typing import Any

__all__ = ["enable", "recv"]

SO_TIMESTAMPNS = 35  # Linux (asm-generic and x86), the SCM_TIMESTAMPNS message type too
_TIMESPEC = struct.Struct("@qq")  # struct timespec on a 64-bit Linux
_SUPPORTED = sys.platform.startswith("linux") and struct.calcsize("@l") == 8
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size) if _SUPPORTED else 0


def enable(sock: socket.socket) -> bool:
    """Ask the kernel to stamp what ``sock`` receives; False where it cannot (then
    :func:`recv` stamps at the read).

    Example:
        >>> import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        >>> enable(s) == sys.platform.startswith("linux"); s.close()
        True
    """
    if not _SUPPORTED or isinstance(sock, ssl.SSLSocket):
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def recv(sock: socket.socket, size: int, stamped: bool) -> tuple[bytes, Any, int]:
    """One read of up to ``size`` bytes: (data, sender address, arrival time in ns).

    With ``stamped`` (:func:`enable` returned True) the time is the kernel's; without, or
    when the kernel gave none, it is ``time.time_ns()`` after the read. Raises what
    ``sock.recvmsg``/``recvfrom`` raise (``BlockingIOError`` when nothing waits).

    Example:
        >>> import socket; a, b = socket.socketpair()
        >>> _ = b.send(b"x"); recv(a, 16, stamped=False)[0]
        b'x'
        >>> a.close(); b.close()
    """
    if not stamped:
        data, addr = sock.recvfrom(size)
        return data, addr, time.time_ns()
    data, ancillary, _flags, addr = sock.recvmsg(size, _ANCILLARY)
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
            secs, nsecs = _TIMESPEC.unpack_from(value)
            if secs:
                return data, addr, secs * 1_000_000_000 + nsecs
    return data, addr, time.time_ns()
