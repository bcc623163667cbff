"""Buffer policies: the only thing that differs between the buffered and latest strategies."""

from __future__ import annotations

import threading
import time

import pytest

from rtsplab.errors import ReadTimeout, StreamClosed
from rtsplab.policies import LatestPolicy, QueuePolicy


def test_queue_is_fifo_and_reports_depth() -> None:
    q: QueuePolicy[int] = QueuePolicy()
    for i in range(5):
        q.put(i)
    assert [q.take(0.1) for _ in range(5)] == [(0, 4), (1, 3), (2, 2), (3, 1), (4, 0)]


def test_unbounded_queue_keeps_everything() -> None:
    q: QueuePolicy[int] = QueuePolicy()
    for i in range(1000):
        q.put(i)
    assert q.depth == 1000


def test_drop_oldest_keeps_the_newest_maxsize() -> None:
    q: QueuePolicy[int] = QueuePolicy(maxsize=3, overflow="drop_oldest")
    for i in range(10):
        q.put(i)
    assert [q.take(0.1)[0] for _ in range(3)] == [7, 8, 9]


def test_block_overflow_blocks_the_producer_until_a_take() -> None:
    q: QueuePolicy[int] = QueuePolicy(maxsize=1, overflow="block")
    q.put(0)
    done = threading.Event()
    t = threading.Thread(target=lambda: (q.put(1), done.set()), daemon=True)
    t.start()
    assert not done.wait(0.2)  # producer is blocked on the full queue
    assert q.take(0.1) == (0, 0)
    assert done.wait(1.0)
    t.join(1.0)
    assert q.take(0.1) == (1, 0)


def test_close_releases_a_blocked_producer() -> None:
    q: QueuePolicy[int] = QueuePolicy(maxsize=1)
    q.put(0)
    t = threading.Thread(target=q.put, args=(1,), daemon=True)
    t.start()
    q.close()
    t.join(1.0)
    assert not t.is_alive()


def test_latest_returns_newest_and_repeats_without_fresh() -> None:
    p: LatestPolicy[int] = LatestPolicy()
    for i in range(5):
        p.put(i)
    assert p.take(0.1) == (4, 0)
    assert p.take(0.1) == (4, 0)  # fresh=False: the newest, even if seen
    with pytest.raises(ReadTimeout):
        p.take(0.05, fresh=True)  # nothing newer yet
    p.put(5)
    assert p.take(0.1, fresh=True) == (5, 0)


def test_fresh_take_wakes_on_put_from_another_thread() -> None:
    p: LatestPolicy[int] = LatestPolicy()
    p.put(0)
    p.take(0.1)
    threading.Timer(0.05, p.put, args=(1,)).start()
    t0 = time.monotonic()
    assert p.take(2.0, fresh=True) == (1, 0)
    assert time.monotonic() - t0 < 1.0


def test_history_keeps_the_last_keep_items() -> None:
    p: LatestPolicy[int] = LatestPolicy(keep=4)
    for i in range(10):
        p.put(i)
    assert p.history() == [6, 7, 8, 9]
    assert p.newest_key(lambda x: x * 10) == 90


def test_fail_is_raised_only_when_empty_and_cleared_by_put() -> None:
    q: QueuePolicy[int] = QueuePolicy()
    q.put(1)
    q.fail(StreamClosed("gone"))
    assert q.take(0.1) == (1, 0)  # buffered frames are still handed out: nothing is lost
    with pytest.raises(StreamClosed, match="gone"):
        q.take(0.1)
    q.put(2)
    assert q.take(0.1) == (2, 0)


def test_take_after_close_raises_stream_closed() -> None:
    p: LatestPolicy[int] = LatestPolicy()
    p.close()
    with pytest.raises(StreamClosed):
        p.take(1.0)


@pytest.mark.parametrize("bad", [{"maxsize": -1}, {"overflow": "explode"}])
def test_queue_rejects_bad_options(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        QueuePolicy(**bad)  # type: ignore[arg-type]
