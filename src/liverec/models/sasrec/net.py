"""The SASRec transformer as torch modules, one per concept (imported only where torch is).

Two departures from the paper (Kang & McAuley 2018), both for serving:

- positions are a learned bias per layer, head and distance inside a causal sliding window of
  ``max_len`` items (relative, not absolute), so an output never depends on where a sequence
  starts. A new event then needs one new position computed against the cached keys and values
  of the previous ``max_len - 1`` positions (``step``), and that equals a full recompute.
- an item's vector is its ID embedding plus a learned projection of its MiniLM text embedding,
  so items never seen in training, and items added after it, still have one.

Shapes: B batch, T positions, C model width (``dim``), H heads, hd = C / H, L layers,
W = ``max_len - 1`` cached positions, N items.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor, nn
from torch.nn import functional

from liverec.models.sasrec.config import SASRecConfig
from liverec.models.sasrec.sequences import GAP_BUCKETS


class CausalSelfAttention(nn.Module):
    """Multi-head attention; which keys a query sees comes in as an additive bias."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.dim, self.n_heads, self.head_dim = dim, heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, T, C) -> (B, H, T, hd)."""
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, bias: Tensor, keys: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, T, C) inputs, (H, T, T) position/window bias, (B, 1, T, T) padding bias ->
        (B, T, C) outputs and the keys and values (B, H, T, hd)."""
        B, T, _ = x.shape
        q, k, v = (self.split_heads(t) for t in self.qkv(x).split(self.dim, dim=2))
        att = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim) + bias + keys  # (B, H, T, T)
        att = self.drop(functional.softmax(att, dim=-1))
        y = (att @ v).transpose(1, 2).reshape(B, T, self.dim)  # (B, T, C)
        return self.drop(self.proj(y)), k, v

    def step(
        self, x: Tensor, k_cache: Tensor, v_cache: Tensor, bias: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(B, C) one new position, (B, H, W, hd) caches, (B, H, W + 1) bias ->
        (B, C) output and the new position's keys and values (B, H, 1, hd)."""
        B = x.shape[0]
        q, k, v = (
            t.view(B, self.n_heads, 1, self.head_dim) for t in self.qkv(x).split(self.dim, 1)
        )
        keys = torch.cat([k_cache, k], dim=2)  # (B, H, W + 1, hd)
        values = torch.cat([v_cache, v], dim=2)
        att = (q @ keys.transpose(-2, -1)).squeeze(2) / math.sqrt(self.head_dim) + bias
        y = (functional.softmax(att, dim=-1).unsqueeze(2) @ values).reshape(B, self.dim)
        return self.proj(y), k, v


class Block(nn.Module):
    """Pre-norm transformer block: attention, then a GELU MLP, each added to the residual."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        # attribute names (and creation order) are the saved weights' keys (and the seed's
        # draws): models saved before this layout load unchanged
        self.ln1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, dropout)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        self.drop = nn.Dropout(dropout)

    def mlp(self, x: Tensor) -> Tensor:
        """(B, T, C) -> (B, T, C): the feed-forward half of the block."""
        return self.drop(self.fc2(functional.gelu(self.fc1(self.ln2(x)))))  # type: ignore[no-any-return]


class SASRecNet(nn.Module):
    """Embeddings -> ``layers`` pre-norm blocks of windowed causal attention -> LayerNorm."""

    def __init__(self, config: SASRecConfig, n_items: int, text_dim: int | None) -> None:
        super().__init__()
        c, d = config, config.dim
        self.n_items, self.dim, self.window = n_items, d, c.max_len
        # attribute names (and creation order) are the saved weights' keys (and the seed's
        # draws), so they stay as models were saved with
        self.item = nn.Embedding(n_items + 1, d, padding_idx=n_items)  # last row: padding
        nn.init.normal_(self.item.weight, std=0.02)
        with torch.no_grad():
            self.item.weight[n_items].zero_()
        self.text_proj = nn.Linear(text_dim, d) if text_dim else None
        self.text: Tensor
        self.register_buffer("text", torch.zeros(n_items + 1, text_dim or 1))
        self.gap = nn.Embedding(GAP_BUCKETS, d) if c.time_gaps else None
        self.rel = nn.Parameter(torch.zeros(c.layers, c.heads, c.max_len))  # bias per distance
        self.blocks = nn.ModuleList(Block(d, c.heads, c.dropout) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(d)
        self.drop = nn.Dropout(c.dropout)

    def typed_blocks(self) -> list[Block]:
        """The blocks as ``Block``s (iterating an ``nn.ModuleList`` gives plain modules)."""
        return [cast(Block, b) for b in self.blocks]

    def item_vectors(self) -> Tensor:
        """(N + 1, C) item representations: ID embedding + projected text (last row: padding)."""
        w: Tensor = self.item.weight
        if self.text_proj is not None:
            w = w + self.text_proj(self.text)
        return w

    def embed(self, items: Tensor, gaps: Tensor, table: Tensor | None = None) -> Tensor:
        """(B, T) items and gap buckets -> (B, T, C) inputs of the first block."""
        table = self.item_vectors() if table is None else table
        x = table[items] * math.sqrt(self.dim)
        if self.gap is not None:
            x = x + self.gap(gaps)
        return x

    def window_bias(self, real: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T) real-position flags -> additive attention biases: (L, H, T, T) for
        positions and the causal window, (B, 1, T, T) keeping padding out of the keys."""
        T, window = real.shape[1], self.window
        i = torch.arange(T, device=real.device)
        dist = i[:, None] - i[None, :]  # (T, T) query minus key position
        inside = (dist >= 0) & (dist < window)
        bias = self.rel[:, :, dist.clamp(0, window - 1)]  # (L, H, T, T)
        bias = bias.masked_fill(~inside, float("-inf"))
        # padding is never a key, except to itself (a row of -inf would give NaN)
        keys = real[:, None, :] | (dist == 0)[None]  # (B, T, T)
        zero = torch.zeros((), device=real.device)
        return bias, torch.where(keys, zero, float("-inf"))[:, None]

    def transform(self, x: Tensor, real: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, T, C) inputs -> (B, T, C) outputs, and each layer's keys and values
        (L, B, H, T, hd) - what ``step`` continues from."""
        bias, keys = self.window_bias(real)
        x = self.drop(x)
        ks, vs = [], []
        for li, block in enumerate(self.typed_blocks()):
            y, k, v = block.attn(block.ln1(x), bias[li], keys)
            x = x + y
            x = x + block.mlp(x)
            ks.append(k)
            vs.append(v)
        return self.ln_f(x), torch.stack(ks), torch.stack(vs)

    def forward(self, items: Tensor, gaps: Tensor) -> Tensor:
        """(B, T) item ids (padding = N) and gap buckets -> (B, T, C) outputs."""
        out, _, _ = self.transform(self.embed(items, gaps), items != self.n_items)
        return out

    def step(
        self, x: Tensor, k_cache: Tensor, v_cache: Tensor, valid: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One new position: (B, C) input, caches (L, B, H, W, hd) of the previous W
        positions (oldest first), (B, W) valid flags -> (B, C) output and the new position's
        keys and values (L, B, H, hd)."""
        window = self.window
        dist = torch.arange(window - 1, -1, -1, device=x.device)  # W, W-1, ..., 0
        ok = torch.cat([valid, torch.ones_like(valid[:, :1])], dim=1)  # (B, W + 1)
        ks, vs = [], []
        for li, block in enumerate(self.typed_blocks()):
            bias = self.rel[li][:, dist][None].masked_fill(~ok[:, None], float("-inf"))
            y, k, v = block.attn.step(block.ln1(x), k_cache[li], v_cache[li], bias)
            x = x + y
            x = x + block.mlp(x)
            ks.append(k.squeeze(2))
            vs.append(v.squeeze(2))
        return self.ln_f(x), torch.stack(ks), torch.stack(vs)
