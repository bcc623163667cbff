"""A simulated camera: draws frames, stamps a timecode, encodes H.264 or H.265 once, fans out.

One capture thread per camera renders the scene at ``fps``, burns the capture time
(``time.time_ns()``) into the frame and encodes it with libx264 or libx265 (ultrafast,
zerolatency, no B-frames, parameter sets in-band at every IDR). Every access unit is handed to all subscribers
(RTSP sessions, publishers); a subscriber that joins starts at the next keyframe, and the
encoder is asked for an IDR right away so the join is fast. While nobody subscribes the
camera draws and encodes nothing.

Fault knobs (``latency_ms``, ``jitter_ms``, ``fps``, ``loss``, :meth:`SimCamera.stall`,
:meth:`SimCamera.disconnect`) change while running; senders read them per frame. When a
child-process server serves the camera, the same calls are forwarded to the child.

Clock knobs: ``clock_offset_s`` sets the camera's own clock that far from true time (positive:
ahead) in its RTCP sender reports and ONVIF capture times, as a camera without NTP does
(:func:`never_set_offset_s` gives a clock never set: 1970-01-02 at boot); ``onvif=1`` sends
the ONVIF RTP header extension with each access unit's capture time. The timecode painted
into the picture stays true time, so a test can tell the true age.

Example:
    >>> cam = SimCamera("cam1", fps=15)
    >>> cam.set(latency_ms=100)
    >>> cam
    SimCamera('cam1', 640x360, fps=15, gop=30, bitrate=1000000, latency_ms=100, running=False)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rtsplab.rtsp.timeline import rtp_timestamp
from rtsplab.sim.media import ENCODERS, AccessUnit, H264Encoder, Subscriber
from rtsplab.sim.scene import Scene

__all__ = ["CameraConfig", "SimCamera", "never_set_offset_s"]

_log = logging.getLogger("rtsplab.sim")
# A camera honours keyframe requests (RTCP PLI/FIR) at most this often, as encoders do: a
# burst of requests from many clients, or a repeating one, costs one IDR.
KEYFRAME_REQUEST_INTERVAL_S = 0.05
_KNOBS = ("latency_ms", "jitter_ms", "fps", "loss", "malformed", "clock_offset_s", "onvif")


def never_set_offset_s(boot_day: int = 1) -> float:
    """The ``clock_offset_s`` of a camera whose clock was never set: it started counting
    from 1970-01-01 plus ``boot_day`` days when it booted, now.

    Example:
        >>> round(never_set_offset_s() + time.time())   # the camera believes it is 1970-01-02
        86400
    """
    return boot_day * 86_400.0 - time.time()


@dataclass
class CameraConfig:
    """Everything needed to recreate a camera (e.g. in a child process).

    Example:
        >>> CameraConfig("cam1").width
        640
    """

    name: str
    width: int = 640
    height: int = 360
    fps: float = 30.0
    gop: int = 30
    bitrate: int = 1_000_000
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    idr_on_join: bool = True
    malformed: float = 0.0
    codec: str = "h264"
    clock_offset_s: float = 0.0
    onvif: float = 0.0


class SimCamera:
    """A simulated live H.264 (or H.265) camera with a burned-in capture timecode on every frame.

    Args:
        name: the RTSP path (``rtsp://host:port/<name>``).
        fps: frames per second (changeable with :meth:`set`).
        size: ``(width, height)``.
        gop: frames between IDRs (30 at 30 fps = one keyframe per second).
        bitrate: target bit rate in bit/s.
        latency_ms: extra delay between capture and send.
        jitter_ms: random extra send delay in ``[0, jitter_ms]``; frame order is preserved.
        loss: probability of dropping each RTP packet sent over UDP.
        idr_on_join: force an IDR when a subscriber joins, so clients open fast.
        malformed: probability, per frame sent, of also sending one malformed RTP or RTCP
            packet (see :mod:`rtsplab.sim.malformed`), to test that clients drop and count them.
        codec: ``h264`` (libx264) or ``h265`` (libx265, RTP per RFC 7798).
        clock_offset_s: the camera's clock minus true time in its RTCP sender reports and
            ONVIF capture times (positive: ahead).
        onvif: 1 to send the ONVIF RTP header extension (capture time) on each access unit.

    Example:
        >>> SimCamera("cam2", fps=15).fps
        15.0
        >>> SimCamera("cam3", codec="h265").encoding_name
        'H265'
    """

    def __init__(
        self,
        name: str = "cam1",
        fps: float = 30.0,
        size: tuple[int, int] = (640, 360),
        gop: int = 30,
        bitrate: int = 1_000_000,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        loss: float = 0.0,
        idr_on_join: bool = True,
        malformed: float = 0.0,
        codec: str = "h264",
        clock_offset_s: float = 0.0,
        onvif: float = 0.0,
    ) -> None:
        if not name or name.strip("/") != name or any(c in name for c in " ?#*"):
            raise ValueError(f"bad camera name {name!r}: use letters, digits, -, _ or /")
        if codec not in ENCODERS:
            raise ValueError(f"unknown codec {codec!r}; choose one of {', '.join(ENCODERS)}")
        self.name = name
        self.codec = codec
        self._encoder_class = ENCODERS[codec]
        self.width, self.height = int(size[0]), int(size[1])
        self.gop = int(gop)
        self.bitrate = int(bitrate)
        self.idr_on_join = idr_on_join
        self.fps = 30.0
        self.latency_ms = self.jitter_ms = self.loss = self.malformed = 0.0
        self.clock_offset_s = self.onvif = 0.0
        self._remote: Callable[[str, Any], CameraConfig] | None = None
        self.set(
            fps=fps, latency_ms=latency_ms, jitter_ms=jitter_ms, loss=loss, malformed=malformed,
            clock_offset_s=clock_offset_s, onvif=onvif,
        )  # fmt: skip
        self.rtp_offset = int.from_bytes(os.urandom(4), "big")
        self._lock = threading.Condition()
        self._subs: list[Subscriber] = []
        self._disconnect_hooks: list[Callable[[], None]] = []
        self._users = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._stall_until_mono = 0.0
        self._force_idr = False
        self._seq = 0
        self._sps = self._pps = b""
        self._parameter_sets: list[bytes] = []
        self._encoder: H264Encoder | None = None
        self.frames_encoded = 0
        self.encode_ms_total = 0.0
        self.receiver_reports = 0  # RTCP RRs from clients (in-process servers count here)
        self.keyframe_requests = 0  # RTCP PLIs/FIRs from clients (likewise)
        self._last_requested_idr_mono = -1e9

    @classmethod
    def from_config(cls, cfg: CameraConfig) -> SimCamera:
        """A camera built from ``cfg``.

        Example:
            >>> SimCamera.from_config(CameraConfig("x", fps=10)).fps
            10.0
        """
        return cls(
            cfg.name, cfg.fps, (cfg.width, cfg.height), cfg.gop, cfg.bitrate,
            cfg.latency_ms, cfg.jitter_ms, cfg.loss, cfg.idr_on_join, cfg.malformed, cfg.codec,
            cfg.clock_offset_s, cfg.onvif,
        )  # fmt: skip

    def config(self) -> CameraConfig:
        """This camera's settings and current knob values.

        Example:
            >>> SimCamera("a", fps=12).config()
            CameraConfig(name='a', width=640, height=360, fps=12.0, gop=30, bitrate=1000000, latency_ms=0.0, jitter_ms=0.0, loss=0.0, idr_on_join=True, malformed=0.0, codec='h264', clock_offset_s=0.0, onvif=0.0)
        """
        if self._remote is not None:
            self._adopt(self._remote("config", None))
        return CameraConfig(
            self.name, self.width, self.height, self.fps, self.gop, self.bitrate,
            self.latency_ms, self.jitter_ms, self.loss, self.idr_on_join, self.malformed, self.codec,
            self.clock_offset_s, self.onvif,
        )  # fmt: skip

    # ---- knobs -------------------------------------------------------------------------
    def set(self, **knobs: float) -> None:
        """Change ``latency_ms``, ``jitter_ms``, ``fps``, ``loss``, ``malformed``,
        ``clock_offset_s`` and/or ``onvif`` while running.

        Raises:
            ValueError: an unknown knob or an out-of-range value.

        Example:
            >>> cam = SimCamera("c"); cam.set(fps=15, loss=0.1); cam.fps, cam.loss
            (15.0, 0.1)
        """
        values: dict[str, float] = {}
        for key, value in knobs.items():
            if key not in _KNOBS:
                raise ValueError(f"unknown knob {key!r}; knobs are {', '.join(_KNOBS)}")
            v = float(value)
            if key == "fps" and not 0.5 <= v <= 240:
                raise ValueError("fps must be in [0.5, 240]")
            if key in ("loss", "malformed") and not 0.0 <= v <= 1.0:
                raise ValueError(f"{key} must be in [0, 1]")
            if key in ("latency_ms", "jitter_ms") and not 0 <= v <= 30_000:
                raise ValueError(f"{key} must be in [0, 30000]")
            if key == "clock_offset_s" and not -2e9 <= v <= 2e9:
                raise ValueError("clock_offset_s must be in [-2e9, 2e9] (1907 to 2033)")
            if key == "onvif" and v not in (0.0, 1.0):
                raise ValueError("onvif must be 0 or 1")
            values[key] = v
        if self._remote is not None:
            self._adopt(self._remote("set", values))
            return
        for key, v in values.items():
            setattr(self, key, v)

    def stall(self, seconds: float) -> None:
        """Stop producing frames for ``seconds`` (sockets stay open); resume with an IDR.

        Example:
            >>> cam = SimCamera("c"); cam.stall(0.0); cam.running
            False
        """
        if self._remote is not None:
            self._remote("stall", max(0.0, float(seconds)))
            return
        self._stall_until_mono = time.monotonic() + max(0.0, float(seconds))
        self._force_idr = True

    def disconnect(self) -> None:
        """Hard-close every client connection currently streaming this camera.

        Example:
            >>> SimCamera("c").disconnect()  # nobody is connected: nothing happens
        """
        if self._remote is not None:
            self._remote("disconnect", None)
            return
        with self._lock:
            subs = list(self._subs)
            hooks = list(self._disconnect_hooks)
        for sub in subs:
            if sub.on_disconnect is not None:
                sub.on_disconnect()
        for hook in hooks:
            hook()

    def add_disconnect_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` on :meth:`disconnect` (servers use it to drop connections).

        Example:
            >>> SimCamera("c").add_disconnect_hook(lambda: None)
        """
        with self._lock:
            self._disconnect_hooks.append(hook)

    def remove_disconnect_hook(self, hook: Callable[[], None]) -> None:
        """Undo :meth:`add_disconnect_hook`.

        Example:
            >>> f = lambda: None; c = SimCamera("c"); c.add_disconnect_hook(f)
            >>> c.remove_disconnect_hook(f)
        """
        with self._lock:
            if hook in self._disconnect_hooks:
                self._disconnect_hooks.remove(hook)

    def forward_to(self, call: Callable[[str, Any], CameraConfig] | None) -> None:
        """Forward :meth:`set`, :meth:`stall`, :meth:`disconnect` and :meth:`config` to ``call``.

        A child-process server does this with the cameras it serves, so the caller's camera
        objects keep working as handles; ``call(command, argument)`` returns the camera's
        config after the command. ``None`` makes the camera local again. A forwarded camera
        cannot :meth:`start` here.

        Raises:
            RuntimeError: the camera runs in this process.

        Example:
            >>> cam = SimCamera("c")
            >>> cam.forward_to(lambda cmd, arg: CameraConfig("c", fps=arg["fps"]))
            >>> cam.set(fps=12); cam.fps
            12.0
            >>> cam.start()
            Traceback (most recent call last):
            ...
            RuntimeError: camera 'c' is served by another process: use its server's handle
        """
        with self._lock:
            if call is not None and self._thread is not None:
                raise RuntimeError(f"camera {self.name!r} is running in this process")
            self._remote = call

    def _adopt(self, cfg: CameraConfig) -> None:
        for key in _KNOBS:
            setattr(self, key, float(getattr(cfg, key)))

    def _local_only(self) -> None:
        if self._remote is not None:
            raise RuntimeError(
                f"camera {self.name!r} is served by another process: use its server's handle"
            )

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> SimCamera:
        """Start the capture thread (reference counted; pair every call with :meth:`stop`).

        Example:
            >>> cam = SimCamera("c").start(); cam.stop()
        """
        with self._lock:
            self._local_only()
            self._users += 1
            if self._thread is not None:
                return self
            # each run has its own encoder and stop event: a stop() still joining the
            # previous run can neither revive it nor close this run's encoder
            encoder = self._encoder_class(self.width, self.height, self.fps, self.gop, self.bitrate)
            self._encoder = encoder
            self._probe_parameter_sets()
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run,
                args=(encoder, self._stop),
                name=f"rtsplab-sim-{self.name}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Release one :meth:`start`; the thread stops (joined) when the last user is gone.

        Example:
            >>> SimCamera("c").stop()  # no-op when not started
        """
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users > 0 or self._thread is None:
                return
            thread, self._thread = self._thread, None
            encoder, self._encoder = self._encoder, None
            self._stop.set()
            self._lock.notify_all()
        thread.join(5.0)
        if encoder is not None:
            encoder.close()

    @property
    def running(self) -> bool:
        """True while the capture thread runs.

        Example:
            >>> SimCamera("c").running
            False
        """
        return self._thread is not None

    def __enter__(self) -> SimCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- subscribers -------------------------------------------------------------------
    def subscribe(self, sub: Subscriber) -> None:
        """Deliver access units to ``sub`` from the next keyframe on.

        Example:
            >>> cam = SimCamera("c"); s = Subscriber(); cam.subscribe(s); cam.unsubscribe(s)
        """
        with self._lock:
            self._local_only()
            self._subs.append(sub)
            if self.idr_on_join:
                self._force_idr = True
            self._lock.notify_all()

    def unsubscribe(self, sub: Subscriber) -> None:
        """Stop delivering to ``sub``.

        Example:
            >>> SimCamera("c").unsubscribe(Subscriber())
        """
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def request_keyframe(self) -> None:
        """Make the next frame an IDR.

        Example:
            >>> SimCamera("c").request_keyframe()
        """
        self._force_idr = True

    def on_keyframe_request(self) -> bool:
        """A client asked for a keyframe (RTCP PLI or FIR): count it, and make the next frame
        an IDR for every subscriber unless one was requested in the last
        :data:`KEYFRAME_REQUEST_INTERVAL_S`. True when the request is honoured.

        Example:
            >>> cam = SimCamera("c")
            >>> cam.on_keyframe_request(), cam.on_keyframe_request(), cam.keyframe_requests
            (True, False, 2)
        """
        now = time.monotonic()
        with self._lock:
            self.keyframe_requests += 1
            if now - self._last_requested_idr_mono < KEYFRAME_REQUEST_INTERVAL_S:
                return False
            self._last_requested_idr_mono = now
        self.request_keyframe()
        return True

    @property
    def encoding_name(self) -> str:
        """The SDP ``rtpmap`` encoding name: ``H264`` or ``H265``.

        Example:
            >>> SimCamera("c").encoding_name
            'H264'
        """
        return self._encoder_class.encoding_name

    @property
    def fmtp(self) -> str:
        """The SDP ``a=fmtp`` parameters (parameter sets of the running encoder).

        Example:
            >>> SimCamera("c", codec="h265").fmtp  # empty before start()
            ''
        """
        return self._encoder_class.fmtp(self._parameter_sets)

    def packetize(self, nals: tuple[bytes, ...], seq: int, rtp_ts: int, ssrc: int) -> list[bytes]:
        """RTP packets of one access unit in this camera's codec.

        Example:
            >>> len(SimCamera("c", codec="h265").packetize((b"\\x26\\x01",), 0, 0, 1))
            1
        """
        return self._encoder_class.packetize(nals, seq, rtp_ts, ssrc)

    @property
    def parameter_sets(self) -> tuple[bytes, bytes]:
        """``(sps, pps)`` of the running encoder (empty before :meth:`start`).

        Example:
            >>> SimCamera("c").parameter_sets
            (b'', b'')
        """
        return self._sps, self._pps

    def rtp_now(self) -> tuple[int, int]:
        """``(t_ns, rtp_ts)`` for the current wall-clock time, on the media clock.

        Example:
            >>> t, ts = SimCamera("c").rtp_now(); 0 <= ts < 2**32
            True
        """
        t_ns = time.time_ns()
        return t_ns, rtp_timestamp(t_ns, self.rtp_offset)

    def clock_ns(self, t_ns: int) -> int:
        """True time ``t_ns`` as this camera's clock shows it (``clock_offset_s`` off).

        Example:
            >>> cam = SimCamera("c", clock_offset_s=-3); cam.clock_ns(10 * 10**9)
            7000000000
        """
        return t_ns + round(self.clock_offset_s * 1e9)

    @property
    def encode_ms(self) -> float:
        """Mean render + encode time per frame so far, in ms.

        Example:
            >>> SimCamera("c").encode_ms
            0.0
        """
        return self.encode_ms_total / self.frames_encoded if self.frames_encoded else 0.0

    # ---- capture thread ----------------------------------------------------------------
    def _probe_parameter_sets(self) -> None:
        """Encode one throwaway frame to learn SPS/PPS for the SDP."""
        assert self._encoder is not None
        nals, _ = self._encoder.encode(np.zeros((self.height, self.width), np.uint8), 0, True)
        self._parameter_sets = self._encoder.parameter_sets(nals)
        if self.codec == "h264":
            for nal in self._parameter_sets:
                if nal[0] & 0x1F == 7:
                    self._sps = nal
                else:
                    self._pps = nal
        self._force_idr = True

    def _run(self, enc: H264Encoder, stop: threading.Event) -> None:
        scene = Scene(self.name, self.width, self.height)
        t0_mono = time.monotonic_ns()
        next_due = time.monotonic()
        while not stop.is_set():
            with self._lock:
                while not self._subs and not stop.is_set():
                    self._lock.wait(0.5)
                    next_due = time.monotonic()
                    self._force_idr = True
            delay = next_due - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
            now = time.monotonic()
            next_due = max(next_due + 1.0 / self.fps, now - 0.5 / self.fps)
            if now < self._stall_until_mono:
                next_due = min(self._stall_until_mono, now + 1.0 / self.fps)
                continue
            try:
                self._capture_one(scene, enc, t0_mono)
            except Exception:  # never let one bad frame kill a live camera
                _log.exception("camera %s: frame %d failed", self.name, self._seq)
                stop.wait(0.1)

    def _capture_one(self, scene: Scene, enc: H264Encoder, t0_mono: int) -> None:
        t_ns, t_mono = time.time_ns(), time.monotonic_ns()
        img = scene.render(t_ns, self._seq)
        force, self._force_idr = self._force_idr, False
        nals, key = enc.encode(img, (t_mono - t0_mono) * 9 // 100_000, force)
        self.encode_ms_total += (time.monotonic_ns() - t_mono) / 1e6
        self.frames_encoded += 1
        if not nals:
            return
        au = AccessUnit(tuple(nals), key, self._seq, t_ns, t_mono, self._rtp_ts(t_ns))
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.put(au)
            if sub.overflowed:  # it fell behind and waits for a keyframe: send one soon
                sub.overflowed = False
                self._force_idr = True

    def _rtp_ts(self, t_ns: int) -> int:
        return rtp_timestamp(t_ns, self.rtp_offset)

    def __repr__(self) -> str:
        codec = "" if self.codec == "h264" else f"codec={self.codec!r}, "
        return (
            f"SimCamera({self.name!r}, {self.width}x{self.height}, {codec}fps={self.fps:g}, "
            f"gop={self.gop}, bitrate={self.bitrate}, latency_ms={self.latency_ms:g}, "
            f"running={self.running})"
        )
