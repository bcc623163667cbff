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


# ---- redaction of any spelling, parsed or not ------------------------------------------------

from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rtsplab.urls import url_secrets  # noqa: E402

SPELLINGS = [
    "rtsp://{u}@{h}{p}/x",  # valid, or with a bad host or port
    "rtsp:/{u}@{h}{p}/x",  # one slash: the most common typo
    "rtsp:{u}@{h}{p}/x",  # no slash
    "{u}@{h}{p}/x",  # no scheme
    "RTSPS://{u}@{h}{p}",
    "http://{u}@{h}{p}/x",
    "open {s} failed: 401",  # inside a log line
]
HOSTS = ["127.0.0.1", "cam.local", "hôst", "[::1]", "", "h h"]
PORTS = ["", ":554", ":0", ":99999", ":123456", ":x"]
# a password may hold anything but a line break: @ : / spaces, tabs, non-ASCII, %-escapes
PASSWORDS = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), min_size=4, max_size=24
)
USERS = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n:"), max_size=12
)


def _outputs(url: str) -> list[str]:
    """Everything rtsplab may print or store about ``url``."""
    out = [redact(url), scrub(f"ffmpeg: cannot open {url}", url_secrets(url))]
    try:
        parsed = RtspUrl.parse(url)
    except ValueError as exc:
        out.append(str(exc))
    else:
        out += [repr(parsed), str(parsed), parsed.redacted]
    return out


@settings(max_examples=300, deadline=None)
@given(USERS, PASSWORDS, st.sampled_from(SPELLINGS), st.sampled_from(HOSTS), st.sampled_from(PORTS))
def test_no_spelling_leaks_the_password(
    user: str, password: str, form: str, host: str, port: str
) -> None:
    def spell(pw: str) -> str:
        u = f"{user}:{pw}"
        return form.format(u=u, h=host, p=port, s=f"rtsp:/{u}@{host}{port}/x")

    # the password's text may be in the output for another reason (the path, the scheme, an
    # error's words): then it is no leak; compare with the same URL around another password
    baseline = " ".join(_outputs(spell("\x00")))
    assume(password not in baseline and password.strip() == password)
    for text in _outputs(spell(password)):
        assert password not in text, text
        assert f"{user}:{password}" not in text


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("rtsp:/admin:s3cret@cam/x", "two slashes"),
        ("rtsp:admin:s3cret@cam/x", "two slashes"),
        ("admin:s3cret@cam/x", "no scheme"),
        ("http://admin:s3cret@cam/x", "scheme must be rtsp"),
        ("rtsp://admin:s3cret@cam:99999/x", "port out of range"),
        ("rtsp://admin:s3cret@hôst/x", "no valid host"),
        ("rtsp://admin:s3 cr\tet@:1/x", "no valid host"),
    ],
)
def test_parse_errors_name_the_problem_without_the_password(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as e:
        RtspUrl.parse(url)
    assert "s3" not in str(e.value) and "***" in str(e.value)
    assert url_secrets(url) and all(s not in redact(url) for s in url_secrets(url))


def test_redact_blanks_more_rather_than_less_in_ambiguous_text() -> None:
    assert redact("rtsp://h/x rtsp:/u:pw@h2") == "rtsp://h/x rtsp:/u:***@h2"
    assert redact("rtsp:/u:a rtsp:b@h") == "rtsp:/u:***@h"  # a scheme inside the password
    assert redact("rtsp://user@h/p") == "rtsp://user@h/p"  # no password: nothing blanked


@pytest.mark.parametrize("url", ["rtsp:/admin:s3cret@cam/x", "rtsp://admin:s3cret@cam:99999/x"])
def test_open_with_a_malformed_url_raises_a_redacted_value_error(url: str) -> None:
    """``rtsplab.open`` once raised ``ValueError: not an rtsp:// URL: 'rtsp:/admin:s3cret@…'``."""
    import traceback

    import rtsplab

    for call in (lambda: rtsplab.open(url), lambda: rtsplab.open_group([url])):
        with pytest.raises(ValueError) as e:
            call()
        shown = "".join(traceback.format_exception(e.value))  # what Jupyter prints
        assert "s3cret" not in shown and "admin:***@cam" in shown
