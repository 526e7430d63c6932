from __future__ import annotations

import pytest

from liverec.core.errors import UnknownIdError
from liverec.core.types import EVENT_TYPES, EventType


def test_event_type_parses_names_case_insensitively() -> None:
    assert EventType.parse("Click") is EventType.CLICK
    assert EventType.parse(" rating ") is EventType.RATING
    assert EVENT_TYPES == ("view", "click", "purchase", "rating")


def test_unknown_event_type_names_the_value_and_the_choices() -> None:
    with pytest.raises(ValueError, match=r"'like' is not one of view, click, purchase, rating"):
        EventType.parse("like")


def test_unknown_id_error_message_is_not_quoted_like_a_key_error() -> None:
    assert str(UnknownIdError("unknown item id 'x'")) == "unknown item id 'x'"
