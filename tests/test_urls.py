"""URL parsing with hostile passwords, and redaction everywhere."""

from __future__ import annotations

import pytest

from rtsplab.urls import RtspUrl, redact, scrub

CASES = [
    # url, user, password, host, port, path
    ("rtsp://admin:spark@123456@192.168.1.64", "admin", "spark@123456", "192.168.1.64", None, ""),
    ("rtsp://u:p:w@h:8554/cam1", "u", "p:w", "h", 8554, "/cam1"),
    ("rtsp://u:pa/ss@h/x/y?z=1", "u", "pa/ss", "h", None, "/x/y?z=1"),
    ("rtsp://u:a@b:c/d@127.0.0.1:1/p", "u", "a@b:c/d", "127.0.0.1", 1, "/p"),
    ("rtsp://u:p%40w@h/p", "u", "p@w", "h", None, "/p"),
    ("rtsp://h:554/p%40th", None, None, "h", 554, "/p%40th"),  # a literal @ in a path: %40
    ("RTSP://[::1]:8554/cam", None, None, "[::1]", 8554, "/cam"),
    ("rtsp://user@h/p", "user", None, "h", None, "/p"),
]


@pytest.mark.parametrize(("url", "user", "password", "host", "port", "path"), CASES)
def test_parse(url: str, user: str, password: str, host: str, port: int, path: str) -> None:
    u = RtspUrl.parse(url)
    assert (u.username, u.password, u.host, u.port, u.path) == (user, password, host, port, path)


@pytest.mark.parametrize(("url", "user", "password", "host", "port", "path"), CASES)
def test_password_never_in_repr_str_or_redacted(
    url: str, user: str, password: str, host: str, port: int, path: str
) -> None:
    u = RtspUrl.parse(url)
    for text in (repr(u), str(u), u.redacted, redact(url)):
        if password:
            assert password not in text
            for secret in u.secrets:
                assert secret not in text
        assert host in text


def test_for_ffmpeg_round_trips() -> None:
    u = RtspUrl.parse("rtsp://admin:spark@12:3/4@10.0.0.1:554/s")
    again = RtspUrl.parse(u.for_ffmpeg())
    assert (again.username, again.password, again.hostport) == (
        "admin",
        "spark@12:3/4",
        "10.0.0.1:554",
    )
    assert "@" not in u.for_ffmpeg().split("//", 1)[1].rsplit("@", 1)[0]


def test_query_secrets_are_redacted() -> None:
    assert "hunter2" not in redact("rtsp://h/p?user=a&password=hunter2")


@pytest.mark.parametrize("bad", ["http://h/p", "rtsp://", "rtsp://:1/x", "rtsp://h:99999/x", ""])
def test_bad_urls_raise_value_error_without_secret(bad: str) -> None:
    with pytest.raises(ValueError):
        RtspUrl.parse(bad)


def test_error_for_unparseable_url_hides_password() -> None:
    with pytest.raises(ValueError) as e:
        RtspUrl.parse("rtsp://u:secretpw@:99999999/x")
    assert "secretpw" not in str(e.value)


def test_scrub_removes_every_spelling() -> None:
    u = RtspUrl.parse("rtsp://a:p@ss w@h/x")
    line = f"failed {u.for_ffmpeg()} with p@ss w"
    out = scrub(line, u.secrets)
    assert "p@ss w" not in out and "p%40ss%20w" not in out
