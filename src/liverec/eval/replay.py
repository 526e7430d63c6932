"""Streaming replay: what real-time updates buy, measured on the time-ordered event stream.

Train on every event before a global time cut; then walk the later events in time order. For
each event, ask the live pipeline for that user's top-k first (seen items excluded), score the
list against the item the user actually chose, and only then ingest the event. Variants:

- ``frozen``: the snapshot answers alone, nothing is ingested (what a batch system serves);
- ``online``: every event is ingested (durably logged, then histories, co-occurrence counts,
  trending and ALS fold-in updated in place);
- ``retrain``: ``online`` plus a full retrain every ``retrain_every`` events, hot-swapped in.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from liverec.core.markdown import markdown_table
from liverec.core.types import EventType
from liverec.data.dataset import Dataset
from liverec.eval import metrics
from liverec.events.schema import Event
from liverec.events.store import open_event_log
from liverec.serving.pipeline import PipelineConfig
from liverec.serving.service import LiveService, ServiceConfig
from liverec.serving.training import TrainConfig, train_snapshot

Mode = Literal["frozen", "online", "retrain"]
MODES: tuple[Mode, ...] = ("frozen", "online", "retrain")


@dataclass(frozen=True)
class ReplaySplit:
    """The training part and the stream after a global time cut (stable on ties)."""

    train: Dataset
    stream: NDArray[np.int64]  # row positions of dataset.interactions, in time order

    @property
    def n_stream(self) -> int:
        """Events replayed."""
        return len(self.stream)


def time_cut(dataset: Dataset, cut: float = 0.9, end: float = 1.0) -> ReplaySplit:
    """Train on the first ``cut`` share of events by time; stream those up to ``end``.

    >>> from liverec.data.interactions import Interactions
    >>> from liverec.data.idmap import IdMap
    >>> from liverec.data.dataset import Item
    >>> it = Interactions.from_arrays([0, 1, 0, 1], [0, 1, 1, 0], [4.0, 1.0, 3.0, 2.0])
    >>> d = Dataset("t", IdMap(["a", "b"]), IdMap(["x", "y"]), it, (Item("x", "X"), Item("y", "Y")))
    >>> s = time_cut(d, cut=0.5)
    >>> s.stream.tolist(), len(s.train.interactions)
    ([2, 0], 2)
    """
    if not 0 < cut < end <= 1:
        raise ValueError(f"need 0 < cut < end <= 1, got cut={cut}, end={end}")
    it = dataset.interactions
    order = np.argsort(it.ts, kind="stable").astype(np.int64)
    n_train = round(cut * len(order))
    n_end = round(end * len(order))
    train_rows = np.sort(order[:n_train])  # keep file order inside the training part
    train = Dataset(
        name=dataset.name,
        users=dataset.users,
        items=dataset.items,
        interactions=it.select(train_rows),
        catalog=dataset.catalog,
        user_attributes=dataset.user_attributes,
    )
    return ReplaySplit(train, order[n_train:n_end])


@dataclass
class ReplayResult:
    """Accuracy of the lists shown before each event, and what serving and ingesting cost."""

    mode: Mode
    n_events: int
    hr: float
    ndcg: float
    diversity: float
    coverage: float
    recommend_ms: list[float] = field(repr=False, default_factory=list)
    ingest_ms: list[float] = field(repr=False, default_factory=list)
    retrain_s: list[float] = field(repr=False, default_factory=list)
    variant: str = ""  # which service config walked, when several walked one snapshot

    def summary(self) -> dict[str, Any]:
        """JSON-able figures."""
        rec = np.asarray(self.recommend_ms) if self.recommend_ms else np.zeros(1)
        ing = np.asarray(self.ingest_ms) if self.ingest_ms else None
        return {
            "mode": self.mode,
            "variant": self.variant,
            "events": self.n_events,
            "hr@10": round(self.hr, 4),
            "ndcg@10": round(self.ndcg, 4),
            "diversity@10": round(self.diversity, 4),
            "coverage@10": round(self.coverage, 4),
            "recommend_p50_ms": round(float(np.percentile(rec, 50)), 3),
            "recommend_p99_ms": round(float(np.percentile(rec, 99)), 3),
            "ingest_mean_ms": None if ing is None else round(float(ing.mean()), 4),
            "ingest_p99_ms": None if ing is None else round(float(np.percentile(ing, 99)), 4),
            "retrains": len(self.retrain_s),
            "retrain_mean_s": round(float(np.mean(self.retrain_s)), 2) if self.retrain_s else None,
        }


def replay_config(pipeline: dict[str, Any] | None = None) -> ServiceConfig:
    """The service config used for replays: the defaults with time budgets lifted."""
    # Accuracy must not depend on machine load: no stage is ever skipped for time in a replay.
    return ServiceConfig(pipeline=PipelineConfig(**(pipeline or {})).without_budgets())


def replay(
    dataset: Dataset,
    split: ReplaySplit,
    mode: Mode,
    *,
    k: int = 10,
    retrain_every: int = 1000,
    service_config: ServiceConfig | None = None,
    train_config: TrainConfig | None = None,
    workdir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    models_dir: Path | None = None,
) -> ReplayResult:
    """Replay ``split.stream`` through a live service in ``mode`` and score every list.

    ``models_dir`` caches the exported text encoder and item embeddings across runs.
    """
    variants = {"": service_config or replay_config()}
    return replay_variants(
        dataset,
        split,
        mode,
        variants,
        k=k,
        retrain_every=retrain_every,
        train_config=train_config,
        workdir=workdir,
        progress=progress,
        models_dir=models_dir,
    )[0]


def replay_variants(
    dataset: Dataset,
    split: ReplaySplit,
    mode: Mode,
    variants: Mapping[str, ServiceConfig],
    *,
    k: int = 10,
    retrain_every: int = 1000,
    train_config: TrainConfig | None = None,
    workdir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    models_dir: Path | None = None,
) -> list[ReplayResult]:
    """``replay`` once per named service config, every one over the same trained snapshot
    (so variants differ only in how they serve, e.g. the learned ranker on or off)."""
    results = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp) / "snapshots"
        snap_dir = train_snapshot(
            split.train, [], root, train_config, log=lambda *_: None, models_dir=models_dir
        )
        for n, (name, config) in enumerate(variants.items()):
            # The durable SQLite log, as in production, so ingest times include the commit.
            log = open_event_log(f"sqlite:///{Path(tmp) / f'events-{n}.db'}")
            # the dataset's user ids already are pseudonyms: the service takes them as they are
            service = LiveService.open(snap_dir, log, config)
            try:
                result = _walk(
                    dataset,
                    split,
                    mode,
                    service,
                    k,
                    retrain_every,
                    train_config,
                    progress,
                    models_dir,
                )
            finally:
                log.close()
            result.variant = name
            results.append(result)
    return results


def _walk(
    dataset: Dataset,
    split: ReplaySplit,
    mode: Mode,
    service: LiveService,
    k: int,
    retrain_every: int,
    train_config: TrainConfig | None,
    progress: Callable[[int, int], None] | None,
    models_dir: Path | None,
) -> ReplayResult:
    it = dataset.interactions
    users, items = dataset.users.raw_ids, dataset.items.raw_ids
    ranks = np.zeros(split.n_stream, np.int64)
    lists = np.full((split.n_stream, k), -1, np.int64)
    result = ReplayResult(mode, split.n_stream, 0.0, 0.0, 0.0, 0.0)
    for n, row in enumerate(split.stream.tolist()):
        user, item = users[it.uidx[row]], items[it.iidx[row]]
        t0 = time.perf_counter()
        shown = service.recommend(user, k, explain=False)
        result.recommend_ms.append((time.perf_counter() - t0) * 1e3)
        shown_ids = [x.item_id for x in shown.items]
        ranks[n] = shown_ids.index(item) + 1 if item in shown_ids else 0
        lists[n, : len(shown_ids)] = [
            dataset.items.index(x) for x in shown_ids if x in dataset.items
        ]
        if mode != "frozen":
            value = float(it.value[row])
            event = Event(user, item, EventType(int(it.etype[row])), float(it.ts[row]), value)
            t0 = time.perf_counter()
            service.ingest([event])
            result.ingest_ms.append((time.perf_counter() - t0) * 1e3)
            if mode == "retrain" and (n + 1) % retrain_every == 0 and n + 1 < split.n_stream:
                t0 = time.perf_counter()
                new_dir = train_snapshot(
                    split.train,
                    service.log.read(0, 10**9),
                    service.snapshots,
                    train_config,
                    log=lambda *_: None,
                    models_dir=models_dir,
                )
                service.reload(new_dir)
                result.retrain_s.append(time.perf_counter() - t0)
        if progress is not None and (n + 1) % 1000 == 0:
            progress(n + 1, split.n_stream)
    result.hr = metrics.hit_rate_at_k(ranks, k)
    result.ndcg = metrics.ndcg_at_k(ranks, k)
    full = lists[(lists >= 0).all(axis=1)]
    result.diversity = (
        metrics.intra_list_diversity(full, dataset.genre_matrix, k) if len(full) else 0.0
    )
    result.coverage = metrics.catalog_coverage(full, dataset.n_items, k) if len(full) else 0.0
    return result


def format_replay(results: Sequence[ReplayResult]) -> str:
    """Markdown table, one row per variant."""
    cols = ["variant", "HR@10", "NDCG@10", "ILD@10", "Cov@10", "rec p50 ms", "rec p99 ms"]
    cols += ["ingest mean ms", "ingest p99 ms", "retrains"]
    rows = []
    for r in results:
        s = r.summary()
        ing_mean = "-" if s["ingest_mean_ms"] is None else f"{s['ingest_mean_ms']:.3f}"
        ing_p99 = "-" if s["ingest_p99_ms"] is None else f"{s['ingest_p99_ms']:.3f}"
        retr = str(s["retrains"]) + (
            f" ({s['retrain_mean_s']:.1f} s each)" if s["retrains"] else ""
        )
        metrics = ("hr@10", "ndcg@10", "diversity@10", "coverage@10")
        rows.append(
            [
                f"{r.mode}, {r.variant}" if r.variant else r.mode,
                *(f"{s[m]:.4f}" for m in metrics),
                f"{s['recommend_p50_ms']:.2f}",
                f"{s['recommend_p99_ms']:.2f}",
                ing_mean,
                ing_p99,
                retr,
            ]
        )
    return markdown_table(cols, rows)
