"""``bench scale`` end to end on a tiny custom size: every step measured, tables, accuracy."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from liverec.bench.scale import ScaleBench, run_scale, scale_tables
from liverec.core.errors import LiverecError

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


@pytest.mark.slow
@needs_wrk
def test_a_tiny_scale_run_measures_every_step_and_the_planted_structure(tmp_path: Path) -> None:
    bench = ScaleBench(
        size="S",
        events=30_000,
        users=1_500,
        items=400,
        seconds=1,
        connections=4,
        holdout_users=300,
        load_users=300,
        text=False,
        keep=True,
    )
    assert bench.label == "custom"
    doc = run_scale(bench, tmp_path, log=lambda _: None)
    assert [s["name"] for s in doc["steps"]] == ["synth", "import", "train"]
    assert all(s["wall_s"] > 0 and s["peak_rss_gb"] > 0 for s in doc["steps"])
    assert doc["data"]["users"] == 1_500 and doc["data"]["items"] == 400
    assert set(doc["components"]) >= {"pop", "itemcf", "als"} and "text" not in doc["components"]
    load = doc["load"]
    assert load["healthz"]["requests"] > 0 and load["cold"]["errors"] == 0
    assert load["paced"]["answers"] > 0 and load["ingest"]["events_per_s"] > 0
    assert load["freshness"]["never_visible"] == 0
    acc = doc["accuracy"]
    assert {"pipeline", "itemcf alone", "als alone", "pop alone"} <= set(acc)
    # the generator plants taste clusters and transitions: learning them must beat popularity
    assert acc["pipeline"]["hr@10"] > acc["pop alone"]["hr@10"]
    assert acc["itemcf alone"]["hr@10"] > acc["pop alone"]["hr@10"]
    doc["machine"] = {"when": "now"}
    text = scale_tables(doc)
    assert "**Size custom**" in text and "| pipeline |" in text and "| synth |" in text

    # --reuse serves the kept snapshot again: same offline figures, fresh serving figures
    again = run_scale(replace(bench, keep=False, reuse=True), tmp_path, log=lambda _: None)
    assert again["steps"] == doc["steps"] and again["accuracy"] == acc
    assert again["load"]["ingest"]["events_per_s"] > 0 and again["serve"]["startup_s"] > 0
    assert (tmp_path / "scale-custom").exists()  # a reused run leaves its data in place


def test_reuse_without_a_kept_run_says_so(tmp_path: Path) -> None:
    with pytest.raises(LiverecError, match="run with --keep first"):
        run_scale(ScaleBench(reuse=True), tmp_path, log=lambda _: None)
