"""Team-draft interleaving: one list merged from two rankers, each item credited to one.

Radlinski, Kurup and Joachims (2008): like two captains picking players, the team with fewer
picks so far (a coin flip on ties) adds its highest-ranked item not yet in the list. A user
who clicks more items of one team prefers that ranker. Both rankers are judged on the same
user, the same moment and the same state, so it needs far fewer users than an A/B split to
see a ranking difference; it says which ranker users prefer, not by how much a metric moves.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from typing import TypeVar

from liverec.serving.pipeline import Pipeline, PipelineResult

T = TypeVar("T", bound=Hashable)


def team_draft(
    first: Sequence[T], second: Sequence[T], k: int, rng: random.Random
) -> tuple[list[T], list[int]]:
    """Merge two ranked lists into at most ``k`` items; returns them and each one's team
    (0: ``first``, 1: ``second``).

    >>> team_draft(["a", "b", "c"], ["b", "d", "a"], 4, random.Random(0))
    (['b', 'a', 'd', 'c'], [1, 0, 1, 0])
    """
    lists = (first, second)
    at = [0, 0]
    picks = [0, 0]
    merged: list[T] = []
    teams: list[int] = []
    taken: set[T] = set()
    while len(merged) < k:
        for team in (0, 1):  # skip what the other team already placed
            while at[team] < len(lists[team]) and lists[team][at[team]] in taken:
                at[team] += 1
        left = [at[t] < len(lists[t]) for t in (0, 1)]
        if not any(left):
            break
        # the team with fewer picks goes next; a coin decides who goes first in each round
        team = rng.randrange(2) if picks[0] == picks[1] else int(picks[1] < picks[0])
        if not left[team]:
            team = 1 - team
        item = lists[team][at[team]]
        merged.append(item)
        teams.append(team)
        taken.add(item)
        picks[team] += 1
    return merged, teams


def interleave_arms(
    arms: Sequence[tuple[str, Pipeline]],
    uidx: int | None,
    k: int,
    exclude: Sequence[int],
    genres: Sequence[str],
    explain: bool,
    rng: random.Random,
) -> tuple[PipelineResult, tuple[str, ...]]:
    """Both arms' top ``k`` merged by team draft, each item with the reasons and score its
    arm gave it; returns the merged result and the arm that placed each item."""
    names = [name for name, _ in arms]
    outs = [pipeline.recommend(uidx, k, exclude, genres, explain) for _, pipeline in arms]
    merged, teams = team_draft(
        [r.item for r in outs[0].items], [r.item for r in outs[1].items], k, rng
    )
    own = [{r.item: r for r in out.items} for out in outs]
    result = PipelineResult(
        items=[own[t][i] for i, t in zip(merged, teams, strict=True)],
        degraded=[
            f"{a}: {why}" for a, out in zip(names, outs, strict=True) for why in out.degraded
        ],
        cold_start=outs[0].cold_start,
        stage_ms={
            f"{a}.{stage}": ms
            for a, out in zip(names, outs, strict=True)
            for stage, ms in out.stage_ms.items()
        },
    )
    return result, tuple(names[t] for t in teams)
