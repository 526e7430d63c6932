"""liverec: a real-time recommender system.

The Python API (``liverec.open`` and the types it answers with) is imported on first use, so
``import liverec`` and ``liverec --version`` stay instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from liverec.core.errors import InvalidInputError, LiverecError, UnknownIdError
    from liverec.data.catalog import Item
    from liverec.events.schema import Event
    from liverec.library import LiveRecommender, open
    from liverec.serving.results import (
        IngestResult,
        Recommendation,
        RecommendationResult,
        UserErasure,
        UserProfile,
    )
    from liverec.serving.runtime import ServiceConfig

# public name -> the module that defines it
_EXPORTS = {
    "open": "liverec.library",
    "LiveRecommender": "liverec.library",
    "Event": "liverec.events.schema",
    "Item": "liverec.data.catalog",
    "Recommendation": "liverec.serving.results",
    "RecommendationResult": "liverec.serving.results",
    "IngestResult": "liverec.serving.results",
    "UserProfile": "liverec.serving.results",
    "UserErasure": "liverec.serving.results",
    "ServiceConfig": "liverec.serving.runtime",
    "LiverecError": "liverec.core.errors",
    "InvalidInputError": "liverec.core.errors",
    "UnknownIdError": "liverec.core.errors",
}

__all__ = [
    "Event",
    "IngestResult",
    "InvalidInputError",
    "Item",
    "LiveRecommender",
    "LiverecError",
    "Recommendation",
    "RecommendationResult",
    "ServiceConfig",
    "UnknownIdError",
    "UserErasure",
    "UserProfile",
    "__version__",
    "open",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'liverec' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
