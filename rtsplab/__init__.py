"""rtsplab: pull several RTSP streams at once and see what each reading strategy does to latency.

Example:
    >>> import rtsplab
    >>> rtsplab.Strategy.LATEST.value
    'latest'
"""

from __future__ import annotations

from rtsplab import errors
from rtsplab.entities import Clock, Frame, FrameSet, Overflow, Strategy, StreamState, Sync, Transport
from rtsplab.timecode import Timecode, read_timecode, write_timecode
from rtsplab.urls import RtspUrl, redact

__version__ = "0.1.0"

__all__ = [
    "Clock",
    "Frame",
    "FrameSet",
    "Overflow",
    "RtspUrl",
    "Strategy",
    "StreamState",
    "Sync",
    "Timecode",
    "Transport",
    "__version__",
    "errors",
    "read_timecode",
    "redact",
    "write_timecode",
]
