"""What one stream's panel shows: its picture as JPEG and its caption; and a rate meter.

Example:
    >>> import re
    >>> re.sub("<[^>]+>", "", caption_html(48.0, 0, 3, "streaming"))
    'age 48 ms · depth 0 · dropped 3 · streaming'
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ipywidgets as widgets
    import numpy as np
    import numpy.typing as npt

__all__ = ["RateMeter", "Shown", "caption_html", "encode_jpeg", "html_escape"]


class Shown:
    """Mixin for a view with a ``widget``: the last value of a notebook cell shows it.

    Example:
        >>> import ipywidgets
        >>> class Hello(Shown):
        ...     def __init__(self) -> None:
        ...         self.widget = ipywidgets.HTML("hello")
        >>> "application/vnd.jupyter.widget-view+json" in Hello()._repr_mimebundle_()
        True
    """

    widget: widgets.Widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def html_escape(text: str) -> str:
    """``text`` safe to put inside HTML or SVG.

    Example:
        >>> html_escape("<cam & 1>")
        '&lt;cam &amp; 1&gt;'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blank_jpeg(width: int) -> bytes:
    """A light grey 16:9 picture, shown until a stream's first frame (an empty image widget
    would draw as a broken image).

    Example:
        >>> blank_jpeg(32)[:2]
        b'\\xff\\xd8'
    """
    import numpy as np

    return encode_jpeg(np.full((max(1, width * 9 // 16), width, 3), 235, np.uint8), width)


def encode_jpeg(image: npt.NDArray[np.uint8], width: int, quality: int = 75) -> bytes:
    """Downscale a BGR image to ``width`` px (keeping its aspect) and encode it as JPEG.

    Example:
        >>> import numpy as np
        >>> encode_jpeg(np.zeros((360, 640, 3), np.uint8), 160)[:2]
        b'\\xff\\xd8'
    """
    import cv2

    h, w = image.shape[:2]
    small: npt.NDArray[Any] = image
    if w > width:
        size = (width, max(1, round(h * width / w)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"JPEG encoding failed for an image of shape {small.shape}")
    return bytes(buf.tobytes())


class RateMeter:
    """Events per second over the last ``window_s`` seconds.

    Example:
        >>> m = RateMeter(window_s=2.0)
        >>> for i in range(21):
        ...     m.tick(i * 0.1)
        >>> round(m.rate(2.0), 1)
        10.0
        >>> m.rate(10.0)
        0.0
    """

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._ticks: deque[float] = deque()

    def tick(self, now_s: float) -> None:
        """Count one event at ``now_s`` (monotonic seconds).

        Example:
            >>> RateMeter().tick(0.0)
        """
        self._ticks.append(now_s)
        while self._ticks and self._ticks[0] < now_s - self.window_s:
            self._ticks.popleft()

    def rate(self, now_s: float) -> float:
        """Events per second in the window ending at ``now_s``; 0 when fewer than two.

        Example:
            >>> RateMeter().rate(0.0)
            0.0
        """
        while self._ticks and self._ticks[0] < now_s - self.window_s:
            self._ticks.popleft()
        if len(self._ticks) < 2:
            return 0.0
        return (len(self._ticks) - 1) / max(now_s - self._ticks[0], 1e-9)

    def clear(self) -> None:
        """Forget every event (after a pause, the rate starts afresh).

        Example:
            >>> m = RateMeter(); m.tick(0.0); m.clear(); m.rate(0.0)
            0.0
        """
        self._ticks.clear()


def caption_html(
    age_ms: float | None,
    depth: int | None,
    dropped: int,
    state: str,
    maxsize: int = 0,
    note: str = "",
) -> str:
    """A stream's caption: age, depth (``n/max`` for a bounded queue), drops since start, state.

    ``age_ms=None`` means the stream had no frame in the last set (shown as a gap); ``note``
    is a line under it (the reason of an ``overloaded`` state).

    Example:
        >>> import re
        >>> text = re.sub("<[^>]+>", "", caption_html(123.4, 2, 7, "streaming"))
        >>> text
        'age 123 ms · depth 2 · dropped 7 · streaming'
        >>> re.sub("<[^>]+>", "", caption_html(None, None, 7, "stalled"))
        'age — · no frame · dropped 7 · stalled'
        >>> re.sub("<[^>]+>", "", caption_html(900.0, 89, 3, "streaming", maxsize=90))
        'age 900 ms · depth 89 (queue full: this frame + 89 waiting = 90, dropping oldest) · dropped 3 · streaming'
        >>> note = "decoders cannot keep up: 31 % of frames skipped at keyframes"
        >>> re.sub("<[^>]+>", "|", caption_html(700.0, 0, 0, "overloaded", note=note)).split("|")[-3]
        'decoders cannot keep up: 31 % of frames skipped at keyframes'
    """
    if age_ms is None:
        head = "age — · no frame"
    else:
        color = "#2ca02c" if age_ms < 250 else "#ff7f0e" if age_ms < 1000 else "#d62728"
        full = maxsize > 0 and depth is not None and depth >= maxsize - 1
        depth_text = f"{depth}" if not full else f"<b style='color:#d62728'>{depth}</b>"
        head = f"age <b style='color:{color}'>{age_ms:.0f} ms</b> · depth {depth_text}"
        if full:
            head += (
                f" <span style='color:#d62728'>(queue full: this frame + {depth} waiting ="
                f" {maxsize}, dropping oldest)</span>"
            )
    return (
        "<div class='rtsplab-caption-text' style='font-size:12px;line-height:1.4em'>"
        f"{head} · dropped {dropped} · {html_escape(state)}"
        + (f"<br><span style='color:#d62728'>{html_escape(note)}</span>" if note else "")
        + "</div>"
    )


def overload_line(states: dict[str, Any], reasons: dict[str, str]) -> str:
    """The status line's part on decoding overload: which streams skip to keyframes, and
    why; empty when none does.

    Example:
        >>> overload_line({"a": "streaming"}, {})
        ''
        >>> overload_line({"a": "overloaded", "b": "streaming"},
        ...               {"a": "decoders cannot keep up: 31 % of frames skipped at keyframes"})
        'decoders cannot keep up: 1 of 2 streams skip to keyframes (31 % of frames skipped at keyframes)'
    """
    hit = [n for n, st in states.items() if str(getattr(st, "value", st)) == "overloaded"]
    if not hit:
        return ""
    why = reasons.get(hit[0], "").partition(": ")[2]
    return f"decoders cannot keep up: {len(hit)} of {len(states)} streams skip to keyframes" + (
        f" ({why})" if why else ""
    )
