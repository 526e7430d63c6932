"""SASRec-style causal transformer over behaviour sequences (Kang & McAuley 2018), text-aware.

Laid out like nanoGPT: a config, small modules with shape comments, the training loop in
``sasrec_train``. Two departures from the paper, both for serving:

- positions are a learned bias per layer, head and distance inside a causal sliding window of
  ``max_len`` items (relative, not absolute), so an output never depends on where a sequence
  starts. A new event then needs one new position computed against the cached keys and values
  of the previous ``max_len - 1`` positions (``step``), and that equals a full recompute.
- an item's vector is its ID embedding plus a learned projection of its MiniLM text embedding,
  so items never seen in training, and items added after it, still have one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from liverec.core.errors import ConfigError, NotFittedError
from liverec.data.interactions import Histories, Interactions
from liverec.models.base import IntArray, Recommender, ScoreArray, cosine_neighbours

GAP_BUCKETS = 32  # 0: first event; b >= 1: log2(seconds since the previous event + 1) + 1
FloatMatrix = NDArray[np.float32]

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


def gap_buckets(ts: NDArray[np.floating[Any]]) -> IntArray:
    """Time-gap bucket of each event of one sequence (log2 of seconds since the previous one)."""
    out = np.zeros(len(ts), np.int64)
    if len(ts) > 1:
        gaps = np.maximum(np.diff(np.asarray(ts, np.float64)), 0.0)
        out[1:] = np.clip(np.floor(np.log2(gaps + 1.0)).astype(np.int64) + 1, 1, GAP_BUCKETS - 1)
    return out


def gap_bucket(seconds: float) -> int:
    """The bucket of one gap, as ``gap_buckets`` computes it for every event after the first."""
    b = math.floor(math.log2(max(seconds, 0.0) + 1.0)) + 1
    return min(max(b, 1), GAP_BUCKETS - 1)


def _torch() -> Any:
    import torch

    return torch


def build_net(config: SASRecConfig, n_items: int, text_dim: int | None) -> Any:
    """The torch module (imported lazily: serving runs the ONNX export without torch)."""
    torch = _torch()
    nn = torch.nn
    functional = torch.nn.functional
    c = config
    d, heads, hd, window = c.dim, c.heads, c.dim // c.heads, c.max_len

    class Attention(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.drop = nn.Dropout(c.dropout)

        def heads(self, x: Any) -> Any:
            B, T, _ = x.shape
            return x.view(B, T, heads, hd).transpose(1, 2)  # (B, H, T, hd)

        def forward(self, x: Any, bias: Any, keys: Any) -> tuple[Any, Any, Any]:
            # x (B, T, d); additive bias (H, T, T): positions and the window; keys (B, 1, T, T)
            B, T, _ = x.shape
            q, k, v = (self.heads(t) for t in self.qkv(x).split(d, dim=2))
            att = q @ k.transpose(-2, -1) / math.sqrt(hd) + bias + keys  # (B, H, T, T)
            att = self.drop(functional.softmax(att, dim=-1))
            y = (att @ v).transpose(1, 2).reshape(B, T, d)
            return self.drop(self.proj(y)), k, v

        def step(self, x: Any, k_cache: Any, v_cache: Any, bias: Any) -> tuple[Any, Any, Any]:
            # x (B, d) one new position; caches (B, H, W, hd), W = window - 1; bias (B, H, W + 1)
            B = x.shape[0]
            q, k, v = (t.view(B, heads, 1, hd) for t in self.qkv(x).split(d, dim=1))
            keys = torch.cat([k_cache, k], dim=2)  # (B, H, W + 1, hd)
            values = torch.cat([v_cache, v], dim=2)
            att = (q @ keys.transpose(-2, -1)).squeeze(2) / math.sqrt(hd) + bias
            y = (functional.softmax(att, dim=-1).unsqueeze(2) @ values).reshape(B, d)
            return self.proj(y), k, v

    class Block(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(d)
            self.attn = Attention()
            self.ln2 = nn.LayerNorm(d)
            self.fc1 = nn.Linear(d, 4 * d)
            self.fc2 = nn.Linear(4 * d, d)
            self.drop = nn.Dropout(c.dropout)

        def mlp(self, x: Any) -> Any:
            return self.drop(self.fc2(functional.gelu(self.fc1(self.ln2(x)))))

    class SASRecNet(nn.Module):  # type: ignore[misc,name-defined]
        """Embeddings -> ``layers`` pre-norm blocks of windowed causal attention -> LayerNorm."""

        def __init__(self) -> None:
            super().__init__()
            self.n_items = n_items
            self.item = nn.Embedding(n_items + 1, d, padding_idx=n_items)  # last row: padding
            nn.init.normal_(self.item.weight, std=0.02)
            with torch.no_grad():
                self.item.weight[n_items].zero_()
            self.text_proj = nn.Linear(text_dim, d) if text_dim else None
            self.register_buffer("text", torch.zeros(n_items + 1, text_dim or 1))
            self.gap = nn.Embedding(GAP_BUCKETS, d) if c.time_gaps else None
            self.rel = nn.Parameter(torch.zeros(c.layers, heads, window))  # bias per distance
            self.blocks = nn.ModuleList(Block() for _ in range(c.layers))
            self.ln_f = nn.LayerNorm(d)
            self.drop = nn.Dropout(c.dropout)

        def item_vectors(self) -> Any:
            """(n_items + 1, d) item representations: ID embedding + projected text."""
            w = self.item.weight
            if self.text_proj is not None:
                w = w + self.text_proj(self.text)
            return w

        def embed(self, items: Any, gaps: Any, table: Any | None = None) -> Any:
            """(B, T) items and gap buckets -> (B, T, d) inputs of the first block."""
            table = self.item_vectors() if table is None else table
            x = table[items] * math.sqrt(d)
            if self.gap is not None:
                x = x + self.gap(gaps)
            return x

        def window_bias(self, real: Any) -> tuple[Any, Any]:
            """(B, T) real-position flags -> additive attention biases: (layers, H, T, T) for
            positions and the causal window, (B, 1, T, T) keeping padding out of the keys."""
            T = real.shape[1]
            i = torch.arange(T, device=real.device)
            dist = i[:, None] - i[None, :]  # (T, T) query minus key position
            inside = (dist >= 0) & (dist < window)
            bias = self.rel[:, :, dist.clamp(0, window - 1)]  # (layers, H, T, T)
            bias = bias.masked_fill(~inside, float("-inf"))
            # padding is never a key, except to itself (a row of -inf would give NaN)
            keys = real[:, None, :] | (dist == 0)[None]  # (B, T, T)
            zero = torch.zeros((), device=real.device)
            return bias, torch.where(keys, zero, float("-inf"))[:, None]

        def transform(self, x: Any, real: Any) -> tuple[Any, Any, Any]:
            """(B, T, d) inputs -> (B, T, d) outputs, and each layer's keys and values
            (layers, B, H, T, hd) - what ``step`` continues from."""
            bias, keys = self.window_bias(real)
            x = self.drop(x)
            ks, vs = [], []
            for li, block in enumerate(self.blocks):
                y, k, v = block.attn(block.ln1(x), bias[li], keys)
                x = x + y
                x = x + block.mlp(x)
                ks.append(k)
                vs.append(v)
            return self.ln_f(x), torch.stack(ks), torch.stack(vs)

        def forward(self, items: Any, gaps: Any) -> Any:
            """(B, T) item ids (padding = n_items) and gap buckets -> (B, T, d) outputs."""
            out, _, _ = self.transform(self.embed(items, gaps), items != self.n_items)
            return out

        def step(self, x: Any, k_cache: Any, v_cache: Any, valid: Any) -> tuple[Any, Any, Any]:
            """One new position: (B, d) input, caches (layers, B, H, W, hd) of the previous
            W = max_len - 1 positions (oldest first), (B, W) valid flags -> (B, d) output and
            the new position's keys and values (layers, B, H, hd)."""
            dist = torch.arange(window - 1, -1, -1, device=x.device)  # W, W-1, ..., 0
            ok = torch.cat([valid, torch.ones_like(valid[:, :1])], dim=1)  # (B, W + 1)
            ks, vs = [], []
            for li, block in enumerate(self.blocks):
                bias = self.rel[li][:, dist][None].masked_fill(~ok[:, None], float("-inf"))
                y, k, v = block.attn.step(block.ln1(x), k_cache[li], v_cache[li], bias)
                x = x + y
                x = x + block.mlp(x)
                ks.append(k.squeeze(2))
                vs.append(v.squeeze(2))
            return self.ln_f(x), torch.stack(ks), torch.stack(vs)

    return SASRecNet()


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
        from liverec.models.sasrec_train import train

        text = self._text if self.config.text else None
        if text is not None and len(text) != data.n_items:
            raise ConfigError(
                f"{len(text)} item vectors for {data.n_items} items; expected one each"
            )
        _torch().manual_seed(self.config.seed)  # the initial weights are part of the seed
        self.net = build_net(self.config, data.n_items, None if text is None else text.shape[1])
        if text is not None:
            self.net.text[: data.n_items] = _torch().from_numpy(text)
        result = train(self.net, self.histories, self.config)
        self.curve = result.curve
        self.best_epoch = result.best_epoch
        self.train_seconds = result.seconds

    def _require_net(self) -> Any:
        if self.net is None:
            raise NotFittedError(f"{self.name} is not fitted; call fit() or load() first")
        return self.net

    def item_vectors(self) -> FloatMatrix:
        """(n_items, dim) output vectors: what a user's encoding is scored against."""
        torch = _torch()
        net = self._require_net()
        with torch.no_grad():
            return np.asarray(net.item_vectors()[: self.n_items].cpu().numpy(), np.float32)

    def input_table(self) -> FloatMatrix:
        """(n_items + 1, dim) first-block inputs per item (scaled vectors; last row: padding)."""
        torch = _torch()
        net = self._require_net()
        with torch.no_grad():
            return np.asarray(net.item_vectors().cpu().numpy() * math.sqrt(self.config.dim))

    def text_projection(self) -> tuple[FloatMatrix, FloatMatrix] | None:
        """(weight (dim, text_dim), bias (dim,)) mapping a text embedding to an item vector."""
        net = self._require_net()
        if net.text_proj is None:
            return None
        w = net.text_proj.weight.detach().cpu().numpy()
        b = net.text_proj.bias.detach().cpu().numpy()
        return w.astype(np.float32), b.astype(np.float32)

    def gap_table(self) -> FloatMatrix | None:
        """(GAP_BUCKETS, dim) gap embeddings added to the inputs, or None without time gaps."""
        net = self._require_net()
        if net.gap is None:
            return None
        return np.asarray(net.gap.weight.detach().cpu().numpy(), np.float32)

    def encode(self, histories: Histories, batch_size: int = 256) -> FloatMatrix:
        """(len(histories), dim) encoding after each history's last event (zeros if empty)."""
        net = self._require_net()
        return encode_histories(net, histories, self.config, batch_size)

    def score_histories(self, histories: Histories) -> ScoreArray:
        """Encodings dotted with every item vector."""
        return np.asarray(self.encode(histories) @ self.item_vectors().T, np.float32)

    def similar_items(self, items: IntArray, k: int) -> tuple[IntArray, ScoreArray]:
        """Cosine neighbours among the item vectors."""
        return cosine_neighbours(self.item_vectors(), np.asarray(items, np.int64), k)

    def _state(self) -> dict[str, NDArray[Any]]:
        net = self._require_net()
        state = {f"w:{k}": v.detach().cpu().numpy() for k, v in net.state_dict().items()}
        state["curve"] = np.array(
            [[c["epoch"], c["loss"], c["ndcg@10"], c["hr@10"]] for c in self.curve], np.float64
        ).reshape(-1, 4)
        state["best_epoch"] = np.array(self.best_epoch)
        return state

    def _restore(self, state: dict[str, NDArray[Any]]) -> None:
        torch = _torch()
        weights = {k[2:]: torch.from_numpy(np.array(v)) for k, v in state.items() if k[:2] == "w:"}
        text_dim = weights["text_proj.weight"].shape[1] if "text_proj.weight" in weights else None
        self.net = build_net(self.config, self.n_items, text_dim)
        self.net.load_state_dict(weights)
        self.net.eval()
        self.curve = [
            {"epoch": r[0], "loss": r[1], "ndcg@10": r[2], "hr@10": r[3]} for r in state["curve"]
        ]
        self.best_epoch = int(state["best_epoch"])

    def export_onnx(self, directory: Path, quantize: bool = True) -> dict[str, Path]:
        """Write the transformer as ONNX graphs (prefill and step), plus int8 copies."""
        from liverec.models.sasrec_onnx import export

        return export(self, directory, quantize)


def encode_histories(
    net: Any, histories: Histories, config: SASRecConfig, batch_size: int = 256
) -> FloatMatrix:
    """Outputs after the last event of each history, through the torch module, in batches."""
    torch = _torch()
    device = next(net.parameters()).device
    pad = net.n_items
    ctx = config.context
    out = np.zeros((len(histories), config.dim), np.float32)
    was_training = net.training
    net.eval()
    for start in range(0, len(histories), batch_size):
        rows = range(start, min(start + batch_size, len(histories)))
        seqs = [_last(histories, u, ctx) for u in rows]
        T = max(1, max(len(s[0]) for s in seqs))
        items = np.full((len(seqs), T), pad, np.int64)
        gaps = np.zeros((len(seqs), T), np.int64)
        for r, (it, g) in enumerate(seqs):  # left padding: the last event is at T - 1
            if len(it):
                items[r, T - len(it) :] = it
                gaps[r, T - len(it) :] = g
        with torch.no_grad():
            h = net(torch.from_numpy(items).to(device), torch.from_numpy(gaps).to(device))
        out[start : start + len(seqs)] = h[:, -1].cpu().numpy()
        empty = [r for r, s in enumerate(seqs) if not len(s[0])]
        out[[start + r for r in empty]] = 0.0
    net.train(was_training)
    return out


def _last(histories: Histories, u: int, n: int) -> tuple[IntArray, IntArray]:
    """The last ``n`` items of history ``u`` and their gap buckets (from the whole history)."""
    lo, hi = histories.indptr[u], histories.indptr[u + 1]
    start = max(lo, hi - n)
    # the first kept event's gap needs the event before it
    ts = histories.ts[max(lo, start - 1) : hi]
    gaps = gap_buckets(ts)[-(hi - start) :] if hi > start else np.zeros(0, np.int64)
    return np.asarray(histories.items[start:hi], np.int64), gaps
