"""RTP packets back in sequence order, waiting a bounded time for a missing one, sans-IO.

Over UDP, packets may arrive out of order or not at all. :class:`ReorderBuffer` releases
packets strictly in sequence order; when one is missing it holds the packets behind the hole
for at most ``max_packets`` packets or ``max_delay_ns`` (counted from the arrival of the oldest
held packet), then gives the missing ones up as lost and releases what it holds, so the
access-unit assembler sees the gap at once, drops the damaged unit and waits for a keyframe.
A lost packet costs at most ``max_delay_ns`` of latency, never more (FFmpeg's RTP queue waits
``max_delay``, 500 ms in its low-latency presets, for every lost packet).

``max_packets=0`` waits for nothing: every gap is a loss at once (what an ordered transport
such as interleaved TCP needs, with the same loss counting).

The caller passes the clock (``now_ns``, ``time.monotonic_ns()``), so the module reads none.

Example:
    >>> from rtsplab.rtsp.rtp import RtpPacket
    >>> buf = ReorderBuffer(max_packets=8, max_delay_ns=20_000_000)
    >>> [p.seq for p in buf.push(RtpPacket(96, 10, 0, 1), now_ns=0)]
    [10]
    >>> [p.seq for p in buf.push(RtpPacket(96, 12, 0, 1), now_ns=1_000_000)]  # 11 is missing
    []
    >>> [p.seq for p in buf.push(RtpPacket(96, 11, 0, 1), now_ns=2_000_000)]  # late, in time
    [11, 12]
    >>> buf.push(RtpPacket(96, 14, 0, 1), now_ns=3_000_000), buf.deadline_ns
    ([], 23000000)
    >>> [p.seq for p in buf.poll(now_ns=23_000_000)], buf.lost_packets   # 13 given up
    ([14], 1)
"""

from __future__ import annotations

from rtsplab.rtsp.rtp import RtpPacket, seq_delta

__all__ = ["MAX_WINDOW_PACKETS", "ReorderBuffer"]

RESTART_DISTANCE = 3000  # a jump this far either way is a sender restart, not a reordering
MAX_WINDOW_PACKETS = 2048  # the largest reorder window a caller may ask for


class ReorderBuffer:
    """Releases RTP packets in sequence order; bounded in packets held and time waited.

    Args:
        max_packets: most packets held behind a missing one (0: a gap is a loss at once), at
            most ``MAX_WINDOW_PACKETS``.
        max_delay_ns: longest wait for a missing packet, from the oldest held packet's arrival.

    Raises:
        ValueError: a negative bound, or a window over ``MAX_WINDOW_PACKETS``.

    Attributes:
        lost_packets: sequence numbers given up as lost.
        late_packets: packets dropped because they came after their place was given up, or
            twice.
        received: packets accepted.
        overflows: holes given up early because the window was full.

    Example:
        >>> from rtsplab.rtsp.rtp import RtpPacket
        >>> buf = ReorderBuffer(max_packets=0)
        >>> [p.seq for p in buf.push(RtpPacket(96, 1, 0, 1), 0) + buf.push(RtpPacket(96, 3, 0, 1), 0)]
        [1, 3]
        >>> buf.lost_packets, buf.push(RtpPacket(96, 2, 0, 1), 0), buf.late_packets
        (1, [], 1)
    """

    def __init__(self, max_packets: int = 64, max_delay_ns: int = 30_000_000) -> None:
        if max_packets < 0 or max_delay_ns < 0:
            raise ValueError("max_packets and max_delay_ns must be >= 0")
        if max_packets > MAX_WINDOW_PACKETS:
            raise ValueError(f"max_packets {max_packets} is over {MAX_WINDOW_PACKETS}")
        self.max_packets = max_packets
        self.max_delay_ns = max_delay_ns
        self._held: dict[int, tuple[RtpPacket, int]] = {}  # seq -> (packet, arrival ns)
        self._next: int | None = None  # the sequence number to release next
        self.lost_packets = 0
        self.late_packets = 0
        self.received = 0
        self.overflows = 0

    @property
    def held(self) -> int:
        """Packets waiting behind a missing one.

        Example:
            >>> ReorderBuffer().held
            0
        """
        return len(self._held)

    @property
    def deadline_ns(self) -> int | None:
        """When :meth:`poll` gives up the current hole (None: nothing is held).

        Example:
            >>> ReorderBuffer().deadline_ns is None
            True
        """
        if not self._held:
            return None
        return min(t for _, t in self._held.values()) + self.max_delay_ns

    def push(self, packet: RtpPacket, now_ns: int) -> list[RtpPacket]:
        """Take one packet; return the packets now releasable, in sequence order.

        Example:
            >>> from rtsplab.rtsp.rtp import RtpPacket
            >>> buf = ReorderBuffer(max_packets=1)
            >>> buf.push(RtpPacket(96, 5, 0, 1), 0)[0].seq, buf.push(RtpPacket(96, 7, 0, 1), 0)
            (5, [])
            >>> [p.seq for p in buf.push(RtpPacket(96, 8, 0, 1), 0)], buf.lost_packets  # full
            ([7, 8], 1)
        """
        seq = packet.seq
        if seq == self._next and not self._held:  # the usual case: in order, nothing waiting
            self.received += 1
            self._next = (seq + 1) & 0xFFFF
            return [packet]
        if self._next is None:
            self._next = seq
        delta = seq_delta(seq, self._next)
        if abs(delta) >= RESTART_DISTANCE:  # the sender restarted: release all, follow it
            out = self._release_all()
            self._next = seq
            delta = 0
        else:
            out = []
        if delta < 0 or seq in self._held:
            self.late_packets += 1
            return out
        self.received += 1
        self._held[seq] = (packet, now_ns)
        out += self._release_ready()
        while len(self._held) > self.max_packets:
            if self.max_packets:  # (a window of 0 gives every hole up at once, by design)
                self.overflows += 1
            self._skip_hole()
            out += self._release_ready()
        return out

    def poll(self, now_ns: int) -> list[RtpPacket]:
        """Give up holes waited on for ``max_delay_ns``; return the packets released.

        Example:
            >>> from rtsplab.rtsp.rtp import RtpPacket
            >>> buf = ReorderBuffer(max_delay_ns=10)
            >>> buf.push(RtpPacket(96, 1, 0, 1), 0) and buf.push(RtpPacket(96, 3, 0, 1), 0)
            []
            >>> buf.poll(9), [p.seq for p in buf.poll(10)]
            ([], [3])
        """
        out: list[RtpPacket] = []
        while (deadline := self.deadline_ns) is not None and deadline <= now_ns:
            self._skip_hole()
            out += self._release_ready()
        return out

    def _release_ready(self) -> list[RtpPacket]:
        out = []
        assert self._next is not None
        while (item := self._held.pop(self._next, None)) is not None:
            out.append(item[0])
            self._next = (self._next + 1) & 0xFFFF
        return out

    def _skip_hole(self) -> None:
        """Move the next sequence number to the oldest held packet, counting the skipped ones."""
        assert self._next is not None
        nxt = self._next
        first = min(self._held, key=lambda s: seq_delta(s, nxt))
        self.lost_packets += seq_delta(first, nxt)
        self._next = first

    def _release_all(self) -> list[RtpPacket]:
        out = []
        while self._held:
            self._skip_hole()
            out += self._release_ready()
        return out

    def __repr__(self) -> str:
        return (
            f"ReorderBuffer(max_packets={self.max_packets}, max_delay_ns={self.max_delay_ns}, "
            f"held={self.held}, lost_packets={self.lost_packets})"
        )
