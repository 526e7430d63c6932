# Run as-is for docs/results.md (validation replay, transformer settings); home is hard-coded to /tmp/lrhome.
import sys, time, glob
from pathlib import Path
from liverec.data.sources import load_dataset
from liverec.eval.replay import time_cut, replay_config, _walk
from liverec.events.store import open_event_log
from liverec.serving.service import LiveService
from liverec.serving.snapshot import load_snapshot
home = Path("/tmp/lrhome")
ds = load_dataset("ml-100k", home)
split = time_cut(ds, 0.8, 0.9)
snap_dir = Path(sys.argv[1]); snap = load_snapshot(snap_dir)
W = {"itemcf": 1.0, "als": 0.5, "content": 0.3, "trending": 0.1, "new": 0.2, "pop": 0.02}
configs = {f"sasrec weight {w}, ranker 0": {"ranker_weight": 0.0, "weights": {**W, "sasrec": w}} for w in (0.5, 2.0)}
for name, over in configs.items():
    cfg = replay_config(over)
    log = open_event_log("memory://")
    service = LiveService.open(snap, log, cfg)
    r = _walk(ds, split, "online", service, 10, 1000, None, None, home / "models"); s = r.summary()
    print(f"{name}: HR@10 {s['hr@10']:.4f} NDCG@10 {s['ndcg@10']:.4f} ILD {s['diversity@10']} p50 {s['recommend_p50_ms']} p99 {s['recommend_p99_ms']}", flush=True)
