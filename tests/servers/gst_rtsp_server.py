"""A real third-party RTSP server for tests and benchmarks: gst-rtsp-server (GStreamer).

Run by the system interpreter (``/usr/bin/python3``), which has PyGObject and the
GstRtspServer typelib from Debian; the project's virtualenv has neither. Every frame is
rendered here, stamped with :func:`rtsplab.timecode.write_timecode` (wall-clock capture time
``time.time_ns()`` and a sequence number) and pushed into ``appsrc ! x264enc ! rtph264pay``.

Usage::

    /usr/bin/python3 tests/servers/gst_rtsp_server.py --port 8554 --mounts cam1,cam2 \
        --fps 30 --size 640x360 --bitrate-kbps 1000 [--user U --password-env VAR [--auth digest]] \
        [--udp-only] [--shared] [stream shape: --codec h264|h265|mjpeg --gop N --slices N
        --mtu BYTES --seq-offset N --ts-offset N --audio aac|opus|pcma|pcmu [--audio-first]
        --metadata [--metadata-first]
        --bframes N --tls CERTFILE --ntp-offset-s S | --ntp-never-set --rtcp-interval-s S
        --sr-capture-time]

Prints ``READY <port>`` on stdout once listening and exits on SIGTERM or SIGINT.

Design:

* One media (pipeline, encoder) per client by default: every client starts with a key frame,
  and a client connecting right after another left never meets a media that is still being
  torn down. (With ``--shared``, as on a real camera, all clients of a mount share one
  encoder; gst-rtsp-server then answers ``503`` to a client that arrives while the last
  media is unpreparing: this server narrows that window but cannot close it, so tests that
  reconnect should not use ``--shared``.)
* One pusher thread per mount paces frames on ``time.monotonic()`` (absolute schedule, no
  drift), renders each frame once and pushes it to every client's pipeline, so all clients of
  a mount see the same ``seq`` and capture time. Nothing is rendered while no client is
  connected; each frame's timecode is taken right before it is pushed.
* A client joining a shared media gets a fresh key frame (a force-key-unit event is sent to
  the encoder on every PLAY), so late joiners decode at once instead of waiting up to a GOP.
* x264enc runs with ``threads=1 sliced-threads=false``: ``tune=zerolatency`` alone enables
  sliced threads, and FFmpeg (5.1 and 8.0, in ffmpeg/OpenCV/PyAV) then conceals one of the
  two slices of nearly every frame received over RTP, so most timecodes fail their CRC.
* ``--udp-only`` restricts the transports to RTP/UDP: a TCP-interleaved SETUP gets ``461``.
* ``--user``/``--password-env``/``--auth basic|digest``: authentication for one user; the
  password is read from the named environment variable, never from the command line (``ps``
  would show it). Basic and Digest cannot be offered together from Python (PyGObject takes
  ``set_supported_methods`` as a plain enum, not flags).
* ``--realtime-clock`` (the default; ``--no-realtime-clock`` turns it off): the pipeline runs
  on the system real-time clock. RTCP sender reports carry wall-clock NTP time either way
  (rtpbin's default ``ntp-time-source``), so a client mapping RTP timestamps through RTCP
  (FFmpeg's ``start_time_realtime``) gets each frame's capture time to within about 1 ms.
* Each buffer's timestamp is the running time of the send time painted into it (not of the
  push, later by the copy of the picture: a few ms at 1080p), so RTP time, sender reports and
  the painted timecode agree to the microsecond.
* Stream shapes (the tests' stream-shapes matrix): ``--audio`` adds a live audio track after
  the video (``--audio-first``: before it, as some cameras order them); ``--ntp-offset-s`` and
  ``--ntp-never-set`` run the media on a clock that is off (sender reports carry it, the
  painted timecode keeps the true time); ``--rtcp-interval-s`` shortens GStreamer's 5 s RTCP
  interval; ``--sr-capture-time`` makes sender reports map RTP time to the capture time
  rather than the send time (which includes the pipeline latency an audio encoder adds).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import gi
import numpy as np

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer, GstVideo  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def load_timecode() -> ModuleType:
    """Load ``rtsplab/timecode.py`` by file path, so ``rtsplab/__init__`` (cv2) never runs."""
    path = REPO / "rtsplab" / "timecode.py"
    spec = importlib.util.spec_from_file_location("rtsplab_timecode", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while it executes
    spec.loader.exec_module(module)
    return module


timecode = load_timecode()


class Scene:
    """A cheap moving test scene: a gradient background and a bouncing square."""

    def __init__(self, width: int, height: int, hue: int) -> None:
        self.width, self.height = width, height
        x = np.linspace(0, 255, width, dtype=np.float32)
        base = np.empty((height, width, 3), np.uint8)
        base[:, :, 0] = (x * 0.5).astype(np.uint8)
        base[:, :, 1] = np.uint8(hue)
        base[:, :, 2] = (255 - x * 0.5).astype(np.uint8)[None, :]
        self.base = base

    def render(self, seq: int) -> np.ndarray:
        """The frame for ``seq``, without its timecode (burned in right before the push)."""
        img = self.base.copy()
        side = max(8, self.height // 6)
        span_x, span_y = self.width - side, self.height - side
        px = (seq * 7) % (2 * span_x)
        py = (seq * 5) % (2 * span_y)
        x = px if px < span_x else 2 * span_x - px
        y = py if py < span_y else 2 * span_y - py
        img[y : y + side, x : x + side] = (255, 255, 255)
        return img


def video_encoder(args: argparse.Namespace) -> str:
    """The encoder of ``--codec`` (``h264``, ``h265`` or ``mjpeg``), its GOP and slices."""
    gop = args.gop or max(1, args.fps)
    if args.codec == "h265":
        params = f"keyint={gop}:min-keyint={gop}:bframes=0:scenecut=0:repeat-headers=1"
        if args.slices > 1:
            params += f":slices={args.slices}"
        return (
            "x265enc tune=zerolatency speed-preset=ultrafast "
            f"bitrate={args.bitrate_kbps} key-int-max={gop} option-string={params} "
            "! video/x-h265,profile=main"
        )
    if args.codec == "mjpeg":
        return "jpegenc quality=85"
    bframes = getattr(args, "bframes", 0)
    profile = "constrained-baseline" if bframes == 0 else "main"
    slices = f" option-string=slices={args.slices}" if args.slices > 1 else ""
    return (
        "x264enc tune=zerolatency speed-preset=ultrafast threads=1 sliced-threads=false "
        f"key-int-max={gop} bframes={bframes} bitrate={args.bitrate_kbps}{slices} "
        f"! video/x-h264,profile={profile}"
    )


def x264_bframes(parser: argparse.ArgumentParser) -> None:
    """``--bframes N``: B-frames between reference frames (x264, main profile when > 0)."""
    parser.add_argument("--bframes", type=int, default=0)


def payloader_options(args: argparse.Namespace) -> str:
    """``mtu``, ``seqnum-offset`` and ``timestamp-offset`` of a payloader, when asked for."""
    opts = ""
    if args.mtu:
        opts += f" mtu={args.mtu}"
    if args.seq_offset is not None:
        opts += f" seqnum-offset={args.seq_offset}"
    if args.ts_offset is not None:
        opts += f" timestamp-offset={args.ts_offset}"
    return opts


def video_payloader(args: argparse.Namespace, name: str) -> str:
    """The RTP payloader of ``--codec`` named ``name`` (``pay0`` or ``pay1``)."""
    if args.codec == "h265":
        pay = f"rtph265pay name={name} pt=96 config-interval=-1"
    elif args.codec == "mjpeg":
        pay = f"rtpjpegpay name={name} pt=26"
    else:
        pay = f"rtph264pay name={name} pt=96 config-interval=-1"
    return pay + payloader_options(args)


AUDIO_ENCODERS = {
    # codec: (sample rate, channels, encoder ! payloader, payload type)
    "aac": (48000, 2, "voaacenc bitrate=64000 ! rtpmp4gpay", 97),
    "opus": (48000, 2, "opusenc ! rtpopuspay", 97),
    "pcma": (8000, 1, "alawenc ! rtppcmapay", 8),
    "pcmu": (8000, 1, "mulawenc ! rtppcmupay", 0),
}


def audio_branch(args: argparse.Namespace, name: str) -> str:
    """A live audio track of ``--audio`` (``aac``, ``opus``, ``pcma``, ``pcmu``), or ``""``."""
    if not args.audio:
        return ""
    rate, channels, chain, pt = AUDIO_ENCODERS[args.audio]
    return (
        "audiotestsrc name=audiosrc is-live=true wave=sine freq=440 volume=0.1 "
        f"samplesperbuffer={rate // 50} ! audioconvert ! audioresample "  # 20 ms buffers
        f"! audio/x-raw,rate={rate},channels={channels} ! {chain} name={name} pt={pt}"
    )


def not_seekable(element: Any) -> None:
    """Make a live test source answer "not seekable", as the video's appsrc does.

    audiotestsrc says it can seek; the media would then try to honour a PLAY's ``Range`` and
    fail on the appsrc (``503`` to the client).
    """

    def on_query(_pad: Any, info: Any) -> Any:
        query = info.get_query()
        if query is not None and query.type == Gst.QueryType.SEEKING:
            return Gst.PadProbeReturn.HANDLED  # answered as created: not seekable
        return Gst.PadProbeReturn.OK

    element.get_static_pad("src").add_probe(Gst.PadProbeType.QUERY_UPSTREAM, on_query)


def metadata_branch(args: argparse.Namespace, name: str) -> str:
    """``--metadata``: an ``m=application`` track, as ONVIF cameras send their metadata, or ``""``.

    Its content does not matter to the tests (a reader never decodes it): a small buffer every
    20 ms through ``rtpgstpay`` (longer buffers would raise the live pipeline's latency).
    """
    if not args.metadata:
        return ""
    return (
        "audiotestsrc name=metasrc is-live=true wave=silence samplesperbuffer=96 "
        f"! audio/x-raw,rate=4800,channels=1 ! rtpgstpay name={name} pt=107"
    )


def build_launch(args: argparse.Namespace) -> str:
    """The media's launch line: the timecoded video, and the audio and metadata tracks before or
    after it (``--audio-first``, ``--metadata-first``)."""
    w, h, f = args.width, args.height, args.fps
    video = (
        "appsrc name=src is-live=true format=time do-timestamp=true "
        "max-buffers=2 leaky-type=downstream "
        f"caps=video/x-raw,format=BGR,width={w},height={h},framerate={f}/1 "
        "! videoconvert ! video/x-raw,format=I420 "
        f"! {video_encoder(args)} ! {{pay}}"
    )
    before: list[tuple[str, Any]] = []
    after: list[tuple[str, Any]] = []
    if args.audio:
        (before if args.audio_first else after).append(("audio", audio_branch))
    if args.metadata:
        (before if args.metadata_first else after).append(("metadata", metadata_branch))
    order = [*before, ("video", None), *after]
    branches = []
    for index, (kind, make) in enumerate(order):
        name = f"pay{index}"
        if kind == "video":
            branches.append(video.format(pay=video_payloader(args, name)))
        else:
            branches.append(make(args, name))
    return "( " + "  ".join(branches) + " )"


def make_camera_clock(args: argparse.Namespace) -> Any:
    """The media clock of a camera whose clock is off (``--ntp-offset-s``, ``--ntp-never-set``).

    A real-time system clock calibrated to read NTP time (seconds since 1900) plus the offset,
    or 1970-01-02 at start for a clock never set. With :func:`use_clock_time_in_sender_reports`
    the RTCP sender reports carry this clock, consistently with the RTP timestamps (both come
    from the same pipeline clock); the painted timecode keeps the true time. ``None`` when the
    camera's clock is right.
    """
    if args.ntp_offset_s == 0 and not args.ntp_never_set:
        return None
    clock = Gst.SystemClock()
    clock.set_property("clock-type", Gst.ClockType.REALTIME)
    internal_ns = clock.get_internal_time()
    if args.ntp_never_set:
        external_ns = (NTP_UNIX_OFFSET_S + 86_400) * Gst.SECOND
    else:
        external_ns = internal_ns + NTP_UNIX_OFFSET_S * Gst.SECOND + int(args.ntp_offset_s * 1e9)
    clock.set_calibration(internal_ns, external_ns, 1, 1)
    return clock


NTP_UNIX_OFFSET_S = 2_208_988_800  # 1900-01-01 to 1970-01-01


def sender_reports_at_capture_time(pipeline: Any) -> None:
    """``--sr-capture-time``: sender reports map RTP time to the capture time.

    GStreamer's rtpbin maps it to the send time by default (``rtcp-sync-send-time``): the
    capture time plus the pipeline's latency, which an audio track raises to its encoder's
    (measured: 41 ms with AAC, 61 ms with Opus, 40 ms with G.711 in 20 ms buffers), so every
    receiver's RTCP clock then dates the video that much late and its ages read that much low.
    """

    def on_added(_bin: Any, element: Any) -> None:
        factory = element.get_factory()
        if factory is not None and factory.get_name() == "rtpbin":
            element.set_property("rtcp-sync-send-time", False)

    pipeline.connect("element-added", on_added)


def use_clock_time_in_sender_reports(pipeline: Any) -> None:
    """Make the media's rtpbin put the pipeline clock's time in its sender reports."""

    def on_added(_bin: Any, element: Any) -> None:
        factory = element.get_factory()
        if factory is not None and factory.get_name() == "rtpbin":
            element.set_property("ntp-time-source", "clock-time")

    pipeline.connect("element-added", on_added)


def rtcp_interval(pipeline: Any, interval_s: float) -> None:
    """``--rtcp-interval-s``: the RTP sessions' minimum RTCP interval (GStreamer's is 5 s).

    Real cameras send sender reports every 1 to 5 s; a shorter interval gets a client its
    first one sooner (RFC 3550 sends the first after about half the interval).
    """

    def on_session(_rtpbin: Any, element: Any) -> None:
        factory = element.get_factory()
        if factory is not None and factory.get_name() == "rtpsession":
            element.set_property("rtcp-min-interval", int(interval_s * 1e9))

    def on_added(_bin: Any, element: Any) -> None:
        factory = element.get_factory()
        if factory is not None and factory.get_name() == "rtpbin":
            element.connect("element-added", on_session)

    pipeline.connect("element-added", on_added)


def tls_certificate(path: str | None) -> Any:
    """``--tls CERTFILE``: the server's certificate and key (one PEM file), for ``rtsps://``."""
    if not path:
        return None
    from gi.repository import Gio

    return Gio.TlsCertificate.new_from_file(path)


def stamp_capture_time(appsrc: Any, buf: Any, t_ns: int) -> None:
    """Give ``buf`` the running time of ``t_ns``, the time painted into it.

    ``do-timestamp`` would stamp the time of the push instead, later by the copy of the
    picture into the buffer (a few ms at 1080p). Until the pipeline has a clock, it does.
    """
    clock = appsrc.get_clock()
    if clock is None:
        return
    running_ns = clock.get_time() - appsrc.get_base_time() - (time.time_ns() - t_ns)
    if running_ns >= 0:
        buf.pts = buf.dts = running_ns


class MountFactory(GstRtspServer.RTSPMediaFactory):
    """A media factory whose cache key moves on when its shared media is being torn down."""

    def __init__(self, mount: Mount) -> None:
        super().__init__()
        self.mount = mount

    def do_gen_key(self, url: Any) -> str:
        """Cache key for ``url`` (see :meth:`Mount.media_key`)."""
        return self.mount.media_key(url.abspath)


class Mount:
    """One mount point: its factory, its current appsrc (if a client is there) and its pusher."""

    def __init__(self, name: str, args: argparse.Namespace, index: int) -> None:
        self.name = name
        self.fps = args.fps
        self.width, self.height = args.width, args.height
        self.scene = Scene(self.width, self.height, hue=(60 * index + 40) % 256)
        self.lock = threading.Lock()
        self.sinks: list[tuple[Any, Any]] = []  # (appsrc, pay) of every live media
        self.media: Any = None  # the newest media (what a shared factory hands out)
        self.generation = 0
        self.shared = bool(args.shared)
        self.camera_clock = args.ntp_offset_s != 0 or args.ntp_never_set
        self.rtcp_interval_s = args.rtcp_interval_s
        self.sr_capture_time = args.sr_capture_time
        self.stopping = threading.Event()
        self.seq = 0
        self.factory = self._make_factory(args)
        self.thread = threading.Thread(target=self._push_loop, name=f"push-{name}", daemon=True)

    def _make_factory(self, args: argparse.Namespace) -> Any:
        launch = build_launch(args)
        factory = MountFactory(self)
        factory.set_launch(launch)
        factory.set_shared(args.shared)
        factory.set_latency(0)
        if args.udp_only:
            factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP | GstRtsp.RTSPLowerTrans.UDP_MCAST)
        else:
            factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP | GstRtsp.RTSPLowerTrans.TCP)
        camera_clock = make_camera_clock(args)
        if camera_clock is not None:
            factory.set_clock(camera_clock)
        elif args.realtime_clock:
            clock = Gst.SystemClock.obtain()
            clock.set_property("clock-type", Gst.ClockType.REALTIME)
            factory.set_clock(clock)
        if args.user or args.tls:  # an RTSPAuth (users, or TLS) checks the factory's roles
            perm = GstRtspServer.RTSPPermissions()
            perm.add_role_from_structure(
                Gst.Structure.new_from_string(
                    "user, media.factory.access=(boolean)true, "
                    "media.factory.construct=(boolean)true"
                )
            )
            factory.set_permissions(perm)
        factory.connect("media-configure", self._on_media_configure)
        return factory

    def _on_media_configure(self, _factory: Any, media: Any) -> None:
        element = media.get_element()
        if self.camera_clock:
            use_clock_time_in_sender_reports(element.get_parent())
        if self.sr_capture_time:
            sender_reports_at_capture_time(element.get_parent())
        if self.rtcp_interval_s:
            rtcp_interval(element.get_parent(), self.rtcp_interval_s)
        for live_source in ("audiosrc", "metasrc"):
            source = element.get_by_name(live_source)
            if source is not None:
                not_seekable(source)
        appsrc = element.get_by_name("src")
        pay = element.get_by_name("pay0")
        media.connect("unprepared", self._on_unprepared, appsrc)
        with self.lock:
            self.sinks.append((appsrc, pay))
            self.media = media

    def media_key(self, path: str) -> str:
        """The factory's cache key: shared while the media is up, new once it winds down.

        gst-rtsp-server keeps a shared media in the factory's cache until it has *finished*
        unpreparing; a client arriving in between (e.g. a reconnect right after the last
        client left) would get that dying media and a ``503``. A fresh key gives it a new one.
        """
        if not self.shared:
            return path
        with self.lock:
            media = self.media
        # not under the lock: get_status() waits while the media prepares, which needs frames
        status = media.get_status() if media is not None else None
        with self.lock:
            if media is self.media and status in (
                GstRtspServer.RTSPMediaStatus.UNPREPARING,
                GstRtspServer.RTSPMediaStatus.ERROR,
            ):
                self.generation += 1
                self.media = None
            return f"{path}#{self.generation}"

    def _on_unprepared(self, _media: Any, appsrc: Any) -> None:
        with self.lock:
            self.sinks = [sink for sink in self.sinks if sink[0] is not appsrc]

    def force_key_frame(self) -> None:
        """Ask the encoder for a key frame now (sent upstream from the payloader)."""
        with self.lock:
            pays = [pay for _, pay in self.sinks]
        for pay in pays:
            event = GstVideo.video_event_new_upstream_force_key_unit(Gst.CLOCK_TIME_NONE, True, 0)
            pay.send_event(event)

    def _push_loop(self) -> None:
        period_s = 1.0 / self.fps
        next_s = time.monotonic()
        while not self.stopping.is_set():
            now_s = time.monotonic()
            if next_s > now_s:
                if self.stopping.wait(next_s - now_s):
                    break
            elif now_s - next_s > 1.0:  # suspended (e.g. debugger): re-anchor, do not burst
                next_s = now_s
            next_s += period_s
            with self.lock:
                appsrcs = [appsrc for appsrc, _ in self.sinks]
            if not appsrcs:
                continue
            img = self.scene.render(self.seq)
            t_ns = time.time_ns()  # after drawing (14 ms at 1080p): the push is next
            timecode.write_timecode(img, t_ns, self.seq)
            self.seq += 1
            buf = Gst.Buffer.new_wrapped(img.tobytes())
            for i, appsrc in enumerate(appsrcs):  # one rendering, the same frame for everyone
                out = buf if i == 0 else buf.copy()
                stamp_capture_time(appsrc, out, t_ns)
                appsrc.emit("push-buffer", out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments; ``--size WxH`` becomes ``width``/``height``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--mounts", default="cam1,cam2")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--size", default="640x360")
    p.add_argument("--bitrate-kbps", type=int, default=1000)
    p.add_argument("--user", default=None)
    p.add_argument("--password-env", default=None, help="environment variable with the password")
    p.add_argument("--auth", choices=("basic", "digest"), default="basic")
    p.add_argument("--udp-only", action="store_true")
    p.add_argument(
        "--shared",
        action="store_true",
        help="one media (one encoder) for all clients of a mount, as a camera does",
    )
    p.add_argument("--realtime-clock", dest="realtime_clock", action="store_true", default=True)
    p.add_argument("--no-realtime-clock", dest="realtime_clock", action="store_false")
    stream_shape_args(p)
    x264_bframes(p)
    p.add_argument("--tls", default=None, metavar="CERTFILE", help="serve rtsps:// (PEM)")
    args = p.parse_args(argv)
    w, _, h = args.size.lower().partition("x")
    args.width, args.height = int(w), int(h)
    if args.user and not args.password_env:
        p.error("--user needs --password-env")
    args.password = os.environ.get(args.password_env, "") if args.password_env else None
    if args.user and not args.password:
        p.error(f"environment variable {args.password_env} is empty or unset")
    return args


def stream_shape_args(p: argparse.ArgumentParser) -> None:
    """The knobs of the stream's shape (the tests' stream-shapes matrix)."""
    p.add_argument("--codec", choices=("h264", "h265", "mjpeg"), default="h264")
    p.add_argument("--gop", type=int, default=0, help="frames between key frames (default: fps)")
    p.add_argument("--slices", type=int, default=1, help="slices per picture")
    p.add_argument("--mtu", type=int, default=0, help="largest RTP packet (default: 1400)")
    p.add_argument("--seq-offset", type=int, default=None, help="first RTP sequence number")
    p.add_argument("--ts-offset", type=int, default=None, help="first RTP timestamp")
    p.add_argument("--audio", choices=sorted(AUDIO_ENCODERS), default=None, help="audio track")
    p.add_argument("--audio-first", action="store_true", help="the audio track before the video")
    p.add_argument("--metadata", action="store_true", help="an m=application (metadata) track")
    p.add_argument("--metadata-first", action="store_true", help="the metadata before the video")
    p.add_argument(
        "--ntp-offset-s", type=float, default=0.0, help="the camera's RTCP clock ahead by this"
    )
    p.add_argument("--rtcp-interval-s", type=float, default=0.0, help="RTCP interval (5 s)")
    p.add_argument(
        "--sr-capture-time", action="store_true", help="sender reports at capture, not send, time"
    )
    p.add_argument(
        "--ntp-never-set", action="store_true", help="the camera's RTCP clock starts at 1970-01-02"
    )


def make_auth(user: str, password: str, method: str) -> Any:
    """Authentication for one user with the role ``user``, by ``basic`` or ``digest``.

    The two cannot be offered together from Python: ``set_supported_methods`` takes a flags
    value that PyGObject exposes as a plain enum, so ``BASIC | DIGEST`` is rejected.
    """
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
    if method == "digest":
        auth.add_digest(user, password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    else:
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
    return auth


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT."""
    args = parse_args(argv)
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    if args.user:
        server.set_auth(make_auth(args.user, args.password, args.auth))
    certificate = tls_certificate(args.tls)
    if certificate is not None:
        auth = server.get_auth()
        if auth is None:  # no users: everyone may play, over TLS
            auth = GstRtspServer.RTSPAuth()
            token = GstRtspServer.RTSPToken()
            token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
            auth.set_default_token(token)
        auth.set_tls_certificate(certificate)
        server.set_auth(auth)
    mounts = server.get_mount_points()
    by_path: dict[str, Mount] = {}
    for i, name in enumerate(n for n in args.mounts.split(",") if n):
        mount = Mount(name, args, i)
        mounts.add_factory(f"/{name}", mount.factory)
        by_path[f"/{name}"] = mount

    def on_play(client: Any, ctx: Any) -> None:
        uri = getattr(ctx, "uri", None)
        path = uri.abspath if uri is not None else ""
        for mpath, mount in by_path.items():
            if path == mpath or path.startswith(mpath + "/"):
                mount.force_key_frame()

    def on_client(_server: Any, client: Any) -> None:
        client.connect("play-request", on_play)

    if args.shared:
        server.connect("client-connected", on_client)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr, flush=True)
        return 2

    def quit_loop(*_: object) -> bool:
        loop.quit()
        return GLib.SOURCE_REMOVE

    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, quit_loop)
    for mount in by_path.values():
        mount.thread.start()
    print(f"READY {args.port}", flush=True)
    try:
        loop.run()
    finally:
        for mount in by_path.values():
            mount.stopping.set()
        for mount in by_path.values():
            mount.thread.join(1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
