"""rtsplab: pull several RTSP streams at once and see what each reading strategy does to latency.

Example:
    >>> import rtsplab
    >>> with rtsplab.open("rtsp://127.0.0.1:8554/cam1", strategy="latest") as r:  # doctest: +SKIP
    ...     ok, image = r.read()                 # the cv2 idiom
    ...     frame = r.read_frame(timeout_s=1)    # rtsplab.Frame, with frame.age_ms
    >>> rtsplab.Strategy.LATEST.value
    'latest'
"""

from __future__ import annotations

import os as _os

# OpenCV's own log ("[ WARN:0@12.494] global cap.cpp:212 open VIDEOIO(FFMPEG): ...", "Stream
# timeout triggered...") goes straight to stderr, shows red in Jupyter and says less than
# rtsplab's typed errors, which report the same failures redacted. Silent unless the user set
# OPENCV_LOG_LEVEL (e.g. "INFO" or "WARNING"). OpenCV reads it at its first log line, so this
# works even when cv2 was imported first. FFmpeg's log: OPENCV_FFMPEG_LOGLEVEL, see
# rtsplab.backends.opencv.
_os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")

from rtsplab import errors
from rtsplab.entities import (
    Clock,
    Frame,
    FrameSet,
    OnMissing,
    Overflow,
    Strategy,
    StreamState,
    Sync,
    Transport,
)
from rtsplab.group import Group, open_group
from rtsplab.readers import Reader, open
from rtsplab.recorder import Recorder
from rtsplab.timecode import Timecode, read_timecode, write_timecode
from rtsplab.urls import RtspUrl, redact

__version__ = "0.1.0"

__all__ = [
    "Clock",
    "Frame",
    "FrameSet",
    "Group",
    "OnMissing",
    "Overflow",
    "Reader",
    "Recorder",
    "RtspUrl",
    "Strategy",
    "StreamState",
    "Sync",
    "Timecode",
    "Transport",
    "__version__",
    "errors",
    "open",
    "open_group",
    "read_timecode",
    "redact",
    "write_timecode",
]
