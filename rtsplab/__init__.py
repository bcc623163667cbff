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
