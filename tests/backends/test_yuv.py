"""The YUV fast paths: the same BGR pixels as PyAV's own conversion, and a luma view that
lets a reader time a frame without converting it."""

from __future__ import annotations

import threading

import av
import numpy as np
import pytest

from rtsplab.backends.base import DecodedFrame
from rtsplab.backends.yuv import luma_plane, to_bgr
from rtsplab.timecode import read_timecode, write_timecode


def _yuv(w: int, h: int, seed: int, fmt: str = "yuv420p") -> av.VideoFrame:
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    write_timecode(img, 1_700_000_000_000_000_000 + seed, seed)
    return av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format=fmt)


@pytest.mark.parametrize("fmt", ["yuv420p", "yuvj420p", "nv12", "yuv444p"])
def test_to_bgr_matches_pyav_conversion_and_luma_matches_the_y_plane(fmt: str) -> None:
    frame = _yuv(648, 360, 1, fmt)  # 648: a width whose rows are padded in the Y plane
    assert np.array_equal(to_bgr(frame), frame.to_ndarray(format="bgr24"))
    luma = luma_plane(frame)
    assert luma is not None and luma.shape == (360, 648)
    planes = np.asarray(frame.to_ndarray())  # PyAV's own copy: Y rows first (or Y first)
    expected = planes[0] if planes.ndim == 3 else planes[:360]
    assert np.array_equal(luma, expected)
    tc = read_timecode(luma)
    assert tc is not None and tc.seq == 1


def test_luma_plane_is_none_for_formats_without_one() -> None:
    assert luma_plane(_yuv(96, 54, 0, "rgb24")) is None


def test_to_bgr_returns_a_new_array_each_call_across_sizes() -> None:
    a, b, c = _yuv(640, 360, 1), _yuv(640, 360, 2), _yuv(320, 180, 3)
    first = to_bgr(a)
    kept = first.copy()
    second, third = to_bgr(b), to_bgr(c)
    assert np.array_equal(first, kept)  # later conversions did not write into it
    assert not np.array_equal(first, second)
    assert third.shape == (180, 320, 3)
    assert np.array_equal(to_bgr(a), kept)


def test_to_bgr_from_several_threads_at_once() -> None:
    frames = [_yuv(320 + 16 * k, 180, k) for k in range(4)]
    expected = [f.to_ndarray(format="bgr24") for f in frames]
    errors: list[str] = []

    def convert(k: int) -> None:
        for _ in range(30):
            if not np.array_equal(to_bgr(frames[k]), expected[k]):
                errors.append(f"thread {k}: wrong pixels")

    threads = [threading.Thread(target=convert, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert not any(t.is_alive() for t in threads)


def test_decoded_frame_timed_from_luma_is_not_converted() -> None:
    frame = _yuv(640, 360, 7)
    conversions: list[int] = []

    def convert() -> np.ndarray:
        conversions.append(1)
        return to_bgr(frame)

    decoded = DecodedFrame(t_recv_ns=1, convert=convert, luma=lambda: luma_plane(frame))
    tc = read_timecode(decoded.luma)
    assert tc is not None and tc.seq == 7
    assert conversions == []
    assert decoded.image.shape == (360, 640, 3)
    assert conversions == [1]
    assert decoded.luma is decoded.image  # once converted, the image serves both


def test_decoded_frame_falls_back_to_the_image_without_a_luma_plane() -> None:
    frame = _yuv(96, 54, 0, "rgb24")
    decoded = DecodedFrame(
        t_recv_ns=1,
        convert=lambda: frame.to_ndarray(format="bgr24"),
        luma=lambda: luma_plane(frame),
    )
    assert decoded.luma.shape == (54, 96, 3)
