"""What the live service answers: typed results shared by the Python API and the HTTP API.

The HTTP layer writes these as JSON and documents them in OpenAPI as they are, so a field added
here shows up in both places at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

if TYPE_CHECKING:
    from liverec.features.catalog_store import CatalogView
    from liverec.serving.pipeline import Recommended


@dataclass(frozen=True)
class Recommendation:
    """One recommended (or similar) item: its id, what to show, the score and why."""

    item_id: str
    title: str
    genres: list[str]
    score: Annotated[
        float,
        Field(
            description="relevance (the learned ranker's score, or fusion's when the snapshot "
            "has no ranker): higher is better, comparable within one answer only; the list "
            "order also weighs variety, so a less relevant item may come first when it adds it"
        ),
    ]
    reasons: Annotated[list[str], Field(description="why this item, most important first")]
    explore: Annotated[
        bool,
        Field(description="in the exploration slot: a new item shown to learn how people like it"),
    ] = False


def shown_items(catalog: CatalogView, picked: Sequence[Recommended]) -> list[Recommendation]:
    """The pipeline's picks as the user sees them: catalog entries with score and reasons."""
    shown = catalog.items([r.item for r in picked])
    return [
        Recommendation(
            it.item_id,
            it.display_title,
            list(it.genres),
            round(r.score, 6),
            r.reasons,
            r.explore,
        )
        for r, it in zip(picked, shown, strict=True)
    ]


@dataclass(frozen=True)
class RecommendationResult:
    """A user's recommendations and how they were made."""

    user_id: str
    items: list[Recommendation]
    model_version: Annotated[str, Field(description="the snapshot that answered")]
    degraded: Annotated[
        list[str], Field(description="stages skipped for this answer, with the reason")
    ]
    cold_start: Annotated[bool, Field(description="the user had no history")]
    cached: bool
    took_ms: float
    stage_ms: dict[str, float] = field(default_factory=dict)
    request_id: Annotated[
        str, Field(description="names this answer; exposures and their outcomes refer to it")
    ] = ""
    experiment: Annotated[
        str | None, Field(description="the running experiment that answered, if any")
    ] = None
    arm: Annotated[
        str | None,
        Field(description="the experiment arm that answered ('interleave:A+B' when merged)"),
    ] = None


@dataclass(frozen=True)
class HistoryEvent:
    """One past event of a user."""

    item_id: str
    title: str
    type: str
    ts: Annotated[float, Field(description="epoch seconds")]


@dataclass(frozen=True)
class UserProfile:
    """A user's recent events (newest first) and how many they have."""

    user_id: str
    event_count: int
    recent: list[HistoryEvent]


@dataclass(frozen=True)
class SimilarResult:
    """Items similar to one item."""

    item_id: str
    title: str
    model_version: str
    items: list[Recommendation]


@dataclass(frozen=True)
class IngestResult:
    """How many events were durably logged, and their sequence numbers."""

    accepted: int
    first_seq: int
    last_seq: int


@dataclass(frozen=True)
class UserErasure:
    """What deleting a user removed, and the snapshot served without them."""

    user_id: str
    log_events: int
    dataset_events: int
    snapshots_retrained: int
    snapshots_deleted: int
    snapshot: Annotated[str | None, Field(description="the snapshot now served")]


@dataclass(frozen=True)
class SearchHit:
    """A catalog item whose title matched, with its popularity."""

    item_id: str
    title: str
    genres: list[str]
    popularity: Annotated[
        float, Field(description="interactions so far, as the item statistics count them")
    ]


@dataclass(frozen=True)
class ItemSearchResult:
    """Items whose title contains the query: titles starting with it first, then popular."""

    query: str
    items: list[SearchHit]
