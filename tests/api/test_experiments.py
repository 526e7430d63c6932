"""The admin experiment routes: define, answer under an arm, report, stop."""

from __future__ import annotations

from starlette.testclient import TestClient

DEFINITION = {
    "name": "mmr",
    "arms": [{"name": "control"}, {"name": "diverse", "pipeline": {"mmr_lambda": 0.3}}],
    "planned_users": 100,
}


def test_an_experiment_is_defined_served_reported_and_stopped(client: TestClient) -> None:
    created = client.post("/v1/admin/experiments", json=DEFINITION)
    assert created.status_code == 201 and created.json()["stopped"] is None
    answers = [client.get(f"/v1/users/{u}/recommendations?k=5").json() for u in range(1, 21)]
    assert {a["arm"] for a in answers} == {"control", "diverse"}
    assert all(a["experiment"] == "mmr" and len(a["request_id"]) == 16 for a in answers)
    clicked = answers[0]
    event = {"user_id": "1", "item_id": clicked["items"][0]["item_id"], "type": "click"}
    assert client.post("/v1/events", json=event).status_code == 200
    listed = client.get("/v1/admin/experiments").json()
    assert [(e["name"], e["exposures"]) for e in listed] == [("mmr", 20)]
    report = client.get("/v1/admin/experiments/mmr/report").json()
    assert report["users"] == 20 and report["exposures"] == 20
    arms = {a["name"]: a for a in report["arms"]}
    assert arms[clicked["arm"]]["clicks"] == 1
    assert report["decision"].startswith("continue: look 1 of 4 needs 25 users")
    stopped = client.post("/v1/admin/experiments/mmr/stop")
    assert stopped.status_code == 200 and stopped.json()["stopped"] is not None
    after = client.get("/v1/users/1/recommendations").json()
    assert after["arm"] is None and after["experiment"] is None


def test_a_second_running_experiment_or_a_misspelt_field_is_refused(client: TestClient) -> None:
    assert client.post("/v1/admin/experiments", json=DEFINITION).status_code == 201
    second = client.post("/v1/admin/experiments", json={**DEFINITION, "name": "other"})
    assert second.status_code == 400 and "stop it first" in second.json()["message"]
    bad = {**DEFINITION, "arms": [{"name": "a", "pipeline": {"mmr_lamda": 1}}, {"name": "b"}]}
    refused = client.post("/v1/admin/experiments", json=bad)
    assert refused.status_code == 422 and "mmr_lamda" in refused.json()["message"]


def test_an_unknown_experiment_has_no_report(client: TestClient) -> None:
    missing = client.get("/v1/admin/experiments/nope/report")
    assert missing.status_code == 404 and "no experiment 'nope'" in missing.json()["message"]


def test_the_dashboard_shows_the_running_experiments_report(client: TestClient) -> None:
    assert client.get("/v1/dashboard").json()["experiment"] is None
    assert client.post("/v1/admin/experiments", json=DEFINITION).status_code == 201
    for u in range(1, 21):
        client.get(f"/v1/users/{u}/recommendations?k=5")
    report = client.get("/v1/dashboard").json()["experiment"]
    assert report["name"] == "mmr" and report["status"] == "running"
    arms = {a["name"]: a for a in report["arms"]}
    assert set(arms) == {"control", "diverse"}
    assert sum(a["exposures"] for a in arms.values()) == report["exposures"] == 20
    assert {"value", "lower", "upper"} <= set(arms["control"]["ctr"])
