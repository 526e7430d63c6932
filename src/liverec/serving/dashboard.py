"""What the operator dashboard shows: the model served, the data behind it, live counts and
the last minutes of traffic (``Telemetry``), in one typed answer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from liverec.serving.telemetry import TelemetryReport

if TYPE_CHECKING:
    from liverec.serving.service import LiveService


@dataclass(frozen=True)
class ComponentCard:
    """One component of the snapshot: what it learned and how long it trained."""

    name: str
    train_seconds: float | None
    facts: dict[str, Any]  # the component's own meta (neighbour pairs, best epoch ...)


@dataclass(frozen=True)
class ModelCard:
    """The snapshot served: version, when and on what it was trained, how it validated."""

    version: str
    dataset: str
    trained_at: float
    train_seconds: float | None
    training_users: int
    training_items: int
    training_events: int
    log_seq_at_training: int
    components: list[ComponentCard]
    validation: dict[str, float]  # "component metric" -> value, e.g. "sasrec valid_ndcg@10"


@dataclass(frozen=True)
class LiveCounts:
    """The online state now."""

    catalog_items: int
    users: int
    applied_seq: int
    events_ingested: int  # by this process since it started
    answers_computed: int
    model_swaps: int
    cached_users: int
    uptime_s: float


@dataclass(frozen=True)
class Dashboard:
    """Everything ``GET /v1/dashboard`` answers."""

    model: ModelCard
    counts: LiveCounts
    traffic: TelemetryReport


def dashboard(service: LiveService, recent_s: int = 300, step_s: int = 10) -> Dashboard:
    """The dashboard of ``service`` now (summaries over ``recent_s``, series in ``step_s``)."""
    runtime = service.runtime
    state = runtime.state
    counts = LiveCounts(
        catalog_items=len(state.catalog),
        users=len(state.users),
        applied_seq=state.applied_seq,
        events_ingested=service.events_ingested,
        answers_computed=service.answers,
        model_swaps=service.swaps,
        cached_users=len(service.cache),
        uptime_s=round(time.time() - service.started_at, 1),
    )
    return Dashboard(
        model_card(runtime.snapshot.manifest), counts, service.telemetry.report(recent_s, step_s)
    )


def model_card(manifest: dict[str, Any]) -> ModelCard:
    """The model card of a snapshot manifest (validation figures are those components
    recorded under a name starting with ``valid``)."""
    timings = manifest.get("timings", {})
    components = []
    validation: dict[str, float] = {}
    for name, part in manifest.get("components", {}).items():
        facts = dict(part.get("meta", {}))
        components.append(ComponentCard(name, timings.get(name), facts))
        for key, value in facts.items():
            if key.startswith("valid") and isinstance(value, int | float):
                validation[f"{name} {key}"] = float(value)
    return ModelCard(
        version=manifest["version"],
        dataset=manifest.get("dataset", ""),
        trained_at=float(manifest.get("created_at", 0.0)),
        train_seconds=manifest.get("train_seconds"),
        training_users=int(manifest.get("n_users", 0)),
        training_items=int(manifest.get("n_items", 0)),
        training_events=int(manifest.get("n_interactions", 0)),
        log_seq_at_training=int(manifest.get("last_seq", 0)),
        components=components,
        validation=validation,
    )
