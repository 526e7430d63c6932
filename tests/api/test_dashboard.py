"""GET /v1/dashboard and the offline API docs, through HTTP."""

from __future__ import annotations

import shutil
from pathlib import Path

from starlette.testclient import TestClient

from liverec.serving.service import LiveService

REC = "GET /v1/users/{user_id}/recommendations"


def test_dashboard_counts_the_requests_events_and_stages_just_served(
    client: TestClient, service: LiveService
) -> None:
    for user in ("1", "2", "3"):
        assert client.get(f"/v1/users/{user}/recommendations", params={"k": 5}).status_code == 200
    client.get("/v1/users/1/recommendations", params={"k": 5})  # a cached answer
    events = [{"user_id": "dash-user", "item_id": str(i), "type": "view"} for i in range(1, 8)]
    assert client.post("/v1/events", json={"events": events}).status_code == 200
    d = client.get("/v1/dashboard").json()
    routes = {r["name"]: r for r in d["traffic"]["routes"]}
    assert routes[REC]["calls"] == 4 and routes[REC]["errors"] == 0
    assert routes[REC]["p99_ms"] >= routes[REC]["p50_ms"] > 0
    stages = {s["name"]: s for s in d["traffic"]["stages"]}
    assert stages["total"]["calls"] == 3  # the cached answer ran no pipeline
    assert d["traffic"]["cache_hit_ratio"] == 0.25
    step = d["traffic"]["step_s"]
    assert sum(p["events_per_s"] for p in d["traffic"]["series"]) * step == 7
    assert d["counts"]["events_ingested"] == 7 and d["counts"]["applied_seq"] == 7
    assert d["counts"]["catalog_items"] == service.runtime.snapshot.n_items


def test_dashboard_model_card_describes_the_served_snapshot(
    client: TestClient, service: LiveService
) -> None:
    model = client.get("/v1/dashboard").json()["model"]
    manifest = service.runtime.snapshot.manifest
    assert model["version"] == service.version
    assert model["training_events"] == manifest["n_interactions"] > 0
    assert {c["name"] for c in model["components"]} == set(manifest["components"])
    assert model["trained_at"] == manifest["created_at"]


def test_docs_page_loads_swagger_ui_from_this_server_not_a_cdn(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "https://" not in html
    bundle = client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 1_000_000
    assert client.get("/redoc").status_code == 404  # its bundle would come from a CDN


def test_title_search_puts_titles_that_start_with_the_query_first(client: TestClient) -> None:
    found = client.get("/v1/items", params={"q": "star", "k": 5}).json()
    titles = [i["title"] for i in found["items"]]
    assert titles and all("star" in t.lower() for t in titles)
    assert titles[0].lower().startswith("star")  # Star Wars before "Lone Star"
    pops = [i["popularity"] for i in found["items"] if i["title"].lower().startswith("star")]
    assert pops == sorted(pops, reverse=True)
    assert client.get("/v1/items", params={"q": "zzqx-no-such-title"}).json()["items"] == []
    assert client.get("/v1/items", params={"q": ""}).status_code == 422


def test_a_new_item_is_found_by_title_at_once(client: TestClient) -> None:
    body = {"title": "Quantum Harbour", "genres": ["Sci-Fi"]}
    assert client.put("/v1/items/qh-1", json=body).status_code == 201
    found = client.get("/v1/items", params={"q": "quantum harb"}).json()["items"]
    assert [i["item_id"] for i in found] == ["qh-1"]


def test_overview_names_the_dataset_and_sample_users_that_exist(
    client: TestClient, session_home: Path, tmp_path: Path
) -> None:
    # the app's home (tmp_path) gets the public raw files that hold ML-100K's raw user ids
    shutil.copytree(session_home / "raw", tmp_path / "raw")
    o = client.get("/v1/overview").json()
    assert (o["dataset"], o["items"], o["training_events"]) == ("ml-100k", 1682, 100_000)
    assert o["first_event"] < o["last_event"]
    kinds = [s["kind"] for s in o["sample_users"]]
    assert kinds == ["most active", "typical", "light"]
    events = [s["events"] for s in o["sample_users"]]
    assert events == sorted(events, reverse=True) and events[0] == 737  # ML-100K's user 405
    for s in o["sample_users"]:
        profile = client.get(f"/v1/users/{s['user_id']}").json()
        assert profile["event_count"] == s["events"]
