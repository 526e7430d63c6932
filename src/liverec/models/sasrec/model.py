"""SASRec-style causal transformer over behaviour sequences (Kang & McAuley 2018), text-aware.

The recommender around the torch modules of ``net`` (imported lazily: serving runs the ONNX
export without torch); the training loop is in ``train``, the export in ``export``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from liverec.core.errors import ConfigError, NotFittedError
from liverec.data.interactions import Histories, Interactions
from liverec.models.base import IntArray, Recommender, ScoreArray, cosine_neighbours
from liverec.models.sasrec.config import SASRecConfig
from liverec.models.sasrec.sequences import encode_histories

FloatMatrix = NDArray[np.float32]


def _torch() -> Any:
    import torch

    return torch


class SASRec(Recommender):
    """Next-item transformer; scores are the last position's output dotted with item vectors."""

    name: ClassVar[str] = "sasrec"
    Config: ClassVar[type[Any]] = SASRecConfig

    def __init__(self, config: SASRecConfig | None = None) -> None:
        super().__init__(config)
        self.net: Any = None
        self._text: FloatMatrix | None = None
        self.curve: list[dict[str, float]] = []
        self.best_epoch = 0
        self.train_seconds = 0.0

    def set_item_vectors(self, vectors: FloatMatrix | None) -> SASRec:
        """Text embeddings (one row per item) fused into the item representation."""
        self._text = None if vectors is None else np.asarray(vectors, np.float32)
        return self

    def _fit(self, data: Interactions) -> None:
        from liverec.models.sasrec.net import SASRecNet
        from liverec.models.sasrec.train import train

        text = self._text if self.config.text else None
        if text is not None and len(text) != data.n_items:
            raise ConfigError(
                f"{len(text)} item vectors for {data.n_items} items; expected one each"
            )
        _torch().manual_seed(self.config.seed)  # the initial weights are part of the seed
        self.net = SASRecNet(self.config, data.n_items, None if text is None else text.shape[1])
        if text is not None:
            self.net.text[: data.n_items] = _torch().from_numpy(text)
        result = train(self.net, self.histories, self.config)
        self.curve = result.curve
        self.best_epoch = result.best_epoch
        self.train_seconds = result.seconds

    def fitted_net(self) -> Any:
        """The torch module (a ``SASRecNet``).

        Raises
        ------
        NotFittedError
            If the model was neither fitted nor loaded.
        """
        if self.net is None:
            raise NotFittedError(f"{self.name} is not fitted; call fit() or load() first")
        return self.net

    def item_vectors(self) -> FloatMatrix:
        """(n_items, dim) output vectors: what a user's encoding is scored against."""
        torch = _torch()
        net = self.fitted_net()
        with torch.no_grad():
            return np.asarray(net.item_vectors()[: self.n_items].cpu().numpy(), np.float32)

    def input_table(self) -> FloatMatrix:
        """(n_items + 1, dim) first-block inputs per item (scaled vectors; last row: padding)."""
        torch = _torch()
        net = self.fitted_net()
        with torch.no_grad():
            return np.asarray(net.item_vectors().cpu().numpy() * math.sqrt(self.config.dim))

    def text_projection(self) -> tuple[FloatMatrix, FloatMatrix] | None:
        """(weight (dim, text_dim), bias (dim,)) mapping a text embedding to an item vector."""
        net = self.fitted_net()
        if net.text_proj is None:
            return None
        w = net.text_proj.weight.detach().cpu().numpy()
        b = net.text_proj.bias.detach().cpu().numpy()
        return w.astype(np.float32), b.astype(np.float32)

    def gap_table(self) -> FloatMatrix | None:
        """(GAP_BUCKETS, dim) gap embeddings added to the inputs, or None without time gaps."""
        net = self.fitted_net()
        if net.gap is None:
            return None
        return np.asarray(net.gap.weight.detach().cpu().numpy(), np.float32)

    def encode(self, histories: Histories, batch_size: int = 256) -> FloatMatrix:
        """(len(histories), dim) encoding after each history's last event (zeros if empty)."""
        net = self.fitted_net()
        return encode_histories(net, histories, self.config.context, self.config.dim, batch_size)

    def score_histories(self, histories: Histories) -> ScoreArray:
        """Encodings dotted with every item vector."""
        return np.asarray(self.encode(histories) @ self.item_vectors().T, np.float32)

    def similar_items(self, items: IntArray, k: int) -> tuple[IntArray, ScoreArray]:
        """Cosine neighbours among the item vectors."""
        return cosine_neighbours(self.item_vectors(), np.asarray(items, np.int64), k)

    def _state(self) -> dict[str, NDArray[Any]]:
        net = self.fitted_net()
        state = {f"w:{k}": v.detach().cpu().numpy() for k, v in net.state_dict().items()}
        state["curve"] = np.array(
            [[c["epoch"], c["loss"], c["ndcg@10"], c["hr@10"]] for c in self.curve], np.float64
        ).reshape(-1, 4)
        state["best_epoch"] = np.array(self.best_epoch)
        return state

    def _restore(self, state: dict[str, NDArray[Any]]) -> None:
        from liverec.models.sasrec.net import SASRecNet

        torch = _torch()
        weights = {k[2:]: torch.from_numpy(np.array(v)) for k, v in state.items() if k[:2] == "w:"}
        text_dim = weights["text_proj.weight"].shape[1] if "text_proj.weight" in weights else None
        self.net = SASRecNet(self.config, self.n_items, text_dim)
        self.net.load_state_dict(weights)
        self.net.eval()
        self.curve = [
            {"epoch": r[0], "loss": r[1], "ndcg@10": r[2], "hr@10": r[3]} for r in state["curve"]
        ]
        self.best_epoch = int(state["best_epoch"])

    def export_onnx(self, directory: Path, quantize: bool = True) -> dict[str, Path]:
        """Write the transformer as ONNX graphs (prefill and step), plus int8 copies."""
        from liverec.models.sasrec.export import export

        return export(self, directory, quantize)
