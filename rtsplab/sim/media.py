"""Media plumbing of a simulated camera: the encoders, access units, subscriber queues.

:class:`H264Encoder` wraps libx264 and :class:`H265Encoder` libx265 (through PyAV), tuned for
live low latency: ultrafast, zerolatency, no B-frames, one slice per frame, parameter sets
repeated in-band before every IDR, and IDRs on demand. Each encoded frame becomes an :class:`AccessUnit` that the camera hands
to every :class:`Subscriber` (RTSP sessions, publishers).

Example:
    >>> enc = H264Encoder(320, 180, fps=30, gop=30, bitrate=300_000)
    >>> nals, key = enc.encode(np.zeros((180, 320, 3), np.uint8), pts_90k=0)
    >>> key
    True
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import cast

import av
import cv2
import numpy as np
import numpy.typing as npt
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType

from rtsplab.rtsp.h264 import h264_fmtp, packetize_h264, split_annexb
from rtsplab.rtsp.h265 import h265_fmtp, packetize_h265

__all__ = ["ENCODERS", "AccessUnit", "H264Encoder", "H265Encoder", "Subscriber"]


@dataclass(frozen=True, eq=False)
class AccessUnit:
    """One encoded frame.

    Attributes:
        nals: NAL units without start codes (SPS, PPS, IDR slice ... for keyframes).
        keyframe: an IDR access unit (decodable on its own).
        seq: the camera's frame number (the one in the timecode).
        t_capture_ns: wall-clock capture time (``time.time_ns()``), also in the timecode.
        t_capture_mono_ns: the same instant on ``time.monotonic_ns()``, for send scheduling.
        rtp_ts: 90 kHz RTP timestamp derived from ``t_capture_ns``.

    Example:
        >>> AccessUnit((b"e",), True, 0, 0, 0, 0).size
        1
    """

    nals: tuple[bytes, ...] = field(repr=False)
    keyframe: bool
    seq: int
    t_capture_ns: int
    t_capture_mono_ns: int
    rtp_ts: int

    @property
    def size(self) -> int:
        """Payload bytes of all NAL units.

        Example:
            >>> AccessUnit((b"ab", b"c"), False, 0, 0, 0, 0).size
            3
        """
        return sum(len(n) for n in self.nals)


class H264Encoder:
    """libx264 through PyAV, tuned for live low latency; one output access unit per frame.

    Subclasses change the codec (:class:`H265Encoder`); the RTP side of each codec
    (``encoding_name``, :meth:`fmtp`, :meth:`packetize`) lives on the class too.

    Example:
        >>> enc = H264Encoder(640, 360, fps=30, gop=30, bitrate=1_000_000)
        >>> nals, key = enc.encode(np.zeros((360, 640, 3), np.uint8), pts_90k=0)
        >>> key, [n[0] & 0x1F for n in nals][:2]
        (True, [7, 8])
    """

    codec = "h264"
    encoding_name = "H264"  # the SDP rtpmap name
    _library = "libx264"
    _parameter_set_types: tuple[int, ...] = (7, 8)  # SPS, PPS

    def __init__(self, width: int, height: int, fps: float, gop: int, bitrate: int) -> None:
        ctx = cast(VideoCodecContext, av.CodecContext.create(self._library, "w"))
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, 90_000)
        ctx.framerate = Fraction(fps).limit_denominator(1001)
        ctx.bit_rate = int(bitrate)
        ctx.gop_size = int(gop)
        ctx.max_b_frames = 0
        ctx.thread_count = 1
        ctx.options = self._options(gop, bitrate)
        ctx.open()
        self._ctx = ctx
        self._last_pts = -1
        self.width, self.height = width, height

    def _options(self, gop: int, bitrate: int) -> dict[str, str]:
        params = f"keyint={gop}:min-keyint={gop}:scenecut=0:repeat-headers=1:bframes=0"
        params += f":vbv-maxrate={bitrate // 1000}:vbv-bufsize={bitrate // 1000}"
        return {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "forced-idr": "1",
            "x264-params": params,
        }

    @classmethod
    def nal_type(cls, nal: bytes) -> int:
        """The NAL unit type of ``nal`` in this codec's header layout.

        Example:
            >>> H264Encoder.nal_type(b"\\x67\\x42"), H265Encoder.nal_type(b"\\x42\\x01")
            (7, 33)
        """
        return nal[0] & 0x1F

    @classmethod
    def parameter_sets(cls, nals: list[bytes]) -> list[bytes]:
        """The parameter-set NAL units among ``nals`` (SPS, PPS; plus VPS for H.265).

        Example:
            >>> H264Encoder.parameter_sets([b"\\x67\\x42", b"\\x68\\xce", b"\\x65\\x88"])
            [b'gB', b'h\\xce']
        """
        return [n for n in nals if n and cls.nal_type(n) in cls._parameter_set_types]

    @classmethod
    def fmtp(cls, parameter_sets: list[bytes]) -> str:
        """The SDP ``a=fmtp`` parameters for these parameter sets.

        Example:
            >>> H264Encoder.fmtp([bytes.fromhex("6742c01e"), bytes.fromhex("68ce3c80")])[:20]
            'packetization-mode=1'
        """
        by_type = {cls.nal_type(n): n for n in parameter_sets}
        return h264_fmtp(by_type.get(7, b""), by_type.get(8, b""))

    @staticmethod
    def packetize(nals: Sequence[bytes], seq: int, timestamp: int, ssrc: int) -> list[bytes]:
        """RTP packets for one access unit of this codec.

        Example:
            >>> len(H264Encoder.packetize([b"\\x65" + bytes(3000)], 0, 0, 0))
            3
        """
        return packetize_h264(nals, seq, timestamp, ssrc)

    def encode(
        self, image: npt.NDArray[np.uint8], pts_90k: int, force_idr: bool = False
    ) -> tuple[list[bytes], bool]:
        """Encode one BGR (or grayscale) frame; return its NAL units and whether it is an IDR.

        Example:
            >>> enc = H264Encoder(320, 180, 30, 30, 300_000)
            >>> len(enc.encode(np.zeros((180, 320), np.uint8), 0)[0]) > 0
            True
        """
        code = cv2.COLOR_GRAY2BGR if image.ndim == 2 else None
        bgr = cv2.cvtColor(image, code) if code is not None else image
        yuv: npt.NDArray[np.uint8] = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), np.uint8)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        pts = max(pts_90k, self._last_pts + 1)
        self._last_pts = pts
        frame.pts = pts
        if force_idr:
            frame.pict_type = PictureType.I
        nals: list[bytes] = []
        key = False
        for packet in self._ctx.encode(frame):
            nals.extend(split_annexb(bytes(packet)))
            key = key or bool(packet.is_keyframe)
        return nals, key

    def close(self) -> None:
        """Release the encoder.

        Example:
            >>> H264Encoder(320, 180, 30, 30, 300_000).close()
        """
        self._ctx = None  # type: ignore[assignment]


class H265Encoder(H264Encoder):
    """libx265 through PyAV with the same live tuning: one access unit per frame, no B-frames,
    closed GOPs (every keyframe an IDR), VPS/SPS/PPS repeated before every IDR.

    Example:
        >>> enc = H265Encoder(320, 180, fps=30, gop=30, bitrate=300_000)
        >>> nals, key = enc.encode(np.zeros((180, 320), np.uint8), pts_90k=0)
        >>> key, [H265Encoder.nal_type(n) for n in H265Encoder.parameter_sets(nals)]
        (True, [32, 33, 34])
    """

    codec = "h265"
    encoding_name = "H265"
    _library = "libx265"
    _parameter_set_types = (32, 33, 34)  # VPS, SPS, PPS

    def _options(self, gop: int, bitrate: int) -> dict[str, str]:
        params = f"keyint={gop}:min-keyint={gop}:scenecut=0:repeat-headers=1:bframes=0"
        params += f":open-gop=0:vbv-maxrate={bitrate // 1000}:vbv-bufsize={bitrate // 1000}"
        params += ":frame-threads=1:pools=none:log-level=error"
        return {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "forced-idr": "1",
            "x265-params": params,
        }

    @classmethod
    def nal_type(cls, nal: bytes) -> int:
        """The 6-bit H.265 NAL unit type.

        Example:
            >>> H265Encoder.nal_type(b"\\x26\\x01")
            19
        """
        return (nal[0] >> 1) & 0x3F

    @classmethod
    def fmtp(cls, parameter_sets: list[bytes]) -> str:
        """``sprop-vps``/``sprop-sps``/``sprop-pps`` for these parameter sets.

        Example:
            >>> H265Encoder.fmtp([b"\\x40\\x01", b"\\x42\\x01", b"\\x44\\x01"])
            'sprop-vps=QAE=;sprop-sps=QgE=;sprop-pps=RAE='
        """
        by_type = {cls.nal_type(n): n for n in parameter_sets}
        return h265_fmtp(by_type.get(32, b""), by_type.get(33, b""), by_type.get(34, b""))

    @staticmethod
    def packetize(nals: Sequence[bytes], seq: int, timestamp: int, ssrc: int) -> list[bytes]:
        """RTP packets for one H.265 access unit (RFC 7798).

        Example:
            >>> len(H265Encoder.packetize([b"\\x26\\x01" + bytes(3000)], 0, 0, 0))
            3
        """
        return packetize_h265(nals, seq, timestamp, ssrc)


ENCODERS: dict[str, type[H264Encoder]] = {"h264": H264Encoder, "h265": H265Encoder}


class Subscriber:
    """A consumer of a camera's access units (an RTSP session or a publisher).

    Starts at the next keyframe. Its queue is bounded: when a consumer falls more than
    ``max_queue`` frames behind, the backlog is dropped and it resumes at the next keyframe,
    as a camera with a full send buffer would.

    Example:
        >>> s = Subscriber(max_queue=2)
        >>> s.get(timeout_s=0) is None
        True
    """

    def __init__(self, max_queue: int = 1200, on_disconnect: Callable[[], None] | None = None):
        self._queue: collections.deque[AccessUnit] = collections.deque()
        self._cond = threading.Condition()
        self._max_queue = max_queue
        self._need_key = True
        self.on_disconnect = on_disconnect
        self.dropped = 0
        self.overflowed = False

    def put(self, au: AccessUnit) -> bool:
        """Queue ``au``; return False when a keyframe is needed to (re)start.

        Example:
            >>> Subscriber().put(AccessUnit((b"a",), False, 0, 0, 0, 0))
            False
        """
        with self._cond:
            if self._need_key and not au.keyframe:
                return False
            if len(self._queue) >= self._max_queue:
                self.dropped += len(self._queue)
                self._queue.clear()
                self._need_key = True
                self.overflowed = True
                return False
            self._need_key = False
            self._queue.append(au)
            self._cond.notify()
            return True

    def get(self, timeout_s: float) -> AccessUnit | None:
        """The next access unit, or None after ``timeout_s``.

        Example:
            >>> Subscriber().get(0.0) is None
            True
        """
        with self._cond:
            if not self._queue:
                self._cond.wait(timeout_s)
            return self._queue.popleft() if self._queue else None

    def peek(self, timeout_s: float) -> AccessUnit | None:
        """The next access unit without removing it (waits up to ``timeout_s``).

        Example:
            >>> Subscriber().peek(0.0) is None
            True
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not self._queue:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._queue[0]

    @property
    def needs_keyframe(self) -> bool:
        """True until the first keyframe (or after an overflow).

        Example:
            >>> Subscriber().needs_keyframe
            True
        """
        return self._need_key
