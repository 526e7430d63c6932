"""Leave-last-out by time: the one offline protocol every model is judged by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from liverec.data.interactions import Interactions

SplitName = Literal["valid", "test"]
TRAIN, VALID, TEST = 0, 1, 2


@dataclass(frozen=True)
class LeaveLastOut:
    """Per user: last interaction = test, second last = validation, the rest = training.

    Users with fewer than 3 interactions keep everything in training and are not evaluated.
    ``role`` gives each row of ``interactions`` its part (TRAIN, VALID or TEST).
    """

    interactions: Interactions
    role: NDArray[np.int8]

    def history(self, split: SplitName) -> Interactions:
        """What a model may learn from before predicting ``split``.

        For "valid" that is the training part; for "test" the validation item joins it,
        since it happened before the test item.
        """
        keep = self.role == TRAIN if split == "valid" else self.role <= VALID
        return self.interactions.select(keep)

    def targets(self, split: SplitName) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(users, held-out item) pairs of ``split``, sorted by user."""
        rows = np.flatnonzero(self.role == (VALID if split == "valid" else TEST))
        users = self.interactions.uidx[rows].astype(np.int64)
        order = np.argsort(users, kind="stable")
        return users[order], self.interactions.iidx[rows][order].astype(np.int64)


def leave_last_out(interactions: Interactions, min_interactions: int = 3) -> LeaveLastOut:
    """Split by time per user; ties in timestamp keep file order (stable sort).

    >>> it = Interactions.from_arrays([0, 0, 0, 1, 1], [0, 1, 2, 0, 1], [5, 1, 5, 1, 2])
    >>> leave_last_out(it).role.tolist()   # user 0: item 1 (t=1), item 0 (t=5), item 2 (t=5)
    [1, 0, 2, 0, 0]
    """
    if min_interactions < 3:
        raise ValueError(f"min_interactions must be >= 3, got {min_interactions}")
    order = interactions.time_order()
    users = interactions.uidx[order]
    counts = np.bincount(users, minlength=interactions.n_users)
    ends = np.cumsum(counts)
    role = np.zeros(len(interactions), np.int8)
    eligible = counts >= min_interactions
    role[order[ends[eligible] - 1]] = TEST
    role[order[ends[eligible] - 2]] = VALID
    return LeaveLastOut(interactions, role)
