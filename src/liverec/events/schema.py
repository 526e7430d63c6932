"""What the event log stores: behaviour events and catalog upserts, each under a sequence number."""

from __future__ import annotations

import time
from dataclasses import dataclass
from math import isfinite
from typing import TypeAlias

from liverec.core.types import EventType
from liverec.data.dataset import Item


@dataclass(frozen=True, slots=True, init=False)
class Event:
    """One user behaviour event with raw external ids.

    The type may be given by name, and the time defaults to now:

    >>> Event("196", "50", "click").type
    <EventType.CLICK: 1>
    """

    user_id: str
    item_id: str
    type: EventType
    ts: float
    """Epoch seconds."""
    value: float | None
    """Rating value, or whatever weight the event type carries; None when it has none."""

    def __init__(
        self,
        user_id: str,
        item_id: str,
        type: EventType | str = EventType.VIEW,
        ts: float | None = None,
        value: float | None = None,
    ) -> None:
        # frozen: assigned the way the generated __init__ of a frozen dataclass does it
        setattr_ = object.__setattr__
        setattr_(self, "user_id", user_id)
        setattr_(self, "item_id", item_id)
        setattr_(self, "type", EventType.parse(type) if isinstance(type, str) else type)
        setattr_(self, "ts", time.time() if ts is None else ts)
        setattr_(self, "value", value)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event as the log returns it, under the sequence number it was stored at."""

    seq: int
    event: Event


@dataclass(frozen=True, slots=True)
class LoggedItem:
    """A catalog upsert as the log returns it, under the sequence number it was stored at."""

    seq: int
    item: Item


LogEntry: TypeAlias = LoggedEvent | LoggedItem


def check_event(event: Event) -> None:
    """Refuse an event no layer should have let through (cheap checks, not full validation).

    The API layer validates requests; this is the log's defence in depth against
    storing something that would break every later replay.

    Raises
    ------
    ValueError
        Naming the first bad field: an empty or non-string id, a type that is not an
        EventType, or a non-finite ts or value.
    """
    if not isinstance(event.user_id, str) or not event.user_id:
        raise ValueError(f"event user_id must be a non-empty string, got {event.user_id!r}")
    if not isinstance(event.item_id, str) or not event.item_id:
        raise ValueError(f"event item_id must be a non-empty string, got {event.item_id!r}")
    if not isinstance(event.type, EventType):
        raise ValueError(f"event type must be an EventType, got {event.type!r}")
    if not _is_finite_number(event.ts):
        raise ValueError(f"event ts must be a finite number of epoch seconds, got {event.ts!r}")
    if event.value is not None and not _is_finite_number(event.value):
        raise ValueError(f"event value must be a finite number or None, got {event.value!r}")


def check_item(item: Item) -> None:
    """Refuse a catalog upsert without a usable item id.

    Raises
    ------
    ValueError
        If ``item.item_id`` is empty or not a string.
    """
    if not isinstance(item.item_id, str) or not item.item_id:
        raise ValueError(f"item item_id must be a non-empty string, got {item.item_id!r}")


def _is_finite_number(x: object) -> bool:
    # bool is an int subclass, but True as a timestamp is a bug, not 1970-01-01T00:00:01.
    return isinstance(x, float | int) and not isinstance(x, bool) and isfinite(x)
