"""The records rtsplab hands out, and the enums that name its policies and states.

Example:
    >>> Strategy("latest") is Strategy.LATEST
    True
    >>> StreamState.STREAMING.value
    'streaming'
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import numpy.typing as npt

__all__ = [
    "Clock",
    "Frame",
    "FrameSet",
    "OnMissing",
    "Overflow",
    "Strategy",
    "StreamState",
    "Sync",
    "Transport",
]


class Strategy(str, Enum):
    """How a reader gets frames from the decoder to the consumer.

    - ``NAIVE``: no thread; each ``read()`` decodes the next frame in the caller's loop, so a
      slow consumer falls behind the camera and the socket/decoder backlog grows.
    - ``BUFFERED``: a thread decodes every frame into a FIFO queue (unbounded by default);
      a slow consumer reads ever older frames. This is the problem statement's list.
    - ``LATEST``: a thread decodes every frame and keeps only the newest (drop stale);
      ``read()`` returns it at once.

    Example:
        >>> [s.value for s in Strategy]
        ['naive', 'buffered', 'latest']
    """

    NAIVE = "naive"
    BUFFERED = "buffered"
    LATEST = "latest"


class Sync(str, Enum):
    """How a group assembles one frame per stream into a set.

    - ``LATEST``: the newest frame of each stream, whatever its source time.
    - ``MATCHED``: frames whose source times agree within a tolerance.

    Example:
        >>> Sync("matched")
        <Sync.MATCHED: 'matched'>
    """

    LATEST = "latest"
    MATCHED = "matched"


class OnMissing(str, Enum):
    """What a group's set holds for a stream that is down (stalled, reconnecting, closed, or
    never opened).

    - ``RAISE``: no set; ``read_set`` raises the stream's error (the set must be whole).
    - ``PARTIAL``: the set holds the streams that have a frame and names the others in
      :attr:`FrameSet.missing`.
    - ``STALE``: like ``PARTIAL``, but a stream that had a frame before repeats its last one,
      flagged :attr:`Frame.stale`, its age growing while the stream is down.

    Example:
        >>> OnMissing("partial") is OnMissing.PARTIAL
        True
    """

    RAISE = "raise"
    PARTIAL = "partial"
    STALE = "stale"


class Overflow(str, Enum):
    """What a bounded ``buffered`` queue does when it is full.

    Example:
        >>> Overflow.DROP_OLDEST.value
        'drop_oldest'
    """

    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"


class Clock(str, Enum):
    """Where a frame's source time ``t_source_ns`` came from, best first.

    - ``TIMECODE``: decoded from the code burned into the image (wall clock at capture).
    - ``ONVIF``: the capture time the camera put in the ONVIF RTP header extension (its NTP
      clock), checked against the arrivals and found plausible.
    - ``RTCP``: RTP timestamp mapped to the camera's wall clock by RTCP sender reports,
      checked against the arrivals and found plausible.
    - ``CORRECTED``: the camera's clock (ONVIF or RTCP) was impossible (frames arrived
      before capture) or implausible (more than a second behind), so its times are shifted
      by the offset measured from the arrivals (:mod:`rtsplab.camera_clock`); ages count
      from the fastest frame's arrival and are a lower bound, short by the camera's least
      encode-and-network time.
    - ``PTS``: stream-relative presentation time, anchored at the first frame's arrival;
      age is then only the time since arrival plus the drift since that first frame.
    - ``NONE``: nothing; ``t_source_ns`` is the arrival time and age is buffer wait only.

    Example:
        >>> Clock.TIMECODE.value
        'timecode'
    """

    TIMECODE = "timecode"
    ONVIF = "onvif"
    RTCP = "rtcp"
    CORRECTED = "corrected"
    PTS = "pts"
    NONE = "none"


class StreamState(str, Enum):
    """Lifecycle of one stream.

    ``CONNECTING -> STREAMING <-> STALLED -> RECONNECTING -> STREAMING ... -> CLOSED``

    ``OVERLOADED`` is ``STREAMING`` while the decoder cannot keep up: frames arrive, but the
    backlog is skipped to the next keyframe (:attr:`rtsplab.Reader.frames_skipped`).

    Example:
        >>> StreamState("stalled").name
        'STALLED'
    """

    CONNECTING = "connecting"
    STREAMING = "streaming"
    OVERLOADED = "overloaded"
    STALLED = "stalled"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


class Transport(str, Enum):
    """RTP transport requested in RTSP SETUP.

    ``AUTO`` tries interleaved TCP first and falls back to UDP when the server refuses it.

    Example:
        >>> Transport("udp").value
        'udp'
    """

    AUTO = "auto"
    TCP = "tcp"
    UDP = "udp"


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame as handed to the consumer, with its timing.

    Times ending in ``_ns`` are wall-clock ``time.time_ns()`` values, so they compare with the
    source clock. Durations are computed from them in ms.

    Attributes:
        image: BGR ``uint8`` array (H, W, 3).
        stream: stream name (the camera path by default).
        seq: the reader's frame number: every decoded frame gets one, so gaps between
            consecutive reads count frames that were dropped.
        t_source_ns: capture time at the source, per ``clock``.
        clock: where ``t_source_ns`` came from.
        t_recv_ns: when the backend produced the decoded frame.
        t_read_ns: when the consumer got it.
        depth: frames still waiting behind this one when it was read.
        dropped: frames discarded since the previous read.
        source_seq: the source's own frame number from the timecode, if any.
        stale: a group repeats this frame for a stream that is down (``on_missing="stale"``);
            ``t_read_ns`` is the time of the repeat, so ``age_ms`` keeps growing.
        backend: the backend that decoded it (``native``, ``pyav`` or ``opencv``).

    Example:
        >>> f = Frame(np.zeros((2, 2, 3), np.uint8), "cam1", 0, 1_000_000, Clock.TIMECODE,
        ...           2_000_000, 3_000_000)
        >>> f.age_ms, f.wait_ms, f.transit_ms
        (2.0, 1.0, 1.0)
    """

    image: npt.NDArray[np.uint8] = field(repr=False)
    stream: str
    seq: int
    t_source_ns: int
    clock: Clock
    t_recv_ns: int
    t_read_ns: int
    depth: int = 0
    dropped: int = 0
    source_seq: int | None = None
    stale: bool = False
    backend: str = ""

    @property
    def age_ms(self) -> float:
        """Source capture -> consumer read, in ms: the number that matters.

        Example:
            >>> Frame(np.zeros((1, 1, 3), np.uint8), "a", 0, 0, Clock.NONE, 0, 5_000_000).age_ms
            5.0
        """
        return (self.t_read_ns - self.t_source_ns) / 1e6

    @property
    def transit_ms(self) -> float:
        """Source capture -> decoded frame available (encoder, network, decoder), in ms.

        Example:
            >>> Frame(np.zeros((1, 1, 3), np.uint8), "a", 0, 0, Clock.NONE, 2_000_000, 0).transit_ms
            2.0
        """
        return (self.t_recv_ns - self.t_source_ns) / 1e6

    @property
    def wait_ms(self) -> float:
        """Decoded -> read by the consumer (time spent in rtsplab's buffer), in ms.

        Example:
            >>> Frame(np.zeros((1, 1, 3), np.uint8), "a", 0, 0, Clock.NONE, 1_000_000,
            ...       4_000_000).wait_ms
            3.0
        """
        return (self.t_read_ns - self.t_recv_ns) / 1e6

    def __repr__(self) -> str:
        h, w = self.image.shape[:2]
        return (
            f"Frame(stream={self.stream!r}, seq={self.seq}, {w}x{h}, clock={self.clock.value}, "
            f"age_ms={self.age_ms:.1f}, depth={self.depth}, dropped={self.dropped}"
            + (", stale)" if self.stale else ")")
        )


@dataclass(frozen=True, eq=False)
class FrameSet:
    """One frame per stream, read together by a group.

    Attributes:
        frames: frame by stream name, in the group's stream order.
        set_id: counter of sets handed out by the group.
        skew_ms: max - min ``t_source_ns`` across the set's live (not stale) frames, in ms.
        unmatched: for ``sync="matched"``, frames per stream skipped since the previous set
            because no partner within the tolerance existed.
        missing: names of the group's streams without a live frame in this set (down, or
            no frame in time), in stream order; ``()`` when the set is whole. Under
            ``on_missing="stale"`` those that had a frame before are also in ``frames``,
            flagged :attr:`Frame.stale`.

    Example:
        >>> fs = FrameSet({}, 0, 0.0, missing=("cam2",))
        >>> len(fs), fs.whole, fs.missing
        (0, False, ('cam2',))
    """

    frames: dict[str, Frame]
    set_id: int
    skew_ms: float
    unmatched: dict[str, int] = field(default_factory=dict)
    missing: tuple[str, ...] = ()

    @property
    def whole(self) -> bool:
        """Whether every stream of the group has a live frame in this set.

        Example:
            >>> FrameSet({}, 0, 0.0).whole
            True
        """
        return not self.missing

    def __getitem__(self, stream: str) -> Frame:
        return self.frames[stream]

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[Frame]:
        return iter(self.frames.values())

    @property
    def images(self) -> list[npt.NDArray[np.uint8]]:
        """The images in stream order.

        Example:
            >>> FrameSet({}, 0, 0.0).images
            []
        """
        return [f.image for f in self.frames.values()]

    def __repr__(self) -> str:
        ages = ", ".join(f"{k}={f.age_ms:.0f}ms" for k, f in self.frames.items())
        gone = f", missing={list(self.missing)}" if self.missing else ""
        return f"FrameSet(set_id={self.set_id}, skew_ms={self.skew_ms:.1f}, ages=[{ages}]{gone})"
