from __future__ import annotations

from pathlib import Path

import pytest

from liverec.data.dataset import Dataset
from liverec.eval.replay import format_replay, replay, time_cut


def test_the_cut_is_by_time_and_the_stream_is_in_time_order(ml100k: Dataset) -> None:
    split = time_cut(ml100k, 0.9)
    ts = ml100k.interactions.ts
    assert split.n_stream == 10_000 and len(split.train.interactions) == 90_000
    assert ts[split.stream].tolist() == sorted(ts[split.stream].tolist())
    assert split.train.interactions.ts.max() <= ts[split.stream].min()
    with pytest.raises(ValueError, match="need 0 < cut < end <= 1"):
        time_cut(ml100k, 0.9, 0.8)


@pytest.mark.slow
def test_online_updates_beat_the_frozen_model_and_retraining_swaps(
    ml100k: Dataset, models_dir: Path
) -> None:
    split = time_cut(ml100k, 0.99)  # the last 1,000 events
    frozen = replay(ml100k, split, "frozen", models_dir=models_dir)
    online = replay(ml100k, split, "online", models_dir=models_dir)
    retrain = replay(ml100k, split, "retrain", retrain_every=400, models_dir=models_dir)
    assert frozen.n_events == online.n_events == 1000
    assert online.hr > frozen.hr and online.ndcg > frozen.ndcg
    assert len(frozen.ingest_ms) == 0 and len(online.ingest_ms) == 1000
    assert len(retrain.retrain_s) == 2  # after events 400 and 800
    assert len(online.recommend_ms) == 1000
    text = format_replay([frozen, online, retrain])
    assert "| frozen |" in text and "| retrain |" in text and "2 (" in text
