"""Ranking examples from the live pipeline: what it proposed before each later event.

The other components are trained on the events before a global time cut (the latest
``window_share`` left out); a service over that snapshot then walks the later events in time
order: before each event of a user with history it proposes its fused candidates, whose
features become one group (the item the user chose labelled 1, a sample of the others 0), and
only then ingests the event, as the live service would. So the ranker learns from candidate
sets exactly like those it will rank, on events none of the channels were trained on.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from liverec.core.progress import ProgressLine
from liverec.core.types import EventType
from liverec.data.dataset import Dataset
from liverec.events.schema import Event
from liverec.models.ranker import ExampleSpec, RankingExamples
from liverec.models.ranker.examples import kept_rows
from liverec.serving.candidates import CandidateSet
from liverec.serving.pipeline import Pipeline, PipelineConfig, PipelineResult
from liverec.serving.runtime import ServiceConfig
from liverec.serving.service import LiveService


def window_split(data: Dataset, spec: ExampleSpec) -> tuple[Dataset, np.ndarray]:
    """The data the channels train on and the held-out rows walked after it, in time order.

    ``spec.user_events`` 0: the latest ``window_share`` of all events (a global time cut);
    otherwise each user's last ``user_events`` events (always leaving one before them), which
    makes every user's next events examples, as the leave-last-out protocol asks of each user.
    """
    it = data.interactions
    n = len(it)
    if spec.user_events:
        by_user = np.lexsort((np.arange(n), it.ts, it.uidx))
        users = it.uidx[by_user]
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        sizes = np.diff(np.r_[starts, n])
        from_end = np.repeat(sizes, sizes) - (np.arange(n) - np.repeat(starts, sizes))
        held = from_end <= np.minimum(spec.user_events, np.repeat(sizes, sizes) - 1)
        window = by_user[held]
        window = window[np.argsort(it.ts[window], kind="stable")]
        rest = np.sort(by_user[~held])
    else:
        order = np.argsort(it.ts, kind="stable").astype(np.int64)
        cut = n - max(1, round(spec.window_share * n))
        window, rest = order[cut:], np.sort(order[:cut])
    return replace(data, interactions=it.select(rest)), window.astype(np.int64)


def propose(pipeline: Pipeline, uidx: int, n: int) -> CandidateSet | None:
    """The first ``n`` fused candidates for user ``uidx`` (None: the user has no history, so
    the ranker is not asked)."""
    ctx = pipeline.context(uidx)
    if not len(ctx.history.items):
        return None
    result = PipelineResult(items=[], cold_start=False)
    cs = pipeline.candidates(ctx, 10, result, deadline=float("inf"))
    return CandidateSet(ctx, cs.fused.head(n), cs.retrieved)


def walk_examples(
    service: LiveService,
    data: Dataset,
    rows: np.ndarray,
    spec: ExampleSpec,
    progress: Callable[[int, int], None] | None = None,
) -> RankingExamples:
    """Propose, label and ingest each event of ``rows`` in turn (``progress(done, total)``
    every thousand events). The groups of the latest ``spec.whole_share`` of the events keep
    every candidate: the ranker is chosen on them as it will rank, over all candidates (sampled
    groups measure something easier: the chosen item among a hundred mostly weak ones)."""
    it = data.interactions
    users, items = data.users.raw_ids, data.items.raw_ids
    rng = np.random.default_rng(spec.seed)
    features = service.runtime.candidate_features()
    pipeline = service.runtime.pipeline
    blocks: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    groups: list[int] = []
    requests = 0
    whole_from = len(rows) - round(spec.whole_share * len(rows))
    first_whole: int | None = None
    for n, row in enumerate(rows.tolist()):
        if progress is not None and n % 1000 == 0:
            progress(n, len(rows))
        if n == whole_from:
            first_whole = len(groups)
        user, item = users[it.uidx[row]], items[it.iidx[row]]
        uidx = service.user_index(user)
        proposed = None if uidx is None else propose(pipeline, uidx, spec.candidates)
        if proposed is not None:
            requests += 1
            cands, matrix = proposed.fused.items, features.matrix(proposed)
            hit = np.flatnonzero(cands == it.iidx[row])
            if len(hit):
                whole = first_whole is not None
                keep = (
                    np.arange(len(cands))
                    if whole
                    else kept_rows(len(cands), int(hit[0]), spec, rng)
                )
                blocks.append(matrix[keep])
                labels.append((keep == hit[0]).astype(np.int8))
                groups.append(len(keep))
        event = Event(
            user, item, EventType(int(it.etype[row])), float(it.ts[row]), float(it.value[row])
        )
        service.ingest([event])
    if progress is not None:
        progress(len(rows), len(rows))
    width = len(features.names)
    return RankingExamples(
        np.concatenate(blocks) if blocks else np.zeros((0, width), np.float32),
        np.concatenate(labels) if labels else np.zeros(0, np.int8),
        np.asarray(groups, np.int64),
        features.names,
        requests,
        first_whole if spec.whole_share > 0 else None,
    )


def ranking_examples(
    data: Dataset,
    spec: ExampleSpec,
    train: Callable[[Dataset, Path], Path],
    workdir: Path | None = None,
    log: Callable[[str], None] = print,
    progress: Callable[[str, str], ProgressLine] | None = None,
) -> RankingExamples:
    """Train (``train(data, root)`` writes a snapshot without the ranker) on the data before
    the window and walk the window's events (the first ``spec.max_requests``), with a
    progress line from ``progress(label, unit)`` once the walk starts."""
    before, window = window_split(data, spec)
    window = window[: spec.max_requests]
    log(
        f"  ranker: training the channels on {len(before.interactions):,} events before the "
        f"window, then walking {len(window):,} later events"
    )
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        snapshot = train(before, Path(tmp) / "snapshots")
        unhurried = ServiceConfig(pipeline=PipelineConfig().without_budgets())
        service = LiveService.open(snapshot, config=unhurried)
        if progress is None:
            return walk_examples(service, data, window, spec)
        with progress("ranker examples", "events") as line:
            return walk_examples(service, data, window, spec, line)
