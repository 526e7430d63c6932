"""Per-stage medians of cold recommendations on ML-100K, in process (thread CPU):
python docs/scripts/recommend_stages.py SECONDS; under py-spy: py-spy record --rate 200
--format raw -o rec.folded -- python docs/scripts/recommend_stages.py 15."""
import sys, time, statistics, collections, gc
from pathlib import Path
from liverec.data.sources import load_dataset
from liverec.serving.snapshot import load_snapshot, latest_snapshot
from liverec.serving.training import train_snapshot
from liverec.serving.service import LiveService, ServiceConfig
home = Path.home() / ".cache/liverec"
root = Path("/tmp/prof/snaps")
if latest_snapshot(root) is None:
    ds = load_dataset("ml-100k", home)
    train_snapshot(ds, [], root, log=lambda *_: None, models_dir=home / "models")
snap = load_snapshot(latest_snapshot(root))
cfg = ServiceConfig(pipeline={"request_budget_ms": 1e9, "stage_budget_ms": {}})
svc = LiveService.open(snap, config=cfg)
gc.collect(); gc.freeze()
users = list(snap.data.users.raw_ids)
items = list(snap.data.items.raw_ids)
for u in users[:50]: svc.recommend(u, 10, fresh=True)
tot=[]; stages=collections.defaultdict(list)
t0=time.time()
while time.time()-t0 < float(sys.argv[1]):
    for u in users[:200]:
        t=time.thread_time(); r=svc.recommend(u, 10, fresh=True); tot.append((time.thread_time()-t)*1e3)
        for k,v in r.stage_ms.items(): stages[k].append(v)
print("recommend p50 %.3f ms" % statistics.median(tot))
for k,v in stages.items(): print(f"  {k:12s} {statistics.median(v):.3f}")
st=[]
for i in items[:300]:
    t=time.thread_time(); svc.similar(i, 10); st.append((time.thread_time()-t)*1e3)
print("similar p50 %.3f ms" % statistics.median(st))
