"""The synthetic generator: exact sizes, determinism, and the structure it plants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from liverec.core.errors import ConfigError
from liverec.data.synth import PRESETS, SynthConfig, preset, synthesize

SMALL = SynthConfig(events=60_000, users=2_000, items=500, holdout_users=300, chunk_events=7_000)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(SMALL, out)
    return out


def events(directory: Path) -> dict[str, np.ndarray]:
    table = pq.read_table(directory / "events.parquet").to_pydict()
    return {
        "user": np.array([int(u[1:]) for u in table["user_id"]]),
        "item": np.array([int(i[1:]) for i in table["item_id"]]),
        "ts": np.array(table["timestamp"]),
        "type": np.array(table["type"]),
    }


def test_sizes_are_exact_and_the_holdout_is_each_sampled_users_last_event(written: Path) -> None:
    e = events(written)
    held = pq.read_table(written / "holdout.parquet").to_pydict()
    assert len(e["user"]) + len(held["user_id"]) == SMALL.events
    assert len(held["user_id"]) == SMALL.holdout_users == len(set(held["user_id"]))
    assert len(np.unique(e["user"])) == SMALL.users  # every user keeps >= 2 events
    assert pq.read_table(written / "items.parquet").num_rows == SMALL.items
    last = {}
    for u, t in zip(e["user"].tolist(), e["ts"].tolist(), strict=True):
        last[u] = max(last.get(u, t), t)
    for u, t in zip(held["user_id"], held["timestamp"], strict=True):
        assert t >= last[int(u[1:])]  # nothing of the user comes after the held-out event


def test_the_same_seed_writes_the_same_files(written: Path, tmp_path: Path) -> None:
    synthesize(SMALL, tmp_path)
    for name in ("events.parquet", "holdout.parquet", "items.parquet"):
        assert pq.read_table(written / name).equals(pq.read_table(tmp_path / name))


def test_activity_and_popularity_have_heavy_tails(written: Path) -> None:
    e = events(written)
    per_user = np.bincount(e["user"])
    per_item = np.bincount(e["item"], minlength=SMALL.items)
    assert per_user.max() > 20 * np.median(per_user)  # a few very heavy users
    top = np.sort(per_item)[::-1]
    assert top[: SMALL.items // 10].sum() > 0.35 * top.sum()  # 10% of items: a third of events
    assert set(np.unique(e["type"])) == {"view", "click", "purchase"}


def test_transitions_are_planted_consecutive_pairs(written: Path) -> None:
    """The item after an item is far more predictable than in the same log shuffled."""
    e = events(written)
    order = np.lexsort((e["ts"], e["user"]))
    u, i = e["user"][order], e["item"][order]
    same = u[1:] == u[:-1]
    before, after = i[:-1][same], i[1:][same]

    def top_next_share(nxt: np.ndarray) -> float:
        counts = np.bincount(before * SMALL.items + nxt, minlength=SMALL.items**2)
        grid = counts.reshape(SMALL.items, SMALL.items)
        return float(grid.max(axis=1).sum() / grid.sum())

    shuffled = np.random.default_rng(0).permutation(after)
    assert top_next_share(after) > 3 * top_next_share(shuffled)  # measured 0.12 vs 0.03


def test_item_text_follows_the_taste_clusters(written: Path) -> None:
    items = pq.read_table(written / "items.parquet").to_pydict()
    genres = [tuple(g) for g in items["genres"]]
    assert all(1 <= len(g) <= 2 for g in genres)
    assert all(
        t and d.startswith("A ") for t, d in zip(items["title"], items["description"], strict=True)
    )
    # items of one cluster share their first genre: far fewer first genres than items
    assert len({g[0] for g in genres}) < SMALL.n_clusters + 1


def test_presets_and_bad_settings() -> None:
    assert (preset("s").events, preset("L").users) == (PRESETS["S"][0], PRESETS["L"][1])
    assert preset("S", items=50).items == 50
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("XL")
    with pytest.raises(ConfigError, match="at least users"):
        SynthConfig(events=10, users=20, items=5)
