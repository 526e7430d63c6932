"""Train and score the transformer on another device (a CUDA GPU) from a self-contained file.

A GPU machine may hold only numpy, scipy and torch, so this runs on those alone: ``export``
writes ML-100K's interactions and item text vectors to one ``.npz`` here; ``run`` fits SASRec
on the test split's history on the chosen device and prints test NDCG@10/HR@10, the epoch
time and the time to encode every user, as JSON::

    python -m liverec.bench.device_train export .gpu/ml100k.npz        # here (needs liverec)
    PYTHONPATH=src python3 -m liverec.bench.device_train run .gpu/ml100k.npz --device cuda
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from liverec.core.paths import Paths
from liverec.data.interactions import Interactions
from liverec.data.split import leave_last_out
from liverec.eval import metrics
from liverec.models.base import top_k
from liverec.models.sasrec import SASRec, SASRecConfig


def export(path: Path, home: Path) -> None:
    """Write ML-100K's interactions and text vectors (needs the full liverec install)."""
    from liverec.data.sources import load_dataset
    from liverec.features.content import catalog_vectors
    from liverec.features.text import TextConfig

    ds = load_dataset("ml-100k", home)
    it = ds.interactions
    vectors, _ = catalog_vectors(ds.catalog, TextConfig(), Paths(home).models)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path, uidx=it.uidx, iidx=it.iidx, ts=it.ts, etype=it.etype, value=it.value,
        n_users=it.n_users, n_items=it.n_items, text=vectors,
    )  # fmt: skip


def run(path: Path, device: str, params: dict[str, Any], which: str = "test") -> dict[str, Any]:
    """Fit on the history before split ``which`` on ``device``; its metrics and timings."""
    import torch

    with np.load(path) as z:
        it = Interactions(
            z["uidx"], z["iidx"], z["ts"], z["etype"], z["value"],
            int(z["n_users"]), int(z["n_items"]),
        )  # fmt: skip
        text = z["text"]
    split = leave_last_out(it)
    history = split.history(which)  # type: ignore[arg-type]
    users, targets = split.targets(which)  # type: ignore[arg-type]
    config = replace(SASRecConfig(device=device), **params)
    model = SASRec(config).set_item_vectors(text if config.text else None)
    t0 = time.perf_counter()
    model.fit(history)
    fit_s = time.perf_counter() - t0
    net = model.net.to(device)
    h = model.histories.take(users)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    enc = model.encode(h)
    encode_s = time.perf_counter() - t0
    model.net.to("cpu")
    scores = enc @ model.item_vectors().T
    top, _ = top_k(scores, 20, exclude=history.to_csr()[users])
    ranks = metrics.target_ranks(top, targets)
    epochs = max(c["epoch"] for c in model.curve) + config.finetune_epochs
    return {
        "split": which,
        "device": device,
        "device_name": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "ndcg@10": metrics.ndcg_at_k(ranks, 10),
        "hr@10": metrics.hit_rate_at_k(ranks, 10),
        "best_epoch": model.best_epoch,
        "epochs": epochs,
        "fit_seconds": fit_s,
        "seconds_per_epoch": fit_s / max(1, epochs),
        "encode_943_users_seconds": encode_s,
        "net_on": str(next(net.parameters()).device),
        "config": config.__dict__,
    }


def main() -> None:
    """``export`` or ``run`` (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m liverec.bench.device_train")
    p.add_argument("action", choices=["export", "run"])
    p.add_argument("path", type=Path)
    p.add_argument("--device", default="cuda")
    p.add_argument("--split", choices=["valid", "test"], default="test")
    p.add_argument("--home", type=Path, default=Path.home() / ".cache" / "liverec")
    p.add_argument("--param", action="append", default=[], help="NAME=JSON config override")
    args = p.parse_args()
    if args.action == "export":
        export(args.path, args.home)
        return
    params = {k: json.loads(v) for k, _, v in (s.partition("=") for s in args.param)}
    print(json.dumps(run(args.path, args.device, params, args.split), indent=2))


if __name__ == "__main__":
    main()
