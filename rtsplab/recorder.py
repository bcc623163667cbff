"""Per-frame records of what a reader or group handed out, as a tidy pandas DataFrame.

Recording costs one tuple append under a lock per frame (about a microsecond); the DataFrame
is only built when asked for.

Columns of :meth:`Recorder.to_dataframe` (one row per frame handed to the consumer):

=============  ================================================================
column         meaning
=============  ================================================================
run            free label of the experiment run (e.g. ``"latest"``)
stream         stream name
strategy       ``naive`` / ``buffered`` / ``latest``
seq            reader's frame number (gaps = frames dropped)
source_seq     source's frame number from the timecode (``<NA>`` without one)
t_source_ns    capture time at the source (wall clock, per ``clock``)
clock          ``timecode`` / ``onvif`` / ``rtcp`` / ``corrected`` / ``pts`` / ``none``
t_recv_ns      decoded frame available (wall clock)
t_read_ns      handed to the consumer (wall clock)
age_ms         ``t_read - t_source``: the true frame age
transit_ms     ``t_recv - t_source``: encoder + network + decoder
wait_ms        ``t_read - t_recv``: time spent in rtsplab's buffer
depth          frames waiting behind this one at read time
dropped        frames discarded since the previous read of this stream
set_id         group set number (``-1`` for single-stream reads)
skew_ms        the set's skew, max - min ``t_source`` (NaN for single reads)
bad_packets    malformed RTP/RTCP packets the reader dropped so far (native backend)
lost_packets   RTP packets lost on the way so far (native backend; over UDP)
skipped        frames skipped undecoded so far because decoding fell behind (to a keyframe)
backend        the backend that decoded the frame (``native`` / ``pyav`` / ``opencv``)
clock_offset   ``clock_offset_ms``: the camera's clock minus this machine's as measured so
               far, in ms (NaN without a camera clock); see :mod:`rtsplab.camera_clock`
repeat         the same frame as this stream's previous row (``read_frame(fresh=False)``
               on ``latest`` returns the newest frame, possibly again): not a new frame
t_s            seconds since the recorder's first row (from ``t_read_ns``)
=============  ================================================================

Stream state changes (:class:`~rtsplab.entities.StreamState`: connecting, streaming, stalled,
reconnecting, closed) are kept apart, one row each, in :meth:`Recorder.states`: ``run``,
``stream``, ``state``, ``reason``, ``t_ns`` (wall clock, comparable with ``t_read_ns``) and
``t_s``, so a plot can shade each outage from its ``stalled`` row to the next ``streaming``.

Example:
    >>> import numpy as np
    >>> from rtsplab.entities import Clock, Frame
    >>> rec = Recorder()
    >>> rec.add(Frame(np.zeros((2, 2, 3), np.uint8), "cam1", 0, 0, Clock.TIMECODE, 10**6, 3 * 10**6),
    ...         strategy="latest")
    >>> rec.to_dataframe()[["stream", "age_ms", "wait_ms"]].to_dict("records")
    [{'stream': 'cam1', 'age_ms': 3.0, 'wait_ms': 2.0}]
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtsplab.entities import Frame, FrameSet

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "STATE_COLUMNS", "Recorder", "summarize"]

COLUMNS = (
    "run",
    "stream",
    "strategy",
    "seq",
    "source_seq",
    "t_source_ns",
    "clock",
    "t_recv_ns",
    "t_read_ns",
    "age_ms",
    "transit_ms",
    "wait_ms",
    "depth",
    "dropped",
    "set_id",
    "skew_ms",
    "bad_packets",
    "lost_packets",
    "skipped",
    "backend",
    "clock_offset_ms",
    "repeat",
)

STATE_COLUMNS = ("run", "stream", "state", "reason", "t_ns")


class Recorder:
    """Collects one row per frame handed out; thread-safe.

    Args:
        run: default label for the ``run`` column.

    Example:
        >>> rec = Recorder(run="demo")
        >>> len(rec)
        0
    """

    def __init__(self, run: str = "") -> None:
        self.run = run
        self._rows: list[tuple[Any, ...]] = []
        self._state_rows: list[tuple[str, str, str, str, int]] = []
        self._last_seq: dict[tuple[str, str], int] = {}  # (run, stream) -> seq of its last row
        self._lock = threading.Lock()

    def add(
        self,
        frame: Frame,
        *,
        strategy: str = "",
        set_id: int = -1,
        skew_ms: float = math.nan,
        run: str | None = None,
        bad_packets: int = 0,
        lost_packets: int = 0,
        clock_offset_ms: float | None = None,
        skipped: int = 0,
    ) -> None:
        """Record one frame handed to the consumer (``clock_offset_ms``: the reader's
        :attr:`~rtsplab.readers.Reader.clock_offset_ms`).

        A frame with the same ``seq`` as the stream's previous row (in this ``run``) is marked
        ``repeat``: it was handed out again, not decoded again.

        Example:
            >>> import numpy as np
            >>> from rtsplab.entities import Clock, Frame
            >>> rec = Recorder(run="demo")
            >>> rec.add(Frame(np.zeros((1, 1, 3), np.uint8), "cam1", 7, 1_000_000, Clock.TIMECODE,
            ...               2_000_000, 41_000_000), strategy="latest")
            >>> rec.to_dataframe()[["run", "stream", "strategy", "seq", "age_ms"]].to_dict("records")
            [{'run': 'demo', 'stream': 'cam1', 'strategy': 'latest', 'seq': 7, 'age_ms': 40.0}]
            >>> rec = Recorder()
            >>> rec.add(Frame(np.zeros((2, 2, 3), np.uint8), "cam1", 0, 0, Clock.RTCP, 0, 10**6),
            ...         bad_packets=3, lost_packets=2, skipped=29)
            >>> rec.to_dataframe()[["bad_packets", "lost_packets", "skipped"]].values.tolist()
            [[3, 2, 29]]
            >>> rec.add(Frame(np.zeros((2, 2, 3), np.uint8), "cam1", 1, 0, Clock.CORRECTED, 0, 10**6),
            ...         clock_offset_ms=2997.5)
            >>> rec.to_dataframe()["clock_offset_ms"].tolist()
            [nan, 2997.5]
            >>> f = Frame(np.zeros((1, 1, 3), np.uint8), "cam1", 4, 0, Clock.RTCP, 0, 10**6)
            >>> rec = Recorder(); rec.add(f); rec.add(f); rec.to_dataframe()["repeat"].tolist()
            [False, True]
        """
        label = self.run if run is None else run
        row = [
            label,
            frame.stream,
            strategy,
            frame.seq,
            frame.source_seq,
            frame.t_source_ns,
            frame.clock.value,
            frame.t_recv_ns,
            frame.t_read_ns,
            frame.age_ms,
            frame.transit_ms,
            frame.wait_ms,
            frame.depth,
            frame.dropped,
            set_id,
            skew_ms,
            bad_packets,
            lost_packets,
            skipped,
            frame.backend,
            math.nan if clock_offset_ms is None else clock_offset_ms,
        ]
        key = (label, frame.stream)
        with self._lock:
            row.append(self._last_seq.get(key) == frame.seq)
            self._last_seq[key] = frame.seq
            self._rows.append(tuple(row))

    def add_state(self, stream: str, state: str, reason: str = "", t_ns: int | None = None) -> None:
        """Record a change of a stream's state (``t_ns``: wall clock, default now).

        Example:
            >>> rec = Recorder()
            >>> rec.add_state("cam1", "stalled", "no frame for 2 s", t_ns=5)
            >>> rec.states()[["stream", "state", "reason"]].to_dict("records")
            [{'stream': 'cam1', 'state': 'stalled', 'reason': 'no frame for 2 s'}]
        """
        row = (self.run, stream, str(state), reason, time.time_ns() if t_ns is None else t_ns)
        with self._lock:
            self._state_rows.append(row)

    def states(self) -> pd.DataFrame:
        """Every state change as a DataFrame: run, stream, state, reason, t_ns, t_s.

        ``t_s`` counts from the first frame row when there is one (so it lines up with
        :meth:`to_dataframe`'s ``t_s``), else from the first state row.

        Example:
            >>> rec = Recorder()
            >>> rec.add_state("cam1", "streaming", t_ns=10**9)
            >>> rec.add_state("cam1", "stalled", t_ns=3 * 10**9)
            >>> rec.states()["t_s"].tolist()
            [0.0, 2.0]
        """
        import pandas as pd

        with self._lock:
            rows = list(self._state_rows)
            t0_frames = min((r[8] for r in self._rows), default=None)
        df = pd.DataFrame(rows, columns=list(STATE_COLUMNS))
        df["t_ns"] = df["t_ns"].astype("int64")
        t0 = t0_frames if t0_frames is not None else (df["t_ns"].min() if len(df) else 0)
        df["t_s"] = (df["t_ns"] - t0) / 1e9
        return df

    def add_set(
        self,
        frame_set: FrameSet,
        *,
        strategy: str = "",
        run: str | None = None,
        bad_packets: dict[str, int] | None = None,
        lost_packets: dict[str, int] | None = None,
        skipped: dict[str, int] | None = None,
    ) -> None:
        """Record every frame of a group's set, with the set's id and skew.

        ``bad_packets`` gives each stream's count of dropped malformed packets, ``lost_packets``
        its count of packets lost, ``skipped`` its count of frames skipped undecoded.

        Example:
            >>> Recorder().add_set(FrameSet({}, 0, 0.0))
        """
        for frame in frame_set.frames.values():
            self.add(
                frame,
                strategy=strategy,
                set_id=frame_set.set_id,
                skew_ms=frame_set.skew_ms,
                run=run,
                bad_packets=(bad_packets or {}).get(frame.stream, 0),
                lost_packets=(lost_packets or {}).get(frame.stream, 0),
                skipped=(skipped or {}).get(frame.stream, 0),
            )

    def __len__(self) -> int:
        return len(self._rows)

    def clear(self) -> None:
        """Forget every row.

        Example:
            >>> r = Recorder(); r.clear(); len(r)
            0
        """
        with self._lock:
            self._rows.clear()
            self._state_rows.clear()
            self._last_seq.clear()

    def to_dataframe(self) -> pd.DataFrame:
        """All rows as a DataFrame with the columns listed in the module docstring.

        Example:
            >>> list(Recorder().to_dataframe().columns)[:3]
            ['run', 'stream', 'strategy']
        """
        import pandas as pd

        with self._lock:
            rows = list(self._rows)
        df = pd.DataFrame(rows, columns=list(COLUMNS))
        df["source_seq"] = df["source_seq"].astype("Int64")
        for col in ("seq", "t_source_ns", "t_recv_ns", "t_read_ns", "depth", "dropped", "set_id"):
            df[col] = df[col].astype("int64")
        for col in ("age_ms", "transit_ms", "wait_ms", "skew_ms"):
            df[col] = df[col].astype("float64")
        df["repeat"] = df["repeat"].astype("bool")
        t0 = df["t_read_ns"].min() if len(df) else 0
        df["t_s"] = (df["t_read_ns"] - t0) / 1e9
        return df

    def summary(self) -> pd.DataFrame:
        """Per (run, strategy, stream): frames, fps, age percentiles, depth, drops, skew.

        Example:
            >>> Recorder().summary().empty
            True
        """
        return summarize(self.to_dataframe())

    def to_csv(self, path: str | Path) -> Path:
        """Write every row to CSV; returns the path.

        Example:
            >>> Recorder().to_csv("/tmp/rtsplab-empty.csv").name
            'rtsplab-empty.csv'
        """
        path = Path(path)
        self.to_dataframe().to_csv(path, index=False)
        return path

    def to_parquet(self, path: str | Path) -> Path:
        """Write every row to Parquet (needs ``pyarrow``); returns the path.

        Example:
            >>> Recorder().to_parquet("/tmp/rtsplab-empty.parquet").suffix  # doctest: +SKIP
            '.parquet'
        """
        path = Path(path)
        self.to_dataframe().to_parquet(path, index=False)
        return path

    def __repr__(self) -> str:
        return f"Recorder(run={self.run!r}, rows={len(self)})"


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Summarize a recorder DataFrame per (run, strategy, stream).

    Columns: ``frames`` (distinct frames handed out), ``fps`` (of those), ``age_p50/p95/p99/max``
    (over every hand-out), ``depth_max``, ``depth_final``, ``dropped``, ``skew_p50/p99/max``
    (NaN for single-stream reads), ``clock``, ``repeats`` (rows that handed out the previous
    frame again; 0 for a table without the ``repeat`` column).

    Example:
        >>> import pandas as pd
        >>> summarize(pd.DataFrame(columns=list(COLUMNS))).empty
        True
    """
    import pandas as pd

    out_cols = [
        "run", "strategy", "stream", "frames", "fps", "age_p50", "age_p95", "age_p99", "age_max",
        "depth_max", "depth_final", "dropped", "skew_p50", "skew_p99", "skew_max", "clock",
        "repeats",
    ]  # fmt: skip
    if df.empty:
        return pd.DataFrame(columns=out_cols)
    rows = []
    for (run, strategy, stream), g in df.groupby(["run", "strategy", "stream"], sort=False):
        g = g.sort_values("t_read_ns")
        repeats = int(g["repeat"].astype(bool).sum()) if "repeat" in g else 0
        new = g[~g["repeat"].astype(bool)] if repeats else g
        span_s = (new["t_read_ns"].iloc[-1] - new["t_read_ns"].iloc[0]) / 1e9
        age = g["age_ms"]
        skew = g["skew_ms"].dropna()
        rows.append(
            {
                "run": run,
                "strategy": strategy,
                "stream": stream,
                "frames": len(new),
                "fps": (len(new) - 1) / span_s if span_s > 0 else math.nan,
                "age_p50": age.quantile(0.50),
                "age_p95": age.quantile(0.95),
                "age_p99": age.quantile(0.99),
                "age_max": age.max(),
                "depth_max": int(g["depth"].max()),
                "depth_final": int(g["depth"].iloc[-1]),
                "dropped": int(g["dropped"].sum()),
                "skew_p50": skew.quantile(0.50) if len(skew) else math.nan,
                "skew_p99": skew.quantile(0.99) if len(skew) else math.nan,
                "skew_max": skew.max() if len(skew) else math.nan,
                "clock": g["clock"].mode().iloc[0],
                "repeats": repeats,
            }
        )
    return pd.DataFrame(rows, columns=out_cols)
