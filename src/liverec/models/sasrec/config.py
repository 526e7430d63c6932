"""Architecture, item features and training schedule of the SASRec transformer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from liverec.core.errors import ConfigError

SEARCH_SPACE: dict[str, list[Any]] = {
    "dropout": [0.2, 0.3, 0.5],
    "max_len": [50, 100],
    "weight_decay": [0.0, 0.01, 0.1],
}


@dataclass(frozen=True)
class SASRecConfig:
    """Architecture, item features and training schedule of the transformer.

    ``sampled_softmax_above``: catalogs larger than this train on ``negatives`` shared sampled
    items with the logQ correction instead of the full softmax over every item.
    ``eval_every`` and ``patience`` are in epochs; training stops when validation NDCG@10 has
    not improved for ``patience`` epochs and keeps the best checkpoint, which then trains
    ``finetune_epochs`` more epochs on all the data, held-out last events included.
    ``train_window``: only each user's most recent events train (0: all of them).
    ``time_budget_s``: training (fine-tuning included) stops once this much time has passed
    and keeps the best checkpoint validated so far (0: no budget). ``valid_users``: held-out
    users sampled for early stopping (full ranking over the catalog, in batches).
    ``progress``: report epochs with a rate and ETA on stderr, and why training stopped early.
    """

    max_len: int = 50
    dim: int = 64
    heads: int = 2
    layers: int = 2
    dropout: float = 0.5
    time_gaps: bool = True
    text: bool = True
    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    max_epochs: int = 100
    eval_every: int = 4
    patience: int = 40
    finetune_epochs: int = 5
    chunk: int = 200
    sampled_softmax_above: int = 20_000
    negatives: int = 1024
    seed: int = 0
    device: str = "auto"
    progress: bool = False
    train_window: int = 0
    time_budget_s: float = 0.0
    valid_users: int = 10_000

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ConfigError(f"dim {self.dim} must be a multiple of heads {self.heads}")
        if self.max_len < 2:
            raise ConfigError(f"max_len must be at least 2, got {self.max_len}")

    @property
    def context(self) -> int:
        """Items that can influence the last output: each layer looks ``max_len - 1`` back."""
        return self.layers * (self.max_len - 1) + 1
