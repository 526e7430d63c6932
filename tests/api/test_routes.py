"""Every route through HTTP: shapes, freshness, status codes."""

from __future__ import annotations

from starlette.testclient import TestClient


def rec_ids(client: TestClient, user: str, **params: object) -> list[str]:
    r = client.get(f"/v1/users/{user}/recommendations", params=params)
    assert r.status_code == 200, r.text
    return [i["item_id"] for i in r.json()["items"]]


def test_recommendations_have_titles_reasons_version_and_timing(client: TestClient) -> None:
    body = client.get("/v1/users/196/recommendations", params={"k": 5}).json()
    assert len(body["items"]) == 5
    first = body["items"][0]
    assert set(first) == {"item_id", "title", "genres", "score", "reasons", "explore"}
    assert first["reasons"] and first["title"]
    assert body["model_version"] and body["took_ms"] > 0
    assert body["degraded"] == [] and body["cold_start"] is False


def test_a_click_changes_the_next_answer_and_removes_the_item(client: TestClient) -> None:
    before = rec_ids(client, "196")
    r = client.post("/v1/events", json={"user_id": "196", "item_id": before[0], "type": "click"})
    assert r.status_code == 200 and r.json()["accepted"] == 1
    after = rec_ids(client, "196")
    assert before[0] not in after and after != before
    recent = client.get("/v1/users/196").json()["recent"]
    assert recent[0]["item_id"] == before[0] and recent[0]["type"] == "click"


def test_a_batch_is_accepted_whole(client: TestClient) -> None:
    events = [{"user_id": "u-batch", "item_id": str(i), "type": "view"} for i in range(1, 101)]
    r = client.post("/v1/events", json={"events": events})
    assert r.json() == {"accepted": 100, "first_seq": 1, "last_seq": 100}
    r = client.post("/v1/events", json=events[:3])  # a bare array works too
    assert r.json()["accepted"] == 3
    assert client.get("/v1/users/u-batch").json()["event_count"] == 103


def test_new_item_then_similar_and_filters(client: TestClient) -> None:
    body = {"title": "Orbit of Dust", "year": 2026, "genres": ["Sci-Fi", "Documentary"]}
    assert client.put("/v1/items/orbit", json=body).status_code == 201
    assert client.put("/v1/items/orbit", json=body).status_code == 200
    assert client.get("/v1/items/orbit").json()["title"] == "Orbit of Dust"
    assert "orbit" in rec_ids(client, "196", genres="Documentary")
    similar = client.get("/v1/items/orbit/similar", params={"k": 5}).json()
    assert similar["title"] == "Orbit of Dust (2026)" and len(similar["items"]) == 5
    r = client.post("/v1/events", json={"user_id": "7", "item_id": "orbit", "type": "purchase"})
    assert r.status_code == 200


def test_exclude_and_unknown_users(client: TestClient) -> None:
    top = rec_ids(client, "1", k=3)
    assert not set(top[:2]) & set(rec_ids(client, "1", k=10, exclude=",".join(top[:2])))
    cold = client.get("/v1/users/somebody-new/recommendations").json()
    assert cold["cold_start"] is True and len(cold["items"]) == 10
    r = client.get("/v1/users/somebody-new")
    assert r.status_code == 404
    assert r.json()["message"] == "unknown user id 'somebody-new'"


def test_health_metrics_docs(client: TestClient) -> None:
    client.get("/v1/users/1/recommendations")
    client.get("/v1/users/1/recommendations")
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["model_version"]
    text = client.get("/metrics").text
    assert (
        'liverec_request_seconds_count{method="GET",route="/v1/users/{user_id}/recommendations"'
        in text
    )
    assert 'liverec_cache_lookups_total{result="hit"} 1.0' in text
    assert "liverec_cache_hit_ratio 0.5" in text
    assert "liverec_model_info{version=" in text
    assert "liverec_events_ingested_total" in text
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/events", "/v1/items/{item_id}", "/v1/users/{user_id}/recommendations"} <= set(
        paths
    )
    assert client.get("/").status_code == 200
