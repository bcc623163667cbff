"""The readers compared by ``latency_vs_peers.py``, each behind the same tiny interface.

An entry opens a stream and returns a :class:`Handle`: ``get()`` hands the consumer an image
(or ``None``), exactly as the library's users call it, and ``close()`` releases it.
:func:`run_entry` times the open and the first frame, then samples the true age of every
image handed out (from the burned-in timecode) while a simulated consumer spends
``consumer_ms`` per frame.

Entries:

=====================  ==============================================================
``naive``              ``cv2.VideoCapture(url)``; ``cap.read()`` once per loop iteration
``imutils``            ``imutils.video.VideoStream(src=url)`` (its WebcamVideoStream thread)
``dropstale``          a thread appends every ``cap.read()`` frame to a list; the consumer
                       pops the list empty and keeps the last; a ``stop`` flag ends it
``vidgear``            ``vidgear.gears.CamGear(source=url, THREADED_QUEUE_MODE=False)``
``cv2-floor``          ``CAP_PROP_N_THREADS=1`` + ``fflags;nobuffer``, tight loop, no consumer
``cv2-tight``          ``cv2.VideoCapture(url)`` defaults, tight loop, no consumer
``cv2-fastopen``       ``analyzeduration;0|probesize;32``, tight loop, no consumer
``rtsplab-naive``      ``rtsplab.open(url, strategy="naive", backend="opencv")`` (and
                       ``-buffered``, ``-latest``; ``rtsplab-latest-pyav`` / ``-native``
                       use those backends, ``native`` being what ``auto`` picks;
                       ``rtsplab-native-tight`` is the native floor: no consumer,
                       ``read_frame(fresh=True)`` in a tight loop)
=====================  ==============================================================

Example:
    >>> sorted(ENTRIES)[:3]
    ['cv2-fastopen', 'cv2-floor', 'cv2-tight']
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from common import Sampler, busy_wait

Image = npt.NDArray[np.uint8]

__all__ = ["ENTRIES", "DropStaleReader", "Entry", "Handle", "RunConfig", "Skip", "run_entry"]

OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"


class Skip(Exception):
    """The entry cannot run here (library missing, API not there yet)."""


@dataclass
class RunConfig:
    """What one entry run does.

    Attributes:
        url: the RTSP URL (a timecoded stream).
        seconds: measured duration, after the warm-up.
        consumer_ms: time the consumer spends on each frame.
        consumer_mode: ``sleep`` (releases the GIL, like OpenCV/ONNX work) or ``busy``
            (pure-Python work that holds the GIL).
        warmup_s: seconds after the first frame that are not measured.
        open_timeout_s: give up if no first frame arrives within this time.

    Example:
        >>> RunConfig("rtsp://127.0.0.1:8554/cam1").consumer_ms
        60.0
    """

    url: str
    seconds: float = 10.0
    consumer_ms: float = 60.0
    consumer_mode: str = "sleep"
    warmup_s: float = 2.0
    open_timeout_s: float = 20.0


@dataclass
class Handle:
    """An open reader: ``get()`` returns the image handed to the consumer (``None``: none yet).

    Example:
        >>> h = Handle(get=lambda: None, close=lambda: None, library="demo")
        >>> h.get() is None
        True
    """

    get: Callable[[], Image | None]
    close: Callable[[], None]
    library: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Entry:
    """One benchmark entry.

    Attributes:
        name: the ``--entries`` name.
        description: one line for the table and the docs.
        open: opens the stream and returns a :class:`Handle`; raises :class:`Skip`.
        consumer: whether the simulated consumer delay applies (``False``: tight loop).

    Example:
        >>> ENTRIES["naive"].consumer
        True
    """

    name: str
    description: str
    open: Callable[[str], Handle]
    consumer: bool = True


def _cv2_capture(url: str, options: str | None = None, params: list[int] | None = None) -> Any:
    """``cv2.VideoCapture`` with FFmpeg options set only for this open (OpenCV reads the
    variable at every open, it does not cache it)."""
    import cv2

    previous = os.environ.pop(OPTIONS_ENV, None)
    if options is not None:
        os.environ[OPTIONS_ENV] = options
    try:
        if params is None:
            return cv2.VideoCapture(url)
        return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    finally:
        os.environ.pop(OPTIONS_ENV, None)
        if previous is not None:
            os.environ[OPTIONS_ENV] = previous


def _cv2_handle(cap: Any) -> Handle:
    import cv2

    if not cap.isOpened():
        raise RuntimeError("cv2.VideoCapture did not open the stream")

    def get() -> Image | None:
        ok, img = cap.read()
        return img if ok else None

    return Handle(get=get, close=cap.release, library=f"opencv {cv2.__version__}")


def open_naive(url: str) -> Handle:
    """``cv2.VideoCapture(url)`` read in the consumer's loop: the usual first attempt."""
    return _cv2_handle(_cv2_capture(url))


def open_cv2_floor(url: str) -> Handle:
    """One decoding thread and no demuxer buffering: the lowest latency OpenCV reaches."""
    import cv2

    cap = _cv2_capture(url, "rtsp_transport;tcp|fflags;nobuffer", [cv2.CAP_PROP_N_THREADS, 1])
    return _cv2_handle(cap)


def open_cv2_tight(url: str) -> Handle:
    """OpenCV defaults, read as fast as frames come."""
    return _cv2_handle(_cv2_capture(url))


def open_cv2_fastopen(url: str) -> Handle:
    """Stream probing cut to the minimum: faster open, first frame sooner."""
    cap = _cv2_capture(url, "rtsp_transport;tcp|analyzeduration;0|probesize;32", [])
    return _cv2_handle(cap)


def open_imutils(url: str) -> Handle:
    """imutils' VideoStream: a daemon thread keeps overwriting the latest frame."""
    try:
        import imutils
        from imutils.video import VideoStream
    except ImportError as exc:
        raise Skip(f"imutils is not installed: {exc}") from exc
    stream = VideoStream(src=url).start()
    return Handle(get=stream.read, close=stream.stop, library=f"imutils {imutils.__version__}")


def open_vidgear(url: str) -> Handle:
    """vidgear's CamGear with its frame queue off: a thread keeps the latest frame."""
    try:
        import vidgear
        from vidgear.gears import CamGear
    except ImportError as exc:
        raise Skip(f"vidgear is not installed: {exc}") from exc
    options: dict[str, Any] = {"THREADED_QUEUE_MODE": False}  # vidgear types **options oddly
    gear = CamGear(source=url, logging=False, **options).start()
    return Handle(get=gear.read, close=gear.stop, library=f"vidgear {vidgear.__version__}")


class DropStaleReader:
    """The drop-stale thread as commonly written: append everything, consume the newest.

    A thread calls ``cap.read()`` in a loop and appends every frame to a plain list; the
    consumer pops the list empty and keeps the last frame it popped; setting ``stop`` ends
    the thread.

    Example:
        >>> reader = DropStaleReader("rtsp://127.0.0.1:8554/cam1")  # doctest: +SKIP
        >>> image = reader.latest()  # doctest: +SKIP
    """

    def __init__(self, url: str) -> None:
        self.cap = _cv2_capture(url)
        if not self.cap.isOpened():
            raise RuntimeError("cv2.VideoCapture did not open the stream")
        self.frames: list[Image] = []
        self.stop = False
        self.thread = threading.Thread(target=self._grab, name="dropstale", daemon=True)
        self.thread.start()

    def _grab(self) -> None:
        while not self.stop:
            ok, image = self.cap.read()
            if ok:
                self.frames.append(image)

    def latest(self, timeout_s: float = 10.0) -> Image | None:
        """Wait for at least one frame, pop the list empty, return the last one popped.

        Example:
            >>> reader.latest()  # doctest: +SKIP
        """
        deadline = time.monotonic() + timeout_s
        while not self.frames:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.001)
        image = None
        while self.frames:
            image = self.frames.pop(0)
        return image

    def close(self) -> None:
        """Set ``stop``, wait for the thread (bounded), release the capture.

        Example:
            >>> reader.close()  # doctest: +SKIP
        """
        self.stop = True
        self.thread.join(5.0)
        self.cap.release()


def open_dropstale(url: str) -> Handle:
    """The problem statement's drop-stale thread, reimplemented."""
    import cv2

    reader = DropStaleReader(url)
    return Handle(get=reader.latest, close=reader.close, library=f"opencv {cv2.__version__}")


def _rtsplab_opener(strategy: str, backend: str, fresh: bool = False) -> Callable[[str], Handle]:
    def open_rtsplab(url: str) -> Handle:
        try:
            import rtsplab

            opener = rtsplab.open
        except (ImportError, AttributeError) as exc:
            raise Skip(f"rtsplab.open is not available: {exc}") from exc
        try:
            reader = opener(url, strategy=strategy, backend=backend)
        except (TypeError, ValueError, NotImplementedError) as exc:
            raise Skip(f"rtsplab.open(strategy={strategy!r}, backend={backend!r}): {exc}") from exc
        reader.__enter__()

        def get() -> Image | None:
            if fresh:  # tight loop: wait for each new frame, like the cv2 floor's read()
                try:
                    return reader.read_frame(fresh=True).image
                except rtsplab.errors.RtspLabError:
                    return None
            ok, image = reader.read()
            return image if ok else None

        def close() -> None:
            reader.__exit__(None, None, None)

        return Handle(get=get, close=close, library=f"rtsplab {rtsplab.__version__}")

    return open_rtsplab


ENTRIES: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry("naive", "cv2.VideoCapture(url); cap.read() in the consumer loop", open_naive),
        Entry("imutils", "imutils VideoStream (WebcamVideoStream thread)", open_imutils),
        Entry(
            "dropstale", "thread appends to a list; consumer pops it, keeps last", open_dropstale
        ),
        Entry("vidgear", "vidgear CamGear, THREADED_QUEUE_MODE=False", open_vidgear),
        Entry("cv2-floor", "cv2 N_THREADS=1 + fflags nobuffer, tight loop", open_cv2_floor, False),
        Entry("cv2-tight", "cv2 defaults, tight loop", open_cv2_tight, False),
        Entry(
            "cv2-fastopen",
            "cv2 analyzeduration 0 + probesize 32, tight loop",
            open_cv2_fastopen,
            False,
        ),
        Entry(
            "rtsplab-naive",
            "rtsplab.open(strategy='naive', backend='opencv')",
            _rtsplab_opener("naive", "opencv"),
        ),
        Entry(
            "rtsplab-buffered",
            "rtsplab.open(strategy='buffered', backend='opencv')",
            _rtsplab_opener("buffered", "opencv"),
        ),
        Entry(
            "rtsplab-latest",
            "rtsplab.open(strategy='latest', backend='opencv')",
            _rtsplab_opener("latest", "opencv"),
        ),
        Entry(
            "rtsplab-latest-pyav",
            "rtsplab.open(strategy='latest', backend='pyav')",
            _rtsplab_opener("latest", "pyav"),
        ),
        Entry(
            "rtsplab-latest-native",
            "rtsplab.open(strategy='latest', backend='native'), what backend='auto' picks",
            _rtsplab_opener("latest", "native"),
        ),
        Entry(
            "rtsplab-native-tight",
            "rtsplab.open(backend='native'), read_frame(fresh=True) in a tight loop",
            _rtsplab_opener("latest", "native", fresh=True),
            False,
        ),
    )
}

PEERS = ("naive", "imutils", "dropstale", "vidgear", "cv2-floor", "cv2-tight", "cv2-fastopen")


def run_entry(entry: Entry, cfg: RunConfig) -> dict[str, Any]:
    """Open, time the first frame, then sample frame age for ``cfg.seconds`` after warm-up.

    Returns a JSON-ready dict; ``{"skipped": reason}`` when the entry cannot run here.

    Example:
        >>> run_entry(ENTRIES["naive"], RunConfig("rtsp://127.0.0.1:8554/cam1"))  # doctest: +SKIP
        {'entry': 'naive', 'age_p50_ms': ...}
    """
    consumer_ms = cfg.consumer_ms if entry.consumer else 0.0
    base: dict[str, Any] = {
        "entry": entry.name,
        "description": entry.description,
        "consumer_ms": consumer_ms,
        "consumer_mode": cfg.consumer_mode if consumer_ms else "none",
    }
    t_open_ns = time.monotonic_ns()
    try:
        handle = entry.open(cfg.url)
    except Skip as exc:
        return {**base, "skipped": str(exc)}
    open_s = (time.monotonic_ns() - t_open_ns) / 1e9
    sampler = Sampler(warmup_s=cfg.warmup_s)
    try:
        from rtsplab.timecode import read_timecode

        first = None
        deadline = time.monotonic() + cfg.open_timeout_s
        while first is None and time.monotonic() < deadline:
            first = handle.get()
            if first is None:
                time.sleep(0.002)
        if first is None:
            return {**base, "error": f"no frame within {cfg.open_timeout_s}s", "open_s": open_s}
        first_wall_ns = time.time_ns()
        first_frame_s = (time.monotonic_ns() - t_open_ns) / 1e9
        tc = read_timecode(first)
        first_age_ms = (first_wall_ns - tc.t_ns) / 1e6 if tc is not None else None
        sampler.add(first)
        consume = busy_wait if cfg.consumer_mode == "busy" else time.sleep
        misses = 0
        while sampler.measured_s() < cfg.seconds:
            if consumer_ms:
                consume(consumer_ms / 1000)
            image = handle.get()
            if image is None:
                misses += 1
                if misses > 200:
                    return {**base, "error": "the reader stopped handing out frames"}
                time.sleep(0.005)
                continue
            sampler.add(image)
    finally:
        handle.close()
    return {
        **base,
        "library": handle.library,
        "open_s": round(open_s, 3),
        "first_frame_s": round(first_frame_s, 3),
        "first_frame_age_ms": round(first_age_ms, 1) if first_age_ms is not None else None,
        **sampler.result(),
        "notes": handle.notes,
    }
