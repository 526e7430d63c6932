"""``bench engines`` end to end on a tiny custom size: ``liverec train`` with every engine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from liverec.bench.engines import VARIANTS, EnginesBench, engines_table, run_engines


@pytest.mark.slow
def test_each_engine_trains_the_tiny_dataset_and_the_table_compares_them(tmp_path: Path) -> None:
    bench = EnginesBench(repeats=1, text=False, events=20_000, users=1_000, items=300)
    assert bench.label == "custom"
    doc = run_engines(bench, tmp_path, log=lambda _: None)
    assert list(doc["runs"]) == list(VARIANTS)
    engines = [runs[0]["engine"] for runs in doc["runs"].values()]
    assert engines[0].startswith("local (") and re.fullmatch(r"ray \(local, \d+ CPUs\)", engines[1])
    assert engines[2].startswith("ray (127.0.0.1:")
    for medians in doc["medians"].values():
        assert medians["wall_s"] > 0 and {"itemcf", "als"} <= medians.keys()
    table = engines_table(doc)
    assert table.count("\n| ") == 4 and "| engine | train wall s (median) | range |" in table
    assert not (tmp_path / "engines-custom").exists()  # the scratch folder is removed
