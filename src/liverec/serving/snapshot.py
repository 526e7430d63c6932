"""Versioned model snapshots: what ``liverec train`` writes and the service loads.

A snapshot folder holds the training data it was built from (the dataset plus every logged
event and item upsert up to ``last_seq``), the fitted serving models, the item co-occurrence
counts the live item-CF channel computes its similarities from (so no separate similarity
matrix is stored), and the ANN index over ALS item vectors. Folders
are written under a temporary name and renamed into place, so a reader never sees half of one.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from liverec.core.errors import LiverecError
from liverec.data.dataset import Dataset, Item
from liverec.data.idmap import IdMap
from liverec.data.interactions import Interactions
from liverec.events.schema import LogEntry, LoggedEvent, LoggedItem
from liverec.features.content import catalog_vectors
from liverec.features.cooccurrence import cooccurrence_counts
from liverec.features.text import TextConfig, TextEncoder
from liverec.index import VectorIndex, build_index, load_index
from liverec.models.itemcf import ItemCFConfig
from liverec.models.mf import ALS, ALSConfig
from liverec.models.popular import Popularity
from liverec.models.sasrec import SASRec, SASRecConfig

MANIFEST = "manifest.json"
MODELS_DIR = ".models"
AUTO_EXACT_MAX_ITEMS = 20_000


@dataclass(frozen=True)
class TrainConfig:
    """What a snapshot contains: model settings and the ANN index over ALS item vectors."""

    itemcf: ItemCFConfig = field(default_factory=ItemCFConfig)
    als: ALSConfig = field(default_factory=ALSConfig)
    index_kind: str = "auto"
    index_params: dict[str, Any] = field(default_factory=dict)
    text: TextConfig | None = field(default_factory=TextConfig)  # None: no text features
    # The transformer takes minutes to train, so the library default leaves it out;
    # ``liverec train`` (and ``make run``) put it in.
    sasrec: SASRecConfig | None = None

    def resolved_index_kind(self, n_items: int) -> str:
        """``auto``: exact search below AUTO_EXACT_MAX_ITEMS items, HNSW above.

        Measured on this machine: at 1,682 x 32 one exact query costs about what an HNSW
        query does (83 vs 87 us), at 50k items HNSW is about 4x faster (169 vs 637 us).
        """
        if self.index_kind != "auto":
            return self.index_kind
        return "exact" if n_items <= AUTO_EXACT_MAX_ITEMS else "hnsw"


@dataclass
class Snapshot:
    """A loaded snapshot: training data, models, co-occurrence counts and the item index."""

    version: str
    directory: Path
    last_seq: int
    created_at: float
    data: Dataset
    itemcf: ItemCFConfig
    als: ALS
    pop: Popularity
    cooccurrence: sp.csr_matrix
    als_index: VectorIndex
    manifest: dict[str, Any]
    item_vectors: NDArray[np.float32] | None = None  # text embeddings, row = item
    encoder: Callable[[], TextEncoder] | None = None  # opens the snapshot's encoder on demand
    sasrec: SASRecConfig | None = None  # the transformer's config; its graphs are in sasrec/

    @property
    def n_items(self) -> int:
        """Items known to the snapshot."""
        return self.data.n_items


def merge_log(dataset: Dataset, entries: Iterable[LogEntry]) -> tuple[Dataset, int]:
    """The dataset with logged item upserts and events applied; returns it and the last seq."""
    catalog = {it.item_id: it for it in dataset.catalog}
    users = list(dataset.users.raw_ids)
    user_index = {u: i for i, u in enumerate(users)}
    rows: list[tuple[str, str, float, int, float]] = []
    last_seq = 0
    for entry in entries:
        last_seq = max(last_seq, entry.seq)
        if isinstance(entry, LoggedItem):
            catalog[entry.item.item_id] = entry.item
        elif isinstance(entry, LoggedEvent):
            e = entry.event
            if e.user_id not in user_index:
                user_index[e.user_id] = len(users)
                users.append(e.user_id)
            if e.item_id not in catalog:
                catalog[e.item_id] = Item(item_id=e.item_id, title=e.item_id)
            value = 1.0 if e.value is None else e.value
            rows.append((e.user_id, e.item_id, e.ts, int(e.type), value))
    if not rows and len(catalog) == dataset.n_items:
        return dataset, last_seq
    items = dataset.items.extended(catalog)
    user_map = IdMap(users, kind="user")
    extra = Interactions(
        uidx=np.array([user_index[r[0]] for r in rows], np.int32),
        iidx=np.array([items.index(r[1]) for r in rows], np.int32),
        ts=np.array([r[2] for r in rows], np.float64),
        etype=np.array([r[3] for r in rows], np.int8),
        value=np.array([r[4] for r in rows], np.float32),
        n_users=len(user_map),
        n_items=len(items),
    )
    base = dataset.interactions
    widened = Interactions(
        base.uidx, base.iidx, base.ts, base.etype, base.value, len(user_map), len(items)
    )
    merged = Dataset(
        name=dataset.name,
        users=user_map,
        items=items,
        interactions=widened.concat(extra),
        catalog=tuple(catalog[i] for i in items.raw_ids),
        user_attributes={
            k: v + ("",) * (len(user_map) - len(v)) for k, v in dataset.user_attributes.items()
        },
    )
    return merged, last_seq


def train_snapshot(
    dataset: Dataset,
    entries: Iterable[LogEntry],
    root: Path,
    config: TrainConfig | None = None,
    log: Any = print,
    models_dir: Path | None = None,
) -> Path:
    """Fit the serving models on the dataset plus the log; write a new snapshot under ``root``."""
    config = config or TrainConfig()
    t0 = time.perf_counter()
    data, last_seq = merge_log(dataset, entries)
    log(f"training on {data.summary()} (log up to seq {last_seq})")
    interactions = data.interactions
    timings: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        t = time.perf_counter()
        out = fn()
        timings[name] = round(time.perf_counter() - t, 3)
        log(f"  {name}: {timings[name]:.2f} s")
        return out

    als = timed("als", lambda: ALS(config.als).fit(interactions))
    pop = timed("pop", lambda: Popularity().fit(interactions))
    counts = timed("cooccurrence", lambda: cooccurrence_counts(interactions.to_csr()))

    def make_index() -> VectorIndex:
        kind = config.resolved_index_kind(len(als.item_factors))
        index = build_index(kind, als.item_factors.shape[1], "ip", **config.index_params)
        index.add(als.item_factors)
        return index

    index = timed("als_index", make_index)
    version = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{version}"
    text_meta = None
    vectors = None
    if config.text is not None:
        # The exported encoder and an embedding cache live beside the snapshots, so every
        # retrain reuses them and re-encodes only items whose text changed.
        cache_dir = models_dir or root / MODELS_DIR
        text_meta, vectors = timed(
            "text", lambda: _embed(data, config.text, cache_dir, tmp / "text")
        )
    sasrec_meta = None
    if config.sasrec is not None:
        seq = SASRec(config.sasrec).set_item_vectors(vectors)
        timed("sasrec", lambda: seq.fit(interactions))
        seq.save(tmp / "models" / "sasrec")
        timed("sasrec_onnx", lambda: seq.export_onnx(tmp / "sasrec", quantize=True))
        sasrec_meta = {
            "best_epoch": seq.best_epoch,
            "valid_ndcg@10": max((c["ndcg@10"] for c in seq.curve), default=0.0),
            "curve": seq.curve,
            "text": vectors is not None and config.sasrec.text,
        }
    data.save(tmp / "data")
    als.save(tmp / "models" / "als")
    pop.save(tmp / "models" / "pop")
    sp.save_npz(tmp / "cooccurrence.npz", counts)
    index.save(tmp / "als_index")
    manifest = {
        "version": version,
        "dataset": dataset.name,
        "created_at": time.time(),
        "last_seq": last_seq,
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_interactions": len(interactions),
        "train_seconds": round(time.perf_counter() - t0, 3),
        "timings": timings,
        "config": {**asdict(replace(config, text=None)), "text": _text_config(config)},
        "text": text_meta,
        "sasrec": sasrec_meta,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    final = root / version
    os.replace(tmp, final)
    log(f"wrote snapshot {version} to {final} in {manifest['train_seconds']:.1f} s")
    return final


def _text_config(config: TrainConfig) -> dict[str, Any] | None:
    return None if config.text is None else config.text.model_dump()


def _embed(
    data: Dataset, text: TextConfig, cache_dir: Path, out: Path
) -> tuple[dict[str, Any], NDArray[np.float32]]:
    """Encode the catalog (cached by text) and ship the encoder inside the snapshot."""
    from liverec.features.text import export_onnx

    vectors, _ = catalog_vectors(data.catalog, text, cache_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "embeddings.npy", vectors)
    meta: dict[str, Any] = {"runtime": text.runtime, "dim": int(vectors.shape[1])}
    if text.runtime.startswith("onnx"):
        onnx_file = export_onnx(cache_dir, quantize=text.runtime == "onnx-int8")
        for f in (onnx_file, onnx_file.parent / "tokenizer.json"):
            _link_or_copy(f, out / f.name)
        meta["file"] = onnx_file.name
    return meta, vectors


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link when possible (no extra space per snapshot), else copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _encoder_factory(directory: Path, manifest: dict[str, Any]) -> Callable[[], TextEncoder]:
    """Opens the snapshot's own encoder the first time an item needs encoding."""
    meta = manifest["text"]
    text = TextConfig(**manifest["config"]["text"])
    opened: list[TextEncoder] = []

    def get() -> TextEncoder:
        if not opened:
            from liverec.features.text import load_encoder, open_onnx_encoder

            if "file" in meta:
                opened.append(open_onnx_encoder(directory / "text" / meta["file"], text))
            else:
                opened.append(load_encoder(text, directory.parent / MODELS_DIR))
        return opened[0]

    return get


def list_snapshots(root: Path) -> list[Path]:
    """Complete snapshot folders under ``root``, oldest first (names sort by time)."""
    if not root.exists():
        return []
    return sorted(
        p for p in root.iterdir() if not p.name.startswith(".") and (p / MANIFEST).exists()
    )


def latest_snapshot(root: Path) -> Path | None:
    """The newest complete snapshot under ``root``, or None."""
    found = list_snapshots(root)
    return found[-1] if found else None


def load_snapshot(directory: Path) -> Snapshot:
    """Load every part of the snapshot in ``directory``.

    Raises
    ------
    LiverecError
        If the folder is not a complete snapshot.
    """
    path = directory / MANIFEST
    if not path.exists():
        raise LiverecError(f"{directory} is not a snapshot (no {MANIFEST}); run: liverec train")
    manifest = json.loads(path.read_text())
    return Snapshot(
        version=manifest["version"],
        directory=directory,
        last_seq=int(manifest["last_seq"]),
        created_at=float(manifest["created_at"]),
        data=Dataset.load(directory / "data"),
        itemcf=ItemCFConfig(**manifest["config"]["itemcf"]),
        als=ALS.load(directory / "models" / "als"),
        pop=Popularity.load(directory / "models" / "pop"),
        cooccurrence=sp.load_npz(directory / "cooccurrence.npz").tocsr(),
        als_index=load_index(directory / "als_index"),
        manifest=manifest,
        item_vectors=(
            np.load(directory / "text" / "embeddings.npy") if manifest.get("text") else None
        ),
        encoder=_encoder_factory(directory, manifest) if manifest.get("text") else None,
        sasrec=(SASRecConfig(**manifest["config"]["sasrec"]) if manifest.get("sasrec") else None),
    )


def prune_snapshots(root: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` snapshots; returns what was deleted."""
    found = list_snapshots(root)
    doomed = found[: max(0, len(found) - keep)]
    for p in doomed:
        shutil.rmtree(p, ignore_errors=True)
    return doomed
