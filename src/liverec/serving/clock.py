"""The service's clock: the time stamped on events (and exposures) that arrive without one.

Trending and recency features measure time against the events' own timestamps. On a
historical dataset (ML-100K ends in 1998) an event stamped with the wall clock would lie
decades after every other one: its single click outweighs all of the data's decayed counts.
So on such data the clock continues the data's own time from its latest event instead,
advancing with real elapsed time (monotone, so a user's events keep their order).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Literal

ClockSetting = Literal["auto", "wall", "data"]
ClockKind = Literal["wall", "data"]

HISTORICAL_AFTER_S = 30 * 86_400.0
"""Under ``auto``, data whose latest event is older than this (against the wall clock when the
service opens) is historical and gets the data clock; a live deployment's data is minutes
old and keeps the wall clock."""


def clock_kind(setting: ClockSetting, data_latest: float, wall_now: float) -> ClockKind:
    """The clock ``setting`` resolves to for data whose latest event is at ``data_latest``.

    Without any event (``data_latest`` not finite) there is no data time to continue: wall.

    >>> day = 86_400.0
    >>> [clock_kind("auto", t, 100 * day) for t in (99 * day, 60 * day, -math.inf)]
    ['wall', 'data', 'wall']
    >>> clock_kind("data", 99 * day, 100 * day), clock_kind("wall", 0.0, 100 * day)
    ('data', 'wall')
    """
    if setting == "wall" or not math.isfinite(data_latest):
        return "wall"
    if setting == "data" or wall_now - data_latest > HISTORICAL_AFTER_S:
        return "data"
    return "wall"


class EventClock:
    """``now()``: the wall clock, or the data's latest event time plus the real time elapsed
    since the clock was made (when the service opened)."""

    def __init__(
        self,
        setting: ClockSetting,
        data_latest: float,
        wall: Callable[[], float] = time.time,
        elapsed: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kind: ClockKind = clock_kind(setting, data_latest, wall())
        self.data_latest = data_latest if math.isfinite(data_latest) else None
        self._wall = wall
        # Elapsed time from the monotonic clock: a wall clock stepped back (NTP) must not
        # stamp a user's next event before their previous one.
        self._elapsed = elapsed
        self._start = elapsed()

    def now(self) -> float:
        """The time to stamp on an event that comes without one (epoch seconds)."""
        if self.kind == "wall" or self.data_latest is None:
            return self._wall()
        return self.data_latest + (self._elapsed() - self._start)
