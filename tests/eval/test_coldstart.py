from __future__ import annotations

from pathlib import Path

import pytest

from liverec.data.dataset import Dataset
from liverec.eval.coldstart import cold_items, cold_users, format_cold


@pytest.mark.slow
def test_cold_item_protocol_reports_every_method(ml100k: Dataset, models_dir: Path) -> None:
    res = cold_items(ml100k, share=0.05, max_cases=300, models_dir=models_dir)
    by = {r.method: r for r in res}
    assert set(by) == {
        "random",
        "popularity",
        "content",
        "pipeline",
        "pipeline, exploring cold items",
    }
    assert all(r.cases == 300 for r in res)
    assert by["popularity"].hr == 0.0  # an item nobody touched is never popular
    assert by["content"].hr > by["random"].hr
    assert "| content |" in format_cold("t", res)


@pytest.mark.slow
def test_cold_user_protocol_reports_each_history_size(ml100k: Dataset, models_dir: Path) -> None:
    res = cold_users(ml100k, history_sizes=(1, 3), share=0.1, models_dir=models_dir)
    assert set(res) == {1, 3}
    for rows in res.values():
        by = {r.method: r for r in rows}
        assert by["pipeline"].hr > by["random"].hr
        assert by["pipeline"].cases == by["popularity"].cases > 50
