"""The operator dashboard and the offline API docs in a real headless Chromium."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.slow

REC = "GET /v1/users/{user_id}/recommendations"


def post(url: str, doc: object) -> None:
    """POST ``doc`` as JSON; raises on an error status."""
    req = urllib.request.Request(url, json.dumps(doc).encode(), method="POST")
    req.add_header("content-type", "application/json")
    urllib.request.urlopen(req, timeout=10).read()


def traffic(base: str) -> None:
    """Some recommendations and a batch of events, as users would make them."""
    for user in ("1", "196", "405", "new-visitor"):
        urllib.request.urlopen(f"{base}/v1/users/{user}/recommendations?k=10", timeout=10).read()
    events = [{"user_id": "dash-e2e", "item_id": str(i), "type": "view"} for i in range(1, 21)]
    post(f"{base}/v1/events", {"events": events})


def test_dashboard_shows_every_panel_with_the_live_figures(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    arms = [{"name": "control"}, {"name": "diverse", "pipeline": {"mmr_lambda": 0.3}}]
    post(f"{live_server}/v1/admin/experiments", {"name": "e2e-mmr", "arms": arms})
    try:
        traffic(live_server)
        page.goto("/dashboard")
        check_panels(page)
        screenshot(page, tmp_path, "dashboard.png")
    finally:  # the other browser tests run without an experiment
        post(f"{live_server}/v1/admin/experiments/e2e-mmr/stop", {})
    assert errors == []


def check_panels(page: Page) -> None:
    """Every panel shows the live figures."""
    expect(page.locator("body")).to_have_attribute("data-loaded", "true")
    expect(page.get_by_test_id("tile-items")).to_have_text(re.compile(r"^1,68\d$"))
    expect(page.get_by_test_id("tile-rps")).not_to_have_text("–")
    expect(page.get_by_test_id("tile-eps")).not_to_have_text("0")
    expect(page.get_by_test_id("tile-hit")).to_have_text(re.compile(r"%$"))
    expect(page.get_by_test_id("routes")).to_contain_text(REC)
    expect(page.get_by_test_id("stages")).to_contain_text("total")
    expect(page.get_by_test_id("model")).to_contain_text(re.compile(r"100,000 events"))
    expect(page.get_by_test_id("components")).to_contain_text("itemcf")
    for chart in ("chart-traffic", "chart-latency"):
        expect(page.get_by_test_id(chart).locator("canvas")).to_have_count(1)
    expect(page.get_by_test_id("exp-summary")).to_contain_text("e2e-mmr · ab · running")
    expect(page.get_by_test_id("exp-arms")).to_contain_text("diverse")
    expect(page.get_by_test_id("error")).to_be_hidden()


def test_api_docs_render_with_every_request_kept_on_this_server(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    elsewhere: list[str] = []

    def only_local(route: Route, request: Request) -> None:
        if request.url.startswith(live_server):
            route.continue_()
        else:  # what a machine without internet would see
            elsewhere.append(request.url)
            route.abort()

    page.context.route("**/*", only_local)
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("liverec")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    screenshot(page, tmp_path, "api-docs.png")
    assert elsewhere == []
