"""When a decoder falls behind its stream: skip to the next keyframe, count what was skipped.

Sans-IO, shared by every backend. A reader whose decoder cannot keep up (more streams than the
CPU decodes, a detector taking the CPU) would otherwise decode its whole backlog: the packets
pile up in front of the decoder (the socket, the camera's send queue) and every frame it hands
out is seconds old, however fresh the ``latest`` policy keeps what it has decoded. The
:class:`CatchUp` guard sees the backlog and lets the backend skip it: it is asked, for every
compressed unit (access unit or demuxed packet) before it is decoded, whether to decode it.

How it knows it is behind: the unit's *transit* (the monotonic time it is looked at minus its
media time, from the RTP timestamp or the packet PTS) is compared with the smallest transit
seen on the stream (the network and sender delay when the reader keeps up). The difference,
the *lag*, is how long the unit waited in front of the decoder, wherever it waited (socket,
receiver, sender queue): no peek into buffers is needed, and it is the same on every backend.
A lag above ``bound_ns`` (:data:`BEHIND_MS` by default, a few frame periods: more than a
network's jitter, much less than a GOP) means behind: units are skipped, undecoded, until a
keyframe (which is decoded and handed out, so a stream keeps delivering frames); decoding
resumes normally at the first keyframe whose lag is back under the bound. A stream's age so
stays within about one GOP plus the bound, and the skipped units are counted.

A lag is not always a backlog: when the network or the camera becomes later all at once (a
step in the upstream delay), every unit's transit rises by the step and stays there, though
nothing waits in front of the decoder. Skipping cannot help then, and the skip itself tells:
skipped units cost next to nothing, so through a backlog the skip reaches units of ever later
media time at once, and the lag falls; units that are merely late come one by one as the
stream makes them, and the lag stays where it was. Once the units skipped span
:data:`STEP_PROBE_MS` of media time, a lag within half the bound of where the skip began (and
no queue behind the unit, ``newest_ns``) is a delay step: the least transit since then
becomes the baseline, the skip ends at the next keyframe and the episode is not counted
(:attr:`CatchUp.delay_steps` is). A step so costs at most the units up to one or two
keyframes, once. A lag that grows while skipping (decoding hopelessly behind) or falls (a
backlog worked off) is a backlog. Each episode is judged once, and only on a stream that was
not behind for :data:`OVERLOAD_WINDOW_S` before it (nor opened within it): past the knee a
skip itself can run at about the stream's pace (many readers sharing one interpreter), and a
stream that keeps falling behind is short of CPU, not later.

Clock drift and RTP timestamp jumps must not leave a stream skipping for ever: the baseline
creeps up by :data:`DRIFT_PPM` of elapsed time (and a jump shows as a delay step), and a
keyframe still over the bound after :data:`REBASE_S` of being behind, with nothing else
waiting, becomes the new baseline.

The baseline is only as good as the first units: a backlog already waiting when they were
looked at (many streams opening at once, the reader busy until it starts) counts as the
stream's normal delay and is never seen as lag. A backend that can see what waits behind a
unit says so (``newest_ns``: the newest packet received). One that cannot (FFmpeg's demuxer
hands out one packet at a time) may give each unit's *age by the sender's clock* instead
(``age_ns``: now minus the capture time an RTCP sender report gives). Until the stream has
once been near-live, a unit more than :data:`WALL_BEHIND_MS` old by that clock is behind:
the backlog is drained, undecoded, keyframe to keyframe, for as long as each keyframe is
nearer by more than the bound than the one before; then the age is left alone. A camera
whose clock is wrong (its age is off by a constant) so costs at most one GOP at the start,
and nothing when the backend says when it asked for the stream (``opened_ns``) and the first
unit came within :data:`WALL_BEHIND_MS` of that: no older backlog can have waited then.

Example:
    >>> g = CatchUp(bound_ns=100_000_000)
    >>> ms = 1_000_000
    >>> [g.admit(keyframe=k, media_ns=i * 33 * ms, now_ns=i * 33 * ms + 5 * ms)
    ...  for i, k in enumerate([True, False, False])]
    [True, True, True]
    >>> # the decoder stalls for 400 ms: the units it finds then are behind, skipped to a key
    >>> [g.admit(keyframe=k, media_ns=i * 33 * ms, now_ns=400 * ms + i * ms)
    ...  for i, k in [(3, False), (4, False), (5, True), (6, False)]]
    [False, False, True, False]
    >>> g.skipped, g.behind, round(g.skip_fraction, 2)
    (3, True, 0.43)
"""

from __future__ import annotations

__all__ = [
    "BEHIND_MS",
    "DRIFT_PPM",
    "HOLD_S",
    "LONG_BEHIND_S",
    "OVERLOAD_WINDOW_S",
    "REBASE_S",
    "STEP_PROBE_MS",
    "WALL_BEHIND_MS",
    "CatchUp",
]

# A unit that waited this long in front of the decoder means the decoder is behind. More than
# the jitter of a network or a camera (tens of ms), a few frame periods at 30 fps, and small
# beside a GOP (the wait for the next keyframe that skipping costs).
BEHIND_MS = 200.0
# The baseline transit may rise this fast without it counting as lag (sender clock drift;
# quartz is within 100 ppm).
DRIFT_PPM = 1000.0
# While skipping, after units spanning this much media time, a lag still within half the bound
# of where the skip began means the skip did not help: the units were late, not waiting (a
# step in the upstream delay). Long enough that a backlog's skip shows (skipping at even 1.5
# times the stream's pace gains this much minus the tolerance), short beside a GOP.
STEP_PROBE_MS = 300.0
# A keyframe still behind after this long, with nothing else waiting, re-anchors the baseline
# (the sender's timestamps jumped, or the stream is behind for good: decode what comes).
REBASE_S = 5.0
# The window of the skip fraction, and how long after its last skip a stream still counts as
# overloaded.
HOLD_S = 2.0
# One catch-up is a backlog that came at once (a stall's burst, a slow start); decoding that
# cannot keep up falls behind again and again, or never catches up. Overloaded: a second
# catch-up within OVERLOAD_WINDOW_S of the previous one, or one lasting LONG_BEHIND_S.
OVERLOAD_WINDOW_S = 5.0
LONG_BEHIND_S = 3.0
# A stream whose first units are older than this by the sender's clock (``age_ns``) starts by
# draining its backlog. Well over the bound, so that a held frame (FFmpeg's demuxer holds each
# one a frame period) or a camera clock a little off costs nothing.
WALL_BEHIND_MS = 1000.0


class CatchUp:
    """Decides, unit by unit, whether to decode or skip to the next keyframe (see module doc).

    Args:
        bound_ns: lag above which the decoder is behind (default :data:`BEHIND_MS`).
        rebase_ns: how long behind before a lagging keyframe re-anchors the baseline.
        hold_ns: the window of :attr:`skip_fraction`, and how long after the last skip
            :meth:`overloaded` may stay true.
        opened_ns: when the stream was asked for (monotonic ns), if known: a first unit
            looked at within :data:`WALL_BEHIND_MS` of it makes ``age_ns`` unneeded.

    Attributes:
        skipped: units skipped undecoded since the start.
        admitted: units let through to the decoder.
        episodes: times the decoder fell behind.
        delay_steps: times a lag was found to be a step in the upstream delay, not a backlog
            (the skip did not bring the stream nearer): the baseline moved instead.
        lag_ns: the lag of the last unit looked at.

    Example:
        >>> g = CatchUp()
        >>> g.admit(keyframe=True, media_ns=0, now_ns=10**9), g.skipped, g.overloaded(10**9)
        (True, 0, False)
    """

    def __init__(
        self,
        bound_ns: int = int(BEHIND_MS * 1e6),
        rebase_ns: int = int(REBASE_S * 1e9),
        hold_ns: int = int(HOLD_S * 1e9),
        opened_ns: int | None = None,
    ) -> None:
        if bound_ns <= 0:
            raise ValueError(f"bound_ns must be positive, got {bound_ns}")
        self.bound_ns = bound_ns
        self.rebase_ns = rebase_ns
        self.hold_ns = hold_ns
        self._base_ns: int | None = None  # smallest transit seen (creeping up with drift)
        self._base_at_ns = 0
        self._behind_since_ns: int | None = None
        self._last_skip_ns: int | None = None
        self._episode_starts: list[int] = []  # the last two
        self._window = [0, 0, 0, 0]  # admitted, skipped (current); admitted, skipped (previous)
        self._window_start_ns: int | None = None
        self._opened_ns = opened_ns
        self._wall_done = False  # the sender's clock was used (or is not needed) any more
        self._wall_mark: int | None = None  # age of the last keyframe while draining by it
        # while behind: (look-at time, media time, least transit since) of the unit the skip is
        # judged from (see STEP_PROBE_MS)
        self._probe: tuple[int, int, int] | None = None
        self._episode_counted = False  # the current episode is in ``episodes``
        self._behind_at_ns: int | None = None  # when a unit was last behind (or the first)
        self.skipped = 0
        self.admitted = 0
        self.episodes = 0
        self.delay_steps = 0
        self.lag_ns = 0

    @property
    def behind(self) -> bool:
        """Whether units are being skipped until a keyframe that is back in time.

        Example:
            >>> CatchUp().behind
            False
        """
        return self._behind_since_ns is not None

    def lag(self, media_ns: int, now_ns: int) -> int:
        """How long a unit of media time ``media_ns``, looked at ``now_ns``, waited beyond the
        smallest transit seen (updating that baseline); ns, never negative.

        Example:
            >>> g = CatchUp()
            >>> g.lag(0, 50), g.lag(100, 150), g.lag(200, 400), g.lag(300, 320)
            (0, 0, 150, 0)
        """
        transit = now_ns - media_ns
        base = self._base_ns
        if base is not None:
            # let the baseline rise with clock drift, never past the transit seen now
            base = min(transit, base + int((now_ns - self._base_at_ns) * DRIFT_PPM / 1e6))
        if base is None or transit <= base:
            base = transit
        self._base_ns, self._base_at_ns = base, now_ns
        self.lag_ns = transit - base
        return self.lag_ns

    @property
    def wants_age(self) -> bool:
        """Whether :meth:`admit` still uses ``age_ns`` (until the stream was once near-live).

        Example:
            >>> g = CatchUp(); g.wants_age
            True
            >>> g.admit(keyframe=True, media_ns=0, now_ns=0, age_ns=30_000_000), g.wants_age
            (True, False)
        """
        return not self._wall_done

    def _late_by_wall(self, keyframe: bool, age_ns: int) -> bool:
        """Whether the sender's clock says this unit waits behind a backlog the baseline
        cannot see (only until the stream was once near-live; see the module doc)."""
        if age_ns <= WALL_BEHIND_MS * 1e6:
            self._wall_done = True
            return False
        mark = self._wall_mark
        if mark is None:  # the first unit with an age: it is old, drain
            self._wall_mark = age_ns
            return True
        if keyframe:
            if age_ns > mark - self.bound_ns:  # a GOP drained, no nearer: the rest is the clock
                self._wall_done = True
                return False
            self._wall_mark = age_ns
        return True

    def admit(
        self,
        *,
        keyframe: bool,
        media_ns: int,
        now_ns: int,
        newest_ns: int | None = None,
        pending: bool = True,
        age_ns: int | None = None,
    ) -> bool:
        """Whether to decode this unit (True) or skip it (False, counted in :attr:`skipped`).

        Args:
            keyframe: the unit starts a picture that needs no earlier one (IDR/IRAP).
            media_ns: its media time (RTP timestamp or PTS, unwrapped, in ns).
            now_ns: the monotonic time it is looked at, just before decoding.
            newest_ns: the media time of the newest packet already received (after draining
                what waits on the socket): a unit this far behind it is late too, even when
                the whole stream has been late since the start.
            pending: more units or bytes are already waiting behind it (False lets a lagging
                keyframe re-anchor the baseline after :attr:`rebase_ns` behind).
            age_ns: its age by the sender's clock (now minus its RTCP capture time), for a
                backend that cannot see ``newest_ns``: used until the stream was once
                near-live, so that a backlog older than the baseline is drained (see the
                module doc; a camera clock that is off costs at most a GOP).

        Example:
            >>> g = CatchUp(bound_ns=10)
            >>> g.admit(keyframe=False, media_ns=0, now_ns=0)
            True
            >>> g.admit(keyframe=False, media_ns=1, now_ns=50), g.behind
            (False, True)
            >>> g.admit(keyframe=True, media_ns=2, now_ns=52), g.behind  # decoded, still late
            (True, True)
            >>> g.admit(keyframe=True, media_ns=60, now_ns=61), g.behind  # back in time
            (True, False)
        """
        if self._opened_ns is not None:  # the first unit: looked at soon after the open?
            if now_ns - self._opened_ns <= WALL_BEHIND_MS * 1e6:
                self._wall_done = True  # no older backlog can have waited: the baseline holds
            self._opened_ns = None
        if self._behind_at_ns is None:  # the first unit: a stream starts as if just behind
            self._behind_at_ns = now_ns
        lag = self.lag(media_ns, now_ns)
        queued = newest_ns is not None and newest_ns - media_ns > self.bound_ns
        if newest_ns is not None and newest_ns - media_ns > lag:
            lag = self.lag_ns = newest_ns - media_ns
        late = lag > self.bound_ns
        by_wall = False
        if age_ns is not None and not self._wall_done and self._late_by_wall(keyframe, age_ns):
            late = by_wall = True
            self.lag_ns = max(lag, age_ns)
        since = self._behind_since_ns
        if since is None:
            if late:
                self._behind_since_ns = since = now_ns
                self._new_episode(now_ns)
                # a step comes to a stream that kept up: one that was behind (or stepped) or
                # started lately may be decoding too slowly, and its skips are not judged
                calm = now_ns - self._behind_at_ns > OVERLOAD_WINDOW_S * 1e9
                self._probe = (now_ns, media_ns, now_ns - media_ns) if calm else None
            else:
                return self._count(True, now_ns)
        elif late and not queued and not by_wall and self._delay_stepped(media_ns, now_ns):
            late = self.lag_ns > self.bound_ns
        self._behind_at_ns = now_ns
        if not keyframe:
            self._last_skip_ns = now_ns
            return self._count(False, now_ns)
        # a keyframe: decode it (the stream keeps handing out frames); is it back in time?
        if not late:
            self._behind_since_ns = None
        elif not pending and now_ns - since >= self.rebase_ns:
            self._base_ns, self._base_at_ns = now_ns - media_ns, now_ns
            self.lag_ns = 0
            self._behind_since_ns = None
        return self._count(True, now_ns)

    def _delay_stepped(self, media_ns: int, now_ns: int) -> bool:
        """While behind: whether the skip so far shows a step in the upstream delay, not a
        backlog (see :data:`STEP_PROBE_MS`); if so the baseline moves to the least transit
        since the skip was last judged, and the episode is taken back."""
        if self._probe is None:
            return False
        t0, m0, least = self._probe
        transit = now_ns - media_ns
        least = min(least, transit)
        span = media_ns - m0
        if span < STEP_PROBE_MS * 1e6:
            self._probe = (t0, m0, least)
            return False
        gained = span - (now_ns - t0)  # how much nearer live the skip brought the stream
        self._probe = None  # judged once an episode
        if abs(gained) > self.bound_ns // 2:  # nearer: a backlog; further: hopelessly behind
            return False
        self._base_ns, self._base_at_ns = least, now_ns
        self.lag_ns = transit - least
        self.delay_steps += 1
        if self._episode_counted:  # the decoder did not fall behind: the stream became later
            self._episode_counted = False
            self.episodes -= 1
            self._episode_starts = self._episode_starts[:-1]
        return True

    def note_skipped(self, count: int, now_ns: int) -> None:
        """Count ``count`` units skipped by other means (a backend that cannot skip one by one
        drops its backlog at once, e.g. by reopening) and start over: the next unit's media
        time may start from anywhere.

        Example:
            >>> g = CatchUp(); g.note_skipped(12, now_ns=5); g.note_skipped(9, now_ns=10**9)
            >>> g.skipped, g.overloaded(10**9 + 1)
            (21, True)
        """
        self._roll(now_ns)
        self.skipped += count
        self._window[1] += count
        self._new_episode(now_ns)
        self._last_skip_ns = now_ns
        self.restart()

    def restart(self) -> None:
        """Forget the baseline (the counts stay): the media times start over, e.g. the
        sender restarted with a new SSRC and new timestamps.

        Example:
            >>> g = CatchUp(bound_ns=10)
            >>> g.admit(keyframe=True, media_ns=10**9, now_ns=10**9)
            True
            >>> g.restart(); g.admit(keyframe=False, media_ns=0, now_ns=10**9 + 1), g.skipped
            (True, 0)
        """
        self._base_ns = None
        self._behind_since_ns = None
        self._probe = None
        self.lag_ns = 0

    def _new_episode(self, now_ns: int) -> None:
        self._episode_counted = True
        self.episodes += 1
        self._episode_starts = [*self._episode_starts[-1:], now_ns]

    def _roll(self, now_ns: int) -> None:
        """Start a new counting window once the current one is :attr:`hold_ns` old."""
        start = self._window_start_ns
        if start is None or now_ns - start >= self.hold_ns:
            keep = start is not None and now_ns - start < 2 * self.hold_ns
            self._window[2:] = self._window[:2] if keep else [0, 0]
            self._window[:2] = [0, 0]
            self._window_start_ns = now_ns

    def _count(self, admitted: bool, now_ns: int) -> bool:
        self._roll(now_ns)
        if admitted:
            self.admitted += 1
            self._window[0] += 1
        else:
            self.skipped += 1
            self._window[1] += 1
        return admitted

    def overloaded(self, now_ns: int) -> bool:
        """Whether decoding cannot keep up: units were skipped within the last
        :attr:`hold_ns`, and the decoder fell behind twice within :data:`OVERLOAD_WINDOW_S`
        or has been behind for :data:`LONG_BEHIND_S` (one catch-up is a burst, not overload).

        Example:
            >>> s, ms = 10**9, 10**6
            >>> g = CatchUp(bound_ns=100 * ms)
            >>> g.admit(keyframe=True, media_ns=0, now_ns=0)
            True
            >>> g.admit(keyframe=False, media_ns=33 * ms, now_ns=s), g.overloaded(s)  # a burst
            (False, False)
            >>> g.admit(keyframe=True, media_ns=s, now_ns=s + 5 * ms), g.behind  # caught up
            (True, False)
            >>> g.admit(keyframe=False, media_ns=s + 33 * ms, now_ns=2 * s), g.overloaded(2 * s)
            (False, True)
            >>> g.overloaded(10 * s)
            False
        """
        last = self._last_skip_ns
        if last is None or now_ns - last >= self.hold_ns:
            return False
        since = self._behind_since_ns
        if since is not None and now_ns - since >= LONG_BEHIND_S * 1e9:
            return True
        starts = self._episode_starts
        return len(starts) == 2 and starts[1] - starts[0] <= OVERLOAD_WINDOW_S * 1e9

    def reason(self) -> str:
        """The state reason while overloaded, e.g. for a stream's state row.

        Example:
            >>> CatchUp().reason()
            'decoders cannot keep up: 0 % of frames skipped at keyframes'
        """
        share = 100 * self.skip_fraction
        return f"decoders cannot keep up: {share:.0f} % of frames skipped at keyframes"

    @property
    def skip_fraction(self) -> float:
        """Fraction of the units looked at recently (one to two hold windows) that were skipped.

        Example:
            >>> CatchUp().skip_fraction
            0.0
        """
        admitted = self._window[0] + self._window[2]
        skipped = self._window[1] + self._window[3]
        total = admitted + skipped
        return skipped / total if total else 0.0
