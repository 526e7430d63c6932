# Run as-is for docs/results.md (validation replay, transformer settings); home is hard-coded to /tmp/lrhome.
"""Validation replay for the transformer's pipeline weights: train once at 0.8, stream 0.8-0.9."""
import sys, tempfile, time, json
from pathlib import Path
from liverec.data.sources import load_dataset
from liverec.eval.replay import time_cut, replay_config, _walk
from liverec.events.store import open_event_log
from liverec.models.sasrec import SASRecConfig
from liverec.serving.service import LiveService
from liverec.serving.snapshot import load_snapshot
from liverec.serving.training import TrainConfig, train_snapshot
home = Path("/tmp/lrhome")
ds = load_dataset("ml-100k", home)
split = time_cut(ds, 0.8, 0.9)
tmp = Path(tempfile.mkdtemp(dir="/tmp"))
t = time.time()
snap_dir = train_snapshot(split.train, [], tmp / "snapshots", TrainConfig(sasrec=SASRecConfig()), log=print, models_dir=home / "models")
print("trained", time.time() - t, flush=True)
snap = load_snapshot(snap_dir)
configs = {
    "no transformer": {"disabled": ("sasrec",), "ranker_weight": 0.0},
    "channel only (rw 0)": {"ranker_weight": 0.0},
    "channel + ranker 0.05": {"ranker_weight": 0.05},
    "channel + ranker 0.02": {"ranker_weight": 0.02},
    "channel + ranker 0.2": {"ranker_weight": 0.2},
    "channel w2 + ranker 0.05": {"ranker_weight": 0.05, "weights": {"itemcf": 1.0, "sasrec": 2.0, "als": 0.5, "content": 0.3, "trending": 0.1, "new": 0.2, "pop": 0.02}},
}
for name, over in configs.items():
    cfg = replay_config(over)
    log = open_event_log(f"sqlite:///{tmp / (name.replace(' ', '_') + '.db')}")
    service = LiveService.open(snap, log, cfg)
    t = time.time()
    r = _walk(ds, split, "online", service, 10, 1000, None, None, home / "models")
    s = r.summary()
    print(f"{name}: HR@10 {s['hr@10']:.4f} NDCG@10 {s['ndcg@10']:.4f} ILD {s['diversity@10']} p50 {s['recommend_p50_ms']} p99 {s['recommend_p99_ms']} ({time.time()-t:.0f}s)", flush=True)
    log.close()
