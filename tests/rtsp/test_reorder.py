"""The reorder buffer: order restored, bounded in packets and time, losses counted."""

from __future__ import annotations

import itertools
import random

from hypothesis import given
from hypothesis import strategies as st

from rtsplab.rtsp.reorder import ReorderBuffer
from rtsplab.rtsp.rtp import RtpPacket, seq_delta


def pkt(seq: int) -> RtpPacket:
    return RtpPacket(96, seq & 0xFFFF, 0, 1)


def test_reordered_packets_come_out_in_order() -> None:
    buf = ReorderBuffer(max_packets=8, max_delay_ns=10**9)
    out = []
    for s in [1, 3, 2, 6, 4, 5]:
        out += [p.seq for p in buf.push(pkt(s), 0)]
    assert out == [1, 2, 3, 4, 5, 6]
    assert (buf.lost_packets, buf.held) == (0, 0)


def test_a_hole_is_given_up_after_max_delay() -> None:
    buf = ReorderBuffer(max_packets=8, max_delay_ns=20_000_000)
    buf.push(pkt(1), 0)
    assert buf.push(pkt(3), 5_000_000) == []
    assert buf.poll(24_999_999) == []
    assert [p.seq for p in buf.poll(25_000_000)] == [3]
    assert buf.lost_packets == 1
    assert buf.push(pkt(2), 26_000_000) == [] and buf.late_packets == 1  # too late now


def test_a_full_buffer_gives_the_hole_up_at_once() -> None:
    buf = ReorderBuffer(max_packets=2, max_delay_ns=10**9)
    buf.push(pkt(10), 0)
    assert buf.push(pkt(13), 0) == [] and buf.push(pkt(14), 0) == []
    assert [p.seq for p in buf.push(pkt(15), 0)] == [13, 14, 15]
    assert buf.lost_packets == 2


def test_across_the_sequence_wrap() -> None:
    buf = ReorderBuffer(max_packets=4, max_delay_ns=10**9)
    out = []
    for s in [65534, 0, 65535, 1]:
        out += [p.seq for p in buf.push(pkt(s), 0)]
    assert out == [65534, 65535, 0, 1]


def test_a_sender_restart_is_followed() -> None:
    buf = ReorderBuffer(max_packets=4, max_delay_ns=10**9)
    buf.push(pkt(100), 0)
    buf.push(pkt(102), 0)  # held, 101 missing
    assert [p.seq for p in buf.push(pkt(40000), 0)] == [102, 40000]
    assert [p.seq for p in buf.push(pkt(40001), 0)] == [40001]


@given(
    first=st.integers(0, 0xFFFF),
    n=st.integers(1, 200),
    loss=st.floats(0, 0.5),
    spread=st.integers(0, 6),
    max_packets=st.integers(0, 16),
    seed=st.integers(0, 2**32),
)
def test_output_is_in_order_and_everything_is_accounted_for(
    first: int, n: int, loss: float, spread: int, max_packets: int, seed: int
) -> None:
    rnd = random.Random(seed)
    sent = [first + k for k in range(n) if k == 0 or rnd.random() >= loss]
    # local reordering: each packet moves back by up to `spread` places
    keyed = sorted(enumerate(sent), key=lambda kv: kv[0] + rnd.uniform(0, spread))
    buf = ReorderBuffer(max_packets=max_packets, max_delay_ns=30)
    out: list[int] = []
    for t, (_, s) in enumerate(keyed):
        out += [p.seq for p in buf.push(pkt(s), t)]
        assert buf.held <= max_packets
        out += [p.seq for p in buf.poll(t)]
    out += [p.seq for p in buf.poll(10**9)]
    assert buf.held == 0
    assert all(seq_delta(b, a) > 0 for a, b in itertools.pairwise(out))
    assert len(out) + buf.late_packets == len(sent)
    span = seq_delta(out[-1], out[0]) + 1
    assert buf.lost_packets == span - len(out)
    if max_packets >= spread + 1 and loss == 0:
        assert out == [s & 0xFFFF for s in sent]
