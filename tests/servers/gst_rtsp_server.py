"""A real third-party RTSP server for tests and benchmarks: gst-rtsp-server (GStreamer).

Run by the system interpreter (``/usr/bin/python3``), which has PyGObject and the
GstRtspServer typelib from Debian; the project's virtualenv has neither. Every frame is
rendered here, stamped with :func:`rtsplab.timecode.write_timecode` (wall-clock capture time
``time.time_ns()`` and a sequence number) and pushed into ``appsrc ! x264enc ! rtph264pay``.

Usage::

    /usr/bin/python3 tests/servers/gst_rtsp_server.py --port 8554 --mounts cam1,cam2 \
        --fps 30 --size 640x360 --bitrate-kbps 1000 [--user U --password-env VAR [--auth digest]] \
        [--udp-only] [--shared] [--bframes N] [--audio aac|opus|pcma [--audio-first]]

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
* ``--bframes N``: x264enc puts ``N`` B-frames between reference frames (``b-adapt`` off, so
  every GOP has them), as some cameras do; frames then go out in decoding order.
* ``--audio aac|opus|pcma`` adds a live audio track (``--audio-first``: listed before the
  video, as some cameras do), so clients meet a second stream with its own RTCP.
* Sender reports map RTP time to each picture's *capture* time (rtpbin's
  ``rtcp-sync-send-time=false``), as a camera's should; ``--rtcp-send-time`` keeps rtpbin's
  default (the send time: pictures then seem captured the pipeline's latency late, 67 ms
  with ``--bframes 2``, about 60 ms more with an audio track set up).
* ``--udp-only`` restricts the transports to RTP/UDP: a TCP-interleaved SETUP gets ``461``.
* ``--user``/``--password-env``/``--auth basic|digest``: authentication for one user; the
  password is read from the named environment variable, never from the command line (``ps``
  would show it). Basic and Digest cannot be offered together from Python (PyGObject takes
  ``set_supported_methods`` as a plain enum, not flags).
* ``--realtime-clock`` (the default; ``--no-realtime-clock`` turns it off): the pipeline runs
  on the system real-time clock. RTCP sender reports carry wall-clock NTP time either way
  (rtpbin's default ``ntp-time-source``), so a client mapping RTP timestamps through RTCP
  (FFmpeg's ``start_time_realtime``) gets each frame's capture time to within about 1 ms.
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

    def render(self, seq: int, t_ns: int) -> np.ndarray:
        """The frame for ``seq`` with the timecode ``(t_ns, seq)`` burned in."""
        img = self.base.copy()
        side = max(8, self.height // 6)
        span_x, span_y = self.width - side, self.height - side
        px = (seq * 7) % (2 * span_x)
        py = (seq * 5) % (2 * span_y)
        x = px if px < span_x else 2 * span_x - px
        y = py if py < span_y else 2 * span_y - py
        img[y : y + side, x : x + side] = (255, 255, 255)
        timecode.write_timecode(img, t_ns, seq)
        return img


def bframes_options(bframes: int) -> str:
    """x264enc settings and caps for ``bframes`` B-frames between references (0: none).

    With B-frames the encoder sends frames in decoding order (each RTP timestamp is the
    frame's presentation time, so timestamps step back), and the profile must allow them.
    """
    if bframes <= 0:
        return "bframes=0 ! video/x-h264,profile=constrained-baseline"
    return f"bframes={bframes} b-adapt=false ! video/x-h264,profile=main"


AUDIO_ENCODERS = {
    "aac": "voaacenc bitrate=64000 ! rtpmp4gpay",
    "opus": "opusenc bitrate=32000 ! rtpopuspay",
    "pcma": "alawenc ! rtppcmapay",
}


def with_audio_track(video: str, audio: str, audio_first: bool) -> tuple[str, str]:
    """The launch line for ``video`` (a branch ending in a payloader named ``{pay}``) and,
    unless ``audio`` is ``"none"``, a live audio track (``aac``, ``opus`` or ``pcma``; a quiet
    tone) before or after it; returns it and the video payloader's name.

    gst-rtsp-server lists the tracks in payloader order (``pay0`` first), as cameras that
    put audio first (``--audio-first``) or after the video do.
    """
    if audio == "none":
        return f"( {video.format(pay='pay0')} )", "pay0"
    video_pay, audio_pay = ("pay1", "pay0") if audio_first else ("pay0", "pay1")
    track = (
        "audiotestsrc is-live=true wave=sine volume=0.05 "
        "! audio/x-raw,rate=48000,channels=1 ! audioconvert ! audioresample "
        f"! {AUDIO_ENCODERS[audio]} name={audio_pay} pt=97"
    )
    branches = [track, video.format(pay=video_pay)]
    return f"( {' '.join(branches if audio_first else branches[::-1])} )", video_pay


def sync_rtcp_to_capture_time(media: Any) -> None:
    """Make the media's sender reports map RTP time to the *capture* time, as a camera's do.

    rtpbin's default (``rtcp-sync-send-time=true``) maps it to the time each packet is sent:
    every picture then appears to have been captured the pipeline's latency late, which is
    x264's reordering delay with B-frames (67 ms at ``bframes=2``, 30 fps) and, when a client
    sets up an audio track too, that branch's latency (about 60 ms for Opus here).
    """
    pipeline = media.get_element().get_parent()
    found = pipeline.iterate_recurse() if pipeline is not None else None
    while found is not None:
        result, element = found.next()
        if result != Gst.IteratorResult.OK:
            break
        factory = element.get_factory()
        if factory is not None and factory.get_name() == "rtpbin":
            element.set_property("rtcp-sync-send-time", False)


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
        self.stopping = threading.Event()
        self.seq = 0
        self.rtcp_capture_time = not args.rtcp_send_time
        self.factory = self._make_factory(args)
        self.thread = threading.Thread(target=self._push_loop, name=f"push-{name}", daemon=True)

    def _make_factory(self, args: argparse.Namespace) -> Any:
        f, w, h = self.fps, self.width, self.height
        gop = max(1, f)
        video = (
            "appsrc name=src is-live=true format=time do-timestamp=true "
            "max-buffers=2 leaky-type=downstream "
            f"caps=video/x-raw,format=BGR,width={w},height={h},framerate={f}/1 "
            "! videoconvert ! video/x-raw,format=I420 "
            "! x264enc tune=zerolatency speed-preset=ultrafast threads=1 sliced-threads=false "
            f"key-int-max={gop} bitrate={args.bitrate_kbps} {bframes_options(args.bframes)} "
            "! rtph264pay name={pay} pt=96 config-interval=-1"
        )
        launch, self.video_pay = with_audio_track(video, args.audio, args.audio_first)
        factory = MountFactory(self)
        factory.set_launch(launch)
        factory.set_shared(args.shared)
        factory.set_latency(0)
        if args.udp_only:
            factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP | GstRtsp.RTSPLowerTrans.UDP_MCAST)
        else:
            factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP | GstRtsp.RTSPLowerTrans.TCP)
        if args.realtime_clock:
            clock = Gst.SystemClock.obtain()
            clock.set_property("clock-type", Gst.ClockType.REALTIME)
            factory.set_clock(clock)
        if args.user:
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
        appsrc = element.get_by_name("src")
        pay = element.get_by_name(self.video_pay)
        media.connect("unprepared", self._on_unprepared, appsrc)
        if self.rtcp_capture_time:
            media.connect("prepared", sync_rtcp_to_capture_time)
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
            t_ns = time.time_ns()
            img = self.scene.render(self.seq, t_ns)
            self.seq += 1
            buf = Gst.Buffer.new_wrapped(img.tobytes())
            for i, appsrc in enumerate(appsrcs):  # one rendering, the same frame for everyone
                appsrc.emit("push-buffer", buf if i == 0 else buf.copy())


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
    p.add_argument("--bframes", type=int, default=0, help="x264enc B-frames between references")
    p.add_argument("--audio", choices=("none", *AUDIO_ENCODERS), default="none")
    p.add_argument(
        "--rtcp-send-time",
        action="store_true",
        help="sender reports on rtpbin's default send-time clock, not the capture time",
    )
    p.add_argument("--audio-first", action="store_true", help="the audio track before the video")
    p.add_argument(
        "--shared",
        action="store_true",
        help="one media (one encoder) for all clients of a mount, as a camera does",
    )
    p.add_argument("--realtime-clock", dest="realtime_clock", action="store_true", default=True)
    p.add_argument("--no-realtime-clock", dest="realtime_clock", action="store_false")
    args = p.parse_args(argv)
    w, _, h = args.size.lower().partition("x")
    args.width, args.height = int(w), int(h)
    if args.user and not args.password_env:
        p.error("--user needs --password-env")
    args.password = os.environ.get(args.password_env, "") if args.password_env else None
    if args.user and not args.password:
        p.error(f"environment variable {args.password_env} is empty or unset")
    return args


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
