"""Behaviour every registered recommender must show, run over the whole registry."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from liverec.core.errors import ConfigError, LiverecError, NotFittedError, UnknownIdError
from liverec.core.types import ScoredItem
from liverec.data.dataset import Dataset, Item
from liverec.data.idmap import IdMap
from liverec.data.interactions import Histories, Interactions
from liverec.models.base import Recommender, top_k
from liverec.models.registry import MODELS

PERSONALISED = [n for n in MODELS if n != "pop"]
# The fixture below holds every history in one fixed item order, so for a sequence model
# "what comes after the last item" was never observed: the group checks are collaborative-
# filtering properties. sasrec's own behaviour is tested on ML-100K (tests/models/test_sasrec.py).
ORDER_FREE = [n for n in PERSONALISED if n != "sasrec"]
# Small, fast settings so the contract runs in well under a second per model.
FAST: dict[str, dict[str, object]] = {
    # two factors for a rank-two matrix: more would memorise the held-out zeros
    "als": {"factors": 2, "iterations": 10},
    "bpr": {"factors": 8, "iterations": 200, "learning_rate": 0.05},
    "itemcf": {"neighbours": 5},
    "usercf": {"neighbours": 5},
    # Sequences of four items: one small attention block on a fixed 20-epoch schedule (one
    # validation, no fine-tuning). Measured: under a second to fit, and the block test holds
    # for seeds 0-5; the default two-block model with 60 epochs took 13 s.
    "sasrec": {
        "dim": 8,
        "heads": 1,
        "layers": 1,
        "max_len": 8,
        "dropout": 0.1,
        "time_gaps": False,
        "learning_rate": 0.02,
        "max_epochs": 20,
        "eval_every": 20,
        "patience": 20,
        "finetune_epochs": 0,
    },
}

A_ITEMS = ("a0", "a1", "a2", "a3", "a4")
B_ITEMS = ("b0", "b1", "b2", "b3", "b4")
# Index order differs from name order, so a raw/internal id mix-up cannot go unnoticed.
ITEM_ORDER = tuple(i for pair in zip(B_ITEMS, A_ITEMS, strict=True) for i in pair)
A_FANS = tuple(f"a-fan-{n}" for n in range(10))
B_FANS = tuple(f"b-fan-{n}" for n in range(8))
USERS = (*B_FANS, *A_FANS)


def missing_item(user_id: str) -> str:
    """The one item of a user's block that the user has not seen: the known right answer."""
    block, n = user_id.split("-fan-")
    return (A_ITEMS if block == "a" else B_ITEMS)[int(n) % 5]


def seen_items(user_id: str) -> list[str]:
    block = A_ITEMS if user_id.startswith("a") else B_ITEMS
    return [i for i in block if i != missing_item(user_id)]


@pytest.fixture(scope="module")
def blocks() -> Dataset:
    """Ten users over items a0-a4 and five over b0-b4, each missing one item of their block.

    A checkerboard in the manner of implicit's test: two disjoint groups over disjoint items,
    so the exact right answer is known. Every a-item has 8 users and every b-item 4, so even
    popularity has one: an a-fan's missing item first, then (ties by index) a0 for a b-fan.
    """
    users, items = IdMap(USERS, kind="user"), IdMap(ITEM_ORDER, kind="item")
    pairs = [(u, i) for u in USERS for i in seen_items(u)]
    interactions = Interactions.from_arrays(
        [users.index(u) for u, _ in pairs],
        [items.index(i) for _, i in pairs],
        n_users=len(users),
        n_items=len(items),
    )
    catalog = [Item(i, title=i) for i in ITEM_ORDER]
    return Dataset("blocks", users, items, interactions, catalog)


def make(name: str) -> Recommender:
    return MODELS[name].from_params(FAST.get(name, {}))


@pytest.fixture(scope="module", params=list(MODELS))
def fitted(request: pytest.FixtureRequest, blocks: Dataset) -> Recommender:
    """Each registered model fitted once on ``blocks`` (tests only read it)."""
    return make(request.param).fit(blocks)


def ids(answer: list[ScoredItem]) -> list[str]:
    return [r.item_id for r in answer]


def test_scores_cover_every_item_for_every_user(fitted: Recommender) -> None:
    scores = fitted.score(np.arange(len(USERS)))
    assert scores.shape == (len(USERS), len(ITEM_ORDER))
    assert np.isfinite(scores).all()


def test_the_missing_item_of_a_users_block_is_the_top_recommendation(
    fitted: Recommender,
) -> None:
    if fitted.name not in [*ORDER_FREE, "pop"]:
        pytest.skip("a sequence model has no order-free known answer here")
    best = fitted.recommend(USERS, k=1)
    if fitted.name == "pop":
        expected = [missing_item(u) if u in A_FANS else "a0" for u in USERS]
    else:
        expected = [missing_item(u) for u in USERS]
    assert [ids(answer) for answer in best] == [[e] for e in expected]


def test_similar_items_are_the_rest_of_the_block(fitted: Recommender) -> None:
    if fitted.name not in [*ORDER_FREE, "pop"]:
        pytest.skip("a sequence model has no order-free known answer here")
    a1, b2 = fitted.similar(["a1", "b2"], k=4)
    if fitted.name == "pop":  # the most popular items: every a-item, ties by index
        assert ids(a1) == ["a0", "a2", "a3", "a4"] and ids(b2) == ["a0", "a1", "a2", "a3"]
    else:
        assert set(ids(a1)) == {"a0", "a2", "a3", "a4"}
        assert set(ids(b2)) == {"b0", "b1", "b3", "b4"}


def test_a_new_history_is_scored_towards_its_block(fitted: Recommender, blocks: Dataset) -> None:
    if fitted.name == "pop":
        pytest.skip("popularity is the same for every history")
    b01, a01 = blocks.items.indices(["b0", "b1"]), blocks.items.indices(["a0", "a1"])
    b_rest, a_rest = blocks.items.indices(B_ITEMS[2:]), blocks.items.indices(A_ITEMS[2:])
    histories = Histories.from_lists([b01, a01], n_items=len(ITEM_ORDER))
    scores = fitted.score_histories(histories)
    assert scores[0, b_rest].mean() > scores[0, a_rest].mean()
    assert scores[1, a_rest].mean() > scores[1, b_rest].mean()


def test_recommend_on_raw_ids_equals_top_k_on_indices(fitted: Recommender, blocks: Dataset) -> None:
    uidx = blocks.users.indices(USERS)
    best, scores = top_k(fitted.score(uidx), k=3, exclude=blocks.interactions.to_csr()[uidx])
    expected = [
        [ScoredItem(i, float(s)) for i, s in zip(blocks.items.raws(row), row_s, strict=True)]
        for row, row_s in zip(best, scores, strict=True)
    ]
    assert fitted.recommend(USERS, k=3) == expected


def test_a_batch_of_users_gets_what_each_gets_alone(fitted: Recommender) -> None:
    # Every unseen item, compared by id: a batched matrix product may differ from a single
    # row's in the last bit, which can swap two items of (near-)equal score.
    k = len(ITEM_ORDER)
    batch = fitted.recommend(USERS, k=k)
    for user_id, answer in zip(USERS, batch, strict=True):
        (alone,) = fitted.recommend([user_id], k=k)
        assert sorted(ids(alone)) == sorted(ids(answer))
        by_id = {r.item_id: r.score for r in answer}
        np.testing.assert_allclose(
            [r.score for r in alone], [by_id[r.item_id] for r in alone], rtol=1e-5, atol=1e-6
        )
        assert all(a.score >= b.score for a, b in itertools.pairwise(alone))


def test_seen_items_are_excluded_unless_asked_not_to(fitted: Recommender) -> None:
    everything = len(ITEM_ORDER)
    for user_id, answer in zip(USERS, fitted.recommend(USERS, k=everything), strict=True):
        assert sorted(ids(answer)) == sorted(set(ITEM_ORDER) - set(seen_items(user_id)))
    for answer in fitted.recommend(USERS, k=everything, exclude_seen=False):
        assert sorted(ids(answer)) == sorted(ITEM_ORDER)


def test_items_restricts_the_ranking_and_keeps_its_order(fitted: Recommender) -> None:
    allowed = ["b4", "a2", "a3", "b0"]
    full = fitted.recommend(USERS, k=len(ITEM_ORDER), exclude_seen=False)
    restricted = fitted.recommend(USERS, k=3, exclude_seen=False, items=allowed)
    for whole, part in zip(full, restricted, strict=True):
        assert ids(part) == [i for i in ids(whole) if i in allowed][:3]


def test_an_unknown_user_or_item_is_named(fitted: Recommender) -> None:
    with pytest.raises(UnknownIdError, match="'nobody'"):
        fitted.recommend(["a-fan-0", "nobody"])
    with pytest.raises(UnknownIdError, match="'zz'"):
        fitted.recommend(["a-fan-0"], items=["a0", "zz"])
    with pytest.raises(UnknownIdError, match="'zz'"):
        fitted.similar(["zz"])


def test_save_then_load_gives_identical_scores_and_answers(
    fitted: Recommender, tmp_path: Path
) -> None:
    fitted.save(tmp_path / fitted.name)
    loaded = type(fitted).load(tmp_path / fitted.name)
    assert loaded.config == fitted.config
    users = np.arange(len(USERS))
    np.testing.assert_allclose(loaded.score(users), fitted.score(users), rtol=1e-6)
    h = Histories.from_lists([[1, 2]], n_items=len(ITEM_ORDER))
    np.testing.assert_allclose(loaded.score_histories(h), fitted.score_histories(h), rtol=1e-5)
    assert [ids(a) for a in loaded.recommend(USERS, k=3)] == [
        ids(a) for a in fitted.recommend(USERS, k=3)
    ]


@pytest.mark.parametrize("name", ["pop", "itemcf"])
def test_a_model_fitted_without_raw_ids_says_how_to_get_them(
    name: str, blocks: Dataset, tmp_path: Path
) -> None:
    # saved from bare Interactions = the layout of models saved before id maps were kept
    make(name).fit(blocks.interactions).save(tmp_path)
    loaded = MODELS[name].load(tmp_path)
    assert loaded.score(np.arange(2)).shape == (2, len(ITEM_ORDER))
    for call in (lambda: loaded.recommend(["a-fan-0"]), lambda: loaded.similar(["a0"])):
        with pytest.raises(LiverecError, match="fit it on a Dataset"):
            call()


def test_loading_another_models_folder_is_refused(
    fitted: Recommender, blocks: Dataset, tmp_path: Path
) -> None:
    other = "pop" if fitted.name != "pop" else "itemcf"
    make(other).fit(blocks).save(tmp_path)
    with pytest.raises(LiverecError, match=f"holds a '{other}' model"):
        type(fitted).load(tmp_path)


@pytest.mark.parametrize("name", list(MODELS))
def test_unknown_parameters_are_rejected_by_name(name: str) -> None:
    with pytest.raises(ConfigError, match="has no parameter bogus"):
        MODELS[name].from_params({"bogus": 1})


UNFITTED_CALLS: dict[str, Callable[[Recommender, Path], object]] = {
    "score": lambda m, _: m.score(np.arange(1)),
    "score_histories": lambda m, _: m.score_histories(Histories.from_lists([[0]], 2)),
    "similar_items": lambda m, _: m.similar_items(np.arange(1), 1),
    "recommend": lambda m, _: m.recommend(["a-fan-0"]),
    "similar": lambda m, _: m.similar(["a0"]),
    "save": lambda m, folder: m.save(folder),
}


@pytest.mark.parametrize("method", list(UNFITTED_CALLS))
@pytest.mark.parametrize("name", list(MODELS))
def test_using_an_unfitted_model_says_so(name: str, method: str, tmp_path: Path) -> None:
    with pytest.raises(NotFittedError, match=f"{name} is not fitted"):
        UNFITTED_CALLS[method](MODELS[name](), tmp_path / "model")
    assert not (tmp_path / "model").exists()
