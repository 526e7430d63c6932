"""Behaviour every registered recommender must show, run over the whole registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liverec.core.errors import ConfigError, LiverecError, NotFittedError
from liverec.data.interactions import Histories, Interactions
from liverec.models.base import Recommender, top_k
from liverec.models.registry import MODELS

PERSONALISED = [n for n in MODELS if n != "pop"]
# The fixture below holds every history in ascending item order with one timestamp, so for
# a sequence model "what comes after the last item" was never observed: the group checks
# are collaborative-filtering properties. sasrec's own behaviour is tested on ML-100K
# (tests/models/test_sasrec.py).
ORDER_FREE = [n for n in PERSONALISED if n != "sasrec"]
# Small, fast settings so the contract runs in well under a second per model.
FAST: dict[str, dict[str, object]] = {
    # two factors for a rank-two matrix: more would memorise the held-out zeros
    "als": {"factors": 2, "iterations": 10},
    "bpr": {"factors": 8, "iterations": 200, "learning_rate": 0.05},
    "itemcf": {"neighbours": 5},
    "usercf": {"neighbours": 5},
    # sequences of four items: a small, lightly regularised transformer with a fixed schedule
    "sasrec": {"dim": 16, "dropout": 0.1, "learning_rate": 0.01, "max_epochs": 60, "patience": 60},
}


def make(name: str) -> Recommender:
    return MODELS[name].from_params(FAST.get(name, {}))


@pytest.mark.parametrize("name", list(MODELS))
def test_scores_cover_every_item_for_every_user(name: str, two_groups: Interactions) -> None:
    model = make(name).fit(two_groups)
    scores = model.score(np.arange(20))
    assert scores.shape == (20, 10)
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("name", ORDER_FREE)
def test_the_missing_item_of_a_users_group_ranks_first(name: str, two_groups: Interactions) -> None:
    model = make(name).fit(two_groups)
    users = np.arange(20)
    best, _ = top_k(model.score(users), k=1, exclude=two_groups.to_csr())
    expected = users % 5 + np.where(users < 10, 0, 5)
    assert (best[:, 0] == expected).mean() >= 0.9


@pytest.mark.parametrize("name", PERSONALISED)
def test_a_new_history_is_scored_towards_its_group(name: str, two_groups: Interactions) -> None:
    model = make(name).fit(two_groups)
    scores = model.score_histories(Histories.from_lists([[5, 6], [0, 1]], n_items=10))
    assert scores[0, 7:10].mean() > scores[0, 2:5].mean()
    assert scores[1, 2:5].mean() > scores[1, 7:10].mean()


@pytest.mark.parametrize("name", list(MODELS))
def test_similar_items_excludes_the_query_and_returns_k(
    name: str, two_groups: Interactions
) -> None:
    model = make(name).fit(two_groups)
    items, scores = model.similar_items(np.array([0, 7]), k=3)
    assert items.shape == scores.shape == (2, 3)
    assert 0 not in items[0] and 7 not in items[1]
    assert (np.diff(scores, axis=1) <= 0).all()
    if name in ORDER_FREE:
        assert set(items[0]) <= {1, 2, 3, 4} and set(items[1]) <= {5, 6, 8, 9}


@pytest.mark.parametrize("name", list(MODELS))
def test_save_then_load_gives_identical_scores(
    name: str, two_groups: Interactions, tmp_path: Path
) -> None:
    model = make(name).fit(two_groups)
    model.save(tmp_path / name)
    loaded = type(model).load(tmp_path / name)
    assert loaded.config == model.config
    np.testing.assert_allclose(loaded.score(np.arange(20)), model.score(np.arange(20)), rtol=1e-6)
    h = Histories.from_lists([[1, 2]], n_items=10)
    np.testing.assert_allclose(loaded.score_histories(h), model.score_histories(h), rtol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_loading_another_models_folder_is_refused(
    name: str, two_groups: Interactions, tmp_path: Path
) -> None:
    other = "pop" if name != "pop" else "itemcf"
    make(other).fit(two_groups).save(tmp_path)
    with pytest.raises(LiverecError, match=f"holds a '{other}' model"):
        MODELS[name].load(tmp_path)


@pytest.mark.parametrize("name", list(MODELS))
def test_unknown_parameters_are_rejected_by_name(name: str) -> None:
    with pytest.raises(ConfigError, match="has no parameter bogus"):
        MODELS[name].from_params({"bogus": 1})


@pytest.mark.parametrize("name", list(MODELS))
def test_using_an_unfitted_model_says_so(name: str) -> None:
    with pytest.raises((NotFittedError, AttributeError)):
        MODELS[name]().score(np.arange(2))
