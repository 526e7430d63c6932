"""Servable components: how each model trains into a snapshot and serves from it.

Every model module carries one ``Component``: ``train`` writes its artifacts into the
snapshot's folder for it, ``load`` memory-maps them and returns a ``Servable`` — the channel,
ranking features, similar-item source and online hooks the live pipeline uses. The snapshot
manifest lists the components it holds; the runtime iterates over them, so adding a model
means its module and one registry line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from liverec.core.errors import ConfigError
from liverec.core.progress import ProgressLine, progress_line
from liverec.data.catalog import Item
from liverec.data.dataset import Dataset
from liverec.engine import Executor, LocalExecutor
from liverec.features.catalog_store import CatalogView
from liverec.features.histories import UserHistory, UserHistoryView
from liverec.features.itemstats import ItemStatsView, PairWeighting
from liverec.features.request import Channel, RankingFeature, SimilarSource

if TYPE_CHECKING:
    from liverec.features.content import ItemVectors
    from liverec.models.ranker import ExampleSpec, LearnedRanker, RankingExamples

IntArray = NDArray[np.int64]


@dataclass
class TrainContext:
    """What a component trains from, and what earlier components left for later ones."""

    data: Dataset
    models_dir: Path  # caches shared by every training run (encoder exports, embeddings)
    log: Callable[[str], None] = print
    progress: bool = False
    item_vectors: NDArray[np.float32] | None = None  # the text component's, for later ones
    # where the parallel parts run: local processes or Ray tasks (``liverec.engine``)
    executor: Executor = field(default_factory=LocalExecutor)
    # candidates the live pipeline proposes for later events (the serving layer provides it)
    ranking_examples: Callable[[ExampleSpec], RankingExamples] | None = None

    def progress_line(self, label: str, unit: str) -> ProgressLine:
        """Progress of one long step with a rate and ETA on stderr (silent unless ``progress``)."""
        return progress_line(label, unit, self.progress)


@dataclass
class ServeContext:
    """The read-only views of the online state a component serves from."""

    histories: UserHistoryView
    stats: ItemStatsView
    catalog: CatalogView
    window: int  # recent events the channels look at
    vectors: ItemVectors | None = None  # item text vectors (the text component's)
    int8: bool = True  # run int8 graphs where a component has both


@dataclass
class Servable:
    """What a loaded component contributes to the live pipeline."""

    name: str
    channel: Channel | None = None
    features: Sequence[RankingFeature] = ()
    similar: SimilarSource | None = None
    fallback: bool = False  # the channel always answers: the pipeline's last resort
    weighting: PairWeighting | None = None  # pair weights for live co-occurrence
    base_item_weight: NDArray[np.float64] | None = None
    vectors: ItemVectors | None = None  # item text vectors, for the components after it
    on_items: Callable[[Sequence[tuple[int, Item]]], None] | None = None  # upserted items
    prepare: Callable[[Sequence[tuple[int, UserHistory]]], int] | None = None  # batch warm-up
    forget_user: Callable[[int], None] | None = None
    ranker: LearnedRanker | None = None  # scores the fused candidates (the ranking stage)
    info: dict[str, Any] = field(default_factory=dict)


class Component(ABC):
    """A model as the service uses it: train into a snapshot folder, load from one."""

    name: ClassVar[str]
    Config: ClassVar[type[Any]]
    channel: ClassVar[str | None] = None  # the name of the channel it serves, if any
    needs: ClassVar[tuple[str, ...]] = ()  # components whose outputs it reads
    optional: ClassVar[bool] = False  # trained only when asked for by name
    required: ClassVar[bool] = False  # every snapshot has it (the fallback channel)
    # trains on the candidates a pipeline of the other components proposes (the ranker)
    learns_from_candidates: ClassVar[bool] = False
    summary: ClassVar[str] = ""

    def __init__(self, config: Any | None = None) -> None:
        self.config = config if config is not None else self.Config()

    @classmethod
    def from_params(cls, params: dict[str, Any] | None = None) -> Component:
        """Build with config overrides, rejecting unknown names.

        Raises
        ------
        ConfigError
            If a parameter is unknown or its value is refused by the config.
        """
        params = params or {}
        if not params:
            return cls()
        known = (
            {f.name for f in fields(cls.Config)}
            if is_dataclass(cls.Config)
            else set(cls.Config.model_fields)
        )
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(
                f"{cls.name} has no parameter {', '.join(unknown)}; expected one of "
                f"{', '.join(sorted(known))}"
            )
        try:
            return cls(cls.Config(**params))
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{cls.name}: {e}") from None

    def config_json(self) -> dict[str, Any]:
        """The config as JSON-able values (written to the manifest)."""
        from dataclasses import asdict

        if is_dataclass(self.config):
            return asdict(self.config)  # type: ignore[arg-type]
        dumped: dict[str, Any] = self.config.model_dump()
        return dumped

    @classmethod
    def config_from_json(cls, doc: dict[str, Any]) -> Any:
        """Inverse of ``config_json``."""
        return cls.Config(**doc)

    @abstractmethod
    def train(self, ctx: TrainContext, out: Path) -> dict[str, Any]:
        """Fit on ``ctx.data`` and write into ``out``; returns facts for the manifest."""

    @abstractmethod
    def load(self, directory: Path, meta: dict[str, Any], ctx: ServeContext) -> Servable:
        """Memory-map what ``train`` wrote and build the servable parts."""
