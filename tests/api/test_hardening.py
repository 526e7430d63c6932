"""Input and fault hardening, one class of bad input per test: always 4xx with the field
named (or 503 for storage faults), never a 500, never the whole bad input echoed back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from liverec.events.store import EventLogError
from liverec.serving.service import LiveService

OK_EVENT = {"user_id": "u-hard", "item_id": "50", "type": "click"}


@pytest.mark.parametrize(
    ("field", "bad", "says"),
    [
        ("user_id", "a\x01b", "control character"),
        ("user_id", " 196", "leading or trailing blanks"),
        ("item_id", "a/b", "contains '/'"),
        ("item_id", "..", "relative path name"),
        ("user_id", "x" * 257, "at most 256"),
    ],
)
def test_ids_in_bodies_follow_the_one_id_rule(
    client: TestClient, field: str, bad: str, says: str
) -> None:
    r = client.post("/v1/events", json={**OK_EVENT, field: bad})
    assert r.status_code == 422
    assert r.json()["message"].startswith(field) and says in r.json()["message"]


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/v1/users/%01x/recommendations", "control character"),
        ("/v1/users/%20x", "leading or trailing blanks"),
        ("/v1/items/%20x", "leading or trailing blanks"),
    ],
)
def test_ids_in_paths_follow_the_same_rule(client: TestClient, path: str, says: str) -> None:
    r = client.get(path)
    assert r.status_code == 422 and says in r.json()["message"], r.json()


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"ts": time.time() + 3 * 86400}, "ts", "more than a day ahead"),
        ({"ts": -5.0}, "ts", "greater than or equal to 0"),
        ({"type": "rating", "value": 1e39}, "value", "less than or equal to 1000000000"),
    ],
)
def test_times_and_numbers_must_be_in_range(
    client: TestClient, change: dict[str, object], field: str, says: str
) -> None:
    r = client.post("/v1/events", json={**OK_EVENT, **change})
    assert r.status_code == 422 and r.json()["message"].startswith(field), r.json()
    assert says in r.json()["message"]


def test_writes_must_be_json(client: TestClient) -> None:
    r = client.put("/v1/items/x1", content=b"title=x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["message"]
    r = client.post("/v1/events", content=b"{}", headers={"Content-Type": "application/xml"})
    assert r.status_code == 415
    assert client.post("/v1/admin/reload").status_code == 200  # no body: no type needed


def test_bodies_over_the_limit_are_413_whether_announced_or_streamed(client: TestClient) -> None:
    big = b"[" + b" " * (5 << 20) + b"]"
    headers = {"Content-Type": "application/json"}
    assert client.post("/v1/events", content=big, headers=headers).status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(80):
            yield b" " * 65536

    r = client.post("/v1/events", content=chunks(), headers=headers)
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"


@pytest.mark.parametrize("route", ["/v1/events", "/v1/items/x2"])
def test_deeply_nested_json_is_a_4xx(client: TestClient, route: str) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    headers = {"Content-Type": "application/json"}
    method = client.post if route == "/v1/events" else client.put
    r = method(route, content=body, headers=headers)
    assert 400 <= r.status_code < 500, r.text[:200]


def test_bad_input_is_never_echoed_whole(client: TestClient) -> None:
    huge = "y" * 200 + "\x00" + "z" * 50_000
    r = client.post("/v1/events", json={**OK_EVENT, "item_id": huge})
    assert r.status_code == 422 and len(r.content) < 2_000


def test_over_long_genres_are_refused(client: TestClient) -> None:
    r = client.put("/v1/items/x3", json={"title": "t", "genres": ["g" * 101]})
    assert r.status_code == 422 and r.json()["message"].startswith("genres[0]")


def test_storage_faults_are_503_with_retry_after_and_readiness_fails(
    client: TestClient, service: LiveService, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy_append = service.log.append

    def full_disk(events: object) -> tuple[int, int]:
        raise EventLogError("cannot append to event log /x/events.db: database or disk is full")

    assert client.get("/readyz").status_code == 200
    monkeypatch.setattr(service.log, "append", full_disk)
    r = client.post("/v1/events", json=OK_EVENT)
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert "/x/events.db" not in r.text  # paths stay in the server log
    assert client.get("/readyz").status_code == 503
    assert client.get("/v1/users/u-hard").status_code == 404  # nothing was acknowledged
    monkeypatch.setattr(service.log, "append", healthy_append)
    assert client.post("/v1/events", json=OK_EVENT).status_code == 200
    assert client.get("/readyz").json() == {"status": "ready"}
