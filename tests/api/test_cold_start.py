"""Cold start through HTTP: a user with a few clicks, an item that arrived a moment ago."""

from __future__ import annotations

from starlette.testclient import TestClient

NEW_FILM = {
    "title": "Star Wars: Rebels of the Outer Rim",
    "year": 2026,
    "genres": ["Action", "Adventure", "Sci-Fi", "War"],
    "description": "A new chapter of the galactic rebellion against the Empire, with Jedi.",
}


def test_a_new_item_appears_in_similar_of_a_related_item_on_the_next_request(
    client: TestClient,
) -> None:
    before = client.get("/v1/items/50/similar", params={"k": 10}).json()["items"]
    assert client.put("/v1/items/rebels", json=NEW_FILM).status_code == 201
    after = client.get("/v1/items/50/similar", params={"k": 10}).json()["items"]
    assert "rebels" not in [x["item_id"] for x in before]
    assert "rebels" in [x["item_id"] for x in after]
    own = client.get("/v1/items/rebels/similar", params={"k": 5}).json()
    assert own["items"][0]["title"] in {
        "Star Wars (1977)",
        "Empire Strikes Back, The (1980)",
        "Return of the Jedi (1983)",
    }


def test_a_user_with_two_clicks_gets_a_personal_list_not_the_popular_one(
    client: TestClient,
) -> None:
    popular = client.get("/v1/users/nobody-yet/recommendations").json()
    assert popular["cold_start"] is True
    for item in ("1", "71"):  # Toy Story, The Lion King
        client.post("/v1/events", json={"user_id": "two-clicks", "item_id": item, "type": "click"})
    personal = client.get("/v1/users/two-clicks/recommendations").json()
    assert personal["cold_start"] is False
    genres = [g for it in personal["items"] for g in it["genres"]]
    assert genres.count("Children's") + genres.count("Animation") >= 4
    assert [i["item_id"] for i in personal["items"]] != [i["item_id"] for i in popular["items"]]
