"""What every decoding backend provides, and the low-latency profile they share.

A backend owns one open stream and turns it into decoded frames, one call at a time, in the
calling thread. It knows nothing of threads or buffers: those are the reader's policies.

Example:
    >>> DecodedFrame(t_recv_ns=1, image=None, convert=lambda: None).t_recv_ns  # doctest: +SKIP
    1
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rtsplab.entities import Transport
from rtsplab.rtsp.overload import CatchUp
from rtsplab.urls import RtspUrl

if TYPE_CHECKING:
    from rtsplab.capture import SessionTap

__all__ = ["Backend", "DecodedFrame", "OpenOptions", "Profile", "StreamInfo"]

Image = npt.NDArray[np.uint8]


class Profile:
    """Names of the FFmpeg option sets rtsplab knows.

    - ``LOW_LATENCY`` (default): what rtsplab recommends for live cameras.
    - ``DEFAULT``: FFmpeg's and OpenCV's defaults, to show what they cost.

    Example:
        >>> Profile.LOW_LATENCY
        'low_latency'
    """

    LOW_LATENCY = "low_latency"
    DEFAULT = "default"


# FFmpeg demuxer options of the low-latency profile, and what each does to latency.
# - analyzeduration=0 / probesize=32: do not read ~1 s (up to 5 MB) of stream at open to guess
#   parameters; RTSP already carries them in the SDP (sprop-parameter-sets). Open time drops
#   from ~0.95 s to ~0.06 s, and no frames pile up during the probe (the open-time backlog
#   that makes a default capture's first frame ~0.9 s old).
# - flags=low_delay: ask the decoder to output frames as soon as possible (no reordering delay).
# - max_delay=20000: over UDP, FFmpeg's RTP reorder queue holds the packets behind a missing
#   one for up to max_delay µs, waiting for it. A lost packet never comes, so every loss
#   costs the whole wait. Simulator over UDP with 2 % loss, latest, fresh reads
#   (benchmarks/reorder_wait.py): age p99 570 ms (PyAV) / 553 ms (OpenCV) at 500000, 171 /
#   170 ms at FFmpeg's default 100000, 75 / 70 ms at 20000; with no loss p99 stays 45-53 ms
#   at every value. 20 ms still lets a packet that is merely reordered (typically within a
#   few ms) be put back in place; only TCP/interleaved streams are unaffected.
# - fflags=nobuffer is deliberately NOT set: with a 32-byte probe there is no backlog for it to
#   avoid, and it discards the packets read while probing, including the keyframe a camera
#   sends on PLAY, so the first decodable frame arrives one GOP later (measured on the
#   simulator: first frame 1.06 s after open with it, 0.06 s without; same frame age after).
LOW_LATENCY_OPTIONS: dict[str, str] = {
    "flags": "low_delay",
    "analyzeduration": "0",
    "probesize": "32",
    "max_delay": "20000",
}


@dataclass(frozen=True)
class OpenOptions:
    """How to open a stream.

    Attributes:
        transport: ``tcp``, ``udp`` (``auto`` is resolved by the caller to one of them).
        open_timeout_s: bound on connecting, the RTSP handshake and the first packets.
        read_timeout_s: bound on waiting for the next frame.
        profile: ``low_latency`` or ``default`` (see :data:`LOW_LATENCY_OPTIONS`).
        decoder_threads: decoder threads; 1 avoids FFmpeg's frame-threading delay of one frame
            per extra thread (the low-latency profile's choice); 0 lets FFmpeg choose (the
            default profile's choice); ``None`` picks by profile.
        extra: further FFmpeg demuxer options, applied last.
        tap: sees the session's messages and packets (a :class:`~rtsplab.capture.SessionCapture`);
            only the native backend, which owns its sockets, reports to it.

    Example:
        >>> OpenOptions(transport=Transport.TCP).threads
        1
    """

    transport: Transport = Transport.TCP
    open_timeout_s: float = 5.0
    read_timeout_s: float = 2.0
    profile: str = Profile.LOW_LATENCY
    decoder_threads: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
    tap: SessionTap | None = field(default=None, compare=False, repr=False)

    @property
    def threads(self) -> int:
        """Decoder threads to request: ``decoder_threads``, or 1 (low latency) / 0 (default).

        Example:
            >>> OpenOptions(profile="default").threads, OpenOptions().threads
            (0, 1)
        """
        if self.decoder_threads is not None:
            return self.decoder_threads
        return 1 if self.profile == Profile.LOW_LATENCY else 0

    def ffmpeg_options(self) -> dict[str, str]:
        """The FFmpeg demuxer options for this profile and transport.

        Example:
            >>> OpenOptions(transport=Transport.UDP).ffmpeg_options()["rtsp_transport"]
            'udp'
        """
        opts = {"rtsp_transport": Transport(self.transport).value}
        if self.profile == Profile.LOW_LATENCY:
            opts.update(LOW_LATENCY_OPTIONS)
        opts.update(self.extra)
        return opts


@dataclass(frozen=True)
class StreamInfo:
    """What the backend learnt about the stream when it opened it.

    Example:
        >>> StreamInfo("h264", 640, 360, 30.0).width
        640
    """

    codec: str
    width: int
    height: int
    fps: float


class DecodedFrame:
    """A decoded frame as it leaves the backend, before any buffer.

    The BGR image may be converted lazily (PyAV and the native backend keep the decoder's YUV
    frame and convert only frames that are handed out, so the ``latest`` strategy pays no
    conversion for frames it drops), and ``luma`` gives the decoder's Y plane for the timecode
    read, so timing a frame never forces its conversion.

    Example:
        >>> f = DecodedFrame(t_recv_ns=5, convert=lambda: np.zeros((1, 1, 3), np.uint8))
        >>> f.luma.shape, f.image.shape
        ((1, 1, 3), (1, 1, 3))
        >>> y = np.full((2, 2), 235, np.uint8)
        >>> g = DecodedFrame(t_recv_ns=5, convert=lambda: 1 / 0, luma=lambda: y)
        >>> int(g.luma[0, 0])
        235
    """

    __slots__ = ("_convert", "_image", "_luma", "pts_s", "t_camera_ns", "t_recv_ns", "t_rtcp_ns")

    def __init__(
        self,
        *,
        t_recv_ns: int,
        image: Image | None = None,
        convert: Callable[[], Image] | None = None,
        pts_s: float | None = None,
        t_rtcp_ns: int | None = None,
        luma: Callable[[], Image | None] | None = None,
        t_camera_ns: int | None = None,
    ) -> None:
        self.t_recv_ns = t_recv_ns
        self.t_camera_ns = t_camera_ns  # the camera's capture time (ONVIF header extension)
        self._image = image
        self._convert = convert
        self._luma = luma
        self.pts_s = pts_s
        self.t_rtcp_ns = t_rtcp_ns

    @property
    def image(self) -> Image:
        """The BGR image, converted on first access."""
        if self._image is None:
            if self._convert is None:
                raise ValueError("decoded frame has neither an image nor a converter")
            self._image = self._convert()
            self._convert = None
        return self._image

    @property
    def converted(self) -> bool:
        """Whether the BGR image exists yet (handed out, or given by the backend as BGR).

        Example:
            >>> f = DecodedFrame(t_recv_ns=1, convert=lambda: np.zeros((1, 1, 3), np.uint8))
            >>> f.converted, f.image.shape, f.converted
            (False, (1, 1, 3), True)
        """
        return self._image is not None

    @property
    def luma(self) -> Image:
        """An image to read the timecode from: the decoder's Y plane (a view, no conversion)
        when the backend gives one and the image is not converted yet, else the BGR image."""
        if self._image is None and self._luma is not None:
            plane = self._luma()
            if plane is not None:
                return plane
            self._luma = None  # this pixel format has no 8-bit luma plane: use the image
        return self.image


class Backend(ABC):
    """One open stream, decoded frame by frame in the caller's thread.

    ``read()`` must return within about ``read_timeout_s`` and raise a typed error
    (:class:`~rtsplab.errors.ReadTimeout`, :class:`~rtsplab.errors.StreamClosed`) otherwise.
    ``close()`` must be idempotent. ``resumable`` says whether ``read()`` may be called again
    after a :class:`~rtsplab.errors.ReadTimeout` (the native client keeps its connection;
    FFmpeg's demuxer is finished once its interrupt fired, so the reader reopens it).

    Example:
        >>> Backend.resumable
        False
    """

    name: str = "?"
    resumable: bool = False
    transports: tuple[Transport, ...] = (Transport.TCP, Transport.UDP)  # tried by "auto"

    def __init__(self, url: RtspUrl, options: OpenOptions) -> None:
        self.url = url
        self.options = options
        self.info = StreamInfo("unknown", 0, 0, 0.0)
        self.open_s = 0.0
        # skips the backlog to the next keyframe when decoding falls behind (backends that can)
        self.catchup: CatchUp | None = None

    @abstractmethod
    def read(self) -> DecodedFrame:
        """Decode and return the next frame."""

    @abstractmethod
    def close(self) -> None:
        """Release the stream. Idempotent."""

    def interrupt(self) -> None:
        """Make a ``read()`` blocked in another thread return soon, if the backend can.

        Safe to call from any thread, in any state; the default does nothing (FFmpeg's reads
        return by their own ``read_timeout_s``).
        """
        return None

    @property
    def bad_packets(self) -> int:
        """Malformed packets dropped so far (0 for backends that cannot see packets).

        Example:
            >>> Backend.bad_packets.fget(None)
            0
        """
        return 0

    @property
    def lost_packets(self) -> int:
        """RTP packets lost on the way so far (0 for backends that cannot see packets).

        Example:
            >>> Backend.lost_packets.fget(None)
            0
        """
        return 0

    @property
    def frames_skipped(self) -> int:
        """Frames skipped undecoded because decoding fell behind (see
        :mod:`rtsplab.rtsp.overload`; 0 for backends that cannot skip).

        Example:
            >>> Backend.frames_skipped.fget(type("B", (), {"catchup": CatchUp()})())
            0
        """
        return self.catchup.skipped if self.catchup is not None else 0

    @property
    def overloaded(self) -> bool:
        """Whether frames were skipped lately because decoding could not keep up.

        Example:
            >>> Backend.overloaded.fget(type("B", (), {"catchup": None})())
            False
        """
        return self.catchup is not None and self.catchup.overloaded(time.monotonic_ns())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.url.redacted!r}, "
            f"transport={Transport(self.options.transport).value}, profile={self.options.profile})"
        )


def now_ns() -> int:
    """Wall-clock time in ns, the clock that source timestamps are compared with.

    Example:
        >>> now_ns() > 0
        True
    """
    return time.time_ns()
