"""What a simulated camera films: a cheap moving test scene with a wall clock and a timecode.

Everything that never changes (background gradient, grid, camera name) is drawn once and
cached; each frame copies the cache and draws only the moving parts with OpenCV, so a
640x360 frame costs well under a millisecond. The machine-readable timecode
(:func:`rtsplab.timecode.write_timecode`) goes on top, last, so nothing covers it.

Example:
    >>> from rtsplab.timecode import read_timecode
    >>> img = Scene("cam1", 640, 360).render(1_700_000_000_000_000_000, 7)
    >>> img.shape, read_timecode(img).seq
    ((360, 640, 3), 7)
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import numpy.typing as npt

from rtsplab.timecode import strip_height, write_timecode

__all__ = ["Scene", "clock_text"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def clock_text(t_ns: int) -> str:
    """Human-readable local wall clock with milliseconds, e.g. ``'14:03:07.250'``.

    Example:
        >>> len(clock_text(time.time_ns()))
        12
    """
    secs, rem_ns = divmod(t_ns, 1_000_000_000)
    return time.strftime("%H:%M:%S", time.localtime(secs)) + f".{rem_ns // 1_000_000:03d}"


class Scene:
    """Draws the frames of one simulated camera.

    Args:
        name: camera name, drawn in the picture.
        width: frame width in pixels (at least 80).
        height: frame height in pixels (must leave room below the timecode strip).

    Example:
        >>> Scene("cam2", 320, 180).render(0, 0).shape
        (180, 320, 3)
    """

    def __init__(self, name: str, width: int, height: int) -> None:
        if width < 80 or height < strip_height(width) + 16:
            raise ValueError(f"frame size {width}x{height} is too small for the test scene")
        self.name = name
        self.width = width
        self.height = height
        self._top = strip_height(width)
        self._scale = max(0.35, height / 720)
        self._background = self._draw_background()

    def _draw_background(self) -> npt.NDArray[np.uint8]:
        w, h = self.width, self.height
        # a hue that depends on the name, so cameras are easy to tell apart
        hue = sum(self.name.encode()) * 37 % 180
        ramp = np.linspace(40, 110, w, dtype=np.float32)
        hsv = np.empty((h, w, 3), np.uint8)
        hsv[:, :, 0] = hue
        hsv[:, :, 1] = 90
        hsv[:, :, 2] = ramp[None, :].astype(np.uint8)
        img: npt.NDArray[np.uint8] = np.ascontiguousarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR))
        step = max(16, w // 16)
        for x in range(0, w, step):
            cv2.line(img, (x, self._top), (x, h - 1), (70, 70, 70), 1)
        for y in range(self._top, h, step):
            cv2.line(img, (0, y), (w - 1, y), (70, 70, 70), 1)
        s = self._scale * 2.0
        cv2.putText(img, self.name, (8, h - 12), _FONT, s, (0, 0, 0), 6, cv2.LINE_AA)
        cv2.putText(img, self.name, (8, h - 12), _FONT, s, (255, 255, 255), 2, cv2.LINE_AA)
        return img

    def render(self, t_ns: int, seq: int) -> npt.NDArray[np.uint8]:
        """A new BGR frame for capture time ``t_ns`` (``time.time_ns()``) and frame ``seq``.

        Example:
            >>> Scene("c", 640, 360).render(0, 1).dtype
            dtype('uint8')
        """
        img = self._background.copy()
        w, h, top = self.width, self.height, self._top
        t_s = (t_ns % 3_600_000_000_000) / 1e9
        # a bar sweeping left to right once per 2 s, and a ball bouncing vertically
        bar_x = int((t_s / 2.0 % 1.0) * (w - 24))
        cv2.rectangle(img, (bar_x, top + 4), (bar_x + 24, h - 1), (0, 200, 255), -1)
        r = max(6, h // 18)
        phase = abs((t_s / 1.5 % 2.0) - 1.0)
        ball_y = int(top + r + phase * (h - top - 2 * r - 1))
        cv2.circle(img, (w - 3 * r, ball_y), r, (60, 60, 230), -1, cv2.LINE_AA)
        s = self._scale * 1.6
        text = clock_text(t_ns)
        y = top + int(44 * self._scale * 1.6)
        cv2.putText(img, text, (8, y), _FONT, s, (0, 0, 0), 5, cv2.LINE_AA)
        cv2.putText(img, text, (8, y), _FONT, s, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.putText(
            img, f"#{seq}", (8, y + int(34 * self._scale * 1.6)), _FONT, s * 0.6,
            (255, 255, 255), 1, cv2.LINE_AA,
        )  # fmt: skip
        write_timecode(img, t_ns, seq)
        return img
