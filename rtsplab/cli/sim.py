"""``rtsplab sim``: serve simulated cameras until Ctrl-C or SIGTERM.

Prints one URL per line (passwords redacted), then serves. The password comes from the
environment variable ``RTSPLAB_SIM_PASSWORD`` (or ``--password``) and is never printed.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(); add_arguments(p)
    >>> p.parse_args(["--cameras", "3", "--size", "320x180"]).size
    (320, 180)
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import threading
from types import FrameType

from rtsplab.sim.camera import SimCamera
from rtsplab.sim.server import SimServer
from rtsplab.urls import redact

__all__ = ["PASSWORD_ENV", "add_arguments", "run"]

PASSWORD_ENV = "RTSPLAB_SIM_PASSWORD"


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x360, not {text!r}") from None
    return w, h


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``sim`` options on ``parser``.

    Example:
        >>> p = argparse.ArgumentParser(); add_arguments(p); p.parse_args([]).port
        8554
    """
    parser.add_argument("--cameras", type=int, default=2, help="number of cameras (cam1..camN)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8554, help="RTSP port (0 = any free port)")
    parser.add_argument("--fps", type=float, default=30.0, help="frames per second")
    parser.add_argument("--size", type=_size, default=(640, 360), help="WIDTHxHEIGHT")
    parser.add_argument("--bitrate", type=int, default=1_000_000, help="bit/s")
    parser.add_argument("--codec", choices=("h264", "h265"), default="h264", help="video codec")
    parser.add_argument("--gop", type=int, default=30, help="frames between keyframes")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="extra send delay")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="random extra send delay")
    parser.add_argument("--loss", type=float, default=0.0, help="UDP packet loss probability")
    parser.add_argument(
        "--malformed",
        type=float,
        default=0.0,
        help="probability per frame of also sending a malformed RTP/RTCP packet",
    )
    parser.add_argument(
        "--clock-offset-s",
        type=float,
        default=0.0,
        help="the cameras' clock minus true time in RTCP and ONVIF capture times (a camera "
        "without NTP)",
    )
    parser.add_argument(
        "--onvif", action="store_true", help="send the ONVIF RTP header extension (capture time)"
    )
    parser.add_argument("--user", default=None, help="require this user (with a password)")
    parser.add_argument(
        "--password", default=None, help=f"password for --user (better: env {PASSWORD_ENV})"
    )
    parser.add_argument("--auth", choices=("digest", "basic"), default="digest")
    parser.add_argument("--no-tcp", action="store_true", help="refuse RTP over TCP (461)")
    parser.add_argument(
        "--replay",
        nargs="+",
        metavar="CAPTURE",
        help="serve these pcap/pcapng captures (one camera each) with their original timing",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM; return the exit code.

    Example:
        >>> run(build_parser().parse_args(["sim", "--port", "0"]))  # doctest: +SKIP
    """
    credentials = None
    if args.user:
        password = args.password or os.environ.get(PASSWORD_ENV)
        if not password:
            print(f"error: --user needs a password: set {PASSWORD_ENV}", file=sys.stderr)
            return 2
        credentials = (args.user, password)
    cams = [
        SimCamera(
            f"cam{i + 1}", fps=args.fps, size=args.size, gop=args.gop, bitrate=args.bitrate,
            latency_ms=args.latency_ms, jitter_ms=args.jitter_ms, loss=args.loss,
            malformed=args.malformed, clock_offset_s=args.clock_offset_s,
            onvif=1.0 if args.onvif else 0.0,
            codec=args.codec,
        )
        for i in range(args.cameras)
    ]  # fmt: skip
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    try:
        srv = SimServer(
            cams, args.host, args.port, credentials, args.auth, allow_tcp=not args.no_tcp,
            replay=args.replay,
        )  # fmt: skip
    except (OSError, ValueError) as e:
        print(f"error: cannot start the simulator: {e}", file=sys.stderr)
        return 1
    if args.replay:  # the loaded captures stay: a full garbage collection, which walks every
        gc.freeze()  # object there is, would hold up a sender for milliseconds
    old_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        names = [c.name for c in srv.cameras] or list(getattr(srv, "replays", {}))
        for name in names:
            print(redact(srv.url(name, credentials=True)), flush=True)
        print(f"serving {len(names)} camera(s); Ctrl-C to stop", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, old_term)
        srv.close()
    return 0
