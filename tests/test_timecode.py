"""Timecodes survive a real libx264 encode/decode and damage reads as None, never a wrong time."""

from __future__ import annotations

import time

import av
import numpy as np
import pytest

from rtsplab.sim.media import H264Encoder
from rtsplab.sim.scene import Scene
from rtsplab.timecode import read_timecode, strip_height, write_timecode

W, H = 640, 360


def _round_trip(bitrate: int, gray: bool, n: int = 60) -> tuple[int, int, list[int]]:
    """Encode n timecoded frames and decode them; (decoded ok, wrong, seqs)."""
    enc = H264Encoder(W, H, fps=30, gop=30, bitrate=bitrate)
    dec = av.CodecContext.create("h264", "r")
    scene = Scene("cam1", W, H)
    rng = np.random.default_rng(1)
    t0 = time.time_ns()
    written: dict[int, int] = {}
    ok = wrong = 0
    seqs: list[int] = []
    for seq in range(n):
        t_ns = t0 + seq * 33_333_333
        if gray:
            img = rng.integers(0, 256, (H, W), dtype=np.uint8)  # worst case: noise everywhere
            write_timecode(img, t_ns, seq)
        else:
            img = scene.render(t_ns, seq)
        written[seq] = t_ns
        nals, _ = enc.encode(img, pts_90k=seq * 3000)
        data = b"".join(b"\x00\x00\x00\x01" + nal for nal in nals)
        for packet in dec.parse(data):
            for frame in dec.decode(packet):
                out = np.asarray(frame.to_ndarray(format="gray" if gray else "bgr24"), np.uint8)
                tc = read_timecode(out)
                if tc is None:
                    continue
                if written.get(tc.seq) == tc.t_ns:
                    ok += 1
                    seqs.append(tc.seq)
                else:
                    wrong += 1
    return ok, wrong, seqs


@pytest.mark.parametrize("bitrate", [1_000_000, 300_000])
@pytest.mark.parametrize("gray", [False, True], ids=["bgr", "gray"])
def test_round_trip_through_libx264(bitrate: int, gray: bool) -> None:
    n = 60
    ok, wrong, seqs = _round_trip(bitrate, gray, n)
    assert wrong == 0
    assert ok >= 0.95 * n, f"only {ok}/{n} timecodes survived at {bitrate} bit/s"
    assert seqs == sorted(set(seqs))


def test_damaged_strip_reads_none_not_a_wrong_time() -> None:
    img = Scene("cam1", W, H).render(1_700_000_000_000_000_000, 5)
    assert read_timecode(img) is not None
    c = W // 40
    rng = np.random.default_rng(0)
    damaged = 0
    for _ in range(200):
        bad = img.copy()
        row, col = rng.integers(0, 3), rng.integers(0, 40)
        cell = bad[row * c : (row + 1) * c, col * c : (col + 1) * c]
        cell[...] = 255 - cell  # flip one bit
        assert read_timecode(bad) is None
        damaged += 1
    smeared = img.copy()
    smeared[: strip_height(W)] = rng.integers(0, 256, smeared[: strip_height(W)].shape, np.uint8)
    assert read_timecode(smeared) is None
    assert damaged == 200


@pytest.mark.parametrize("size", [(640, 360), (1920, 1080)], ids=["360p", "1080p"])
def test_timecode_from_luma_plane_equals_timecode_from_bgr(size: tuple[int, int]) -> None:
    """The readers' fast path: the decoder's Y plane, no conversion, reads the same timecode."""
    from rtsplab.backends.yuv import luma_plane, to_bgr

    w, h = size
    enc = H264Encoder(w, h, fps=30, gop=30, bitrate=w * h * 3)
    dec = av.CodecContext.create("h264", "r")
    scene = Scene("cam1", w, h)
    t0 = time.time_ns()
    compared = 0
    for seq in range(20):
        nals, _ = enc.encode(scene.render(t0 + seq * 33_333_333, seq), pts_90k=seq * 3000)
        for packet in dec.parse(b"".join(b"\x00\x00\x00\x01" + nal for nal in nals)):
            for frame in dec.decode(packet):
                luma = luma_plane(frame)
                assert luma is not None and luma.shape == (h, w)
                from_luma, from_bgr = read_timecode(luma), read_timecode(to_bgr(frame))
                assert from_bgr is not None
                assert from_luma == from_bgr
                compared += 1
    assert compared >= 15
