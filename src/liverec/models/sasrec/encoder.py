"""The exported SASRec graphs run in ONNX Runtime: per-user state, one step per new event."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from liverec.core.errors import LiverecError
from liverec.data.interactions import Histories
from liverec.models.sasrec.config import SASRecConfig
from liverec.models.sasrec.export import GRAPHS
from liverec.models.sasrec.sequences import gap_bucket, last_events, left_padded

FloatArray = NDArray[np.float32]


@dataclass
class SequenceState:
    """One user's cached keys and values after ``count`` events, and the resulting encoding."""

    k: FloatArray  # (layers, H, W, hd), oldest position first
    v: FloatArray
    valid: NDArray[np.bool_]  # (W,)
    last_ts: float
    count: int
    encoding: FloatArray  # (dim,)


class SequenceEncoder:
    """Encodes users with the exported graphs: prefill once, then one step per new event."""

    def __init__(self, directory: Path, config: SASRecConfig, int8: bool = True, threads: int = 1):
        import onnxruntime as ort

        suffix = "-int8" if int8 else ""
        missing = [g for g in GRAPHS if not (directory / f"{g}{suffix}.onnx").exists()]
        if missing:
            raise LiverecError(f"no exported {', '.join(missing)} graph in {directory}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._sessions = {
            g: ort.InferenceSession(
                str(directory / f"{g}{suffix}.onnx"), opts, providers=["CPUExecutionProvider"]
            )
            for g in GRAPHS
        }
        with np.load(directory / "tables.npz") as z:
            tables = {k: z[k] for k in z.files}
        self.config = config
        self.int8 = int8
        self.n_items = len(tables["item_vectors"])
        self.pad = self.n_items  # the id callers pad sequences with (any id >= n_items is padding)
        table = tables["input_table"].astype(np.float32)
        self._pad_input = table[-1].copy()
        self._input_table = table[:-1]  # row i: item i's first-block input; grows by doubling
        self._item_vectors: FloatArray = tables["item_vectors"].astype(np.float32)
        self.gap_table: FloatArray | None = tables.get("gap_table")
        self._text = (
            (tables["text_weight"], tables["text_bias"]) if "text_weight" in tables else None
        )
        w = config.max_len - 1
        hd = config.dim // config.heads
        self._empty_kv = np.zeros((config.layers, config.heads, w, hd), np.float32)

    @property
    def item_vectors(self) -> FloatArray:
        """(n_items, dim) output vectors, items added after training included."""
        return self._item_vectors[: self.n_items]

    @property
    def text_dim(self) -> int:
        """Width of the text embeddings ``extend`` expects (1 when text is not used)."""
        return 1 if self._text is None else int(self._text[0].shape[1])

    def extend(self, text_vectors: FloatArray) -> None:
        """Add items (newer than the model) whose vectors come from their text alone.

        Tables grow by doubling, so adding one item to a large catalog is not a full copy.
        """
        d = self.config.dim
        if self._text is not None:
            weight, bias = self._text
            vecs = (np.asarray(text_vectors, np.float32) @ weight.T + bias).astype(np.float32)
        else:
            vecs = np.zeros((len(text_vectors), d), np.float32)
        need = self.n_items + len(vecs)
        if need > len(self._item_vectors):
            cap = max(need, 2 * len(self._item_vectors))
            for name in ("_item_vectors", "_input_table"):
                old = getattr(self, name)
                grown = np.zeros((cap, d), np.float32)
                grown[: self.n_items] = old[: self.n_items]
                setattr(self, name, grown)
        self._item_vectors[self.n_items : need] = vecs
        self._input_table[self.n_items : need] = vecs * math.sqrt(d)
        self.n_items = need
        self.pad = need

    def _inputs(self, items: NDArray[np.int64], gaps: NDArray[np.int64]) -> FloatArray:
        items = np.asarray(items, np.int64)
        padding = items >= self.n_items
        x = self._input_table[np.where(padding, 0, items)]
        if padding.any():
            x[padding] = self._pad_input
        if self.gap_table is not None:
            x = x + self.gap_table[gaps]
        out: FloatArray = x.astype(np.float32, copy=False)
        return out

    def prefill(self, items: NDArray[np.int64], ts: NDArray[np.float64]) -> SequenceState | None:
        """State after a history: its last ``config.context`` events matter, and the one before
        them gives the first one's time gap."""
        if not len(items):
            return None
        h = Histories(np.array([0, len(items)]), items, ts, max(int(items.max()) + 1, self.n_items))
        it, g = last_events(h, 0, self.config.context)
        x = self._inputs(it, g)[None]
        out, k, v = self._sessions["prefill"].run(
            None, {"x": x, "real": np.ones((1, len(it)), bool)}
        )
        w = self.config.max_len - 1
        keep = min(w, len(it))
        k_cache, v_cache = self._empty_kv.copy(), self._empty_kv.copy()
        k_cache[:, :, w - keep :] = k[:, 0, :, len(it) - keep :]
        v_cache[:, :, w - keep :] = v[:, 0, :, len(it) - keep :]
        valid = np.zeros(w, bool)
        valid[w - keep :] = True
        return SequenceState(k_cache, v_cache, valid, float(ts[-1]), len(items), out[0, -1])

    def step(
        self, states: list[SequenceState], items: list[int], ts: list[float]
    ) -> list[SequenceState]:
        """Each state advanced by one event (one batched call for all of them)."""
        gaps = np.array([gap_bucket(t - s.last_ts) for s, t in zip(states, ts, strict=True)])
        x = self._inputs(np.asarray(items, np.int64), gaps)
        k = np.stack([s.k for s in states], axis=1)  # (layers, B, H, W, hd)
        v = np.stack([s.v for s in states], axis=1)
        valid = np.stack([s.valid for s in states])
        out, k_new, v_new = self._sessions["step"].run(
            None, {"x": x, "k_cache": k, "v_cache": v, "valid": valid}
        )
        new = []
        for b, s in enumerate(states):
            kb = np.concatenate([s.k[:, :, 1:], k_new[:, b, :, None]], axis=2)
            vb = np.concatenate([s.v[:, :, 1:], v_new[:, b, :, None]], axis=2)
            vb_valid = np.concatenate([s.valid[1:], [True]])
            new.append(SequenceState(kb, vb, vb_valid, float(ts[b]), s.count + 1, out[b]))
        return new

    def encode_histories(self, histories: Histories, batch_size: int = 256) -> FloatArray:
        """(len(histories), dim) encodings after each history's last event, via ``prefill``."""
        out = np.zeros((len(histories), self.config.dim), np.float32)
        for start in range(0, len(histories), batch_size):
            rows = range(start, min(start + batch_size, len(histories)))
            items, gaps, real = left_padded(histories, rows, self.config.context, self.pad)
            h, _, _ = self._sessions["prefill"].run(
                None, {"x": self._inputs(items, gaps), "real": real}
            )
            out[start : start + len(rows)] = np.where(real[:, -1:], h[:, -1], 0.0)
        return out

    def scores(self, encoding: FloatArray) -> FloatArray:
        """Encoding(s) dotted with every item vector."""
        return np.asarray(encoding @ self.item_vectors.T, np.float32)
