"""The child process of ``SimServer(process=True)``: an in-process server driven over stdin.

Started as ``python -m rtsplab.sim --child`` by :class:`~rtsplab.sim.process.ChildProcessServer`.
It reads one JSON object a line on stdin (first the server's settings, then commands) and
answers one JSON object a line on its original stdout; anything else printed in the child
goes to stderr, so it cannot corrupt the answers. It stops on ``close``, on SIGTERM, and when
stdin closes (the parent is gone); it ignores SIGINT, which a terminal's Ctrl-C sends to the
whole process group (the parent decides when the child stops).

Example:
    >>> import io
    >>> out = io.BytesIO()
    >>> answer(None, {"cmd": "stall", "name": "cam9", "arg": 1.0}, out)
    >>> json.loads(out.getvalue())["type"]
    'KeyError'
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import asdict
from types import FrameType
from typing import IO, Any

from rtsplab.sim.camera import CameraConfig, SimCamera
from rtsplab.sim.server import InProcessServer

__all__ = ["answer", "main"]


def _send(out: IO[bytes], message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


def answer(srv: InProcessServer | None, msg: dict[str, Any], out: IO[bytes]) -> None:
    """Run one command from the parent on ``srv`` and write the answer line to ``out``.

    Example:
        >>> import io; out = io.BytesIO()
        >>> answer(None, {"cmd": "dance"}, out); out.getvalue()
        b'{"error": "unknown command \\'dance\\'", "type": "ValueError"}\\n'
    """
    cmd = msg.get("cmd")
    try:
        if cmd not in ("connections", "set", "stall", "disconnect", "config"):
            raise ValueError(f"unknown command {cmd!r}")
        if srv is None:
            raise KeyError(f"no camera {msg.get('name')!r}: no server")
        if cmd == "connections":
            _send(out, {"ok": srv.connections})
            return
        cam = srv.camera(str(msg.get("name")))
        if cmd == "set":
            cam.set(**msg["arg"])
        elif cmd == "stall":
            cam.stall(float(msg["arg"]))
        elif cmd == "disconnect":
            cam.disconnect()
        _send(out, {"ok": asdict(cam.config())})
    except Exception as e:
        text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        _send(out, {"error": str(text), "type": type(e).__name__})


def main(argv: list[str] | None = None) -> int:
    """Serve as the child of a :class:`~rtsplab.sim.process.ChildProcessServer`.

    Example:
        >>> main([])  # doctest: +SKIP
        2
    """
    if (sys.argv[1:] if argv is None else argv) != ["--child"]:
        print(
            "python -m rtsplab.sim --child is started by SimServer(process=True); "
            "to serve cameras from a shell, run: rtsplab sim",
            file=sys.stderr,
        )
        return 2
    out = os.fdopen(os.dup(1), "wb", buffering=0)  # answers go on a private copy of stdout
    os.dup2(2, 1)  # and stray prints to stderr

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    line = sys.stdin.buffer.readline()
    if not line:
        return 0
    try:
        spec = json.loads(line)
        cams = [SimCamera.from_config(CameraConfig(**c)) for c in spec["cameras"]]
        user_password = spec["credentials"]
        credentials = (str(user_password[0]), str(user_password[1])) if user_password else None
        srv = InProcessServer(
            cams, spec["host"], int(spec["port"]), credentials, spec["auth"], **spec["options"]
        )
    except Exception as e:  # report why we could not start (bind error...), then exit
        _send(out, {"error": f"{type(e).__name__}: {e}"})
        return 1
    try:
        _send(out, {"ready": srv.port})
        for raw in sys.stdin.buffer:  # ends when the parent closes our stdin or dies
            msg = json.loads(raw)
            if msg.get("cmd") == "close":
                break
            answer(srv, msg, out)
    except (OSError, ValueError):
        pass  # the parent is gone, or sent garbage: stop serving
    finally:
        srv.close()
    return 0
