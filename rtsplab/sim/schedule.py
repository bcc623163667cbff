"""A replay's timetable: when to send each captured packet, and what a loop changes.

:class:`Schedule` turns a :class:`~rtsplab.capture_file.CapturedSession` into send times
(the capture's arrival times, from the first packet), trimmed to the video's last whole
frame, with the loop length and, per track, the sequence numbers and RTP ticks one loop
adds. :meth:`Schedule.packet` gives packet ``i`` as loop ``k`` sends it, RTCP sender reports
moved to the replay's clock.

Example:
    >>> _unwrap([65534, 65535, 0, 1], 16)
    [65534, 65535, 65536, 65537]
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass

from rtsplab.capture_file import CapturedSession, median_step

__all__ = ["Schedule"]


@dataclass(frozen=True)
class Schedule:
    """When to send what, for one capture, in loop 0; and what a loop adds.

    Attributes:
        times_ns: send time of each packet, from the first (0).
        tracks: track index of each packet.
        rtcp: whether each packet is RTCP.
        payloads: the packets.
        loop_ns: length of one loop.
        seq_span: per track, sequence numbers one loop uses.
        ts_span: per track, RTP timestamp ticks one loop lasts.
        t_first_ns: the capture's wall-clock time of the first packet.

    Example:
        >>> Schedule.of(session).loop_ns > 0  # doctest: +SKIP
        True
    """

    times_ns: tuple[int, ...]
    tracks: tuple[int, ...]
    rtcp: tuple[bool, ...]
    payloads: tuple[bytes, ...]
    loop_ns: int
    seq_span: tuple[int, ...]
    ts_span: tuple[int, ...]
    t_first_ns: int

    @classmethod
    def of(cls, session: CapturedSession) -> Schedule:
        """The schedule of ``session``: trimmed to the video's last complete frame.

        Example:
            >>> Schedule.of(load_session("caps/cam1.pcapng")).seq_span  # doctest: +SKIP
            (311,)
        """
        packets = list(session.packets)
        video = next(
            (i for i, t in enumerate(session.tracks) if t.media and t.media.media == "video"), 0
        )
        rtp_video = [p for p in packets if p.track == video and not p.rtcp and len(p.payload) >= 12]
        marked = [p for p in rtp_video if p.payload[1] & 0x80]
        if marked:  # end on a whole frame, so the next loop does not complete a torn one
            last_t = marked[-1].t_ns
            packets = [p for p in packets if p.t_ns <= last_t]
        t_first = packets[0].t_ns
        clock = session.tracks[video].clock_rate or 90000
        stamps = _unwrap([struct.unpack_from(">I", p.payload, 4)[0] for p in rtp_video])
        step = median_step(stamps)
        span_ticks = (max(stamps) - min(stamps) + step) if stamps else 0
        step_ns = step * 1_000_000_000 // clock if step else 33_000_000
        loop_ns = max(
            span_ticks * 1_000_000_000 // clock, packets[-1].t_ns - t_first + step_ns, 1_000_000
        )
        seq_span, ts_span = [], []
        for i, track in enumerate(session.tracks):
            seqs = _unwrap(
                [
                    struct.unpack_from(">H", p.payload, 2)[0]
                    for p in packets
                    if p.track == i and not p.rtcp and len(p.payload) >= 12
                ],
                16,
            )
            seq_span.append(max(seqs) - min(seqs) + 1 if seqs else 0)
            ts_span.append(round(loop_ns * (track.clock_rate or 90000) / 1e9))
        return cls(
            tuple(p.t_ns - t_first for p in packets),
            tuple(p.track for p in packets),
            tuple(p.rtcp for p in packets),
            tuple(p.payload for p in packets),
            loop_ns,
            tuple(seq_span),
            tuple(ts_span),
            t_first,
        )

    def with_loop(self, loop_ns: int) -> Schedule:
        """The same schedule looping every ``loop_ns`` (at least its own loop).

        Example:
            >>> schedule.with_loop(10**10).loop_ns  # doctest: +SKIP
            10000000000
        """
        loop_ns = max(loop_ns, self.loop_ns)
        spans = tuple(
            round(span * loop_ns / self.loop_ns) if self.loop_ns else span for span in self.ts_span
        )
        return dataclasses.replace(self, loop_ns=loop_ns, ts_span=spans)

    def packet(self, i: int, loop: int, wall_offset_ns: int) -> bytes:
        """Packet ``i`` as loop ``loop`` sends it; sender reports moved by ``wall_offset_ns``.

        Example:
            >>> schedule.packet(0, 0, 0) == schedule.payloads[0]  # doctest: +SKIP
            True
        """
        payload = self.payloads[i]
        track = self.tracks[i]
        if self.rtcp[i]:
            return _shift_reports(payload, wall_offset_ns, loop * self.ts_span[track])
        if loop == 0 or len(payload) < 12:
            return payload
        seq, ts = struct.unpack_from(">HI", payload, 2)
        out = bytearray(payload)
        struct.pack_into(
            ">HI",
            out,
            2,
            (seq + loop * self.seq_span[track]) & 0xFFFF,
            (ts + loop * self.ts_span[track]) & 0xFFFFFFFF,
        )
        return bytes(out)


def _unwrap(values: list[int], bits: int = 32) -> list[int]:
    """Unwrap a sequence of modular counters into plain integers."""
    out: list[int] = []
    mod, half = 1 << bits, 1 << (bits - 1)
    for v in values:
        if not out:
            out.append(v)
            continue
        delta = (v - out[-1]) % mod
        out.append(out[-1] + (delta - mod if delta >= half else delta))
    return out


def _shift_reports(compound: bytes, wall_offset_ns: int, ts_offset: int) -> bytes:
    """A compound RTCP packet with each sender report's NTP and RTP time moved."""
    out = bytearray(compound)
    off = 0
    while off + 4 <= len(out):
        ptype = out[off + 1]
        size = (struct.unpack_from(">H", out, off + 2)[0] + 1) * 4
        if ptype == 200 and off + 20 <= len(out):  # SR: ssrc, ntp(8), rtp ts
            ntp, rtp_ts = struct.unpack_from(">QI", out, off + 8)
            ntp_ns = ((ntp >> 32) * 1_000_000_000) + (((ntp & 0xFFFFFFFF) * 1_000_000_000) >> 32)
            ntp_ns += wall_offset_ns
            secs, rem = divmod(ntp_ns, 1_000_000_000)
            new_ntp = ((secs & 0xFFFFFFFF) << 32) | ((rem << 32) // 1_000_000_000)
            struct.pack_into(">QI", out, off + 8, new_ntp, (rtp_ts + ts_offset) & 0xFFFFFFFF)
        if size <= 0:
            break
        off += size
    return bytes(out)
