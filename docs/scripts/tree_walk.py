"""Time the learned ranker's compiled tree walk against two other row orders, alternated.

    python docs/scripts/tree_walk.py SNAPSHOT_DIR [REQUESTS]

SNAPSHOT_DIR: a snapshot trained with the ranker (``liverec train --models ranker`` prints it).
For sampled ML-100K users the pipeline proposes its 300 candidates; their feature matrices are
walked through the snapshot's trees by ``liverec.models.ranker.trees.walk_trees`` (all rows a
level at a time), by blocks of 8 rows, and one row at a time, each checked to give the same
sums. Prints p50 / p99 milliseconds per matrix.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from liverec.config import Settings
from liverec.data.sources import load_dataset
from liverec.models.ranker.trees import ZERO, walk_trees
from liverec.serving.pipeline import PipelineConfig
from liverec.serving.ranker_examples import propose
from liverec.serving.runtime import ServiceConfig
from liverec.serving.service import LiveService


@njit(cache=True, nogil=True)
def walk_blocks(x: Any, t: Any, block: int, out: Any) -> None:  # pragma: no cover - compiled
    """``walk_trees``, ``block`` rows side by side (block 1: one row at a time)."""
    roots, depth, feature, threshold, nan_left, zero_default, default_left, children, leaf = t
    node = np.empty(block, np.int64)
    for tree in range(roots.shape[0]):
        for lo in range(0, x.shape[0], block):
            m = min(lo + block, x.shape[0]) - lo
            node[:m] = roots[tree]
            for _ in range(depth[tree]):
                for j in range(m):
                    at = node[j]
                    if at < 0:
                        continue
                    v = x[lo + j, feature[at]]
                    go_left = (v <= threshold[at]) | ((v != v) & nan_left[at])
                    if zero_default[at]:
                        at_zero = abs(v) <= ZERO or v != v
                        go_left = (go_left & (not at_zero)) | (at_zero & default_left[at])
                    node[j] = children[at, 1 - np.int64(go_left)]
            for j in range(m):
                out[lo + j] += leaf[~node[j]]


def main(snapshot: Path, requests: int) -> None:
    service = LiveService.open(
        snapshot, config=ServiceConfig(pipeline=PipelineConfig().without_budgets())
    )
    pipeline = service.runtime.pipeline
    ranking = pipeline.ranking
    assert ranking is not None, "the snapshot has no learned ranker"
    trees = ranking.ranker.head.trees  # type: ignore[attr-defined]
    arrays = (
        trees.roots, trees.depth, trees.feature, trees.threshold, trees.nan_left,
        trees.zero_default, trees.default_left, trees.children, trees.leaf_value,
    )  # fmt: skip
    users = load_dataset("ml-100k", Settings().home).users.raw_ids
    picked = np.random.default_rng(0).choice(len(users), requests)
    matrices = []
    for u in picked.tolist():
        proposed = propose(pipeline, service.user_index(users[u]) or 0, 300)
        if proposed is not None:
            matrices.append(ranking.read(ranking.features.matrix(proposed)))

    def all_rows(x: Any, out: Any) -> None:
        walk_trees(x, *arrays, out)

    ways = {
        "all rows a level at a time (served)": all_rows,
        "blocks of 8 rows": lambda x, out: walk_blocks(x, arrays, 8, out),
        "one row at a time": lambda x, out: walk_blocks(x, arrays, 1, out),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for rep in range(3):  # the first pass compiles and warms up
        for x in matrices:
            sums = []
            for name, walk in ways.items():
                out = np.zeros(len(x))
                t0 = time.perf_counter()
                walk(x, out)
                if rep:
                    times[name].append(time.perf_counter() - t0)
                sums.append(out)
            assert all(np.array_equal(sums[0], s) for s in sums[1:])
    print(f"{len(matrices)} matrices of {int(np.median([len(x) for x in matrices]))} rows, "
          f"{len(trees.roots)} trees")  # fmt: skip
    for name, spent in times.items():
        ms = 1e3 * np.array(spent)
        print(f"{name}: p50 {np.median(ms):.3f} ms, p99 {np.percentile(ms, 99):.3f} ms")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 500)
