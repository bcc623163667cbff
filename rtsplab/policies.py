"""Buffer policies between a reader's decode thread and its consumer.

The reader loop (:class:`rtsplab.readers.Reader`) is the same for every strategy; only what
happens to a decoded frame differs, and that is a policy:

- :class:`QueuePolicy` (``buffered``): keep every frame in FIFO order, unbounded by default.
  A consumer slower than the camera reads ever older frames: the problem statement's list.
- :class:`LatestPolicy` (``latest``): keep only the newest frame(s); older ones are dropped
  the moment a newer one is decoded. ``keep > 1`` retains a short history, which
  timestamp-matched groups use to pair frames across streams.

A policy is a small thread-safe container: ``put`` from the decode thread, ``take`` from the
consumer, ``fail`` to hand a fatal error to the consumer, ``close`` to wake everyone up.
The items are whatever the decode thread stamped (the reader's
:class:`~rtsplab.readers.Stamped` records); a policy never looks inside them. Dropped frames
are not counted here: every decoded frame carries the reader's sequence number, and the gap
between two reads is the drop count.

After ``fail`` the stream is over: items never handed out are still handed out, then every
``take`` raises the error; no item is handed out twice (``latest`` included).

Example:
    >>> p = LatestPolicy()
    >>> p.put("a"); p.put("b")
    >>> p.take(timeout_s=0.1)
    ('b', 0)
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from rtsplab.entities import Overflow
from rtsplab.errors import ReadTimeout, RtspLabError, StreamClosed

__all__ = ["LatestPolicy", "Policy", "QueuePolicy"]

T = TypeVar("T")


class Policy(ABC, Generic[T]):
    """What a reader does with each decoded frame until the consumer takes one.

    Example:
        >>> issubclass(QueuePolicy, Policy)
        True
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._closed = False
        self._error: RtspLabError | None = None

    @abstractmethod
    def _push(self, item: T) -> None:
        """Store ``item`` (lock held)."""

    @abstractmethod
    def _ready(self, fresh: bool) -> bool:
        """Whether ``take`` can return now (lock held)."""

    @abstractmethod
    def _pop(self) -> tuple[T, int]:
        """The item to hand out and the number of items still waiting (lock held)."""

    @abstractmethod
    def _depth(self) -> int:
        """Items waiting (lock held)."""

    def put(self, item: T) -> None:
        """Store a decoded frame (decode thread). Clears a previous error.

        Example:
            >>> QueuePolicy().put(1)
        """
        with self._cond:
            if self._closed:
                return
            self._error = None
            self._push(item)
            self._cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        """Wait (lock held by this call) until ``predicate()`` is true.

        Raises:
            ReadTimeout: not true within ``timeout_s``.
            StreamClosed: the policy was closed.
            RtspLabError: the decode thread's error, if one is pending.

        Example:
            >>> QueuePolicy().wait(lambda: True, 0.0)
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate():
                if self._closed:
                    raise StreamClosed("the reader is closed")
                if self._error is not None:
                    raise self._error
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ReadTimeout(f"no frame within {timeout_s:g} s")
                self._cond.wait(remaining)

    def take(self, timeout_s: float, fresh: bool = False) -> tuple[T, int]:
        """Return ``(item, depth)``, waiting at most ``timeout_s``; see :meth:`wait`.

        Example:
            >>> QueuePolicy().take(0.01)
            Traceback (most recent call last):
            ...
            rtsplab.errors.ReadTimeout: no frame within 0.01 s
        """
        with self._cond:
            self.wait(lambda: self._ready(fresh), timeout_s)
            item, depth = self._pop()
            self._cond.notify_all()  # wakes a decode thread blocked on a full queue
            return item, depth

    def fail(self, error: RtspLabError) -> None:
        """The stream is over: ``take`` raises ``error`` whenever it has nothing new to hand
        out (a ``latest`` policy no longer repeats its newest item).

        Example:
            >>> p = QueuePolicy(); p.fail(StreamClosed("gone")); p.take(1)
            Traceback (most recent call last):
            ...
            rtsplab.errors.StreamClosed: gone
        """
        with self._cond:
            self._error = error
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiter; further puts are ignored. Idempotent.

        Example:
            >>> p = LatestPolicy(); p.close(); p.close()
        """
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def depth(self) -> int:
        """Frames currently waiting.

        Example:
            >>> QueuePolicy().depth
            0
        """
        with self._cond:
            return self._depth()


class QueuePolicy(Policy[T]):
    """FIFO queue: every frame is kept until read (the ``buffered`` strategy).

    Args:
        maxsize: 0 for unbounded (the default, to show the failure); otherwise the bound.
        overflow: when full, ``block`` the decode thread (frames then pile up in the socket
            and in FFmpeg instead) or ``drop_oldest``.

    Example:
        >>> q = QueuePolicy(maxsize=2, overflow="drop_oldest")
        >>> for i in range(4): q.put(i)
        >>> q.take(0.1)
        (2, 1)
    """

    def __init__(self, maxsize: int = 0, overflow: Overflow | str = Overflow.BLOCK) -> None:
        super().__init__()
        if maxsize < 0:
            raise ValueError("maxsize must be >= 0 (0 = unbounded)")
        self.maxsize = maxsize
        self.overflow = Overflow(overflow)
        self._items: deque[T] = deque()

    def _push(self, item: T) -> None:
        while self.maxsize and len(self._items) >= self.maxsize:
            if self.overflow is Overflow.DROP_OLDEST:
                self._items.popleft()
            elif self._closed:
                return
            else:
                self._cond.wait(0.1)
        self._items.append(item)

    def _ready(self, fresh: bool) -> bool:
        return bool(self._items)

    def _pop(self) -> tuple[T, int]:
        item = self._items.popleft()
        return item, len(self._items)

    def _depth(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"QueuePolicy(maxsize={self.maxsize}, overflow={self.overflow.value})"


class LatestPolicy(Policy[T]):
    """Keep only the newest frame (drop stale): the ``latest`` strategy.

    ``take(fresh=False)`` returns the newest frame at once, even if it was returned before
    (unless the stream failed: then only a frame not returned yet);
    ``take(fresh=True)`` waits for a frame newer than the last one returned.

    Args:
        keep: how many of the newest frames to retain (1 = latest only). Groups that match
            frames by timestamp read this history with :meth:`history`.

    Example:
        >>> p = LatestPolicy(keep=3)
        >>> for i in range(5): p.put(i)
        >>> p.history()
        [2, 3, 4]
        >>> p.take(0.1), p.take(0.1)  # the newest, possibly the same
        ((4, 0), (4, 0))
        >>> p.fail(StreamClosed("gone")); p.take(0.1)
        Traceback (most recent call last):
        ...
        rtsplab.errors.StreamClosed: gone
    """

    def __init__(self, keep: int = 1) -> None:
        super().__init__()
        if keep < 1:
            raise ValueError("keep must be >= 1")
        self._items: deque[T] = deque(maxlen=keep)
        self._last: T | None = None

    def _push(self, item: T) -> None:
        self._items.append(item)

    def _ready(self, fresh: bool) -> bool:
        if not self._items:
            return False
        if self._error is not None:  # the stream is over: never hand the same frame again
            fresh = True
        return not fresh or self._items[-1] is not self._last

    def _pop(self) -> tuple[T, int]:
        self._last = self._items[-1]
        return self._last, 0

    def _depth(self) -> int:
        return 0

    def history(self) -> list[T]:
        """The retained frames, oldest first (a copy).

        Example:
            >>> LatestPolicy().history()
            []
        """
        with self._cond:
            return list(self._items)

    def newest_key(self, key: Callable[[T], int], default: int = -1) -> int:
        """``key(newest item)``, or ``default`` when empty.

        Example:
            >>> p = LatestPolicy(); p.put(7); p.newest_key(lambda x: x)
            7
        """
        with self._cond:
            return key(self._items[-1]) if self._items else default

    def __repr__(self) -> str:
        return f"LatestPolicy(keep={self._items.maxlen})"
