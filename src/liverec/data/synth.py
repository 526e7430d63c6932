"""Seeded synthetic datasets with planted structure, written as Parquet in chunks.

The generator plants what a recommender should be able to learn, so accuracy at any size is
measurable against a known cause:

- **taste clusters**: every item belongs to one latent cluster; every user has a primary and a
  secondary cluster and draws most "taste" events from them;
- **item-to-item transitions** (the sequential signal): each item has a few successors, mostly
  in its own cluster, and a share of events follows the previous event's item to one of them;
- **power-law activity and popularity**: user event counts follow a Pareto tail (a few users
  have 10k+ events at the large sizes), item popularity a Zipf law;
- **popularity drift**: items are released over the year; a new item is hot for a while after
  its release, and nothing is chosen before it exists;
- **item text correlated with the clusters**: title words, genres and a short description
  come from the cluster's theme words and genres, so a text encoder sees the structure too;
- **event types**: views, clicks and purchases.

Every user with at least three events is eligible for the **planted holdout**: for a seeded
sample of them the last event is written to ``holdout.parquet`` instead of ``events.parquet``
(the leave-last-out protocol, applied at generation time).

Memory stays bounded whatever the size: the item world (popularity per epoch, successors) is
O(items), and events are generated and written per chunk of users.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from liverec.core.errors import ConfigError

PRESETS: dict[str, tuple[int, int, int]] = {
    "S": (1_000_000, 50_000, 10_000),
    "M": (10_000_000, 1_000_000, 100_000),
    "L": (100_000_000, 10_000_000, 1_000_000),
}
EPOCHS = 12  # popularity is piecewise constant over this many periods of the time span
TYPE_NAMES = ("view", "click", "purchase")
TYPE_SHARES = (0.75, 0.18, 0.07)
GENRES = tuple(
    (  # noqa: SIM905 - a word list reads best as text
        "Action Adventure Animation Biography Comedy Crime Documentary Drama Family Fantasy "
        "History Horror Music Mystery Romance Science Sport Thriller War Western Travel Cooking "
        "Gardening Poetry"
    ).split()
)
WORDS = tuple(
    (  # noqa: SIM905 - a word list reads best as text
        "river mountain shadow garden harbor winter summer autumn spring forest desert ocean "
        "island city village castle tower bridge road train station market kitchen library "
        "school hospital theater museum palace temple church farm valley canyon meadow lake "
        "storm thunder rain snow fire smoke light dark silver golden crimson emerald azure "
        "violet scarlet amber ivory iron copper glass stone paper silk velvet marble wooden "
        "ancient modern secret hidden lost forgotten broken silent quiet wild gentle brave bold "
        "clever cunning curious lonely merry restless patient proud humble fierce tender king "
        "queen prince princess knight soldier pilot sailor doctor teacher student farmer hunter "
        "thief spy detective artist singer dancer writer painter baker tailor merchant dragon "
        "wolf eagle tiger horse raven fox bear whale owl lion serpent falcon deer journey quest "
        "escape return promise dream memory letter song dance game war peace love loss hope "
        "fear truth lie secret treasure map key door window mirror clock candle lantern crown "
        "sword shield arrow ship boat wagon engine machine robot planet star moon sun comet "
        "galaxy orbit signal code puzzle riddle legend myth tale saga empire kingdom republic "
        "colony frontier border coast harbor north south east west midnight dawn dusk noon "
        "evening morning festival wedding funeral trial verdict recipe feast bread wine honey "
        "pepper salt sugar coffee tea garden orchard vineyard rose lily tulip orchid cedar "
        "willow oak maple pine birch fern moss coral pearl"
    ).split()
)


class SynthConfig(BaseModel):
    """Sizes and the strength of each planted signal (shares of events by how they arise)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    events: int = Field(..., ge=1, description="events to generate, holdout included")
    users: int = Field(..., ge=1)
    items: int = Field(..., ge=2)
    clusters: int = Field(0, ge=0, description="taste clusters (0: sqrt(items) / 2)")
    seed: int = 0
    start: float = Field(1_704_067_200.0, description="first possible event time (epoch s)")
    days: float = Field(365.0, gt=0, description="time span of the log")
    p_transition: float = Field(0.35, ge=0, le=1, description="share following a transition")
    p_taste: float = Field(0.45, ge=0, le=1, description="share drawn from the user's clusters")
    p_primary: float = Field(0.7, ge=0, le=1, description="taste draws from the primary cluster")
    successors: int = Field(4, ge=1, description="transition targets per item")
    popularity_exponent: float = Field(0.9, ge=0, description="Zipf exponent of items")
    activity_alpha: float = Field(1.3, gt=0, description="Pareto tail of events per user")
    max_user_events: int = Field(50_000, ge=3)
    holdout_users: int = Field(10_000, ge=0, description="users whose last event is held out")
    chunk_events: int = Field(2_000_000, ge=1_000, description="events generated per chunk")

    @model_validator(mode="after")
    def _check(self) -> SynthConfig:
        if self.p_transition + self.p_taste > 1:
            raise ConfigError("p_transition + p_taste must be at most 1 (the rest is noise)")
        if self.events < self.users:
            raise ConfigError(f"events ({self.events}) must be at least users ({self.users})")
        return self

    @property
    def n_clusters(self) -> int:
        """Clusters actually used."""
        return self.clusters or max(2, min(self.items // 2, round(math.sqrt(self.items) / 2)))


def preset(name: str, **overrides: Any) -> SynthConfig:
    """The config of preset ``S``, ``M`` or ``L`` (1M/10M/100M events) with overrides.

    Raises
    ------
    ConfigError
        If the preset is unknown.
    """
    try:
        events, users, items = PRESETS[name.upper()]
    except KeyError:
        raise ConfigError(
            f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}"
        ) from None
    return SynthConfig(**{"events": events, "users": users, "items": items, **overrides})


@dataclass(frozen=True)
class World:
    """The item side of a synthetic dataset: clusters, popularity per epoch, successors."""

    cluster: NDArray[np.int32]  # (items,)
    release_epoch: NDArray[np.int32]  # (items,)
    release_ts: NDArray[np.float64]  # (items,)
    by_cluster: NDArray[np.int64]  # item ids sorted by cluster
    bounds: NDArray[np.int64]  # (clusters + 1,) ranges of by_cluster per cluster
    cumulative: NDArray[np.float64]  # (EPOCHS, items) cumulative weight over by_cluster
    successors: NDArray[np.int32]  # (items, successors)
    cluster_weight: NDArray[np.float64]  # (clusters,) popularity share

    def sample(
        self, rng: np.random.Generator, epoch: NDArray[np.int64], cluster: NDArray[np.int64] | None
    ) -> NDArray[np.int64]:
        """One item per row, by popularity at ``epoch``, inside ``cluster`` when given.

        A cluster with nothing released yet at that epoch falls back to the whole catalog.
        """
        out = np.empty(len(epoch), np.int64)
        for e in range(EPOCHS):
            rows = np.flatnonzero(epoch == e)
            if not len(rows):
                continue
            cum = self.cumulative[e]
            total = cum[-1]
            if cluster is None:
                lo, hi = np.zeros(len(rows)), np.full(len(rows), total)
            else:
                c = cluster[rows]
                start, stop = self.bounds[c], self.bounds[c + 1]
                lo = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
                hi = cum[stop - 1]
                empty = hi <= lo
                lo[empty], hi[empty] = 0.0, total
            u = lo + rng.random(len(rows)) * (hi - lo)
            pos = np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)
            out[rows] = self.by_cluster[pos]
        return out


def build_world(config: SynthConfig, rng: np.random.Generator) -> World:
    """Clusters, Zipf popularity, release times and successor lists of every item."""
    n, k = config.items, config.n_clusters
    share = rng.lognormal(0.0, 0.5, k)
    cluster = rng.choice(k, size=n, p=share / share.sum()).astype(np.int32)
    rank = rng.permutation(n)
    base = 1.0 / np.power(rank + 10.0, config.popularity_exponent)
    # Half the catalog exists from the start; the rest is released over 95% of the span.
    release = np.where(rng.random(n) < 0.5, 0.0, rng.random(n) * 0.95)
    release_epoch = np.minimum((release * EPOCHS).astype(np.int32), EPOCHS - 1)
    by_cluster = np.argsort(cluster, kind="stable").astype(np.int64)
    bounds = np.searchsorted(cluster[by_cluster], np.arange(k + 1)).astype(np.int64)
    cumulative = np.empty((EPOCHS, n), np.float64)
    for e in range(EPOCHS):
        age = e + 0.5 - release * EPOCHS  # epochs since release, at the epoch's middle
        hot = np.where(age >= 0, 1.0 + 3.0 * np.exp(-np.maximum(age, 0) / 1.5), 0.0)
        np.cumsum((base * hot)[by_cluster], out=cumulative[e])
    cluster_weight = np.bincount(cluster, weights=base, minlength=k)
    world = World(
        cluster=cluster,
        release_epoch=release_epoch,
        release_ts=config.start + release * config.days * 86_400.0,
        by_cluster=by_cluster,
        bounds=bounds,
        cumulative=cumulative,
        successors=np.zeros((n, config.successors), np.int32),
        cluster_weight=cluster_weight / cluster_weight.sum(),
    )
    # Successors: mostly in the item's own cluster, by popularity at the last epoch.
    flat_items = np.repeat(np.arange(n), config.successors)
    last = np.full(len(flat_items), EPOCHS - 1, np.int64)
    same = rng.random(len(flat_items)) < 0.8
    picked = world.sample(rng, last, cluster[flat_items].astype(np.int64))
    picked[~same] = world.sample(rng, last[~same], None)
    picked = np.where(picked == flat_items, (picked + 1) % n, picked)
    world.successors[:] = picked.reshape(n, config.successors)
    return world


def user_lengths(config: SynthConfig, rng: np.random.Generator) -> NDArray[np.int64]:
    """Events per user: 1 + a Pareto-distributed share of the rest, capped, summing exactly."""
    n_users, total = config.users, config.events
    weight = rng.pareto(config.activity_alpha, n_users) + 1.0
    extra = total - n_users
    lengths = 1 + np.floor(weight / weight.sum() * extra).astype(np.int64)
    np.minimum(lengths, config.max_user_events, out=lengths)
    missing = total - int(lengths.sum())
    while missing > 0:
        room = np.flatnonzero(lengths < config.max_user_events)
        if not len(room):
            raise ConfigError("max_user_events is too small for events / users")
        take = np.asarray(rng.choice(room, size=min(missing, len(room)), replace=False))
        lengths[take] += 1
        missing -= len(take)
    out: NDArray[np.int64] = lengths
    return out


@dataclass(frozen=True)
class EventChunk:
    """Events of consecutive users, sorted by user then time; ``holdout`` marks held-out rows."""

    user: NDArray[np.int64]
    item: NDArray[np.int64]
    ts: NDArray[np.int64]
    etype: NDArray[np.int8]
    holdout: NDArray[np.bool_]


def generate_chunk(
    config: SynthConfig,
    world: World,
    users: NDArray[np.int64],
    lengths: NDArray[np.int64],
    tastes: NDArray[np.int64],
    held_users: NDArray[np.bool_],
    rng: np.random.Generator,
) -> EventChunk:
    """The events of ``users`` (consecutive ids) with their ``lengths``."""
    n = int(lengths.sum())
    owner = np.repeat(np.arange(len(users)), lengths)  # row -> position in ``users``
    starts = np.cumsum(lengths) - lengths
    first = np.zeros(n, bool)
    first[starts] = True
    span = config.days * 86_400.0
    begin = rng.random(len(users)) * 0.9 * span
    window = (span - begin) * rng.uniform(0.2, 1.0, len(users))
    # Uniform times inside each user's window, sorted per user (owner + u sorts by owner first).
    frac = np.sort(owner + rng.random(n)) - owner
    offset = begin[owner] + window[owner] * frac
    epoch = np.minimum((offset / span * EPOCHS).astype(np.int64), EPOCHS - 1)

    kind = rng.random(n)
    is_transition = (kind < config.p_transition) & ~first
    is_noise = (kind >= config.p_transition + config.p_taste) & ~first
    primary = rng.random(n) < config.p_primary
    cluster = np.where(primary, tastes[owner, 0], tastes[owner, 1])
    taste_items = world.sample(rng, epoch, cluster)
    item = np.where(is_noise, world.sample(rng, epoch, None), taste_items)
    item[is_transition] = -1
    choice = rng.integers(0, config.successors, n)
    pending = np.flatnonzero(is_transition)
    while len(pending):  # a chain of transitions resolves left to right, one link per pass
        ready = pending[item[pending - 1] >= 0]
        nxt = world.successors[item[ready - 1], choice[ready]].astype(np.int64)
        # A successor not released yet at this time cannot be chosen: the taste pick stands in.
        item[ready] = np.where(world.release_epoch[nxt] <= epoch[ready], nxt, taste_items[ready])
        pending = pending[item[pending] < 0]
    etype = rng.choice(len(TYPE_NAMES), size=n, p=TYPE_SHARES).astype(np.int8)
    holdout = np.zeros(n, bool)
    holdout[(starts + lengths - 1)[held_users]] = True
    ts = (config.start + offset).astype(np.int64)
    return EventChunk(users[owner], item, ts, etype, holdout)


def _chunks(lengths: NDArray[np.int64], chunk_events: int) -> Iterator[tuple[int, int]]:
    """Ranges of consecutive users holding about ``chunk_events`` events each."""
    ends = np.cumsum(lengths)
    lo = 0
    while lo < len(lengths):
        target = (ends[lo - 1] if lo else 0) + chunk_events
        hi = max(lo + 1, int(np.searchsorted(ends, target, side="right")))
        yield lo, hi
        lo = hi


def _ids(prefix: str, idx: NDArray[np.int64]) -> Any:
    """Arrow strings ``prefix<n>`` for every n in ``idx``, built without Python objects."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(idx), pa.string()), "")


def item_table(config: SynthConfig, world: World, rng: np.random.Generator) -> Any:
    """The catalog as an Arrow table: id, title, year, genres and a description per item.

    Each cluster has two genres (the second used half the time) and twelve theme words; an
    item's words come from its cluster's theme 80% of the time, so text and taste agree.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n, k = config.items, config.n_clusters
    genres = pa.array(GENRES)
    words = pa.array([w.capitalize() for w in WORDS])
    lower = pa.array(WORDS)
    first_genre = rng.integers(0, len(GENRES), k)
    second_genre = (first_genre + rng.integers(1, len(GENRES), k)) % len(GENRES)
    cluster_genres = np.stack([first_genre, second_genre], axis=1)
    theme = rng.integers(0, len(WORDS), (k, 12))
    c = world.cluster.astype(np.int64)

    def word_ids(count: int) -> list[NDArray[np.int64]]:
        picks = []
        for _ in range(count):
            own = theme[c, rng.integers(0, 12, n)]
            picks.append(np.where(rng.random(n) < 0.8, own, rng.integers(0, len(WORDS), n)))
        return picks

    w1, w2 = word_ids(2)
    number = pc.cast(pa.array(rng.integers(1, 1000, n)), pa.string())
    title = pc.binary_join_element_wise(words.take(w1), words.take(w2), number, " ")
    d1, d2, d3 = word_ids(3)
    g1 = genres.take(cluster_genres[c, 0])
    description = pc.binary_join_element_wise(
        "A",
        pc.utf8_lower(g1),
        "story of the",
        lower.take(d1),
        lower.take(d2),
        "and the",
        lower.take(d3),
        " ",
    )
    two = rng.random(n) < 0.5
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(np.where(two, 2, 1), out=offsets[1:])
    flat = np.empty(offsets[-1], np.int64)
    flat[offsets[:-1]] = cluster_genres[c, 0]
    flat[offsets[1:][two] - 1] = cluster_genres[c[two], 1]
    genre_lists = pa.ListArray.from_arrays(pa.array(offsets), genres.take(flat))
    year = world.release_ts.astype("datetime64[s]").astype("datetime64[Y]").astype(np.int32) + 1970
    return pa.table(
        {
            "item_id": _ids("i", np.arange(n)),
            "title": title,
            "year": pa.array(year),
            "genres": genre_lists,
            "description": description,
        }
    )


@dataclass(frozen=True)
class SynthReport:
    """Where the files went and what they hold."""

    directory: Path
    events: int
    holdout: int
    users: int
    items: int
    max_user_events: int
    seconds: float

    def summary(self) -> str:
        """A few lines for the CLI."""
        return (
            f"wrote {self.events:,} events of {self.users:,} users over {self.items:,} items "
            f"(+{self.holdout:,} held-out last events; heaviest user {self.max_user_events:,} "
            f"events) to {self.directory} in {self.seconds:.0f} s"
        )


@dataclass(frozen=True)
class Population:
    """The user side: events per user, two taste clusters each, who has a held-out event."""

    lengths: NDArray[np.int64]
    tastes: NDArray[np.int64]  # (users, 2): primary and secondary cluster
    held: NDArray[np.bool_]

    @classmethod
    def draw(cls, config: SynthConfig, world: World, rng: np.random.Generator) -> Population:
        """Activity, tastes and the holdout sample (users with at least three events)."""
        lengths = user_lengths(config, rng)
        tastes = np.stack(
            [
                rng.choice(config.n_clusters, config.users, p=world.cluster_weight),
                rng.integers(0, config.n_clusters, config.users),
            ],
            axis=1,
        )
        eligible = np.flatnonzero(lengths >= 3)
        held = np.zeros(config.users, bool)
        held[rng.choice(eligible, min(config.holdout_users, len(eligible)), replace=False)] = True
        return cls(lengths, tastes, held)


def write_events(
    config: SynthConfig,
    world: World,
    people: Population,
    directory: Path,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """``events.parquet`` and ``holdout.parquet``, written chunk by chunk of users."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("user_id", pa.string()),
            ("item_id", pa.string()),
            ("timestamp", pa.int64()),
            ("type", pa.string()),
        ]
    )
    type_names = pa.array(TYPE_NAMES)
    written = 0
    with (
        pq.ParquetWriter(directory / "events.parquet", schema) as events,
        pq.ParquetWriter(directory / "holdout.parquet", schema) as holdout,
    ):
        for lo, hi in _chunks(people.lengths, config.chunk_events):
            chunk = generate_chunk(
                config,
                world,
                np.arange(lo, hi, dtype=np.int64),
                people.lengths[lo:hi],
                people.tastes[lo:hi],
                people.held[lo:hi],
                np.random.default_rng([config.seed, lo]),
            )
            for writer, rows in ((events, ~chunk.holdout), (holdout, chunk.holdout)):
                columns = {
                    "user_id": _ids("u", chunk.user[rows]),
                    "item_id": _ids("i", chunk.item[rows]),
                    "timestamp": pa.array(chunk.ts[rows]),
                    "type": type_names.take(pa.array(chunk.etype[rows])),
                }
                writer.write_table(pa.table(columns, schema=schema))
            written += len(chunk.user)
            if progress is not None:
                progress(written, config.events)


def synthesize(
    config: SynthConfig, directory: Path, progress: Callable[[int, int], None] | None = None
) -> SynthReport:
    """Write ``events.parquet``, ``holdout.parquet``, ``items.parquet`` and ``synth.json``.

    Events are generated and written per chunk of about ``chunk_events`` rows, so memory does
    not grow with the dataset. The same config and seed give the same files.
    """
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    world = build_world(config, rng)
    people = Population.draw(config, world, rng)
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(item_table(config, world, rng), directory / "items.parquet")
    write_events(config, world, people, directory, progress)
    n_held = int(people.held.sum())
    report = SynthReport(
        directory=directory,
        events=config.events - n_held,
        holdout=n_held,
        users=config.users,
        items=config.items,
        max_user_events=int(people.lengths.max()),
        seconds=time.perf_counter() - t0,
    )
    doc = {"config": config.model_dump(), "n_clusters": config.n_clusters, **vars(report)}
    doc["directory"] = str(directory)
    (directory / "synth.json").write_text(json.dumps(doc, indent=2))
    return report
