"""The Python API: open a trained recommender, ask it, tell it what users did.

    import liverec
    rec = liverec.open("ml-100k")
    top = rec.recommend("196", k=10)

README.md ("Python API") runs a longer example as a test. The object ``open`` returns is the
live service the HTTP API serves, in process: answers and their types are the same
(``liverec.Recommendation`` is one item of ``GET /v1/users/{id}/recommendations``), every
event is in the durable log before ``ingest`` returns, and the next answer for that user
reflects it. Input is checked as the HTTP API checks it; a bad value raises
``InvalidInputError`` naming the field.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from liverec.config import Settings
from liverec.core.errors import InvalidInputError, LiverecError
from liverec.core.privacy import id_problem
from liverec.data.catalog import MAX_DESCRIPTION, MAX_GENRE, MAX_GENRES, MAX_TITLE, Item
from liverec.data.convert import MAX_VALUE, latest_timestamp, time_problem
from liverec.data.dataset import validate_name
from liverec.data.sources import load_dataset
from liverec.events.exposures import open_exposure_log
from liverec.events.schema import Event
from liverec.events.store import EventLog, open_event_log, read_all
from liverec.serving.experiments import ExperimentStore
from liverec.serving.results import (
    IngestResult,
    Recommendation,
    RecommendationResult,
    UserErasure,
    UserProfile,
)
from liverec.serving.runtime import ServiceConfig
from liverec.serving.service import LiveService
from liverec.serving.snapshot import latest_snapshot
from liverec.serving.training import TrainConfig, train_snapshot

log = logging.getLogger("liverec")


def open_service(settings: Settings, event_log: EventLog | None = None) -> LiveService:
    """Open the event log and serve the newest snapshot, training one first if there is none
    (the default components on the dataset plus the log); the HTTP app opens its service here.

    Raises
    ------
    LiverecError
        If the dataset does not exist or no snapshot loads (each one named, with why).
    """
    validate_name(settings.dataset)
    log_ = event_log or open_event_log(settings.event_log_url)
    if latest_snapshot(settings.snapshots) is None:
        dataset = load_dataset(settings.dataset, settings.home)
        components = ", ".join(TrainConfig().components)
        log.warning(
            "no snapshot of %s under %s yet: training a first one (%s); this takes a minute "
            "or more",
            settings.dataset,
            settings.snapshots,
            components,
        )
        train_snapshot(
            dataset,
            read_all(log_),
            settings.snapshots,
            log=log.info,
            models_dir=settings.models_dir,
        )
    return LiveService.open(
        settings.snapshots,
        log_,
        settings.service,
        settings.pseudonyms(),
        open_exposure_log(settings.exposure_log_url),
        ExperimentStore(settings.experiments_file),
    )


def open(
    dataset: str = "ml-100k",
    *,
    home: str | Path | None = None,
    event_log: str | None = None,
    config: ServiceConfig | None = None,
) -> LiveRecommender:
    """A recommender serving the newest snapshot of ``dataset`` under ``home``.

    ``home`` defaults to ``LIVEREC_HOME`` (else ``~/.cache/liverec``), ``event_log`` to the
    SQLite log under it; ML-100K is fetched on first use (from the installed recbole wheel)
    and a first snapshot is trained when there is none. Other ``LIVEREC_*`` environment
    variables apply as they do to ``liverec serve``.

    Raises
    ------
    LiverecError
        If the dataset is unknown (the message lists the ones there are) or no snapshot loads.
    """
    overrides: dict[str, Any] = {"dataset": dataset}
    if home is not None:
        overrides["home"] = Path(home)
    if event_log is not None:
        overrides["event_log"] = event_log
    if config is not None:
        overrides["service"] = config
    settings = Settings(**overrides)
    return LiveRecommender(open_service(settings), settings)


class LiveRecommender:
    """Recommendations, similar items and ingest for one dataset, in process.

    A context manager: ``with liverec.open() as rec: ...`` closes the event log at the end.
    """

    def __init__(self, service: LiveService, settings: Settings) -> None:
        self.service = service
        self.settings = settings

    @property
    def version(self) -> str:
        """The snapshot answering now."""
        return self.service.version

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        *,
        exclude: Sequence[str] = (),
        genres: Sequence[str] = (),
    ) -> list[Recommendation]:
        """The ``k`` best items for ``user_id`` that they have not interacted with, best
        first, each with its reasons; a user never seen gets a cold-start list.

        ``exclude`` leaves those item ids out; ``genres`` keeps items of any of them.
        """
        return self.answer(user_id, k, exclude=exclude, genres=genres).items

    def answer(
        self,
        user_id: str,
        k: int = 10,
        *,
        exclude: Sequence[str] = (),
        genres: Sequence[str] = (),
        fresh: bool = False,
    ) -> RecommendationResult:
        """``recommend`` with how the answer was made: snapshot, degraded stages, timings,
        cache hit (``fresh`` skips the cache), exactly as the HTTP API returns it."""
        _check_id(user_id, "user_id")
        if not 1 <= k <= 1000:
            raise InvalidInputError(f"k: expected 1 to 1000, got {k}")
        return self.service.recommend(user_id, k, True, list(exclude), list(genres), fresh)

    def similar(self, item_id: str, k: int = 10) -> list[Recommendation]:
        """Items like ``item_id``, most similar first.

        Raises
        ------
        UnknownIdError
            If the item is not in the catalog.
        """
        _check_id(item_id, "item_id")
        return self.service.similar(item_id, k).items

    def ingest(self, events: Iterable[Event]) -> IngestResult:
        """Log ``events`` durably (all or none); each user's next answer reflects them.

        An event made without ``ts`` is stamped with the service's event clock
        (``ServiceConfig.event_clock``: on a historical dataset, the data's own time).

        Raises
        ------
        InvalidInputError
            Naming the first bad event and field; nothing is logged.
        UnknownIdError
            If an event names an item not in the catalog (add it first with ``add_item``).
        """
        batch = list(events)
        latest = latest_timestamp()
        for pos, event in enumerate(batch):
            _check_event(event, f"events[{pos}]", latest)
        return self.service.ingest(batch)

    def add_item(self, item: Item) -> None:
        """Add an item to the catalog, or replace it; recommendable in the next answer."""
        _check_item(item)
        self.service.upsert_item(item)

    def item(self, item_id: str) -> Item:
        """The catalog entry of ``item_id`` (``UnknownIdError`` when there is none)."""
        return self.service.item(item_id)

    def profile(self, user_id: str, limit: int = 20) -> UserProfile:
        """The user's recent events, newest first (``UnknownIdError`` for a user never seen)."""
        return self.service.profile(user_id, limit)

    def delete_user(self, user_id: str) -> UserErasure:
        """Erase the user from the log, the dataset and every snapshot, and serve the snapshot
        trained without them (as ``liverec users delete``).

        Raises
        ------
        UnknownIdError
            If the user is nowhere.
        """
        s = self.settings
        return self.service.erase_user(user_id, s.home, s.dataset, s.models_dir)

    def reload(self) -> bool:
        """Swap to a newer snapshot (written by ``liverec train``) if there is one."""
        return self.service.reload()

    def close(self) -> None:
        """Close the event log; the object answers nothing afterwards."""
        self.service.log.close()
        self.service.exposures.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_id(raw: object, field: str) -> None:
    problem = id_problem(raw)
    if problem is not None:
        raise InvalidInputError(f"{field}: an id {problem}")


def _check_event(event: Event, where: str, latest: float) -> None:
    if not isinstance(event, Event):
        raise InvalidInputError(f"{where}: expected a liverec.Event, got {type(event).__name__}")
    _check_id(event.user_id, f"{where}.user_id")
    _check_id(event.item_id, f"{where}.item_id")
    if event.stamped:  # an unstamped event gets the service's clock at ingest
        if not isinstance(event.ts, int | float) or not math.isfinite(event.ts):
            raise InvalidInputError(f"{where}.ts: expected epoch seconds, got {event.ts!r}")
        problem = time_problem(float(event.ts), latest)
        if problem is not None:
            raise InvalidInputError(f"{where}.ts: the time {problem}")
    value = event.value
    if value is not None and not (isinstance(value, int | float) and 0 <= value <= MAX_VALUE):
        raise InvalidInputError(f"{where}.value: expected a number from 0 to {MAX_VALUE:g}")
    if event.type.label == "rating" and value is None:
        raise InvalidInputError(f"{where}.value: a rating event needs a value (e.g. 4.0)")


def _check_item(item: Item) -> None:
    _check_id(item.item_id, "item_id")
    if not item.title.strip() or len(item.title) > MAX_TITLE:
        raise InvalidInputError(f"title: expected 1 to {MAX_TITLE} characters")
    if len(item.description) > MAX_DESCRIPTION:
        raise InvalidInputError(f"description: expected at most {MAX_DESCRIPTION} characters")
    if len(item.genres) > MAX_GENRES or any(len(g) > MAX_GENRE for g in item.genres):
        raise InvalidInputError(
            f"genres: expected at most {MAX_GENRES} genres of at most {MAX_GENRE} characters"
        )


__all__ = ["LiveRecommender", "LiverecError", "open", "open_service"]
