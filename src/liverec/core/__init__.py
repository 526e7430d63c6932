"""Types and errors shared by every stage."""

from liverec.core.errors import (
    ConfigError,
    DataError,
    DatasetNotFoundError,
    FetchError,
    LiverecError,
    NotFittedError,
    RowError,
    UnknownIdError,
)
from liverec.core.types import EVENT_TYPES, EventType

__all__ = [
    "EVENT_TYPES",
    "ConfigError",
    "DataError",
    "DatasetNotFoundError",
    "EventType",
    "FetchError",
    "LiverecError",
    "NotFittedError",
    "RowError",
    "UnknownIdError",
]
