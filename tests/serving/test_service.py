"""The live service on real ML-100K data: freshness, cache, cold start, hot swap."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from liverec.core.errors import UnknownIdError
from liverec.core.types import EventType
from liverec.data.dataset import Dataset, Item
from liverec.events.schema import Event
from liverec.serving.service import LiveService
from liverec.serving.training import train_snapshot


def click(user: str, item: str) -> Event:
    return Event(user, item, EventType.CLICK, time.time())


def ids(service: LiveService, user: str, k: int = 10) -> list[str]:
    return [i.item_id for i in service.recommend(user, k).items]


def test_event_is_visible_in_next_recommendation(service: LiveService) -> None:
    before = ids(service, "196")
    service.ingest([click("196", before[0])])
    after = ids(service, "196")
    assert before[0] not in after  # the clicked item is now seen
    assert after != before
    assert service.profile("196").recent[0].item_id == before[0]


def test_clicks_pull_in_neighbours_of_the_clicked_item(service: LiveService) -> None:
    # A user who has only seen children's films clicks three horror films.
    service.ingest(
        [click("fresh-user", i) for i in ("1", "71", "95")]
    )  # Toy Story, Lion King, Aladdin
    kids = service.recommend("fresh-user", 10)
    service.ingest(
        [click("fresh-user", i) for i in ("185", "183", "200")]
    )  # Psycho, Alien, Shining
    horror = service.recommend("fresh-user", 10)
    genres = [g for it in horror.items for g in it.genres]
    assert genres.count("Horror") + genres.count("Thriller") > sum(
        g in ("Horror", "Thriller") for it in kids.items for g in it.genres
    )
    horror_clicks = ("Psycho", "Alien", "Shining")
    cited = [r for it in horror.items for r in it.reasons if r.startswith("because you clicked")]
    assert any(title in r for r in cited for title in horror_clicks), cited


def test_a_cached_answer_is_served_until_the_users_next_event(service: LiveService) -> None:
    first = service.recommend("1", 10)
    second = service.recommend("1", 10)
    assert not first.cached and second.cached and second.items == first.items
    service.ingest([click("1", first.items[0].item_id)])
    third = service.recommend("1", 10)
    assert not third.cached and third.items[0] != first.items[0]
    assert service.cache.stats.hits == 1


def test_another_users_event_does_not_evict_a_cached_answer(service: LiveService) -> None:
    service.recommend("1", 10)
    service.ingest([click("2", "50")])
    assert service.recommend("1", 10).cached


def test_unknown_user_gets_a_cold_start_list(service: LiveService) -> None:
    r = service.recommend("never-seen", 10)
    assert r.cold_start and len(r.items) == 10 and not r.degraded
    assert all(it.reasons for it in r.items)


def test_an_event_for_an_unknown_item_is_refused_and_nothing_is_logged(
    service: LiveService,
) -> None:
    with pytest.raises(UnknownIdError, match=r"events\[1\]\.item_id: unknown item 'nope'"):
        service.ingest([click("1", "50"), click("1", "nope")])
    assert service.log.last_seq() == 0
    assert service.profile("1").event_count == 272


def test_a_new_item_is_recommendable_at_once(service: LiveService) -> None:
    service.upsert_item(Item("brand-new", "Quantum Harbour", 2026, ("Sci-Fi", "Documentary")))
    r = service.recommend("196", 10, genres=["Documentary"])
    assert "brand-new" in [i.item_id for i in r.items]
    similar = service.similar("brand-new", 5)
    assert similar.title == "Quantum Harbour (2026)" and similar.items


def test_a_cold_visitor_sees_popular_items_first_and_a_new_one_in_the_marked_last_slot(
    service: LiveService,
) -> None:
    before = service.recommend("first-time-visitor", 10)
    service.upsert_item(Item("fresh-1", "Quantum Harbour", 2026, ("Sci-Fi",)))
    r = service.recommend("another-first-time-visitor", 10)
    assert r.cold_start
    assert [i.item_id for i in r.items[:9]] == [i.item_id for i in before.items[:9]]
    assert [(i.item_id, i.explore) for i in r.items[-1:]] == [("fresh-1", True)]
    assert not any(i.explore for i in r.items[:-1])
    assert r.items[-1].reasons == ["new in Sci-Fi"]
    scores = [i.score for i in r.items]
    assert scores[-1] == scores[-2]  # the slot is scored as the last item chosen on merit


def test_filters_exclude_items_and_keep_only_requested_genres(service: LiveService) -> None:
    top = ids(service, "196", 5)
    r = service.recommend("196", 10, exclude=top[:2], genres=["Comedy"])
    got = [i.item_id for i in r.items]
    assert not set(top[:2]) & set(got)
    assert all("Comedy" in i.genres for i in r.items)


def test_similar_items_of_star_wars_are_its_sequels(service: LiveService) -> None:
    found = [i.title for i in service.similar("50", 3).items]
    assert "Return of the Jedi (1983)" in found and "Empire Strikes Back, The (1980)" in found
    with pytest.raises(UnknownIdError):
        service.similar("no-such-item", 3)


def test_a_restart_replays_the_log_after_the_snapshot(
    service: LiveService, snapshot_dir: Path
) -> None:
    service.ingest([click("196", "50"), click("newbie", "50")])
    reopened = LiveService.open(snapshot_dir, service.log, service.config, service.pseudonyms)
    assert reopened.profile("196") == service.profile("196")
    assert reopened.profile("newbie").event_count == 1


@pytest.mark.slow
def test_hot_swap_under_concurrent_requests_fails_nothing(
    service: LiveService, ml100k: Dataset, tmp_path: Path, models_dir: Path
) -> None:
    service.ingest([click("196", "50")])
    errors: list[BaseException] = []
    versions: set[str] = set()
    stop = threading.Event()

    def hammer(user: str) -> None:
        while not stop.is_set():
            try:
                r = service.recommend(user, 10)
                assert len(r.items) == 10  # degraded under this CPU load is allowed, failing not
                versions.add(r.model_version)
            except BaseException as e:
                errors.append(e)

    threads = [threading.Thread(target=hammer, args=(u,)) for u in ("1", "196", "x-new")]
    for t in threads:
        t.start()
    old = service.version
    new_dir = train_snapshot(
        ml100k, service.log.read(0), tmp_path, log=lambda *_: None, models_dir=models_dir
    )
    assert service.reload(new_dir)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert service.version == new_dir.name != old
    assert versions == {old, new_dir.name} or versions == {new_dir.name}
    # the event logged before the swap is part of the new snapshot, not replayed twice
    assert service.profile("196").event_count == 40


def test_pipeline_item_cf_matches_the_offline_model_for_a_user_without_new_events(
    service: LiveService, ml100k: Dataset
) -> None:
    from liverec.models.itemcf import ItemCF

    rt = service.runtime
    cfg = rt.snapshot.components["itemcf"].component.config
    offline = ItemCF(cfg).fit(ml100k.interactions)
    u = service.user_index("196")
    ctx = rt.pipeline.context(u)
    window = rt.pipeline.config.history_window
    channel = next(c for c in rt.pipeline.channels if c.name == "itemcf")
    got = channel.retrieve(ctx, 20)
    expected = offline.score_histories(offline.histories.take(np.array([u])))[0]
    expected[ctx.seen] = -np.inf
    # the live channel looks at the last `window` events; older ones weigh 0.75**50 ~ 6e-7
    assert len(ctx.history.items) <= window
    assert got.items.tolist()[:10] == np.argsort(-expected, kind="stable")[:10].tolist()
