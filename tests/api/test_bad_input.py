"""Bad input is a 4xx naming the field and what was expected; never a 500 or a traceback."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

OK = {"user_id": "1", "item_id": "50", "type": "click"}


@pytest.mark.parametrize(
    ("body", "status", "field", "says"),
    [
        ({**OK, "type": "like"}, 422, "type", "'view', 'click', 'purchase' or 'rating'"),
        ({"item_id": "50", "type": "click"}, 422, "user_id", "Field required"),
        ({**OK, "user_id": ""}, 422, "user_id", "at least 1 character"),
        ({**OK, "type": "rating"}, 422, "body", "a rating event needs a value"),
        ({**OK, "value": -1}, 422, "value", "greater than or equal to 0"),
        ({**OK, "ts": "yesterday"}, 422, "ts", "valid number"),
        ({**OK, "colour": "red"}, 422, "colour", "Extra inputs are not permitted"),
        ({"events": []}, 422, "events", "at least 1 item"),
        ({"events": [OK, {**OK, "type": "like"}]}, 422, "events[1].type", "'view'"),
        ([OK, {**OK, "value": "x"}], 422, "events[1].value", "valid number"),
        ({**OK, "item_id": "not-in-catalog"}, 422, None, "unknown item 'not-in-catalog'"),
        (42, 422, "body", "valid dictionary"),
    ],
)
def test_bad_events_name_the_field(
    client: TestClient, body: object, status: int, field: str | None, says: str
) -> None:
    r = client.post("/v1/events", json=body)
    assert r.status_code == status, r.text
    doc = r.json()
    assert says in doc["message"]
    if field is not None:
        assert doc["message"].startswith(f"{field}: ")
        assert doc["details"][0]["field"] == field
    assert "Traceback" not in r.text


def test_a_batch_with_one_bad_event_logs_nothing(client: TestClient) -> None:
    good = {"user_id": "whole-batch", "item_id": "50", "type": "view"}
    r = client.post("/v1/events", json={"events": [good, {**good, "item_id": "missing"}]})
    assert r.status_code == 422
    assert "events[1].item_id" in r.json()["message"]
    assert client.get("/v1/users/whole-batch").status_code == 404  # nothing half-applied
    assert client.get("/healthz").json()["applied_seq"] == 0


def test_malformed_json_is_a_422_not_a_500(client: TestClient) -> None:
    r = client.post(
        "/v1/events", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["message"].startswith("body: not valid JSON")


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/v1/users/1/recommendations?k=0", 422, "k: Input should be greater than or equal to 1"),
        ("/v1/users/1/recommendations?k=abc", 422, "k: Input should be a valid integer"),
        (
            "/v1/users/1/recommendations?explain=maybe",
            422,
            "explain: Input should be a valid boolean",
        ),
        ("/v1/items/nope/similar", 404, "unknown item id 'nope'"),
        ("/v1/items/50/similar?k=1000", 422, "k: Input should be less than or equal to 100"),
        ("/v1/nothing-here", 404, "no route GET /v1/nothing-here"),
    ],
)
def test_bad_queries(client: TestClient, path: str, status: int, says: str) -> None:
    r = client.get(path)
    assert r.status_code == status, r.text
    assert says in r.json()["message"]


def test_bad_items(client: TestClient) -> None:
    r = client.put("/v1/items/x", json={"year": 1999})
    assert r.status_code == 422 and r.json()["message"].startswith("title: Field required")
    r = client.put("/v1/items/x", json={"title": "X", "year": 99999})
    assert "year: Input should be less than or equal to 2200" in r.json()["message"]
    assert client.delete("/v1/items/x").status_code == 405
