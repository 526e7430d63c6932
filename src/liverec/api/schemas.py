"""Request and response bodies; constraints here are the API's input validation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from liverec.core.types import EventType
from liverec.data.dataset import Item
from liverec.events.schema import Event

MAX_BATCH = 10_000
Id = Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f]+$")


class EventIn(BaseModel):
    """One user behaviour event."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str = Id
    item_id: str = Id
    type: Literal["view", "click", "purchase", "rating"]
    value: float | None = Field(None, ge=0, allow_inf_nan=False, description="rating or amount")
    ts: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="epoch seconds; default: when received"
    )

    @model_validator(mode="after")
    def _rating_needs_value(self) -> EventIn:
        if self.type == "rating" and self.value is None:
            raise ValueError("a rating event needs a value (e.g. 4.0)")
        return self

    def to_event(self, now: float) -> Event:
        """The domain event, with the receive time when no timestamp was given."""
        return Event(
            self.user_id, self.item_id, EventType.parse(self.type), self.ts or now, self.value
        )


class EventBatch(BaseModel):
    """Several events, accepted or rejected together."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class IngestOut(BaseModel):
    """How many events were durably logged."""

    accepted: int
    first_seq: int
    last_seq: int


class ItemIn(BaseModel):
    """A catalog item's text fields."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=500)
    year: int | None = Field(None, ge=1800, le=2200)
    genres: list[str] = Field(default_factory=list, max_length=50)
    description: str = Field("", max_length=10_000)

    def to_item(self, item_id: str) -> Item:
        """The catalog entry for ``item_id``."""
        genres = tuple(dict.fromkeys(g.strip() for g in self.genres if g.strip()))
        return Item(item_id, self.title, self.year, genres, self.description)


class ItemOut(BaseModel):
    """A catalog item as the API shows it."""

    item_id: str
    title: str
    year: int | None
    genres: list[str]
    description: str


class RecommendedItem(BaseModel):
    """One recommendation with its reasons."""

    item_id: str
    title: str
    genres: list[str]
    score: float
    reasons: list[str]


class RecommendationsOut(BaseModel):
    """A user's recommendations and how they were made."""

    user_id: str
    items: list[RecommendedItem]
    model_version: str
    degraded: list[str] = Field(description="stages skipped for this answer, with the reason")
    cold_start: bool
    cached: bool
    took_ms: float
    stage_ms: dict[str, float]


class HistoryEntry(BaseModel):
    """One past event of a user."""

    item_id: str
    title: str
    type: str
    ts: float


class UserOut(BaseModel):
    """A user's recent history, newest first."""

    user_id: str
    event_count: int
    recent: list[HistoryEntry]


class SimilarOut(BaseModel):
    """Items similar to one item."""

    item_id: str
    title: str
    model_version: str
    items: list[RecommendedItem]


class ErrorOut(BaseModel):
    """Every error response has this shape."""

    error: str
    message: str
    details: list[dict[str, str]] = Field(default_factory=list)
