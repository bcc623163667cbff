"""Reader options are typed once and visible everywhere they are accepted (help, completion)."""

from __future__ import annotations

import inspect

import pytest

import rtsplab
from rtsplab.lab import compare
from rtsplab.readers import ReaderOptions, StreamOptions
from rtsplab.widgets import LiveView


def test_reader_options_are_the_readers_keywords() -> None:
    keywords = set(inspect.signature(rtsplab.Reader).parameters)
    assert set(ReaderOptions.__annotations__) == keywords - {"url", "strategy", "name", "recorder"}
    assert set(StreamOptions.__annotations__) < set(ReaderOptions.__annotations__)


@pytest.mark.parametrize("func", [rtsplab.open, rtsplab.open_group, compare, LiveView])
def test_every_option_is_in_the_signature(func: object) -> None:
    params = inspect.signature(func).parameters  # type: ignore[arg-type]
    reader = inspect.signature(rtsplab.Reader).parameters
    assert set(StreamOptions.__annotations__) <= set(params)
    for key in StreamOptions.__annotations__:
        assert params[key].default == reader[key].default, key
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values())


def test_an_option_reaches_the_reader() -> None:
    with pytest.raises(TypeError):
        rtsplab.open("rtsp://127.0.0.1:1/x", open_timeout=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="not a valid Transport"):
        rtsplab.open("rtsp://127.0.0.1:1/x", transport="carrier-pigeon")
