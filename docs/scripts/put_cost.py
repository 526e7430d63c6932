"""Cost of PUTs with maximal-size fields, in process (needs the snapshot made by
recommend_stages.py): python docs/scripts/put_cost.py; profiled the same way under py-spy."""
import time, statistics, gc
from pathlib import Path
from liverec.serving.snapshot import load_snapshot, latest_snapshot
from liverec.serving.service import LiveService, ServiceConfig
from liverec.bench.soak import max_item
from liverec.api.schemas import ItemIn
root = Path("/tmp/prof/snaps")
snap = load_snapshot(latest_snapshot(root))
cfg = ServiceConfig()
svc = LiveService.open(snap, config=cfg)
ts=[]
for n in range(60):
    item = ItemIn(**max_item(n)).to_item(f"max-{n}")
    t=time.perf_counter(); svc.upsert_item(item); ts.append((time.perf_counter()-t)*1e3)
print("first 5", [round(x,1) for x in ts[:5]], "last 5", [round(x,1) for x in ts[-5:]])
