"""``rtsplab record``: keep what your cameras sent, to replay, share or attach to a bug report.

Opens every URL as a group (native backend), reads for ``--seconds`` and writes, per camera,
``<out>/<name>.pcapng``: the RTSP exchange and every RTP/RTCP packet with its arrival time,
credentials redacted (see :mod:`rtsplab.capture`). ``rtsplab sim --replay <out>/*.pcapng``
serves the captures again with their original timing.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(); add_arguments(p)
    >>> p.parse_args(["rtsp://h/cam1", "--seconds", "3", "--out", "caps"]).seconds
    3.0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from rtsplab.clips import match_sets, write_clip
from rtsplab.entities import Transport
from rtsplab.errors import RtspLabError
from rtsplab.group import open_group
from rtsplab.urls import redact

__all__ = ["add_arguments", "record", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``record`` options on ``parser``.

    Example:
        >>> p = argparse.ArgumentParser(); add_arguments(p)
        >>> p.parse_args(["rtsp://h/a", "rtsp://h/b"]).out
        PosixPath('rtsplab-record')
    """
    parser.add_argument("urls", nargs="+", help="RTSP URLs, one per camera")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to record")
    parser.add_argument("--out", type=Path, default=Path("rtsplab-record"), help="output folder")
    parser.add_argument(
        "--transport", choices=[t.value for t in Transport], default="auto", help="RTP transport"
    )
    parser.add_argument(
        "--media",
        action="store_true",
        help="also write each camera's video (MKV, not re-encoded), a per-frame CSV and, for "
        "several cameras, sets.csv: which frames belong together",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object, nothing else")


def record(
    urls: list[str], seconds: float, out: Path, transport: str = "auto", media: bool = False
) -> list[dict[str, Any]]:
    """Record each stream's session for ``seconds``; one summary row per camera.

    With ``media``, each capture also becomes a clip (:func:`rtsplab.clips.write_clip`) and,
    for several cameras, ``<out>/sets.csv`` matches their frames by capture time.

    Raises:
        RtspLabError: no stream could be opened.

    Example:
        >>> rows = record([srv.urls[0]], 2.0, Path("caps"))  # doctest: +SKIP
        >>> rows[0]["rtp_packets"] > 0, rows[0]["file"]  # doctest: +SKIP
        (True, 'caps/cam1.pcapng')
    """
    out.mkdir(parents=True, exist_ok=True)
    group = open_group(urls, capture_dir=out, transport=transport, backend="native")
    try:
        deadline = time.monotonic() + seconds
        frames = dict.fromkeys(group.streams, 0)
        while time.monotonic() < deadline:
            try:
                frame_set = group.read_set(
                    timeout_s=max(0.05, min(1.0, deadline - time.monotonic())), fresh=True
                )
            except RtspLabError:
                continue
            for name in frame_set.frames:
                frames[name] = frames.get(name, 0) + 1
    finally:
        group.close()
    rows = []
    for reader in group.readers:
        cap = reader.capture
        assert cap is not None and cap.path is not None
        rows.append(
            {
                "name": reader.name,
                "url": reader.url.redacted,
                "file": str(cap.path),
                "bytes": cap.path.stat().st_size,
                "rtsp_messages": cap.rtsp_messages,
                "rtp_packets": cap.rtp_packets,
                "rtcp_packets": cap.rtcp_packets,
                "transport": reader.transport_used.value,
                "sets_with_frame": frames.get(reader.name, 0),
            }
        )
    for name, error in group.open_errors.items():  # a camera that did not open: say why
        rows.append({"name": name, "error": type(error).__name__, "message": str(error)})
    if media:
        tables: dict[str, pd.DataFrame] = {}
        for row in rows:
            if "error" in row:
                continue
            clip = write_clip(str(row["file"]), out, str(row["name"]))
            row.update(video=str(clip.video), frames_table=str(clip.table), frames=clip.frames)
            tables[str(row["name"])] = pd.read_csv(clip.table)
        if len(tables) > 1:
            match_sets(tables).to_csv(out / "sets.csv", index=False)
    return rows


def run(args: argparse.Namespace) -> int:
    """Record, print one line (or JSON row) per camera; exit code 2 when nothing opened.

    Example:
        >>> run(build_parser().parse_args(["record", "rtsp://127.0.0.1:8554/cam1"]))  # doctest: +SKIP
    """
    try:
        rows = record(list(args.urls), args.seconds, args.out, args.transport, args.media)
    except (RtspLabError, ValueError) as exc:
        if args.json:
            print(json.dumps({"error": type(exc).__name__, "message": redact(str(exc))}))
        else:
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"seconds": args.seconds, "cameras": rows}))
        return 0
    for row in rows:
        if "error" in row:
            print(f"{row['name']}: not recorded: {row['error']}: {row['message']}")
            continue
        print(
            f"{row['name']}: {row['file']} {row['bytes'] / 1e6:.2f} MB, "
            f"{row['rtsp_messages']} RTSP messages, {row['rtp_packets']} RTP and "
            f"{row['rtcp_packets']} RTCP packets over {row['transport'].upper()}"
            + (f"; {row['video']}, {row['frames']} frames" if "video" in row else "")
        )
    return 0
