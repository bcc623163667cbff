"""``diagnose``: measure your own cameras the way the experiments measure simulated ones.

For each stream it measures, one after the other: the low-latency profile with the ``latest``
strategy (the floor), the same with FFmpeg's automatic decoder threads, rtsplab's native
backend (H.264 and H.265, TCP or UDP), OpenCV's default options with streams opened one by one and read
naively (the problem statement's setup), and a slow consumer with ``naive``, ``latest`` and
``matched`` reads. Then it turns the numbers into findings, each with what to do about it.

Failures (wrong password, unknown path, refused port...) become findings too, and every URL,
message and number it prints is free of passwords.

Example:
    >>> d = diagnose(["rtsp://admin:pw@192.168.1.64/stream1"], seconds=2)  # doctest: +SKIP
    >>> print(d.report())  # doctest: +SKIP
"""

from __future__ import annotations

import math
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from rtsplab.backends import TLS_NATIVE_ONLY
from rtsplab.backends.rtsp_client import TlsOptions
from rtsplab.entities import Strategy, Transport
from rtsplab.errors import (
    AuthError,
    ConnectError,
    NotFound,
    OpenTimeout,
    ReadTimeout,
    RtspLabError,
    TlsError,
    UnsupportedStream,
)
from rtsplab.lab.experiment import (
    age_growth_ms_per_s,
    open_one_by_one,
    read_sets,
    run_strategy,
    stream_names,
    timed_first_set,
)
from rtsplab.lab.findings import (
    DEFAULT,
    LEVELS,
    LL,
    NATIVE,
    SOURCE_CLOCKS,
    THREADS,
    Finding,
    build_findings,
    fps_of,
    setup_row,
)
from rtsplab.readers import Reader
from rtsplab.recorder import Recorder
from rtsplab.urls import RtspUrl, redact, scrub, url_secrets

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LEVELS", "Diagnosis", "Finding", "check_tls_options", "diagnose", "has_source_clock"]


@dataclass
class Diagnosis:
    """What :func:`diagnose` measured and concluded.

    Attributes:
        urls: the URLs, redacted. streams: their names.
        findings: worst first. measurements: one row per stream and setup.
        info: per stream: codec, size, fps, transport, backend, clock.

    Example:
        >>> d = Diagnosis([], [], 1.0, 60.0, [Finding("ok", "all", "fine.")])
        >>> d.ok
        True
    """

    urls: list[str]
    streams: list[str]
    seconds: float
    consumer_ms: float
    findings: list[Finding]
    measurements: pd.DataFrame | None = None
    info: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every stream could be measured (no ``error`` finding).

        Example:
            >>> Diagnosis([], [], 1.0, 60.0, [Finding("error", "cam1", "x")]).ok
            False
        """
        return not any(f.level == "error" for f in self.findings)

    def report(self) -> str:
        """The findings as text, with a header per stream and the measurement table.

        Example:
            >>> print(Diagnosis([], [], 1.0, 60.0, []).report().splitlines()[0])
            rtsplab doctor: 0 stream(s), 1 s per measurement, consumer 60 ms per set
        """
        lines = [
            f"rtsplab doctor: {len(self.urls)} stream(s), {self.seconds:g} s per measurement, "
            f"consumer {self.consumer_ms:g} ms per set"
        ]
        for name, url in zip(self.streams, self.urls, strict=True):
            i = self.info.get(name)
            desc = (
                f"{i['codec']} {i['width']}x{i['height']} at {i['fps']:.0f} fps, RTP over "
                f"{i['transport'].upper()}, backend {i['backend']}, clock: {i['clock']}"
                if i
                else "not measured"
            )
            lines.append(f"  {name:<10} {url}  {desc}")
        lines += ["", *(str(f) for f in self.findings)]
        if self.measurements is not None and len(self.measurements):
            cols = ["stream", "setup", "open_s", "first_frame_s", "first_frame_age_ms"]
            cols += ["age_p50_ms", "age_p99_ms", "transit_p50_ms", "growth_ms_per_s"]
            cols += ["skew_p99_ms"]
            shown = self.measurements.reindex(columns=cols).astype(object)
            shown = shown.where(shown.notna(), "-")
            for col in cols[2:]:
                shown[col] = [_num(v) for v in shown[col]]
            measured = self.measurements.reindex(columns=cols)
            blind = self._blind_cells(measured) & measured.notna()
            shown = shown.mask(blind, "n/a")
            lines += ["", "measurements (ms unless _s):", shown.to_string(index=False)]
            if blind.to_numpy().any():
                lines += textwrap.wrap(f"n/a: {NO_SOURCE_CLOCK}", 100, subsequent_indent="     ")
        return "\n".join(lines)

    def _blind_cells(self, table: pd.DataFrame) -> pd.DataFrame:
        """True where ``table`` (rows of :attr:`measurements`) holds an age that is not a true
        age: ages of a stream without a timecode or RTCP clock, and every skew when any
        stream lacks one (a skew compares the streams' clocks)."""
        assert self.measurements is not None
        blind = {n for n in self.streams if not has_source_clock(self.info.get(n, {}))}
        rows = self.measurements["stream"].isin(blind).to_numpy()
        if "clock" in self.measurements.columns:  # a row on a clock of its own (OpenCV: no RTCP)
            clock = self.measurements["clock"]
            rows = rows | (clock.notna() & ~clock.isin(SOURCE_CLOCKS)).to_numpy()
        mask = table.copy().astype(bool)
        for col in table.columns:
            if col.startswith("skew_"):
                mask[col] = bool(blind)
            else:
                mask[col] = rows if col in TRUE_AGE_COLUMNS else False
        return mask

    def table(self) -> pd.DataFrame:
        """The measurements, one row per stream and setup, with every value that is not a
        true age blanked (``NaN``): ages of a stream without a timecode or RTCP clock, and
        skews when any stream lacks one (see :data:`NO_SOURCE_CLOCK`).

        Example:
            >>> import pandas as pd
            >>> rows = pd.DataFrame({"stream": ["cam1"], "setup": [LL], "age_p50_ms": [-875.2]})
            >>> d = Diagnosis(["rtsp://h/cam1"], ["cam1"], 1.0, 60.0, [], rows, {"cam1": {"clock": "pts"}})
            >>> d.table()["age_p50_ms"].tolist()
            [nan]
        """
        import pandas as pd

        if self.measurements is None or "stream" not in self.measurements.columns:
            return pd.DataFrame()  # nothing measured: every stream failed
        return self.measurements.mask(self._blind_cells(self.measurements))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes ``None``), as ``rtsplab doctor --json`` prints.

        Example:
            >>> Diagnosis([], [], 1.0, 60.0, []).to_dict()["ok"]
            True
            >>> import pandas as pd  # every stream failed: no measurement row
            >>> Diagnosis([], [], 1.0, 60.0, [], pd.DataFrame([])).to_dict()["measurements"]
            []
        """
        rows: list[dict[str, Any]] = []
        if self.measurements is not None:
            # not a true age: None rather than a number that looks like one
            for rec in self.table().to_dict("records"):
                rows.append({str(k): _clean(v) for k, v in rec.items()})
        return {
            "config": {"seconds": self.seconds, "consumer_ms": self.consumer_ms},
            "urls": self.urls,
            "streams": {n: self.info.get(n) for n in self.streams},
            "ok": self.ok,
            "findings": [asdict(f) for f in self.findings],
            "measurements": rows,
        }

    def __str__(self) -> str:
        return self.report()

    def __repr__(self) -> str:
        levels = {lv: sum(f.level == lv for f in self.findings) for lv in LEVELS}
        return f"Diagnosis(streams={self.streams}, findings={levels})"


TRUE_AGE_COLUMNS = (
    "first_frame_age_ms", "age_p50_ms", "age_p99_ms", "age_max_ms", "transit_p50_ms",
    "transit_min_ms", "skew_p50_ms", "skew_p99_ms",
)  # fmt: skip
"""Measurement columns that are true ages only with a source clock (timecode or RTCP)."""

NO_SOURCE_CLOCK = (
    "no source clock (no timecode, no RTCP): the stream's times are anchored at arrival, so "
    "true frame ages and skews cannot be measured"
)


def has_source_clock(info: dict[str, Any]) -> bool:
    """True when a stream's ``info`` (``Diagnosis.info[name]``) names a clock giving true ages.

    Example:
        >>> has_source_clock({"clock": "rtcp"}), has_source_clock({"clock": "pts"})
        (True, False)
        >>> has_source_clock({"clock": "corrected"})   # a camera clock set right by rtsplab
        True
    """
    return info.get("clock") in SOURCE_CLOCKS


def _num(v: Any) -> Any:
    """A measured float as short text (two decimals at most, never ``-0``)."""
    if isinstance(v, float):
        return f"{round(v, 2) + 0.0:.2f}".rstrip("0").rstrip(".")
    return v


def _clean(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    return v.item() if hasattr(v, "item") else v


def _stats(frames: list[Any]) -> dict[str, Any]:
    import numpy as np

    age = np.array([f.age_ms for f in frames])
    transit = np.array([f.transit_ms for f in frames])
    span_s = (frames[-1].t_read_ns - frames[0].t_read_ns) / 1e9
    return {
        "frames": len(frames),
        "fps": (len(frames) - 1) / span_s if span_s > 0 else math.nan,
        "age_p50_ms": float(np.median(age)),
        "age_p99_ms": float(np.percentile(age, 99)),
        "transit_p50_ms": float(np.median(transit)),
        "transit_min_ms": float(transit.min()),
        "clock": frames[-1].clock.value,
    }


def _fresh(url: str, name: str, setup: str, seconds: float, **kwargs: Any) -> dict[str, Any]:
    """Read every new frame with ``latest`` for ``seconds``; one measurement row."""
    t0 = time.monotonic_ns()
    with Reader(url, strategy=Strategy.LATEST, name=name, **kwargs) as r:
        first_timeout_s = max(5.0, kwargs.get("open_timeout_s", 5.0))
        frames = [r.read_frame(timeout_s=first_timeout_s, fresh=True)]
        first_s, start = (time.monotonic_ns() - t0) / 1e9, time.monotonic()
        while time.monotonic() - start < seconds:
            try:
                frames.append(r.read_frame(fresh=True))
            except ReadTimeout:
                break
        info, cam = r.info, r.camera_clock
        skipped, decoded = r.frames_skipped, r.frames_decoded
        return {
            "stream": name, "setup": setup, "open_s": r.open_s, "first_frame_s": first_s,
            "first_frame_age_ms": frames[0].age_ms, **_stats(frames),
            "clock_offset_ms": cam.offset_ms if cam else math.nan,
            "clock_corrected": bool(cam and cam.corrected),
            "clock_note": cam.describe(name) if cam else "",
            "transport": r.transport_used.value, "backend": r.backend_used, "codec": info.codec,
            "width": info.width or frames[0].image.shape[1],
            "height": info.height or frames[0].image.shape[0], "nominal_fps": info.fps,
            "frames_decoded": decoded, "frames_skipped": skipped,
        }  # fmt: skip


_ERRORS: list[tuple[type[RtspLabError], str, str]] = [
    (AuthError, "the camera refused the user name or password (401)",
     "check them; write the password as it is (rtsplab handles @ : / in it)"),
    (NotFound, "the server has no stream at this path (404)",
     "check the path after host:port; it is vendor-specific (see the camera's manual)"),
    (OpenTimeout, "no answer before the open timeout",
     "check the address, the port (RTSP usually uses 554), the network and any firewall"),
    (TlsError, "the TLS connection failed: no handshake, or a certificate that failed its check",
     "check that the port serves rtsps (322 by default); for a self-signed certificate pin it "
     "with tls_fingerprint (--tls-fingerprint), which 'openssl x509 -noout -fingerprint "
     "-sha256' prints"),
    (ConnectError, "the connection was refused: nothing listens on that port",
     "check the port (RTSP usually uses 554) and that RTSP is enabled on the camera"),
    (ReadTimeout, "the stream opened but sent no frame in time",
     "check that the stream carries video; if UDP is blocked, try transport='tcp'"),
    (UnsupportedStream, "the stream cannot be decoded",
     "set the camera's stream to H.264 (or H.265) in its settings"),
]  # fmt: skip


def _error(name: str, exc: Exception, secrets: Sequence[str], url: str = "") -> Finding:
    if not isinstance(exc, RtspLabError):  # RtspUrl.parse: the message may quote the URL
        text = f"not a valid RTSP URL: {redact(url)}"
        return Finding("error", name, text, "write it as rtsp://user:password@host[:port]/path")
    detail = scrub(f"{type(exc).__name__}: {exc}", list(secrets))
    for cls, text, fix in _ERRORS:
        if isinstance(exc, cls):
            return Finding("error", name, f"{text} ({detail})", fix)
    return Finding("error", name, f"the stream failed ({detail})", "see the message")


def diagnose(
    urls: Sequence[str],
    seconds: float = 2.0,
    consumer_ms: float = 60.0,
    backend: str = "auto",
    open_timeout_s: float = 5.0,
    read_timeout_s: float = 2.0,
    timecode: bool = True,
    progress: Callable[[str], None] | None = None,
    tls_verify: bool = False,
    tls_fingerprint: str | None = None,
) -> Diagnosis:
    """Measure ``urls`` and explain their latency problems, with the fix for each.

    Args:
        urls: RTSP URLs (credentials allowed; they never appear in the output).
        seconds: reading time of each measurement (about 6 measurements per stream).
        consumer_ms: time the simulated consumer spends per set in the slow-consumer test.
        backend: ``auto`` (see :func:`rtsplab.backends.open_backend`), ``native``, ``pyav`` or
            ``opencv``; the report shows which one served each stream.
        open_timeout_s, read_timeout_s: the readers' timeouts.
        timecode: use timecodes burned into frames (rtsplab's simulator has them); ``False``
            measures like for a camera without one.
        progress: called with a line of text before each measurement.
        tls_verify, tls_fingerprint: the certificate checks of ``rtsps://`` URLs (see
            :class:`~rtsplab.readers.Reader`); only the native backend makes them, so with
            either one the streams are read natively and the default-options measurement,
            which runs on FFmpeg, leaves ``rtsps://`` streams out (a note says so).

    Raises:
        ValueError: a malformed ``tls_fingerprint``, or a certificate check asked of
            ``backend="pyav"`` or ``"opencv"``, which cannot make it.

    Example:
        >>> print(diagnose(["rtsp://127.0.0.1:8554/cam1"], seconds=1).report())  # doctest: +SKIP
        >>> diagnose(["rtsps://127.0.0.1/cam1"], backend="pyav", tls_verify=True)
        Traceback (most recent call last):
        ...
        ValueError: tls_verify and tls_fingerprint are checked by the native backend only; FFmpeg (pyav, opencv) reads rtsps:// without checking the certificate
    """
    import pandas as pd

    tls_checked = check_tls_options(urls, backend, tls_verify, tls_fingerprint)
    say = progress or (lambda _: None)
    secrets = [s for u in urls for s in url_secrets(u)]
    names = stream_names(
        [u if _valid(u) else f"rtsp://-/stream{i + 1}" for i, u in enumerate(urls)]
    )
    url_of = dict(zip(names, urls, strict=True))
    common: dict[str, Any] = dict(
        open_timeout_s=open_timeout_s, read_timeout_s=read_timeout_s, timecode=timecode,
        tls_verify=tls_verify, tls_fingerprint=tls_fingerprint,
    )  # fmt: skip
    rows: list[dict[str, Any]] = []
    findings: list[Finding] = []

    def attempt(
        stream: str, setup: str, measure: Callable[..., Any], *args: Any, **kw: Any
    ) -> bool:
        """Run one measurement; a failure becomes a finding (an error for the first one)."""
        say(f"{stream}: {setup}")
        try:
            out = measure(*args, **kw, **common)
        except (RtspLabError, ValueError) as exc:
            err = _error(stream, exc, secrets, url_of.get(stream, ""))
            findings.append(err if setup == LL else Finding("note", stream, f"{setup}: {err.text}"))
            return False
        rows.extend(out if isinstance(out, list) else [out])
        return True

    good = [n for n in names if attempt(n, LL, _fresh, url_of[n], n, LL, seconds, backend=backend)]
    for name in good:
        ll = setup_row(rows, name, LL)
        if ll["backend"] != "native":
            attempt(name, THREADS, _fresh, url_of[name], name, THREADS, seconds,
                    backend=ll["backend"], decoder_threads=0)  # fmt: skip
            if ll["codec"] in ("h264", "avc1") and ll["transport"] == "tcp":
                attempt(name, NATIVE, _fresh, url_of[name], name, NATIVE, seconds, backend="native")
    good_urls = [url_of[n] for n in good]
    # FFmpeg's default options, as plain OpenCV uses them (the native client has none); FFmpeg
    # does not check certificates, so rtsps:// streams whose certificate is checked stay out
    unchecked = [u for u in good_urls if not (tls_checked and _scheme(u) == "rtsps")]
    if len(unchecked) < len(good_urls):
        left_out = ", ".join(n for n in good if url_of[n] not in unchecked)
        findings.append(Finding("note", "all", f"{DEFAULT}: not measured for {left_out}: "
                                "FFmpeg cannot check the certificate asked for (tls_verify, "
                                "tls_fingerprint)"))  # fmt: skip
    if unchecked:
        ffmpeg = backend if backend in ("opencv", "pyav") else "opencv"
        attempt("all", DEFAULT, _one_by_one, unchecked, seconds, backend=ffmpeg)
    for label in ("naive", "latest", "matched")[: 3 if len(good) > 1 else 2 if good else 0]:
        setup = f"{label}, {consumer_ms:g} ms consumer"
        attempt("all", setup, _consumer, good_urls, good, label, seconds, consumer_ms, backend)
    info = {
        n: {
            k: _clean(setup_row(rows, n, LL)[k])
            for k in ("codec", "width", "height", "transport", "backend")
        }
        | {"fps": fps_of(setup_row(rows, n, LL)), "clock": setup_row(rows, n, LL)["clock"]}
        for n in good
    }
    findings += build_findings(rows, good, consumer_ms, seconds)
    findings.sort(key=lambda f: LEVELS.index(f.level))
    findings = [Finding(f.level, f.stream, scrub(f.text, secrets), f.fix) for f in findings]
    return Diagnosis(
        [redact(u) for u in urls], names, seconds, consumer_ms, findings, pd.DataFrame(rows), info
    )


def check_tls_options(
    urls: Sequence[str], backend: str, tls_verify: bool, tls_fingerprint: str | None
) -> bool:
    """True when a certificate check of ``rtsps://`` URLs is asked; raise when it cannot be
    made, before anything is opened (as :func:`rtsplab.backends.open_backend` would).

    Raises:
        ValueError: a malformed ``tls_fingerprint``, or a check of an ``rtsps://`` URL asked
            of an FFmpeg backend.

    Example:
        >>> check_tls_options(["rtsps://h/cam1"], "auto", False, None)
        False
        >>> check_tls_options(["rtsps://h/cam1"], "native", False, "sha256:" + "ab" * 32)
        True
    """
    checked = TlsOptions(tls_verify, tls_fingerprint)  # raises ValueError for a bad fingerprint
    asked = checked.verify or checked.fingerprint is not None
    if asked and backend in ("pyav", "opencv") and any(_scheme(u) == "rtsps" for u in urls):
        raise ValueError(TLS_NATIVE_ONLY)
    return asked


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower()


def _valid(url: str) -> bool:
    try:
        RtspUrl.parse(url)
        return True
    except ValueError:
        return False


def _one_by_one(urls: list[str], seconds: float, **kwargs: Any) -> list[dict[str, Any]]:
    """The problem statement's setup: default options, opened one by one, naive; a row each."""
    rec, t0 = Recorder(run=DEFAULT), time.monotonic_ns()
    with open_one_by_one(urls, Strategy.NAIVE, rec, transport=Transport.AUTO, **kwargs) as g:
        opens = timed_first_set(g, t0, DEFAULT, one_by_one=True)
        read_sets(g, seconds)
    df = rec.to_dataframe()
    skew = df.drop_duplicates("set_id")["skew_ms"]
    rows = []
    for o in opens:
        frames = df[df["stream"] == o["stream"]]
        rows.append(
            o | {"transit_min_ms": float(frames["transit_ms"].min()),
                 "age_p50_ms": float(frames["age_ms"].median()),
                 "clock": str(frames["clock"].mode().iloc[0]),
                 "backend": str(frames["backend"].iloc[0]),
                 "skew_p50_ms": float(skew.median()) if len(opens) > 1 else math.nan}
        )  # fmt: skip
    return rows


def _consumer(
    urls: list[str],
    names: list[str],
    label: str,
    seconds: float,
    consumer_ms: float,
    backend: str,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """All streams read with strategy ``label`` behind a ``consumer_ms`` loop; a row each."""
    rec = run_strategy(urls, label, seconds, consumer_ms, names=names, backend=backend, **kwargs)
    df = rec.to_dataframe()
    growth = age_growth_ms_per_s(df)[label]
    skew = df.drop_duplicates("set_id")["skew_ms"]
    return [
        {
            "stream": s,
            "setup": f"{label}, {consumer_ms:g} ms consumer",
            "age_p50_ms": float(g["age_ms"].median()),
            "age_p99_ms": float(g["age_ms"].quantile(0.99)),
            "age_max_ms": float(g["age_ms"].max()),
            "growth_ms_per_s": growth,
            "skew_p99_ms": float(skew.quantile(0.99)) if len(names) > 1 else math.nan,
        }
        for s, g in df.groupby("stream", sort=False)
    ]
