"""Keys, scopes, rate limits, open loopback mode and the audit trail, through the real app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from liverec.api.app import create_app
from liverec.api.auth import AuthConfig
from liverec.config import Settings
from liverec.core.keys import KeyStore, Scope
from liverec.core.paths import Paths
from liverec.serving.service import LiveService

EVENT = {"user_id": "secret-user-42", "item_id": "50", "type": "click"}


def _client(service: LiveService, home: Path, host: str = "127.0.0.1", **auth: float) -> TestClient:
    settings = Settings(home=home, watch_snapshots_s=0, auth=AuthConfig(**auth))
    return TestClient(create_app(settings, service=service), client=(host, 50000))


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    store = KeyStore(tmp_path)
    return {s.name: store.create(s, f"{s.name}-key")[1] for s in Scope}


@pytest.fixture
def client(service: LiveService, tmp_path: Path, keys: dict[str, str]) -> Iterator[TestClient]:
    with _client(service, tmp_path) as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_missing_or_unknown_keys_are_401_with_a_challenge(client: TestClient) -> None:
    for headers in ({}, bearer("lr_00000000_nope"), {"Authorization": "Basic abc"}):
        r = client.get("/v1/users/1/recommendations", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["error"] == "unauthorized"


def test_each_scope_reaches_its_routes_and_no_further(
    client: TestClient, keys: dict[str, str]
) -> None:
    read, write, admin = (bearer(keys[s]) for s in ("read", "write", "admin"))
    assert client.get("/v1/users/1/recommendations", headers=read).status_code == 200
    assert client.get("/metrics", headers=read).status_code == 200
    assert client.get("/v1/dashboard").status_code == 401
    assert client.get("/v1/dashboard", headers=read).status_code == 200
    r = client.post("/v1/events", json=EVENT, headers=read)
    assert r.status_code == 403 and "needs the write scope" in r.json()["message"]
    assert client.post("/v1/events", json=EVENT, headers=write).status_code == 200
    r = client.post("/v1/admin/reload", headers=write)
    assert r.status_code == 403 and "admin" in r.json()["message"]
    assert client.post("/v1/admin/reload", headers=admin).status_code == 200
    assert client.delete("/v1/users/nobody-at-all", headers=write).status_code == 403


def test_health_docs_and_the_page_need_no_key(client: TestClient) -> None:
    for path in ("/healthz", "/openapi.json", "/docs", "/", "/dashboard"):
        assert client.get(path).status_code == 200, path


def test_a_key_revoked_while_serving_is_refused(service: LiveService, tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    record, key = store.create(Scope.read, "temp")
    with _client(service, tmp_path, reread_keys_s=0) as c:
        before = c.get("/v1/users/1/recommendations", headers=bearer(key)).status_code
        store.revoke(record.key_id)
        after = c.get("/v1/users/1/recommendations", headers=bearer(key)).status_code
    assert (before, after) == (200, 401)


def test_a_key_over_its_rate_gets_429_with_retry_after(
    service: LiveService, tmp_path: Path
) -> None:
    _, key = KeyStore(tmp_path).create(Scope.read, "slow", rate_per_s=0.01, burst=2)
    with _client(service, tmp_path) as c:
        path = "/v1/users/1/recommendations"
        codes = [c.get(path, headers=bearer(key)).status_code for _ in range(4)]
        r = c.get(path, headers=bearer(key))
    assert codes == [200, 200, 429, 429]
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_without_keys_only_loopback_callers_are_answered(
    service: LiveService, tmp_path: Path
) -> None:
    with _client(service, tmp_path) as local:
        assert local.get("/v1/users/1/recommendations").status_code == 200
    with _client(service, tmp_path, host="10.1.2.3") as remote:
        r = remote.get("/v1/users/1/recommendations")
        assert r.status_code == 403 and "loopback only" in r.json()["message"]
        assert remote.get("/healthz").status_code == 200


def test_writes_and_denials_are_audited_without_user_ids(
    client: TestClient, keys: dict[str, str], tmp_path: Path
) -> None:
    client.post("/v1/events", json=[EVENT, EVENT], headers=bearer(keys["write"]))
    client.post("/v1/events", json=EVENT, headers=bearer(keys["read"]))
    client.get("/v1/users/secret-user-42", headers=bearer(keys["read"]))  # reads: not audited
    client.delete("/v1/users/secret-user-42", headers=bearer(keys["write"]))  # denied
    text = Paths(tmp_path).audit.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(x["key"], x["route"], x["status"], x["count"], x["outcome"]) for x in lines] == [
        ("write-key", "/v1/events", 200, 2, "ok"),
        ("read-key", "/v1/events", 403, None, "denied"),
        ("write-key", "/v1/users/{user_id}", 403, None, "denied"),
    ]
    assert "secret-user-42" not in text
    assert service_pseudonym(client, "secret-user-42") not in text


def service_pseudonym(client: TestClient, user_id: str) -> str:
    return str(client.app.state.service.pseudonyms.of(user_id))
