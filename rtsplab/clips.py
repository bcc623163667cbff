"""Clips from captures: each camera's video without re-encoding, with true capture times.

:func:`write_clip` reads a session capture (:mod:`rtsplab.capture`), assembles the video
track's RTP packets into access units with the same depacketizer the native client uses,
starts at the first keyframe and remuxes the units with PyAV into Matroska (``.mkv``),
stamped with their RTP timestamps. Beside it goes one row per frame (CSV): the frame's index
in the clip, its RTP timestamp, its capture time at the camera and the clock it comes from
(``rtcp``: the sender reports; ``arrival``: none came, the arrival time stands in), its
arrival time in the recording and its age. :func:`match_sets` pairs the frames of several
cameras by capture time: the table of which frames belong together.

Example:
    >>> clip = write_clip("caps/cam1.pcapng", "caps")  # doctest: +SKIP
    >>> clip.video.name, clip.frames  # doctest: +SKIP
    ('cam1.mkv', 150)
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd

from rtsplab.capture_file import CapturedSession, load_session
from rtsplab.errors import CaptureError, ProtocolError, UnsupportedStream
from rtsplab.rtsp.assembler import AccessUnit, Depacketizer
from rtsplab.rtsp.h264 import H264Depacketizer, sprop_parameter_sets
from rtsplab.rtsp.h265 import H265Depacketizer, parse_h265_fmtp
from rtsplab.rtsp.receiver import RtpReceiver
from rtsplab.rtsp.timeline import TimestampUnwrapper

__all__ = ["FRAME_COLUMNS", "Clip", "match_sets", "write_clip"]

FRAME_COLUMNS = [
    "frame", "rtp_ts", "pts_s", "t_source_ns", "clock", "t_arrival_ns", "age_ms", "keyframe",
]  # fmt: skip
START_CODE = b"\x00\x00\x00\x01"


@dataclass(frozen=True)
class Clip:
    """What :func:`write_clip` wrote.

    Attributes:
        name: the camera's name (the capture's file stem).
        video: the ``.mkv`` file.
        table: the per-frame ``.csv`` file.
        frames: frames in both.

    Example:
        >>> Clip("cam1", Path("cam1.mkv"), Path("cam1.frames.csv"), 0).frames
        0
    """

    name: str
    video: Path
    table: Path
    frames: int


def _codec(session: CapturedSession, track: int) -> tuple[str, Depacketizer, bytes]:
    """(PyAV codec name, depacketizer, out-of-band parameter sets in Annex B)."""
    media = session.tracks[track].media
    encoding = media.encoding if media is not None else None
    if media is None or encoding not in ("H264", "H265", "HEVC"):
        raise UnsupportedStream(
            f"{session.source}: clips are H.264 or H.265, the video track is {encoding}"
        )
    sets: list[bytes] = []
    if encoding == "H264":
        try:
            sets = sprop_parameter_sets(media.fmtp)
        except ProtocolError:
            sets = []
        return "h264", H264Depacketizer(), b"".join(START_CODE + s for s in sets)
    try:
        h265 = parse_h265_fmtp(media.fmtps.get(media.payload_type or -1, ""))
        donl, sets = h265.max_don_diff > 0, h265.nals
    except ProtocolError:
        donl = False
    return "hevc", H265Depacketizer(donl=donl), b"".join(START_CODE + s for s in sets)


def _units(
    session: CapturedSession, track: int, depacketizer: Depacketizer
) -> list[tuple[AccessUnit, int, int | None]]:
    """(unit, arrival ns, capture ns from the sender reports or None), from the first keyframe."""
    media = session.tracks[track].media
    rx = RtpReceiver(
        depacketizer, media.payload_type if media else None, session.tracks[track].clock_rate
    )
    out: list[tuple[AccessUnit, int, int | None]] = []
    for p in session.packets:
        if p.track != track:
            continue
        if p.rtcp:
            rx.on_rtcp(p.payload, p.t_ns)
            continue
        rx.on_rtp(p.payload, p.t_ns)
        while (au := rx.pull()) is not None:
            if out or au.keyframe:
                out.append((au, p.t_ns, rx.clock.wall_ns(au.timestamp)))
    return out


def write_clip(
    capture: str | Path | CapturedSession, out_dir: str | Path, name: str | None = None
) -> Clip:
    """Write ``<out_dir>/<name>.mkv`` and ``<name>.frames.csv`` from a session capture.

    Raises:
        CaptureError: not a capture of a whole session, or no keyframe in it.
        UnsupportedStream: the video is not H.264 or H.265.

    Example:
        >>> write_clip("caps/cam1.pcapng", "caps").frames > 0  # doctest: +SKIP
        True
    """
    session = capture if isinstance(capture, CapturedSession) else load_session(capture)
    name = name or Path(session.source).stem
    track = next(
        (i for i, t in enumerate(session.tracks) if t.media and t.media.media == "video"), 0
    )
    codec, depacketizer, parameter_sets = _codec(session, track)
    units = _units(session, track, depacketizer)
    if not units:
        raise CaptureError(f"{session.source}: no keyframe in the capture; nothing to clip")
    clock_rate = session.tracks[track].clock_rate
    elementary = io.BytesIO()
    elementary.write(parameter_sets)
    for au, _, _ in units:
        elementary.write(au.annexb())
    elementary.seek(0)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    video = out / f"{name}.mkv"
    unwrap = TimestampUnwrapper()
    stamps = [unwrap.unwrap(au.timestamp) for au, _, _ in units]
    base = stamps[0]
    written = 0
    with av.open(elementary, "r", format=codec) as source, av.open(str(video), "w") as sink:
        in_stream = source.streams.video[0]
        out_stream = sink.add_stream_from_template(in_stream)
        time_base = Fraction(1, clock_rate)
        for packet in source.demux(in_stream):
            if packet.size == 0 or written >= len(units):
                continue
            packet.pts = packet.dts = stamps[written] - base
            packet.time_base = time_base
            packet.stream = out_stream
            sink.mux(packet)
            written += 1
    rows = []
    for i, ((au, t_arrival, t_source), ts) in enumerate(zip(units[:written], stamps, strict=False)):
        clock = "rtcp" if t_source is not None else "arrival"
        t_src = t_source if t_source is not None else t_arrival
        rows.append(
            (i, au.timestamp, (ts - base) / clock_rate, t_src, clock, t_arrival,
             (t_arrival - t_src) / 1e6, au.keyframe)
        )  # fmt: skip
    table = out / f"{name}.frames.csv"
    pd.DataFrame(rows, columns=FRAME_COLUMNS).to_csv(table, index=False)
    return Clip(name, video, table, written)


def match_sets(tables: dict[str, pd.DataFrame], tolerance_ms: float | None = None) -> pd.DataFrame:
    """Which frames of each camera belong together: one row per frame of the first camera,
    the nearest frame (by capture time) of every other one, and the set's skew.

    ``tolerance_ms`` (default: the first camera's frame interval) leaves a camera out of a
    set (index -1) when its nearest frame is further away.

    Example:
        >>> a = pd.DataFrame({"frame": [0, 1], "t_source_ns": [0, 33_000_000]})
        >>> b = pd.DataFrame({"frame": [0, 1], "t_source_ns": [5_000_000, 40_000_000]})
        >>> sets = match_sets({"cam1": a, "cam2": b})
        >>> sets["cam2"].tolist(), sets["skew_ms"].tolist()
        ([0, 1], [5.0, 7.0])
    """
    names = list(tables)
    ref = tables[names[0]]
    t_ref = ref["t_source_ns"].to_numpy(np.int64)
    if tolerance_ms is None:
        steps = np.diff(t_ref)
        tolerance_ms = float(np.median(steps)) / 1e6 if steps.size else 50.0
    out = pd.DataFrame({"set": np.arange(len(ref)), names[0]: ref["frame"].to_numpy()})
    times = [t_ref.astype(float)]
    for name in names[1:]:
        t = tables[name]["t_source_ns"].to_numpy(np.int64)
        idx = (
            np.clip(np.searchsorted(t, t_ref), 1, max(1, len(t) - 1))
            if len(t) > 1
            else np.zeros(len(t_ref), int)
        )
        if len(t) > 1:
            left = idx - 1
            idx = np.where(np.abs(t[left] - t_ref) <= np.abs(t[idx] - t_ref), left, idx)
        near = t[idx] if len(t) else np.full(len(t_ref), np.nan)
        ok = np.abs(near - t_ref) <= tolerance_ms * 1e6
        out[name] = np.where(ok, tables[name]["frame"].to_numpy()[idx] if len(t) else -1, -1)
        times.append(np.where(ok, near, np.nan).astype(float))
    stack = np.vstack(times)
    out["skew_ms"] = (np.nanmax(stack, axis=0) - np.nanmin(stack, axis=0)) / 1e6
    return out
