"""``bench encoder``: the tables and target checks, and a short real run (no timing asserted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from liverec.bench.encoder import EncoderBench, encoder_tables, run_encoder, targets
from liverec.core.errors import ConfigError
from liverec.data.dataset import Dataset
from liverec.features.text import RUNTIMES
from tests.features.test_text import shared_text_cache


def fake_doc(int8_p50: float, int8_cos_min: float) -> dict[str, Any]:
    results = [
        {
            "runtime": r,
            "threads": n,
            "load_s": 0.1,
            "single": {"p50_ms": int8_p50 if r == "onnx-int8" else 9.0, "p99_ms": 12.0},
            "batch_items_per_s": 300.0,
        }
        for r in RUNTIMES
        for n in (1, 2)
    ]
    quality = {
        "onnx-fp32": {"cosine_mean": 1.0, "cosine_min": 1.0, "top10_overlap": 1.0},
        "onnx-int8": {"cosine_mean": 0.993, "cosine_min": int8_cos_min, "top10_overlap": 0.9},
    }
    doc: dict[str, Any] = {
        "items": 1682,
        "calls": 300,
        "rounds": 2,
        "batch_size": 64,
        "results": results,
        "quality_vs_torch_fp32": quality,
        "size_mb": {"torch-fp32": 86.7, "onnx-fp32": 86.2, "onnx-int8": 21.9},
        "fresh_load": {},
    }
    doc["targets"] = targets(doc)
    return doc


def test_targets_report_each_value_and_whether_it_is_met() -> None:
    met = fake_doc(3.2, 0.98)["targets"]
    assert [t["met"] for t in met] == [True, True, True]
    missed = fake_doc(6.0, 0.95)["targets"]
    assert [(t["value"], t["met"]) for t in missed] == [(6.0, False), (0.993, True), (0.95, False)]


def test_tables_show_every_runtime_and_thread_count_and_the_targets() -> None:
    text = encoder_tables(fake_doc(6.0, 0.98))
    assert text.count("| onnx-int8 |") == 3  # two thread counts, one model row
    assert "| onnx-int8 | 1 | 6.00 | 12.00 | 300 |" in text
    assert "<= 5: 6 MISSED" in text and ">= 0.97: 0.98 met" in text


def test_a_bench_without_calls_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="calls"):
        EncoderBench(calls=0)


@pytest.mark.slow
def test_a_short_run_measures_every_runtime_and_thread_count(
    ml100k: Dataset, session_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bench = EncoderBench(items=70, calls=3, rounds=1, fresh_load=False)
    doc = run_encoder(
        session_home, bench, cache_dir=shared_text_cache(tmp_path_factory), log=lambda _: None
    )
    assert [(r["runtime"], r["threads"]) for r in doc["results"]] == [
        (r, n) for r in RUNTIMES for n in (1, 2)
    ]
    assert all(r["single"]["p50_ms"] > 0 and r["batch_items_per_s"] > 0 for r in doc["results"])
    assert doc["items"] == 70
    assert doc["quality_vs_torch_fp32"]["onnx-fp32"]["cosine_min"] >= 0.9999
    assert doc["quality_vs_torch_fp32"]["onnx-int8"]["cosine_mean"] >= 0.99
    assert doc["size_mb"]["onnx-int8"] < doc["size_mb"]["onnx-fp32"] / 3
