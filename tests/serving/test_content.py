"""Language-model features in the live service: content retrieval, reasons, dedupe, cold start."""

from __future__ import annotations

import time
from itertools import combinations

import numpy as np
import pytest

from liverec.core.types import EventType
from liverec.data.dataset import Item
from liverec.events.schema import Event
from liverec.features.fingerprint import hamming
from liverec.serving.service import LiveService


def click(user: str, item: str) -> Event:
    return Event(user, item, EventType.CLICK, time.time())


def test_the_content_channel_follows_a_new_users_clicks(service: LiveService) -> None:
    service.ingest([click("two-clicks", "50"), click("two-clicks", "172")])  # Star Wars, Empire
    rt = service.runtime
    ctx = rt.pipeline.context(service.user_index("two-clicks"))
    content = next(c for c in rt.pipeline.channels if c.name == "content")
    found = content.retrieve(ctx, 10)
    titles = [rt.state.catalog.item(i).title for i in found.items]
    assert "Return of the Jedi" in titles
    assert 50 - 1 not in found.items  # seen items are never retrieved


def test_content_reasons_name_a_recent_item_and_what_is_shared(service: LiveService) -> None:
    rt = service.runtime
    rt.pipeline.config = rt.pipeline.config.model_copy(
        update={"weights": {"content": 1.0}, "mmr_lambda": 1.0}
    )
    service.ingest([click("reasons", "1"), click("reasons", "71")])  # Toy Story, Lion King
    r = service.recommend("reasons", 5)
    reasons = [x for it in r.items for x in it.reasons]
    assert any(
        x.startswith(("similar to Toy Story (1995)", "similar to Lion King, The (1994)"))
        for x in reasons
    )
    assert any(": " in x and "Animation" in x for x in reasons)


@pytest.mark.slow
def test_near_duplicate_films_never_share_a_list(service: LiveService) -> None:
    rt = service.runtime
    vectors = rt.servables["text"].vectors
    assert vectors is not None
    for u in range(0, 943, 7):
        items = [it.item for it in rt.pipeline.recommend(u, 20, with_reasons=False).items]
        fp = dict(zip(items, vectors.fingerprints(np.array(items)).tolist(), strict=True))
        for a, b in combinations(items, 2):
            pair = (rt.state.catalog.item(a), rt.state.catalog.item(b))
            assert int(hamming(np.uint64(fp[a]), np.uint64(fp[b]))) > 3, pair


def test_an_item_added_through_the_service_is_encoded_and_similar_to_its_relatives(
    service: LiveService,
) -> None:
    item = Item(
        "sw-new",
        "Star Wars: Rebels of the Outer Rim",
        2026,
        ("Action", "Adventure", "Sci-Fi", "War"),
        "A new chapter of the galactic rebellion against the Empire.",
    )
    service.upsert_item(item)
    vectors = service.runtime.servables["text"].vectors
    assert vectors is not None
    i = service.runtime.state.catalog.ids.index("sw-new")
    assert np.isclose(np.linalg.norm(vectors.rows(np.array([i]))[0]), 1.0, atol=1e-3)
    similar = [x.item_id for x in service.similar("50", 10).items]
    assert "sw-new" in similar
