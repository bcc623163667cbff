"""Group edges that need no server: stream naming and argument checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rtsplab
from rtsplab.group import stream_names


def test_open_group_without_urls_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="at least one URL"):
        rtsplab.open_group([])


def test_matched_needs_latest_before_anything_opens() -> None:
    with pytest.raises(ValueError, match="strategy='latest'"):
        rtsplab.open_group(["rtsp://127.0.0.1:1/cam1"], strategy="buffered", sync="matched")


def test_names_from_urls_are_made_unique() -> None:
    urls = ["rtsp://u:p@h/a/cam", "rtsp://h:8554/b/cam", "rtsp://h/c/cam?x=1", "rtsp://h/door"]
    assert stream_names(urls) == ["cam", "cam#1", "cam#2", "door"]
    assert stream_names(urls[:2], names=["left", "right"]) == ["left", "right"]
    with pytest.raises(ValueError):
        stream_names(urls[:2], names=["same", "same"])
    with pytest.raises(ValueError):
        stream_names(urls[:2], names=["only-one"])


@given(st.lists(st.sampled_from(["cam1", "cam2", "x/cam1", "door"]), min_size=1, max_size=8))
def test_names_are_unique_and_one_per_url(paths: list[str]) -> None:
    names = stream_names([f"rtsp://127.0.0.1/{p}" for p in paths])
    assert len(names) == len(paths) == len(set(names))
    assert all(n.split("#")[0] == p.rsplit("/", 1)[-1] for n, p in zip(names, paths, strict=True))
