"""The web page against a real server (uvicorn on 127.0.0.1) in a real headless Chromium."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from liverec.core.keys import KeyStore, Scope
from tests.e2e.conftest import screenshot, serve, server_home

pytestmark = pytest.mark.slow


def load_user(page: Page, user_id: str) -> None:
    """Open the page, type ``user_id`` and press Enter; wait until the answer is shown."""
    page.goto("/")
    page.get_by_test_id("user-input").fill(user_id)
    page.get_by_test_id("user-input").press("Enter")
    expect(page.get_by_test_id("user-summary")).to_contain_text(user_id)
    expect(page.get_by_test_id("recs")).to_have_attribute("aria-busy", "false")


def rec_ids(page: Page) -> list[str]:
    """Item ids of the recommendations shown, in order."""
    ids: list[str] = page.get_by_test_id("rec-item").evaluate_all(
        "cards => cards.map(c => c.dataset.itemId)"
    )
    return ids


def test_clicking_a_recommendation_logs_it_and_refreshes_the_list(
    page: Page, tmp_path: Path
) -> None:
    load_user(page, "196")
    expect(page.get_by_test_id("user-summary")).to_contain_text(re.compile(r"\d+ events"))
    expect(page.get_by_test_id("history-item").first).to_be_visible()
    expect(page.get_by_test_id("rec-meta")).to_contain_text(re.compile(r"model \S+ · [\d.]+ ms"))
    before = rec_ids(page)
    assert len(before) >= 5
    cards = page.get_by_test_id("rec-item")
    for n in range(len(before)):
        assert cards.nth(n).get_by_test_id("reason").count() >= 1

    first = cards.first
    title = first.locator(".title").inner_text()
    first.get_by_test_id("rec-click").click()

    expect(page.get_by_test_id("status")).to_contain_text(f"logged click on {title}")
    newest = page.get_by_test_id("history-item").first
    expect(newest).to_have_attribute("data-item-id", before[0])
    expect(newest).to_have_attribute("data-type", "click")
    expect(page.locator(f'[data-testid="rec-item"][data-item-id="{before[0]}"]')).to_have_count(0)
    after = rec_ids(page)
    assert before[0] not in after
    assert set(after) - set(before), "a new item should take the clicked one's place"
    expect(page.get_by_test_id("error")).to_be_hidden()
    page.screenshot(path=tmp_path / "after-click.png", full_page=True, animations="disabled")


def test_a_new_item_is_saved_and_gets_similar_items_by_genre(
    page: Page, api_get: Callable[[str], tuple[int, Any]]
) -> None:
    item_id = f"e2e-{uuid.uuid4().hex[:8]}"
    page.goto("/")
    page.get_by_test_id("item-id").fill(item_id)
    page.get_by_test_id("item-title").fill("Galactic Test Voyage")
    page.get_by_test_id("item-year").fill("2024")
    page.get_by_test_id("item-genres").fill("Sci-Fi, Adventure")
    page.get_by_test_id("item-description").fill("A crew tests the edge of the galaxy.")
    page.get_by_test_id("item-submit").click()
    expect(page.get_by_test_id("item-result")).to_contain_text("Galactic Test Voyage")
    expect(page.get_by_test_id("item-result")).to_contain_text(item_id)

    page.get_by_test_id("similar-input").fill(item_id)
    page.get_by_test_id("similar-submit").click()
    expect(page.get_by_test_id("similar-heading")).to_contain_text("Galactic Test Voyage")
    similar = page.get_by_test_id("similar-item")
    expect(similar.first).to_be_visible()
    # The new item has no interactions, so every neighbour is one that shares a genre.
    for reason in similar.get_by_test_id("reason").all_inner_texts():
        assert re.search(r"Sci-Fi|Adventure", reason), reason
    expect(page.get_by_test_id("error")).to_be_hidden()

    status, body = api_get(f"/v1/items/{item_id}")
    assert status == 200
    assert body["title"] == "Galactic Test Voyage"
    assert body["year"] == 2024 and body["genres"] == ["Sci-Fi", "Adventure"]


def test_unknown_user_gets_cold_start_and_api_errors_are_shown(
    page: Page, api_get: Callable[[str], tuple[int, Any]]
) -> None:
    load_user(page, f"e2e-visitor-{uuid.uuid4().hex[:8]}")
    expect(page.get_by_test_id("user-summary")).to_contain_text("new user")
    expect(page.get_by_test_id("rec-notice")).to_be_visible()
    expect(page.get_by_test_id("rec-notice")).to_contain_text("A new visitor")
    expect(page.get_by_test_id("rec-item").first).to_be_visible()
    expect(page.get_by_test_id("error")).to_be_hidden()

    page.get_by_test_id("similar-input").fill("no-such-item")
    page.get_by_test_id("similar-submit").click()
    expect(page.get_by_test_id("error")).to_be_visible()
    status, body = api_get("/v1/items/no-such-item/similar")
    assert status == 404
    expect(page.get_by_test_id("error")).to_have_text(body["message"])
    expect(page.get_by_test_id("similar-item")).to_have_count(0)


@pytest.fixture(scope="session")
def keyed_server(
    tmp_path_factory: pytest.TempPathFactory, session_home: Path, e2e_snapshots: Path
) -> Iterator[tuple[str, str]]:
    """A server whose home has one write key: its base URL and the key."""
    home = server_home(tmp_path_factory, session_home)
    _, key = KeyStore(home).create(Scope.write, "web")
    for base in serve(home, e2e_snapshots):
        yield base, key


def test_a_keyed_server_asks_for_the_key_once_per_tab(
    browser: Browser, keyed_server: tuple[str, str]
) -> None:
    base, key = keyed_server
    context = browser.new_context(base_url=base)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.goto("/")
    tab.get_by_test_id("user-input").fill("196")
    tab.get_by_test_id("user-input").press("Enter")
    expect(tab.get_by_test_id("key-form")).to_be_visible()
    expect(tab.get_by_test_id("error")).to_contain_text("Bearer")
    tab.get_by_test_id("key-input").fill(key)
    tab.get_by_test_id("key-input").press("Enter")
    expect(tab.get_by_test_id("key-form")).to_be_hidden()
    load_user(tab, "196")  # a reload of the page keeps the key (same tab session)
    expect(tab.get_by_test_id("history-item").first).to_be_visible()
    assert key not in tab.evaluate("document.cookie")
    context.close()


def test_the_landing_view_offers_sample_users_a_new_visitor_and_title_search(
    page: Page, tmp_path: Path
) -> None:
    page.goto("/")
    expect(page.get_by_test_id("dataset-facts")).to_contain_text("1,682 items")
    samples = page.get_by_test_id("sample-user")
    expect(samples).to_have_count(4)  # most active, typical, light, a new visitor
    samples.first.click()
    expect(page.get_by_test_id("user-summary")).to_contain_text("737 events")
    ranks = page.locator("[data-testid=rec-item] .rank").all_inner_texts()
    assert ranks == [str(r) for r in range(1, 11)]
    screenshot(page, tmp_path, "web-page.png")
    samples.last.click()
    expect(page.get_by_test_id("rec-notice")).to_contain_text("new visitor")
    page.get_by_test_id("search-input").fill("star wars")
    page.get_by_test_id("search-input").press("Enter")
    expect(page.get_by_test_id("search-hit").first).to_contain_text("Star Wars (1977)")
    page.get_by_test_id("search-hit").first.get_by_role("button").click()
    expect(page.get_by_test_id("similar-heading")).to_contain_text("Star Wars")
    expect(page.get_by_test_id("error")).to_be_hidden()
