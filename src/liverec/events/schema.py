"""What the event log stores: behaviour events and catalog upserts, each under a sequence number."""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import isfinite
from typing import TypeAlias

from liverec.core.types import EventType
from liverec.data.dataset import Item

UNSTAMPED = float("nan")
"""``Event.ts`` until the service stamps it: a NaN no store accepts (``check_event``). Told
apart by identity, so a NaN a caller passed stays a bad time, refused as before."""


@dataclass(frozen=True, slots=True, init=False)
class Event:
    """One user behaviour event with raw external ids.

    The type may be given by name. Without a time the event is unstamped (``ts`` is
    ``UNSTAMPED``, a NaN) until the service stamps it at ingest with its event clock
    (``LiveService.now``: the wall clock, or the data's own time on a historical dataset);
    the log refuses it unstamped.

    >>> e = Event("196", "50", "click")
    >>> e.type, e.stamped, e.at(9e8).ts, Event("196", "50", ts=1.5).at(9e8).ts
    (<EventType.CLICK: 1>, False, 900000000.0, 1.5)
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
        setattr_(self, "ts", UNSTAMPED if ts is None else ts)
        setattr_(self, "value", value)

    @property
    def stamped(self) -> bool:
        """Whether the event has its time (given, or set by the service at ingest)."""
        return self.ts is not UNSTAMPED

    def at(self, now: float) -> Event:
        """This event, stamped ``now`` if it has no time yet (a given time is kept)."""
        return self if self.stamped else replace(self, ts=now)


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
        raise ValueError(
            f"event ts must be a finite number of epoch seconds, got {event.ts!r} (an event "
            "made without a time is stamped by LiveService.ingest, not by the log)"
        )
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
