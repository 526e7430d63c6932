from __future__ import annotations

import numpy as np

from liverec.data.dataset import Dataset
from liverec.data.interactions import Interactions
from liverec.data.split import TEST, TRAIN, VALID, leave_last_out


def test_users_with_fewer_than_three_interactions_stay_in_training() -> None:
    it = Interactions.from_arrays([0, 0, 1, 1, 1], [0, 1, 0, 1, 2], [1, 2, 1, 2, 3])
    split = leave_last_out(it)
    assert split.role.tolist() == [TRAIN, TRAIN, TRAIN, VALID, TEST]
    users, items = split.targets("test")
    assert users.tolist() == [1] and items.tolist() == [2]


def test_test_history_contains_the_validation_item() -> None:
    it = Interactions.from_arrays([0, 0, 0, 0], [0, 1, 2, 3], [1, 2, 3, 4])
    split = leave_last_out(it)
    assert sorted(split.history("valid").iidx.tolist()) == [0, 1]
    assert sorted(split.history("test").iidx.tolist()) == [0, 1, 2]


def test_ml100k_split_holds_out_each_users_last_two_events(ml100k: Dataset) -> None:
    it = ml100k.interactions
    split = leave_last_out(it)
    assert (split.role == TEST).sum() == (split.role == VALID).sum() == ml100k.n_users == 943
    # the test row is the user's latest; among equal timestamps the last one in the file
    for u in [0, 1, 500, 942]:
        rows = np.flatnonzero(it.uidx == u)
        latest = rows[it.ts[rows] == it.ts[rows].max()][-1]
        assert split.role[latest] == TEST
    assert len(split.history("valid")) == 100_000 - 2 * 943
