"""The two ranker heads: LightGBM trees (LambdaRank or binary), and a logistic (BCE) baseline.

Both take the same candidate-feature matrix (NaN where a feature says nothing: LightGBM routes
missing values itself; the logistic head reads them as the training mean) and return one score
per row, higher first. Each saves into and loads from a folder of its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from liverec.models.ranker.examples import RankingExamples, group_ndcg
from liverec.models.ranker.trees import TreeEnsemble

FloatMatrix = NDArray[np.float32]


class RankerHead(Protocol):
    """A fitted scoring function over candidate features."""

    kind: ClassVar[str]

    def score(self, features: FloatMatrix) -> NDArray[np.float32]:
        """One score per row (higher ranks first)."""

    def save(self, directory: Path) -> None:
        """Write what ``load`` reads."""


class BoostedTreesHead:
    """LightGBM gradient-boosted trees, fitted on a ranking (LambdaRank: each group's NDCG)
    or a pointwise (binary cross-entropy) objective."""

    kind: ClassVar[str] = "lightgbm"
    # what early stopping watches per objective: LambdaRank's own NDCG@10, and for the
    # pointwise objective its loss, which moves smoothly where NDCG@10 of one relevant item per
    # group jumps (on ML-100K it ended LambdaRank after 20 trees at one seed and 74 at
    # another: docs/results.md, "The binary objective and three more features")
    STOP_METRIC: ClassVar[dict[str, dict[str, Any]]] = {
        "lambdarank": {"metric": "ndcg", "eval_at": [10]},
        "binary": {"metric": "binary_logloss"},
    }

    def __init__(self, booster: Any) -> None:
        self.booster = booster
        self.trees = TreeEnsemble.from_dump(
            booster.dump_model(num_iteration=booster.best_iteration or None)
        )

    @classmethod
    def fit(
        cls,
        train: RankingExamples,
        valid: RankingExamples,
        params: dict[str, Any],
        rounds: int,
        objective: str = "lambdarank",
        patience: int = 30,
    ) -> BoostedTreesHead:
        """Boost up to ``rounds`` trees, stopping when the validation metric has not improved
        for ``patience`` rounds."""
        import lightgbm as lgb

        train_set = lgb.Dataset(
            train.features, train.labels, group=train.groups, feature_name=list(train.names)
        )
        valid_set = lgb.Dataset(
            valid.features, valid.labels, group=valid.groups, reference=train_set
        )
        booster = lgb.train(
            {
                "objective": objective,
                **cls.STOP_METRIC[objective],
                "verbosity": -1,
                "num_threads": 2,
                **params,
            },
            train_set,
            num_boost_round=rounds,
            valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(patience, verbose=False)],
        )
        return cls(booster)

    def score(self, features: FloatMatrix) -> NDArray[np.float32]:
        """Sum of the trees' leaf values per row (the compiled walk, not ``Booster.predict``)."""
        return self.trees.predict(features)

    def save(self, directory: Path) -> None:
        """The model as LightGBM's text format."""
        self.booster.save_model(
            str(directory / "lightgbm.txt"), num_iteration=self.booster.best_iteration or None
        )

    @classmethod
    def load(cls, directory: Path) -> BoostedTreesHead:
        """Inverse of ``save``."""
        import lightgbm as lgb

        return cls(lgb.Booster(model_file=str(directory / "lightgbm.txt")))

    def importance(self, names: tuple[str, ...]) -> dict[str, float]:
        """Each feature's share of the total split gain, largest first."""
        gain = self.booster.feature_importance(importance_type="gain")
        total = float(gain.sum()) or 1.0
        pairs = sorted(zip(names, gain.tolist(), strict=True), key=lambda p: -p[1])
        return {name: round(g / total, 4) for name, g in pairs}


class LogisticHead:
    """``sigmoid(w . standardised(x) + b)`` fitted with binary cross-entropy (the seeds' head)."""

    kind: ClassVar[str] = "logistic"

    def __init__(
        self, mean: FloatMatrix, scale: FloatMatrix, weights: FloatMatrix, bias: float
    ) -> None:
        self.mean, self.scale = mean, scale
        self.weights, self.bias = weights, bias

    @classmethod
    def fit(cls, train: RankingExamples, l2: float, seed: int) -> LogisticHead:
        """Standardise, then minimise BCE + ``l2``·|w|² with L-BFGS (convex: one optimum)."""
        import torch

        x = train.features.astype(np.float64)
        known = ~np.isnan(x)
        count = np.maximum(known.sum(axis=0), 1)  # a feature may be missing everywhere
        mean = np.where(known, x, 0.0).sum(axis=0) / count
        var = np.where(known, (x - mean) ** 2, 0.0).sum(axis=0) / count
        scale = np.where(var < 1e-18, 1.0, np.sqrt(var))
        z = np.nan_to_num((x - mean) / scale)
        torch.manual_seed(seed)
        xt = torch.from_numpy(z)
        yt = torch.from_numpy(train.labels.astype(np.float64))
        linear = torch.nn.Linear(x.shape[1], 1, dtype=torch.float64)
        opt = torch.optim.LBFGS(linear.parameters(), max_iter=200, line_search_fn="strong_wolfe")
        loss_fn = torch.nn.BCEWithLogitsLoss()

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss: torch.Tensor = loss_fn(linear(xt).squeeze(1), yt)
            loss = loss + l2 * linear.weight.pow(2).sum()
            loss.backward()  # type: ignore[no-untyped-call]
            return loss

        opt.step(closure)  # type: ignore[no-untyped-call]
        w = linear.weight.detach().numpy()[0].astype(np.float32)
        b = float(linear.bias.detach().numpy()[0])
        return cls(mean.astype(np.float32), scale.astype(np.float32), w, b)

    def score(self, features: FloatMatrix) -> NDArray[np.float32]:
        """The logit (a monotone map of the probability, so it ranks the same)."""
        z = np.nan_to_num((features - self.mean) / self.scale)
        logits: NDArray[np.float32] = (z @ self.weights + np.float32(self.bias)).astype(np.float32)
        return logits

    def save(self, directory: Path) -> None:
        """Standardisation and weights as one npz."""
        np.savez(
            directory / "logistic.npz",
            mean=self.mean,
            scale=self.scale,
            weights=self.weights,
            bias=np.float32(self.bias),
        )

    @classmethod
    def load(cls, directory: Path) -> LogisticHead:
        """Inverse of ``save``."""
        with np.load(directory / "logistic.npz") as f:
            return cls(f["mean"], f["scale"], f["weights"], float(f["bias"]))


HEADS: dict[str, Any] = {BoostedTreesHead.kind: BoostedTreesHead, LogisticHead.kind: LogisticHead}


def load_head(directory: Path) -> RankerHead:
    """The head ``save_head`` wrote into ``directory``."""
    kind = json.loads((directory / "head.json").read_text())["kind"]
    head: RankerHead = HEADS[kind].load(directory)
    return head


def save_head(head: RankerHead, directory: Path) -> None:
    """Write ``head`` and which kind it is."""
    directory.mkdir(parents=True, exist_ok=True)
    head.save(directory)
    (directory / "head.json").write_text(json.dumps({"kind": head.kind}))


def validation_ndcg(head: RankerHead, valid: RankingExamples) -> float:
    """NDCG@10 of the head's order on the validation groups."""
    return group_ndcg(head.score(valid.features), valid)
