"""The transformer as a servable component: a retrieval channel and a ranking feature, both
reading the per-user encodings of ``encodings``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from liverec.features.histories import UserHistory
from liverec.features.request import Context, Retrieved
from liverec.index import VectorIndex
from liverec.index.registry import auto_kind, index_vectors
from liverec.models.component import Component, Servable, ServeContext, TrainContext
from liverec.models.sasrec.config import SASRecConfig
from liverec.models.sasrec.encoder import SequenceEncoder
from liverec.models.sasrec.encodings import UserEncodings
from liverec.models.sasrec.model import SASRec

FloatArray = NDArray[np.float32]
IntArray = NDArray[np.int64]


class SASRecChannel:
    """Items whose transformer output vector best matches the user's encoding."""

    name = "sasrec"

    def __init__(self, encodings: UserEncodings, index: VectorIndex | None) -> None:
        self.encodings = encodings
        self.index = index  # over the trained items; None: exact search over all of them

    def retrieve(self, ctx: Context, n: int) -> Retrieved:
        """Index candidates plus items newer than the model, re-scored exactly."""
        enc = self.encodings.encoding(ctx)
        if enc is None:
            return Retrieved.empty()
        encoder = self.encodings.encoder
        if self.index is None:
            cands = np.arange(encoder.n_items, dtype=np.int64)
        else:
            ids, _ = self.index.search_one(enc, n + ctx.filter_extra(n), exclude=ctx.blocked)
            newer = np.arange(len(self.index), encoder.n_items, dtype=np.int64)
            cands = np.concatenate([ids, newer])
        scores = encoder.item_vectors[cands] @ enc
        ok = ctx.allowed(cands)
        cands, scores = cands[ok], scores[ok]
        if len(cands) > n:
            part = np.argpartition(-scores, n - 1)[:n]
            cands, scores = cands[part], scores[part]
        order = np.lexsort((cands, -scores))
        last = int(ctx.history.items[-1]) if len(ctx.history.items) else None
        catalog = ctx.catalog

        def reasons(items: IntArray) -> list[str | None]:
            if last is None or catalog is None:
                return [None] * len(items)
            return [f"often chosen next after {catalog.item(last).display_title}"] * len(items)

        return Retrieved(cands[order], scores[order].astype(np.float32), reasons)


class SequenceScore:
    """Ranking feature: the transformer's logits over the candidates, standardised."""

    name = "sasrec"

    def __init__(self, encodings: UserEncodings) -> None:
        self.encodings = encodings

    def __call__(self, ctx: Context, items: IntArray) -> FloatArray | None:
        """z-scored logits of ``items`` (None when the user has no encoding)."""
        enc = self.encodings.encoding(ctx)
        if enc is None or not len(items):
            return None
        logits: FloatArray = self.encodings.encoder.item_vectors[items] @ enc
        std = float(logits.std())
        z: FloatArray = ((logits - logits.mean()) / (std if std > 0 else 1.0)).astype(np.float32)
        return z


class SASRecComponent(Component):
    """The transformer: trained with early stopping, exported to ONNX, served incrementally."""

    name: ClassVar[str] = "sasrec"
    channel: ClassVar[str | None] = "sasrec"
    Config: ClassVar[type[Any]] = SASRecConfig
    needs: ClassVar[tuple[str, ...]] = ("text",)
    optional: ClassVar[bool] = True
    summary: ClassVar[str] = "text-aware SASRec transformer (minutes to train on CPU)"

    def train(self, ctx: TrainContext, out: Path) -> dict[str, Any]:
        """Fit (with the catalog's text vectors when there are some) and export the graphs."""
        config = replace(self.config, progress=ctx.progress or self.config.progress)
        model = SASRec(config).set_item_vectors(ctx.item_vectors)
        model.fit(ctx.data.interactions)
        model.export_onnx(out, quantize=True)
        return {
            "best_epoch": model.best_epoch,
            "valid_ndcg@10": max((c["ndcg@10"] for c in model.curve), default=0.0),
            "curve": model.curve,
            "text": ctx.item_vectors is not None and config.text,
            "train_seconds": model.train_seconds,
        }

    def load(self, directory: Path, meta: dict[str, Any], ctx: ServeContext) -> Servable:
        """The graphs in onnxruntime (int8 unless told otherwise) and per-user states."""
        encoder = SequenceEncoder(directory, self.config, int8=ctx.int8)
        encodings = UserEncodings(encoder, ctx.histories, ctx.vectors)
        index = None
        if auto_kind(*encoder.item_vectors.shape) != "exact":
            index = index_vectors(encoder.item_vectors, "auto")

        def prepare(users: Sequence[tuple[int, UserHistory]]) -> int:
            return encodings.refresh(users)

        return Servable(
            self.name,
            channel=SASRecChannel(encodings, index),
            features=(SequenceScore(encodings),),
            on_items=encodings.add_items,
            prepare=prepare,
            forget_user=encodings.forget,
            info={"encodings": encodings},
        )
