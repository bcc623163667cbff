"""A machine-readable capture timecode burned into the top strip of each frame.

The simulator (and the gst-rtsp-server test fixture) stamp every frame with the wall-clock
capture time ``t_ns`` (``time.time_ns()``) and a sequence number. Readers decode it from the
*decoded* image, so frame age is measured end to end (source clock -> consumer), including
encoder, network, jitter buffer, decoder and any queue in between, with no trust in RTP or
RTCP timestamps.

Layout: a strip of ``ROWS x COLS`` square cells across the top of the frame, each cell black
(bit 0) or white (bit 1). The cell side is ``width // COLS`` pixels (16 px at 640 wide), which
keeps the code aligned to H.264's 16x16 macroblocks at the default size. 120 bits:

==========  =====  =================================================
field       bits   meaning
==========  =====  =================================================
magic       8      ``0xA5``: tells "no timecode here" from "damaged"
seq         32     frame number at the source
t_ns        64     capture time, ns since the Unix epoch
crc         16     CRC-16/CCITT over the 13 bytes above
==========  =====  =================================================

Each cell is read as the mean of its inner half, so blocking and ringing at the cell edges
after lossy compression do not flip bits; a frame that is damaged anyway fails the CRC and
reads as ``None`` rather than as a wrong time.

Example:
    >>> import numpy as np
    >>> img = np.zeros((360, 640, 3), np.uint8)
    >>> write_timecode(img, 1_700_000_000_123_456_789, 42)
    >>> read_timecode(img)
    Timecode(t_ns=1700000000123456789, seq=42)
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["COLS", "ROWS", "Timecode", "cell_px", "read_timecode", "strip_height", "write_timecode"]

COLS = 40
ROWS = 3
MAGIC = 0xA5
_NBITS = ROWS * COLS  # 120 = 8 magic + 32 seq + 64 t_ns + 16 crc


@dataclass(frozen=True)
class Timecode:
    """A decoded timecode.

    Attributes:
        t_ns: wall-clock capture time at the source, ns since the epoch (``time.time_ns()``).
        seq: the source's frame number (wraps at 2**32).

    Example:
        >>> Timecode(t_ns=1, seq=2).seq
        2
    """

    t_ns: int
    seq: int


def cell_px(width: int) -> int:
    """Side of one code cell in pixels for a frame ``width`` pixels wide.

    Example:
        >>> cell_px(640), cell_px(1920)
        (16, 48)
    """
    return max(2, width // COLS)


def strip_height(width: int) -> int:
    """Height in pixels of the timecode strip for a frame ``width`` pixels wide.

    Example:
        >>> strip_height(640)
        48
    """
    return ROWS * cell_px(width)


def _payload(t_ns: int, seq: int) -> bytes:
    body = struct.pack(">BIQ", MAGIC, seq & 0xFFFFFFFF, t_ns & 0xFFFFFFFFFFFFFFFF)
    return body + struct.pack(">H", binascii.crc_hqx(body, 0xFFFF))


def encode_bits(t_ns: int, seq: int) -> npt.NDArray[np.uint8]:
    """The 120 code bits (0/1) for ``t_ns`` and ``seq``, most significant first.

    Example:
        >>> encode_bits(0, 0)[:8].tolist()
        [1, 0, 1, 0, 0, 1, 0, 1]
    """
    return np.unpackbits(np.frombuffer(_payload(t_ns, seq), dtype=np.uint8))


def write_timecode(image: npt.NDArray[np.uint8], t_ns: int, seq: int) -> None:
    """Burn ``t_ns`` and ``seq`` into the top strip of ``image`` in place (BGR or grayscale).

    Raises:
        ValueError: the image is too small to hold the code (narrower than 80 px or
            shorter than the strip).

    Example:
        >>> img = np.zeros((360, 640), np.uint8)
        >>> write_timecode(img, 5, 6); read_timecode(img)
        Timecode(t_ns=5, seq=6)
    """
    h, w = image.shape[:2]
    c = cell_px(w)
    if w < 2 * COLS or h < ROWS * c:
        raise ValueError(f"image {w}x{h} is too small for a timecode strip")
    cells = encode_bits(t_ns, seq).reshape(ROWS, COLS) * np.uint8(255)
    strip = np.kron(cells, np.ones((c, c), np.uint8))
    if image.ndim == 3:
        strip = strip[:, :, None]
    image[: ROWS * c, : COLS * c] = strip
    if COLS * c < w:  # the leftover columns: mid-grey, so they never read as code
        image[: ROWS * c, COLS * c :] = 128


def read_timecode(image: npt.NDArray[np.uint8]) -> Timecode | None:
    """Decode the timecode from ``image``; ``None`` if absent or damaged (bad magic or CRC).

    Costs about 15 µs at 640x360 (55 µs at 1920x1080): it reads only the strip, adding the
    inner rows of each row of cells first (one pass over contiguous pixels), then the inner
    columns of each cell.

    Example:
        >>> read_timecode(np.zeros((360, 640, 3), np.uint8)) is None
        True
    """
    if image is None or image.ndim < 2:
        return None
    h, w = image.shape[:2]
    c = cell_px(w)
    if w < 2 * COLS or h < ROWS * c:
        return None
    strip = image[: ROWS * c, : COLS * c]
    if strip.ndim == 3:
        strip = strip[:, :, 1] if strip.shape[2] >= 3 else strip[:, :, 0]  # green ~ luma
    q = max(1, c // 4)
    side = c - 2 * q  # the inner half of a cell, in pixels
    rows = strip.reshape(ROWS, c, COLS * c)[:, q : c - q, :]
    row_sums = np.add.reduce(rows, axis=1, dtype=np.uint16 if side <= 257 else np.uint32)
    cell_sums = row_sums.reshape(ROWS, COLS, c)[:, :, q : c - q].sum(axis=2, dtype=np.uint32)
    bits = (cell_sums >= 128 * side * side).astype(np.uint8).reshape(-1)
    raw = np.packbits(bits).tobytes()
    if raw[0] != MAGIC or binascii.crc_hqx(raw[:13], 0xFFFF) != struct.unpack(">H", raw[13:])[0]:
        return None
    _, seq, t_ns = struct.unpack(">BIQ", raw[:13])
    return Timecode(t_ns=t_ns, seq=seq)
