"""Outcomes of experiment exposures: the user's later clicks and purchases, attributed.

Last touch within a window: a click on item X at time t counts for the user's latest exposure
that showed X at or before t and no earlier than ``t - window``; a purchase counts for the
user's latest exposure in that window whatever it showed. So one click is credited once, to
the answer the user most plausibly acted on, and a refreshed list does not double-count it.
For an interleaved exposure the click is also credited to the arm (team) that placed X.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from liverec.core.types import EventType
from liverec.events.exposures import Exposure
from liverec.events.schema import Event


@dataclass(frozen=True)
class Outcomes:
    """One row per exposure, in time order, with what followed it."""

    arms: tuple[str, ...]
    users: tuple[str, ...]
    """Pseudonyms, in order of their first exposure."""
    user: NDArray[np.int64]
    """Index into ``users`` of each exposure."""
    arm: NDArray[np.int64]
    """Index into ``arms`` (A/B); -1 for an interleaved exposure."""
    ts: NDArray[np.float64]
    clicked: NDArray[np.bool_]
    """A click on a shown item was attributed to the exposure."""
    converted: NDArray[np.bool_]
    """A purchase was attributed to the exposure."""
    credit: NDArray[np.int64]
    """(exposures, arms): clicks credited to each arm's team (interleaving; zeros for A/B)."""

    @property
    def n(self) -> int:
        """Exposures."""
        return len(self.ts)

    @cached_property
    def first_seen(self) -> NDArray[np.float64]:
        """Each user's first exposure time, in ``users`` order (rows are in time order)."""
        first = np.full(len(self.users), np.inf)
        rows = np.unique(self.user, return_index=True)[1]
        first[self.user[rows]] = self.ts[rows]
        return first


def attribute(
    exposures: Sequence[Exposure],
    events: Iterable[Event],
    arms: Sequence[str],
    window_s: float,
) -> Outcomes:
    """Join ``exposures`` with the click and purchase ``events`` of the same users.

    ``events`` may hold anything (other users, other types): only clicks and purchases of
    exposed users count.
    """
    order = sorted(range(len(exposures)), key=lambda n: exposures[n].ts)
    shown = [exposures[n] for n in order]
    users: dict[str, int] = {}
    for e in shown:
        users.setdefault(e.user_id, len(users))
    arm_index = {a: n for n, a in enumerate(arms)}
    by_user: dict[str, list[int]] = {}
    for n, e in enumerate(shown):
        by_user.setdefault(e.user_id, []).append(n)
    times = {u: [shown[n].ts for n in rows] for u, rows in by_user.items()}
    clicked = np.zeros(len(shown), np.bool_)
    converted = np.zeros(len(shown), np.bool_)
    credit = np.zeros((len(shown), len(arms)), np.int64)
    credited: set[tuple[int, str]] = set()
    for ev in events:
        rows = by_user.get(ev.user_id)
        if rows is None or ev.type not in (EventType.CLICK, EventType.PURCHASE):
            continue
        last = bisect_right(times[ev.user_id], ev.ts) - 1
        for pos in range(last, -1, -1):
            e = shown[rows[pos]]
            if e.ts < ev.ts - window_s:
                break
            if ev.type == EventType.PURCHASE:
                converted[rows[pos]] = True
                break
            if ev.item_id in e.items:
                if (rows[pos], ev.item_id) not in credited:  # a repeated click counts once
                    credited.add((rows[pos], ev.item_id))
                    clicked[rows[pos]] = True
                    if e.teams:
                        credit[rows[pos], arm_index[e.teams[e.items.index(ev.item_id)]]] += 1
                break
    return Outcomes(
        tuple(arms),
        tuple(users),
        np.asarray([users[e.user_id] for e in shown], np.int64),
        np.asarray([arm_index.get(e.arm, -1) for e in shown], np.int64),
        np.asarray([e.ts for e in shown], np.float64),
        clicked,
        converted,
        credit,
    )
