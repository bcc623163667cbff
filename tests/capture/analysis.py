"""Per-frame times read straight from a capture file, by the tests' own arithmetic.

The frame's source time comes from the RTP timestamp and the nearest earlier RTCP sender
report (NTP time, RTP time) in the capture; its arrival is the capture time of its last
(marker) packet. Nothing of rtsplab's clock logic is used, so ages computed here check it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from rtsplab.capture_file import CapturedSession

NTP_UNIX_S = 2_208_988_800


@dataclass(frozen=True)
class FrameTimes:
    """Arrays over the frames of a capture's first track that had a sender report before."""

    rtp_ts: np.ndarray  # unwrapped RTP timestamps
    t_arrival_ns: np.ndarray  # capture time of the marker packet
    t_source_ns: np.ndarray  # from the sender report

    @property
    def age_ms(self) -> np.ndarray:
        return (self.t_arrival_ns - self.t_source_ns) / 1e6


def frame_times(session: CapturedSession, track: int = 0) -> FrameTimes:
    clock = session.tracks[track].clock_rate
    sr: tuple[int, int] | None = None  # (ntp as unix ns, rtp ts)
    ts_out, arr_out, src_out = [], [], []
    for p in session.packets:
        if p.track != track:
            continue
        if p.rtcp:
            off = 0
            while off + 20 <= len(p.payload):
                ptype = p.payload[off + 1]
                size = (struct.unpack_from(">H", p.payload, off + 2)[0] + 1) * 4
                if ptype == 200:
                    ntp, rtp_ts = struct.unpack_from(">QI", p.payload, off + 8)
                    unix_ns = ((ntp >> 32) - NTP_UNIX_S) * 10**9 + (
                        (ntp & 0xFFFFFFFF) * 10**9 >> 32
                    )
                    sr = (unix_ns, rtp_ts)
                off += size
            continue
        if sr is None or len(p.payload) < 12 or not p.payload[1] & 0x80:
            continue
        (ts,) = struct.unpack_from(">I", p.payload, 4)
        delta = ((ts - sr[1] + 2**31) % 2**32) - 2**31
        ts_out.append(ts)
        arr_out.append(p.t_ns)
        src_out.append(sr[0] + delta * 10**9 // clock)
    ts_arr = np.unwrap(np.array(ts_out, dtype=float), period=2**32).astype(np.int64)
    return FrameTimes(ts_arr, np.array(arr_out, dtype=np.int64), np.array(src_out, dtype=np.int64))


def arrival_gaps_ms(session: CapturedSession, track: int = 0) -> dict[int, float]:
    """Inter-arrival time before each RTP packet, by its sequence number."""
    out: dict[int, float] = {}
    last: int | None = None
    for p in session.packets:
        if p.track != track or p.rtcp or len(p.payload) < 12:
            continue
        (seq,) = struct.unpack_from(">H", p.payload, 2)
        if last is not None:
            out[seq] = (p.t_ns - last) / 1e6
        last = p.t_ns
    return out


def arrival_times_ns(session: CapturedSession, track: int = 0) -> dict[int, int]:
    """Arrival time of each RTP packet, by its sequence number."""
    out: dict[int, int] = {}
    for p in session.packets:
        if p.track == track and not p.rtcp and len(p.payload) >= 12:
            out[struct.unpack_from(">H", p.payload, 2)[0]] = p.t_ns
    return out


def wire_filter(rtsp_port: int, transport: str) -> str:
    """The ``dumpcap`` filter for one server's sessions: its RTSP connections, and UDP (the
    media's ports are known only once SETUP answers; the session's are picked by its SETUP)."""
    return f"tcp port {rtsp_port}" + (" or udp" if transport == "udp" else "")
