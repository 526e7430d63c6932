"""Plain value types used across liverec."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class EventType(IntEnum):
    """Kind of a user behaviour event; the integer is what columnar storage keeps."""

    VIEW = 0
    CLICK = 1
    PURCHASE = 2
    RATING = 3

    @classmethod
    def parse(cls, name: str) -> EventType:
        """Return the event type called ``name`` (case-insensitive).

        Raises
        ------
        ValueError
            If ``name`` is not one of view, click, purchase, rating.
        """
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ValueError(
                f"event type {name!r} is not one of {', '.join(EVENT_TYPES)}"
            ) from None

    @property
    def label(self) -> str:
        """Lower-case name as it appears in files and the API."""
        return self.name.lower()

    @property
    def verb(self) -> str:
        """What the user did, for reasons shown to them ("because you bought ...").

        >>> EventType.PURCHASE.verb, EventType.RATING.verb
        ('bought', 'rated')
        """
        return _VERBS[self]


EVENT_TYPES: tuple[str, ...] = tuple(t.label for t in EventType)
_VERBS = {
    EventType.VIEW: "viewed",
    EventType.CLICK: "clicked",
    EventType.PURCHASE: "bought",
    EventType.RATING: "rated",
}


@dataclass(frozen=True)
class ScoredItem:
    """One recommended or similar item: its raw id and the model's score (higher is better)."""

    item_id: str
    score: float
