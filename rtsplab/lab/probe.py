"""``rtsplab probe``: open one stream, report what it is and how fresh its frames are.

Example:
    >>> probe("rtsp://127.0.0.1:8554/cam1", seconds=2)["open_s"]  # doctest: +SKIP
    0.071
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rtsplab.backends import Profile
from rtsplab.entities import Transport
from rtsplab.errors import ReadTimeout
from rtsplab.readers import Reader

__all__ = ["probe"]


def probe(
    url: str,
    seconds: float = 5.0,
    backend: str = "auto",
    transport: Transport | str = Transport.AUTO,
    profile: str = Profile.LOW_LATENCY,
    **reader_kwargs: Any,
) -> dict[str, Any]:
    """Open ``url``, read the newest frame as fast as frames come for ``seconds``, report.

    Returns a dict with ``url`` (redacted), ``backend`` (the one used: ``auto`` resolved),
    ``profile``, ``codec``, ``width``,
    ``height``, ``fps``, ``transport``, ``open_s``, ``first_frame_age_ms``, ``clock``,
    ``frames``, ``age_ms`` (``p50``, ``p99``), ``bad_packets`` (malformed packets dropped;
    only the native backend sees packets), ``lost_packets`` (likewise), ``frames_skipped``
    (frames skipped undecoded because decoding fell behind), ``reconnects`` and
    ``camera_clock``: the check of the camera's clock (``source``, ``offset_ms``,
    ``drift_ppm``, ``verdict``, ``corrected`` and a sentence, ``note``), or None when the
    stream gives no camera clock (see :mod:`rtsplab.camera_clock`).

    Raises:
        RtspLabError: the stream could not be opened or read.

    Example:
        >>> probe("rtsp://127.0.0.1:8554/cam1", seconds=1)["clock"]  # doctest: +SKIP
        'timecode'
    """
    t0 = time.monotonic()
    with Reader(
        url,
        strategy="latest",
        backend=backend,
        transport=transport,
        profile=profile,
        **reader_kwargs,
    ) as r:
        frames = [r.read_frame(fresh=True)]
        while time.monotonic() - t0 < seconds:
            try:
                frames.append(r.read_frame(fresh=True))
            except ReadTimeout:
                break
        ages = np.array([f.age_ms for f in frames])
        fps_measured = (len(frames) - 1) / max(
            1e-9, (frames[-1].t_read_ns - frames[0].t_read_ns) / 1e9
        )
        cam = r.camera_clock
        camera_clock = None
        if cam is not None:
            camera_clock = {
                "source": cam.source,
                "offset_ms": round(cam.offset_ms, 1),
                "drift_ppm": round(cam.drift_ppm, 1) if cam.drift_ppm is not None else None,
                "verdict": cam.verdict,
                "corrected": cam.corrected,
                "note": cam.describe(r.name),
            }
        return {
            "url": r.url.redacted,
            "backend": r.backend_used,
            "profile": profile,
            "codec": r.info.codec,
            "width": r.info.width or int(frames[0].image.shape[1]),
            "height": r.info.height or int(frames[0].image.shape[0]),
            "fps": round(r.info.fps, 3) if r.info.fps and r.info.fps < 1000 else None,
            "fps_measured": round(fps_measured, 2),
            "transport": r.transport_used.value,
            "open_s": round(r.open_s, 3),
            "first_frame_age_ms": round(frames[0].age_ms, 1),
            "clock": frames[-1].clock.value,
            "frames": len(frames),
            "bad_packets": r.bad_packets,
            "lost_packets": r.lost_packets,
            "frames_skipped": r.frames_skipped,
            "reconnects": r.reconnects,
            "camera_clock": camera_clock,
            "age_ms": {
                "p50": round(float(np.percentile(ages, 50)), 1),
                "p99": round(float(np.percentile(ages, 99)), 1),
            },
        }
