"""Request and response bodies; constraints here are the API's input validation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from liverec.core.privacy import MAX_ID_LENGTH, id_problem
from liverec.core.types import EventType
from liverec.data.catalog import MAX_DESCRIPTION, MAX_GENRE, MAX_GENRES, MAX_TITLE
from liverec.data.convert import MAX_VALUE, latest_timestamp, time_problem
from liverec.data.dataset import Item
from liverec.events.schema import Event

MAX_BATCH = 10_000


def checked_id(raw: str) -> str:
    """``raw`` if it follows the id rule (``liverec.core.privacy.id_problem``)."""
    problem = id_problem(raw)
    if problem is not None:
        raise ValueError(f"an id {problem}")
    return raw


ExternalId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="no control characters, blanks at the ends or '/'",
    ),
    AfterValidator(checked_id),
]
PathId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(checked_id)]


class EventIn(BaseModel):
    """One user behaviour event."""

    model_config = ConfigDict(extra="forbid")

    user_id: ExternalId
    item_id: ExternalId
    type: Literal["view", "click", "purchase", "rating"]
    value: float | None = Field(
        None, ge=0, le=MAX_VALUE, allow_inf_nan=False, description="rating or amount"
    )
    ts: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="epoch seconds, at most a day ahead of the server clock; default: the "
        "service's event clock when received (the wall clock, or on a historical dataset the "
        "data's latest event time plus the time since the service started)",
    )

    @model_validator(mode="after")
    def _rating_needs_value(self) -> EventIn:
        if self.type == "rating" and self.value is None:
            raise ValueError("a rating event needs a value (e.g. 4.0)")
        return self

    @field_validator("ts")
    @classmethod
    def _not_in_the_future(cls, ts: float | None) -> float | None:
        problem = None if ts is None else time_problem(ts, latest_timestamp())
        if problem is not None:
            raise ValueError(f"the time {problem}")
        return ts

    def to_event(self) -> Event:
        """The domain event; without a timestamp it is unstamped, and the service stamps it
        with its event clock when it ingests it."""
        return Event(self.user_id, self.item_id, EventType.parse(self.type), self.ts, self.value)


class EventBatch(BaseModel):
    """Several events, accepted or rejected together."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class ItemIn(BaseModel):
    """A catalog item's text fields."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=MAX_TITLE)
    year: int | None = Field(None, ge=1800, le=2200)
    genres: list[Annotated[str, Field(max_length=MAX_GENRE)]] = Field(
        default_factory=list, max_length=MAX_GENRES
    )
    description: str = Field("", max_length=MAX_DESCRIPTION)

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


class ErrorOut(BaseModel):
    """Every error response has this shape."""

    error: str
    message: str
    details: list[dict[str, str]] = Field(default_factory=list)


class HealthOut(BaseModel):
    """Liveness: the model served and the last log entry applied."""

    status: Literal["ok"]
    model_version: str
    applied_seq: int


class ReadyOut(BaseModel):
    """Readiness for writes."""

    status: Literal["ready", "failing"]
    reason: str | None = None


class ReloadOut(BaseModel):
    """Whether a newer snapshot was swapped in, and the one now served."""

    swapped: bool
    model_version: str


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


# What any protected route may answer besides its own success (OpenAPI tells the truth).
PROTECTED_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("missing or unknown API key"),
    403: _error("the key lacks the scope, or no keys exist and the caller is not loopback"),
    404: _error("unknown user or item, or no such route"),
    422: _error("invalid input: the message names the field"),
    429: _error("the key is over its rate limit; see Retry-After"),
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **PROTECTED_ERRORS,
    413: _error("the body is over the size limit"),
    415: _error("the body is not application/json"),
    503: _error("the event log cannot be written now; see Retry-After"),
}
