"""The SASRec transformer exported to ONNX (fp32 and int8), for ``encoder`` to serve.

Two graphs: ``prefill`` runs a whole (left-padded) sequence and returns every layer's keys and
values; ``step`` adds one event to a user's cached keys and values. Embedding lookups and the
final scoring stay in numpy (``tables.npz``), so items added after training get their vectors
from their text without touching the graphs. int8 is dynamic quantisation of the graphs'
weights (the matrix multiplications of every block), one scale per output channel.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from liverec.features.text import quantize_int8
from liverec.models.sasrec.config import SASRecConfig
from liverec.models.sasrec.model import SASRec

OPSET = 17
GRAPHS = ("prefill", "step")


def export(model: SASRec, directory: Path, quantize: bool = True) -> dict[str, Path]:
    """Write ``prefill.onnx`` and ``step.onnx`` (and ``*-int8.onnx``) plus the numpy tables."""
    import torch

    net = model.fitted_net().eval()
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
