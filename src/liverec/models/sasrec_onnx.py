"""The SASRec transformer exported to ONNX Runtime (fp32 and int8), with per-user state.

Two graphs: ``prefill`` runs a whole (left-padded) sequence and returns every layer's keys and
values; ``step`` adds one event to a user's cached keys and values. Embedding lookups and the
final scoring stay in numpy, so items added after training get their vectors from their text
without touching the graphs. int8 is dynamic quantisation of the graphs' weights (the matrix
multiplications of every block), one scale per output channel.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from liverec.core.errors import LiverecError
from liverec.data.interactions import Histories
from liverec.features.text import quantize_int8
from liverec.models.sasrec import SASRec, SASRecConfig, _last, gap_bucket

OPSET = 17
GRAPHS = ("prefill", "step")
FloatArray = NDArray[np.float32]


def export(model: SASRec, directory: Path, quantize: bool = True) -> dict[str, Path]:
    """Write ``prefill.onnx`` and ``step.onnx`` (and ``*-int8.onnx``) plus the numpy tables."""
    import torch

    net = model._require_net().eval()
    c: SASRecConfig = model.config
    directory.mkdir(parents=True, exist_ok=True)
    hd, w = c.dim // c.heads, c.max_len - 1

    class Prefill(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net  # a submodule, so its weights export as initialisers

        def forward(self, x: Any, real: Any) -> Any:
            return self.net.transform(x, real)

    class Step(Prefill):
        def forward(self, x: Any, k: Any, v: Any, valid: Any) -> Any:  # type: ignore[override]
            return self.net.step(x, k, v, valid)

    x3 = torch.zeros(2, 5, c.dim)
    real = torch.ones(2, 5, dtype=torch.bool)
    kv = torch.zeros(c.layers, 2, c.heads, w, hd)
    valid = torch.ones(2, w, dtype=torch.bool)
    paths: dict[str, Path] = {}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python-side shapes, expected
        torch.onnx.export(
            Prefill(),
            (x3, real),
            str(directory / "prefill.onnx"),
            input_names=["x", "real"],
            output_names=["out", "k", "v"],
            dynamic_axes={
                "x": {0: "batch", 1: "time"},
                "real": {0: "batch", 1: "time"},
                "out": {0: "batch", 1: "time"},
                "k": {1: "batch", 3: "time"},
                "v": {1: "batch", 3: "time"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
        torch.onnx.export(
            Step(),
            (x3[:, 0], kv, kv, valid),
            str(directory / "step.onnx"),
            input_names=["x", "k_cache", "v_cache", "valid"],
            output_names=["out", "k", "v"],
            dynamic_axes={
                "x": {0: "batch"},
                "k_cache": {1: "batch"},
                "v_cache": {1: "batch"},
                "valid": {0: "batch"},
                "out": {0: "batch"},
                "k": {1: "batch"},
                "v": {1: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    for g in GRAPHS:
        paths[g] = directory / f"{g}.onnx"
        if quantize:
            paths[f"{g}-int8"] = directory / f"{g}-int8.onnx"
            quantize_int8(paths[g], paths[f"{g}-int8"])
    tables: dict[str, Any] = {
        "input_table": model.input_table(),
        "item_vectors": model.item_vectors(),
    }
    gap = model.gap_table()
    if gap is not None:
        tables["gap_table"] = gap
    proj = model.text_projection()
    if proj is not None:
        tables["text_weight"], tables["text_bias"] = proj
    np.savez(directory / "tables.npz", **tables)
    paths["tables"] = directory / "tables.npz"
    return paths


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
    def uses_text(self) -> bool:
        """Whether item vectors include a projection of the text embedding."""
        return self._text is not None

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
        it, g = _last(h, 0, self.config.context)
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
            seqs = [_last(histories, u, self.config.context) for u in rows]
            T = max(1, max(len(s[0]) for s in seqs))
            items = np.full((len(seqs), T), self.pad, np.int64)
            gaps = np.zeros((len(seqs), T), np.int64)
            real = np.zeros((len(seqs), T), bool)
            for r, (it, g) in enumerate(seqs):
                if len(it):
                    items[r, T - len(it) :], gaps[r, T - len(it) :] = it, g
                    real[r, T - len(it) :] = True
            h, _, _ = self._sessions["prefill"].run(
                None, {"x": self._inputs(items, gaps), "real": real}
            )
            out[start : start + len(seqs)] = np.where(real[:, -1:], h[:, -1], 0.0)
        return out

    def scores(self, encoding: FloatArray) -> FloatArray:
        """Encoding(s) dotted with every item vector."""
        return np.asarray(encoding @ self.item_vectors.T, np.float32)
