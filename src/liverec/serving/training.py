"""Training a snapshot: every configured component on the dataset plus the event log.

``serving.snapshot`` is the on-disk format this writes; the erasure lock and generation
there keep a snapshot that trained across a user erasure from being published.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from liverec.core.errors import ConfigError, LiverecError
from liverec.data.catalog import Item
from liverec.data.dataset import Dataset
from liverec.data.interactions import Interactions
from liverec.engine import Executor, LocalExecutor
from liverec.events.schema import LogEntry, LoggedEvent, LoggedItem
from liverec.models.component import Component, TrainContext
from liverec.models.ranker import ExampleSpec, RankingExamples
from liverec.models.registry import COMPONENTS, component_class, default_components
from liverec.serving.snapshot import (
    FORMAT,
    MANIFEST,
    MODELS_DIR,
    erasure_generation,
    erasure_lock,
    reserve_version,
)


class TrainConfig(BaseModel):
    """Which components a snapshot holds, and their parameters (``{component: {key: value}}``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    components: tuple[str, ...] = Field(default_factory=default_components)
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("components")
    @classmethod
    def _known(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for n in names:
            component_class(n)
        return tuple(n for n in COMPONENTS if n in names)  # registry (training) order

    def build(self) -> list[Component]:
        """The components, configured, in training order.

        Raises
        ------
        ConfigError
            If a parameter names an unknown component or key, or a component lacks one it needs.
        """
        missing = [n for n, c in COMPONENTS.items() if c.required and n not in self.components]
        if missing:
            raise ConfigError(f"every snapshot needs {', '.join(missing)} (the fallback)")
        for name in self.params:
            if name not in self.components:
                raise ConfigError(
                    f"parameters for {name!r}, which is not trained here; components: "
                    f"{', '.join(self.components)}"
                )
        out = []
        for name in self.components:
            cls = component_class(name)
            missing = [n for n in cls.needs if n not in self.components]
            if missing:
                raise ConfigError(f"component {name!r} needs {', '.join(missing)} as well")
            out.append(cls.from_params(self.params.get(name)))
        return out

    @classmethod
    def of_manifest(cls, manifest: dict[str, Any]) -> TrainConfig:
        """The config a snapshot was trained with (to train it again on changed data)."""
        parts = manifest["components"]
        return cls(
            components=tuple(parts),
            params={name: part["config"] for name, part in parts.items()},
        )

    def without_candidate_learners(self) -> TrainConfig:
        """This config without the components that learn from the pipeline's candidates
        (what their training examples are proposed by)."""
        kept = tuple(n for n in self.components if not COMPONENTS[n].learns_from_candidates)
        params = {n: p for n, p in self.params.items() if n in kept}
        return self.model_copy(update={"components": kept, "params": params})

    def with_optional(self, names: Iterable[str]) -> TrainConfig:
        """This config with optional components (e.g. sasrec) added."""
        return self.model_copy(update={"components": (*self.components, *names)})


def merge_log(
    dataset: Dataset, entries: Iterable[LogEntry], since_seq: int = 0
) -> tuple[Dataset, int]:
    """The dataset with logged item upserts and events applied; returns it and the last seq
    (``since_seq`` when there are none: the dataset already holds the log up to it).

    New users and items get the next indices, so every index of ``dataset`` stays valid.
    """
    import pyarrow as pa

    changed: dict[str, Item] = {}
    new_items: dict[str, Item] = {}
    rows: list[tuple[str, str, float, int, float]] = []
    last_seq = since_seq
    for entry in entries:
        last_seq = max(last_seq, entry.seq)
        if isinstance(entry, LoggedItem):
            it = entry.item
            (new_items if it.item_id in new_items or it.item_id not in dataset.items else changed)[
                it.item_id
            ] = it
        elif isinstance(entry, LoggedEvent):
            e = entry.event
            if e.item_id not in dataset.items and e.item_id not in new_items:
                new_items[e.item_id] = Item(item_id=e.item_id, title=e.item_id)
            rows.append(
                (e.user_id, e.item_id, e.ts, int(e.type), 1.0 if e.value is None else e.value)
            )
    if not rows and not changed and not new_items:
        return dataset, last_seq
    items = dataset.items.extended(list(new_items))
    users = dataset.users.extended([r[0] for r in rows])
    catalog = dataset.catalog.with_items(
        {dataset.items.index(k): v for k, v in changed.items()}, list(new_items.values())
    )
    extra = Interactions(
        uidx=users.indices(pa.array([r[0] for r in rows], pa.string())).astype(np.int32),
        iidx=items.indices(pa.array([r[1] for r in rows], pa.string())).astype(np.int32),
        ts=np.array([r[2] for r in rows], np.float64),
        etype=np.array([r[3] for r in rows], np.int8),
        value=np.array([r[4] for r in rows], np.float32),
        n_users=len(users),
        n_items=len(items),
    )
    base = dataset.interactions
    widened = Interactions(
        base.uidx, base.iidx, base.ts, base.etype, base.value, len(users), len(items)
    )
    merged = Dataset(
        name=dataset.name,
        users=users,
        items=items,
        interactions=widened.concat(extra).sorted_by_user(),
        catalog=catalog,
        user_attributes={
            k: (*v, *("",) * (len(users) - len(v))) for k, v in dataset.user_attributes.items()
        },
    )
    return merged, last_seq


def train_snapshot(
    dataset: Dataset,
    entries: Iterable[LogEntry],
    root: Path,
    config: TrainConfig | None = None,
    log: Callable[[str], None] = print,
    models_dir: Path | None = None,
    progress: bool = False,
    since_seq: int = 0,
    check_erasures: bool = True,
    executor: Executor | None = None,
) -> Path:
    """Train every configured component on the dataset plus the log; write a new snapshot.

    ``since_seq``: the dataset already holds the log up to this entry (a snapshot's data).
    ``check_erasures=False`` only for the erasure's own run, which holds the erasure lock.
    ``executor``: where the parallel parts run (default: local processes); the caller
    closes it. Every engine writes the same snapshot.
    """
    config = config or TrainConfig()
    components = config.build()
    t0 = time.perf_counter()
    generation = erasure_generation(root)
    data, last_seq = merge_log(dataset, entries, since_seq)
    log(f"training on {data.summary()} (log up to seq {last_seq})")
    root.mkdir(parents=True, exist_ok=True)
    version, tmp = reserve_version(root)
    ctx = TrainContext(
        data=data,
        models_dir=models_dir or root / MODELS_DIR,
        log=log,
        progress=progress,
        executor=executor or LocalExecutor(),
    )
    if any(c.learns_from_candidates for c in components):
        ctx.ranking_examples = partial(_ranking_examples, ctx, config, tmp)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    data.save(tmp / "data")
    timings["data"] = round(time.perf_counter() - t, 3)
    parts: dict[str, Any] = {}
    for component in components:
        t = time.perf_counter()
        meta = component.train(ctx, tmp / component.name)
        timings[component.name] = round(time.perf_counter() - t, 3)
        log(f"  {component.name}: {timings[component.name]:.2f} s")
        parts[component.name] = {"config": component.config_json(), "meta": meta}
    manifest = {
        "format": FORMAT,
        "version": version,
        "dataset": dataset.name,
        "created_at": time.time(),
        "last_seq": last_seq,
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_interactions": len(data.interactions),
        "train_seconds": round(time.perf_counter() - t0, 3),
        "engine": ctx.executor.describe(),
        "timings": timings,
        "components": parts,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default))
    final = root / version
    if not check_erasures:
        os.replace(tmp, final)
        log(f"wrote snapshot {version} to {final} in {manifest['train_seconds']:.1f} s")
        return final
    with erasure_lock(root):
        if erasure_generation(root) != generation:
            shutil.rmtree(tmp, ignore_errors=True)
            raise LiverecError(
                "a user was erased while this snapshot was training, so it may still hold "
                "them; it was discarded: train again"
            )
        os.replace(tmp, final)
    log(f"wrote snapshot {version} to {final} in {manifest['train_seconds']:.1f} s")
    return final


def _ranking_examples(
    ctx: TrainContext, config: TrainConfig, workdir: Path, spec: ExampleSpec
) -> RankingExamples:
    """Examples proposed by a pipeline of ``config``'s other components (trained on the data
    before the window, in a scratch folder of the snapshot being written)."""
    from liverec.serving.ranker_examples import ranking_examples

    inner = config.without_candidate_learners()

    def train(before: Dataset, root: Path) -> Path:
        return train_snapshot(
            before,
            [],
            root,
            inner,
            log=lambda line: ctx.log(f"    {line}"),
            models_dir=ctx.models_dir,
            progress=ctx.progress,
            check_erasures=False,
            executor=ctx.executor,
        )

    return ranking_examples(
        ctx.data, spec, train, workdir=workdir, log=ctx.log, progress=ctx.progress_line
    )


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to a manifest")
