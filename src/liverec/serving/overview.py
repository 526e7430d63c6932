"""What the web page's landing view shows: the dataset, sample users, and title search."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from liverec.data.sources import public_raw_user_ids
from liverec.serving.clock import ClockKind
from liverec.serving.results import ItemSearchResult, SearchHit

if TYPE_CHECKING:
    from liverec.serving.service import LiveService


@dataclass(frozen=True)
class SampleUser:
    """A user to try: a raw id (public datasets only) and how much history they have."""

    user_id: str
    events: int
    kind: str  # "most active", "typical", "light"


@dataclass(frozen=True)
class Overview:
    """The dataset behind the model served, and users to start with."""

    dataset: str
    users: int
    items: int
    training_events: int
    first_event: float | None  # epoch seconds of the training data's span
    last_event: float | None
    model_version: str
    sample_users: list[SampleUser]  # empty for imported data (raw ids are never stored)
    event_clock: ClockKind  # what events sent without a time are stamped with ("data": the
    # data's time, continuing from its latest event)


def overview(service: LiveService, home: Path) -> Overview:
    """The landing view's facts for ``service``'s snapshot."""
    snapshot = service.runtime.snapshot
    data = snapshot.data
    ts = data.interactions.ts
    raw = public_raw_user_ids(data.name, home)
    return Overview(
        dataset=data.name,
        users=len(service.runtime.state.users),
        items=len(service.runtime.state.catalog),
        training_events=len(data.interactions),
        first_event=float(ts.min()) if len(ts) else None,
        last_event=float(ts.max()) if len(ts) else None,
        model_version=snapshot.version,
        sample_users=samples(raw, data.interactions.uidx, data.n_users) if raw else [],
        event_clock=service.event_clock.kind,
    )


def samples(raw_ids: list[str], uidx: np.ndarray, n_users: int) -> list[SampleUser]:
    """The most active user, a typical one (median events) and a light one (10th
    percentile), by events in the training data; ``raw_ids[u]`` is user ``u``'s raw id.

    >>> [(s.user_id, s.events) for s in samples(["a", "b", "c"], np.array([0, 0, 0, 1, 1, 2]), 3)]
    [('a', 3), ('b', 2), ('c', 1)]
    """
    counts = np.bincount(uidx, minlength=n_users)
    order = np.argsort(-counts, kind="stable")
    active = order[counts[order] > 0]
    if not len(active):
        return []
    picks = {"most active": 0, "typical": len(active) // 2, "light": int(len(active) * 0.9)}
    chosen: list[SampleUser] = []
    for kind, rank in picks.items():
        u = int(active[min(rank, len(active) - 1)])
        if all(s.user_id != raw_ids[u] for s in chosen):
            chosen.append(SampleUser(raw_ids[u], int(counts[u]), kind))
    return chosen


def search_items(service: LiveService, text: str, k: int = 10) -> ItemSearchResult:
    """Catalog items whose title contains ``text``: titles that start with it first, then
    the most popular (what a person searching most likely means)."""
    state = service.runtime.state
    found = state.catalog.search(text)
    if not len(found):
        return ItemSearchResult(text, [])
    popularity = state.stats.item_weight(found)
    items = state.catalog.items(found)
    starts = np.array([not it.title.lower().startswith(text.strip().lower()) for it in items])
    best = np.lexsort((found, -popularity, starts))[:k]
    hits = [
        SearchHit(it.item_id, it.display_title, list(it.genres), float(popularity[b]))
        for b, it in ((b, items[b]) for b in best.tolist())
    ]
    return ItemSearchResult(text, hits)
