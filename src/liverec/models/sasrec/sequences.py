"""Behaviour sequences as the transformer reads them: time-gap buckets and the last events.

Shared by training (numpy, every history at once), the torch model and the ONNX encoder
(one history, or one new event, at a time), so all three cut and bucket sequences alike.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from liverec.data.interactions import Histories
from liverec.models.base import IntArray

GAP_BUCKETS = 32  # 0: first event; b >= 1: log2(seconds since the previous event + 1) + 1


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


def flat_gap_buckets(histories: Histories) -> NDArray[np.int8]:
    """``gap_buckets`` of every history at once (0 at each history's first event)."""
    ts = np.asarray(histories.ts, np.float64)
    out = np.zeros(len(ts), np.int8)
    if len(ts) > 1:
        gaps = np.maximum(np.diff(ts), 0.0)
        buckets = np.clip(np.floor(np.log2(gaps + 1.0)).astype(np.int64) + 1, 1, GAP_BUCKETS - 1)
        out[1:] = buckets
    out[np.asarray(histories.indptr[:-1][histories.lengths() > 0], np.int64)] = 0
    return out


def last_events(histories: Histories, u: int, n: int) -> tuple[IntArray, IntArray]:
    """The last ``n`` items of history ``u`` and their gap buckets (from the whole history)."""
    lo, hi = histories.indptr[u], histories.indptr[u + 1]
    start = max(lo, hi - n)
    # the first kept event's gap needs the event before it
    ts = histories.ts[max(lo, start - 1) : hi]
    gaps = gap_buckets(ts)[-(hi - start) :] if hi > start else np.zeros(0, np.int64)
    return np.asarray(histories.items[start:hi], np.int64), gaps


def left_padded(
    histories: Histories, rows: range, n: int, pad: int
) -> tuple[IntArray, IntArray, NDArray[np.bool_]]:
    """(B, T) last ``n`` items, gap buckets and real-position flags of histories ``rows``,
    left-padded with ``pad`` so every last event is at T - 1 (T >= 1, even if all are empty)."""
    seqs = [last_events(histories, u, n) for u in rows]
    T = max(1, max((len(s[0]) for s in seqs), default=0))
    items = np.full((len(seqs), T), pad, np.int64)
    gaps = np.zeros((len(seqs), T), np.int64)
    real = np.zeros((len(seqs), T), bool)
    for r, (it, g) in enumerate(seqs):
        if len(it):
            items[r, T - len(it) :], gaps[r, T - len(it) :] = it, g
            real[r, T - len(it) :] = True
    return items, gaps, real


def encode_histories(
    net: Any, histories: Histories, context: int, dim: int, batch_size: int = 256
) -> NDArray[np.float32]:
    """(len(histories), dim) outputs of the torch ``net`` after the last event of each
    history (zeros if empty), from its last ``context`` events, in batches."""
    import torch

    device = next(net.parameters()).device
    out = np.zeros((len(histories), dim), np.float32)
    was_training = net.training
    net.eval()
    for start in range(0, len(histories), batch_size):
        rows = range(start, min(start + batch_size, len(histories)))
        items, gaps, real = left_padded(histories, rows, context, net.n_items)
        with torch.no_grad():
            h = net(torch.from_numpy(items).to(device), torch.from_numpy(gaps).to(device))
        out[start : start + len(rows)] = np.where(real[:, -1:], h[:, -1].cpu().numpy(), 0.0)
    net.train(was_training)
    return out
