"""The benchmark harness: wrk scripts and results, docs sections, short real runs (no timing)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from liverec.bench import wrk
from liverec.bench.freshness import FreshnessBench, run_freshness
from liverec.bench.naive import run_naive, textbook_user_cf
from liverec.bench.report import update_section
from liverec.bench.serve import ServeBench, run_serve, scenarios, serve_table
from liverec.core.markdown import markdown_table
from liverec.data.dataset import Dataset

OUTPUT = """Running 1s test @ http://127.0.0.1:1
  1 threads and 2 connections
LIVEREC_WRK {"requests": 500, "duration_us": 1000000, "connect_errors": 0, "read_errors": 0, \
"write_errors": 0, "status_errors": 3, "timeouts": 1, "p50_us": 1500, "p95_us": 4000, \
"p99_us": 9000, "max_us": 12000, "mean_us": 2000.0}
"""


def test_wrk_results_are_read_from_the_json_line() -> None:
    sc = wrk.Scenario("x", wrk.get('"/healthz"'), connections=2, events_per_request=100)
    r = wrk.parse_output(OUTPUT, sc)
    assert (r.requests, r.errors, r.rps) == (500, 4, 500.0)
    assert (r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms) == (1.5, 4.0, 9.0, 12.0)
    assert r.to_json()["events_per_s"] == 50_000


def test_a_paced_scenario_waits_exponentially_distributed_gaps() -> None:
    sc = wrk.Scenario("p", wrk.get('"/healthz"'), delay_ms=20.0)
    assert "delay = function() return -20.000 * math.log(1 - math.random()) end" in sc.script()
    assert "delay" not in wrk.Scenario("q", wrk.get('"/healthz"')).script()


def test_scenarios_cover_floor_cache_similar_and_ingest() -> None:
    names = [s.name for s in scenarios(["1", "2"], ["10", "20"], 8)]
    assert names == [
        "healthz",
        "recommendations, warm cache",
        "recommendations, cold (no cache)",
        "similar items",
        "POST /v1/events, batch of 1",
        "POST /v1/events, batch of 100",
        "click then recommend (alternating)",
    ]
    cold = scenarios(["1"], ["10"], 8)[2].script()
    assert '["Cache-Control"] = "no-cache"' in cold and 'users = {"1"}' in cold


def test_docs_sections_are_replaced_not_duplicated(tmp_path: Path) -> None:
    doc = tmp_path / "b.md"
    doc.write_text("# Benchmarks\n\nintro\n")
    update_section(doc, "serve", "first")
    update_section(doc, "naive", "other")
    update_section(doc, "serve", "second")
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nintro\n")
    assert "second" in text and "first" not in text and text.count("<!-- bench:serve -->") == 1
    assert text.index("second") < text.index("other")  # replaced in place
    assert markdown_table(["k", "v"], [["a", "1"]]) == "| k | v |\n|---|---:|\n| a | 1 |"


def test_the_textbook_path_agrees_with_the_usercf_model_on_a_tiny_matrix() -> None:
    import numpy as np

    r = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1]], np.float64)
    assert textbook_user_cf(r, 0, k=2, neighbours=2).tolist() == [2, 3]


needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed")


@pytest.mark.slow
@needs_wrk
def test_a_short_serve_run_measures_every_selected_scenario(
    session_home: Path, ml100k: Dataset, tmp_path: Path
) -> None:
    bench = ServeBench(
        seconds=1,
        warmup=0,
        connections=4,
        paced_share=0.5,
        repeats=1,
        only=(
            "healthz",
            "recommendations, cold",
            "POST /v1/events, batch of 100",
            "click then recommend",
        ),
    )
    doc = run_serve(session_home, bench, log=lambda _: None, workdir=tmp_path)
    names = [r["scenario"] for r in doc["results"]]
    assert names[0] == "healthz" and names[1] == "recommendations, cold (no cache)"
    assert names[2].startswith("recommendations, cold, paced to")
    assert all(r["requests"] > 0 and r["errors"] == 0 for r in doc["results"])
    assert names[-1] == "click then recommend (alternating)"
    last = doc["results"][-2]
    assert last["events_per_s"] == pytest.approx(last["rps"] * 100, rel=1e-3)
    assert "| healthz |" in serve_table(doc)


@pytest.mark.slow
def test_freshness_and_naive_runs_report_every_figure(
    session_home: Path, ml100k: Dataset, tmp_path: Path
) -> None:
    fresh = run_freshness(
        session_home, FreshnessBench(events=5), log=lambda _: None, workdir=tmp_path
    )
    assert fresh["events"] == 5 and fresh["never_visible"] == 0
    assert fresh["visible_on_first_read"] == 1.0
    naive = run_naive(session_home, requests=55, log=lambda _: None, workdir=tmp_path)
    assert set(naive["results"]) == {"textbook", "usercf", "pipeline"}
    assert naive["results"]["textbook"]["p50_x_pipeline"] > 1


@pytest.mark.slow
def test_the_device_runner_fits_and_scores_from_one_file(ml100k: Dataset, tmp_path: Path) -> None:
    import numpy as np

    from liverec.bench.device_train import run

    it = ml100k.interactions
    path = tmp_path / "ml100k.npz"
    text = np.zeros((ml100k.n_items, 4), np.float32)
    np.savez(
        path, uidx=it.uidx, iidx=it.iidx, ts=it.ts, etype=it.etype, value=it.value,
        n_users=it.n_users, n_items=it.n_items, text=text,
    )  # fmt: skip
    params = {"dim": 8, "max_len": 4, "layers": 1, "max_epochs": 1, "finetune_epochs": 0}
    out = run(path, "cpu", {**params, "text": False}, "valid")
    assert out["split"] == "valid" and out["device"] == "cpu" and out["epochs"] == 1
    assert 0 <= out["ndcg@10"] <= out["hr@10"] <= 1
