"""The language-model component: MiniLM item embeddings, a content channel and a text feature.

Training encodes the catalog (cached by text, so a retrain re-encodes only changed items) and
indexes the vectors projected on their top singular directions (``search_dims``): the index
proposes candidates, the full vectors score them exactly. Serving encodes items added or
changed since the snapshot when they arrive, so they are recommendable by their text at once.
"""

from __future__ import annotations

import os
import shutil
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from liverec.core.arrays import newest_distinct
from liverec.data.arrowio import mapped
from liverec.data.catalog import Item
from liverec.features.content import ItemVectors, catalog_vectors
from liverec.features.fingerprint import simhash
from liverec.features.request import (
    Context,
    PerRequest,
    RankingFeature,
    Retrieved,
    SharedFeature,
    top_positions,
)
from liverec.features.text import TextConfig, TextEncoder
from liverec.index import VectorIndex
from liverec.index.registry import index_vectors, load_index
from liverec.models.component import Component, Servable, ServeContext, TrainContext

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float32]
SVD_SAMPLE = 50_000  # rows the search basis is fitted on
_STOPWORDS = frozenset(
    {"the", "a", "an", "of", "and", "in", "on", "to", "for", "with", "from", "at", "by", "ii"}
)


class ContentConfig(BaseModel):
    """The text encoder and how its vectors are searched."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    encoder: TextConfig = Field(default_factory=TextConfig)
    search_dims: int = Field(
        128,
        ge=0,
        description="dimensions the index searches in (0 = all); on ML-100K 128 of "
        "384 keep 96% of each top-100 and cut the table scanned by two thirds",
    )
    index: str = Field("auto", description="index kind: auto = exact for small catalogs, IVF above")
    profile_decay: float = Field(
        0.75, gt=0, le=1, description="weight of a history item s steps older than the newest"
    )


@lru_cache(maxsize=4096)
def _words(title: str) -> frozenset[str]:
    words = (t.strip(".,:;!?()'\"").lower() for t in title.split())
    return frozenset(w for w in words if len(w) > 3 and w not in _STOPWORDS)


def content_reason(history_item: Item, item: Item) -> str:
    """ "similar to Toy Story (1995): Animation, Comedy" - shared genres, else shared words."""
    shared = [g for g in item.genres if g in history_item.genres]
    if not shared:
        shared = sorted(_words(item.title) & _words(history_item.title))
    tail = f": {', '.join(shared[:3])}" if shared else ""
    return f"similar to {history_item.display_title}{tail}"


class ContentChannel:
    """Items whose text embedding is closest to the user's profile.

    The profile is the recency-weighted mean of the embeddings of the user's recent items,
    computed once per user and event count: it follows every event and needs no interaction
    data for an item, so it reaches items added a minute ago and users with one click.
    """

    name = "content"

    def __init__(
        self,
        vectors: ItemVectors,
        basis: FloatArray | None,
        index: VectorIndex,
        config: ContentConfig,
        window: int,
        cache_size: int = 10_000,
    ) -> None:
        self.vectors = vectors
        self.basis = basis
        self.index = index
        self.config = config
        self.window = window
        self._profiles: OrderedDict[tuple[int, int], FloatArray | None] = OrderedDict()
        self._cache_size = cache_size

    def profile(self, ctx: Context) -> FloatArray | None:
        """The user's profile vector (None without history or text)."""
        if ctx.uidx is None or not len(ctx.history.items):
            return None
        key = (ctx.uidx, ctx.history.event_count)
        if key in self._profiles:
            return self._profiles[key]
        recent = ctx.history.items[-self.window :]
        uniq, first = np.unique(recent[::-1], return_index=True)
        weights = np.power(self.config.profile_decay, first).astype(np.float32)
        p = self.vectors.profile(uniq, weights)
        self._profiles[key] = p
        if len(self._profiles) > self._cache_size:
            self._profiles.popitem(last=False)
        return p

    def _candidates(
        self, query: FloatArray, n: int, exclude: IntArray | None = None
    ) -> tuple[IntArray, FloatArray]:
        """Index candidates with their scores in the search space, and every item whose
        vector changed since the snapshot scored exactly (the index has its old vector)."""
        q = query @ self.basis if self.basis is not None else query
        ids, scores = self.index.search_one(q, n, exclude)
        changed = self.vectors.changed()
        if not len(changed):
            return ids, scores
        keep = ~np.isin(ids, changed)
        exact = self.vectors.rows(changed) @ query
        return np.r_[ids[keep], changed], np.r_[scores[keep], exact].astype(np.float32)

    def retrieve(self, ctx: Context, n: int) -> Retrieved:
        """Items nearest the profile (index scores: cosine in the search space)."""
        p = self.profile(ctx)
        if p is None:
            return Retrieved.empty()
        # the profile is made of seen items, so some of them are its nearest: leave them out
        cands, scores = self._candidates(p, n + ctx.filter_extra(n), ctx.blocked)
        best = top_positions(cands, scores, ctx, n)
        return Retrieved(cands[best], scores[best], self._reasons(ctx))

    def _reasons(self, ctx: Context) -> Callable[[IntArray], Sequence[str | None]]:
        catalog = ctx.catalog

        def reasons(items: IntArray) -> list[str | None]:
            recent = np.unique(ctx.history.items[-self.window :])
            if catalog is None or not len(items) or not len(recent):
                return [None] * len(items)
            closest = recent[
                np.argmax(self.vectors.rows(recent) @ self.vectors.rows(items).T, axis=0)
            ]
            pairs = zip(catalog.items(closest), catalog.items(items), strict=True)
            return [content_reason(h, it) for h, it in pairs]

        return reasons

    def knows(self, items: IntArray) -> NDArray[np.bool_]:
        """Items with a text vector."""
        return self.vectors.has_text(items)

    def similar(self, item: int, n: int) -> Retrieved:
        """Items with the closest text."""
        query = self.vectors.rows(np.array([item]))[0]
        if not np.any(query):
            return Retrieved.empty()
        cands, _ = self._candidates(query, 4 * n + 1)
        cands = cands[cands != item]
        scores = np.maximum(self.vectors.rows(cands) @ query, 0)
        order = np.lexsort((cands, -scores))[:n]
        return Retrieved(cands[order], scores[order].astype(np.float32))


RECENT_TEXT = 5  # recent distinct history items each candidate's text is compared with


@dataclass(frozen=True)
class TextRelated:
    """Per candidate: the text cosine with the user's profile (None without one), with the
    newest history item, the best over the last ``RECENT_TEXT`` distinct items, and
    ``1 / (1 + steps back)`` to that most similar one."""

    profile: FloatArray | None
    newest: FloatArray
    recent_max: FloatArray
    recency: FloatArray


def text_related(channel: ContentChannel) -> Callable[[Context, IntArray], TextRelated | None]:
    """What the text ranking features read, from one gather of the candidates' vectors."""

    def compute(ctx: Context, items: IntArray) -> TextRelated | None:
        if ctx.uidx is None or not len(ctx.history.items) or not len(items):
            return None
        vectors = channel.vectors.rows(items)
        profile = channel.profile(ctx)
        newest_first = newest_distinct(ctx.history.items[-channel.window :], RECENT_TEXT)
        sims = vectors @ channel.vectors.rows(newest_first).T  # (candidates, recent)
        return TextRelated(
            profile=None if profile is None else vectors @ profile,
            newest=sims[:, 0],
            recent_max=sims.max(axis=1),
            recency=(1.0 / (1.0 + sims.argmax(axis=1))).astype(np.float32),
        )

    return compute


def text_features(channel: ContentChannel) -> tuple[RankingFeature, ...]:
    """The text ranking features; ``text`` (cosine with the profile) also weighs in fusion."""
    related = PerRequest(text_related(channel))
    return (
        SharedFeature("text", related, lambda r: r.profile),
        SharedFeature("text_last", related, lambda r: r.newest),
        SharedFeature("text_recent_max", related, lambda r: r.recent_max),
        SharedFeature("text_recency", related, lambda r: r.recency),
    )


class TextComponent(Component):
    """MiniLM embeddings of the catalog, the content channel, the text-similarity feature."""

    name: ClassVar[str] = "text"
    channel: ClassVar[str | None] = "content"
    Config: ClassVar[type[Any]] = ContentConfig
    summary: ClassVar[str] = "MiniLM text embeddings: content channel, text feature, dedupe"

    def train(self, ctx: TrainContext, out: Path) -> dict[str, Any]:
        """Encode the catalog (cached by text); save vectors, fingerprints, basis and index."""
        cfg = self.config
        with ctx.progress_line("text encoding", "texts") as line:
            vectors, _ = catalog_vectors(
                ctx.data.catalog, cfg.encoder, ctx.models_dir, line, executor=ctx.executor
            )
        ctx.item_vectors = vectors
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "vectors.npy", vectors.astype(np.float16))
        planes = ItemVectors(vectors[:0]).planes
        np.save(out / "fingerprints.npy", simhash(vectors, planes))
        codes = vectors
        if 0 < cfg.search_dims < vectors.shape[1] and len(vectors) > cfg.search_dims:
            rng = np.random.default_rng(0)
            sample = vectors[rng.choice(len(vectors), min(len(vectors), SVD_SAMPLE), False)]
            _, _, vt = np.linalg.svd(sample, full_matrices=False)
            basis = np.ascontiguousarray(vt[: cfg.search_dims].T, dtype=np.float32)
            np.save(out / "basis.npy", basis)
            codes = vectors @ basis
        index = index_vectors(np.ascontiguousarray(codes, np.float32), cfg.index)
        index.save(out / "index")
        meta: dict[str, Any] = {"runtime": cfg.encoder.runtime, "dim": int(vectors.shape[1])}
        if cfg.encoder.runtime.startswith("onnx"):
            from liverec.features.text import export_onnx

            onnx_file = export_onnx(ctx.models_dir, quantize=cfg.encoder.runtime == "onnx-int8")
            for f in (onnx_file, onnx_file.parent / "tokenizer.json"):
                _link_or_copy(f, out / f.name)
            meta["file"] = onnx_file.name
        return meta

    def load(self, directory: Path, meta: dict[str, Any], ctx: ServeContext) -> Servable:
        """Vectors memory-mapped; the encoder opened on the first item that needs it."""
        base = mapped(directory / "vectors.npy")
        vectors = ItemVectors(base, np.load(directory / "fingerprints.npy"))
        basis_file = directory / "basis.npy"
        basis = np.load(basis_file) if basis_file.exists() else None
        channel = ContentChannel(
            vectors, basis, load_index(directory / "index"), self.config, ctx.window
        )
        encoder = _encoder_factory(directory, meta, self.config.encoder)

        def on_items(items: Sequence[tuple[int, Item]]) -> None:
            for idx, item in items:
                vectors.set(idx, encoder().encode_one(item.text()))

        return Servable(
            self.name,
            channel=channel,
            features=text_features(channel),
            similar=channel,
            vectors=vectors,
            on_items=on_items,
        )


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link when possible (no extra space per snapshot), else copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _encoder_factory(
    directory: Path, meta: dict[str, Any], text: TextConfig
) -> Callable[[], TextEncoder]:
    """Opens the snapshot's own encoder the first time an item needs encoding."""
    opened: list[TextEncoder] = []

    def get() -> TextEncoder:
        if not opened:
            from liverec.features.text import load_encoder, open_onnx_encoder

            if "file" in meta:
                opened.append(open_onnx_encoder(directory / meta["file"], text))
            else:
                opened.append(load_encoder(text, directory.parent.parent / ".models"))
        return opened[0]

    return get
