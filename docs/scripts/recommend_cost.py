"""In-process median cost of LiveService.recommend, computed (fresh) and cached, on the newest
snapshot under $LIVEREC_HOME (ML-100K, `liverec train --models none`).

    PYTHONPATH=src python docs/scripts/recommend_cost.py [--experiment ab|interleave]

Run it alternately against two checkouts (PYTHONPATH=OTHER/src) to compare before/after.
With --experiment, a two-arm experiment (MMR lambda 0.75 vs 0.5) over every user, with its
exposures in SQLite under a temporary folder, is active while measuring.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from liverec.config import Settings
from liverec.serving.service import LiveService, ServiceConfig

parser = argparse.ArgumentParser()
parser.add_argument("--experiment", choices=["ab", "interleave"])
parser.add_argument("--rounds", type=int, default=7)
args = parser.parse_args()
settings = Settings()
config = ServiceConfig(pipeline={"request_budget_ms": 1e9, "stage_budget_ms": {}})
service = LiveService.open(settings.snapshots, config=config, pseudonyms=settings.pseudonyms())
users = [str(u) for u in range(1, 301)]
if args.experiment:
    from liverec.events.exposures import open_exposure_log
    from liverec.serving.experiments import ArmConfig, ExperimentConfig

    tmp = Path(tempfile.mkdtemp())
    service.exposures = open_exposure_log(f"sqlite:///{tmp / 'exposures.db'}")
    service.experiments.define(
        ExperimentConfig(
            name="cost",
            mode=args.experiment,
            arms=[
                ArmConfig(name="control", share=0.5),
                ArmConfig(name="lambda05", share=0.5, pipeline={"mmr_lambda": 0.5}),
            ],
        )
    )
for u in users[:50]:
    service.recommend(u, fresh=True)
# The machine is shared: each round's median is taken, and the lowest round is the figure
# least disturbed by other work.
fresh, cached = [], []
for _ in range(args.rounds):
    f, c = [], []
    for u in users:
        t0 = time.perf_counter()
        service.recommend(u, fresh=True)
        f.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        service.recommend(u)
        c.append((time.perf_counter() - t0) * 1e3)
    fresh.append(statistics.median(f))
    cached.append(statistics.median(c))
print(
    f"{sys.argv[1:]} fresh median {min(fresh):.3f} ms, cached median {min(cached) * 1e3:.1f} us "
    f"(lowest of {args.rounds} rounds of {len(users)} users)"
)
