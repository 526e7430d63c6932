"""The text encoder: every runtime against the sentence-transformers reference, the ONNX cache,
and a serving process that never imports torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from liverec.core.errors import ConfigError, LiverecError
from liverec.data.dataset import Dataset
from liverec.features import text
from liverec.features.text import (
    RUNTIMES,
    TextConfig,
    TextEncoder,
    _mean_pool,
    export_onnx,
    load_encoder,
    open_onnx_encoder,
)

STAR_WARS = "Star Wars (1977). Genres: Action, Adventure, Sci-Fi"
JEDI = "Return of the Jedi (1983). Genres: Action, Adventure, Sci-Fi"
SENSE = "Sense and Sensibility (1995). Genres: Drama, Romance"


def shared_text_cache(factory: pytest.TempPathFactory) -> Path:
    """The session's ONNX export folder: one fixed path, so every test module reuses it."""
    path = factory.getbasetemp() / "text-models"
    export_onnx(path, quantize=True)  # exports fp32 first, then quantises it
    return path


@pytest.fixture(scope="session")
def text_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fp32 and int8 exports, made once per test session."""
    return shared_text_cache(tmp_path_factory)


@pytest.fixture(scope="session")
def encoder(text_cache: Path) -> Callable[[str], TextEncoder]:
    """Each runtime's encoder (1 thread), loaded once per session on first use."""
    loaded: dict[str, TextEncoder] = {}

    def get(runtime: str) -> TextEncoder:
        if runtime not in loaded:
            loaded[runtime] = load_encoder(TextConfig(runtime=runtime), text_cache)
        return loaded[runtime]

    return get


@pytest.fixture(scope="session")
def titles(ml100k: Dataset) -> list[str]:
    """20 real item texts spread over the ML-100K catalog."""
    return [it.text() for it in ml100k.catalog[:: len(ml100k.catalog) // 20][:20]]


@pytest.fixture(scope="session")
def reference(encoder: Callable[[str], TextEncoder], titles: list[str]) -> NDArray[np.float32]:
    """The torch-fp32 (sentence-transformers) vectors of ``titles``."""
    return encoder("torch-fp32").encode(titles)


class RecordingEncoder(TextEncoder):
    """A fake runtime: a text's vector is a function of the text; batches are recorded."""

    def __init__(self, config: TextConfig) -> None:
        super().__init__(config)
        self.batches: list[list[str]] = []

    def _lengths(self, texts: list[str]) -> NDArray[np.int64]:
        return np.array([len(t) for t in texts], dtype=np.int64)

    def _embed(self, texts: list[str]) -> NDArray[np.float32]:
        self.batches.append(texts)
        v = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, t in enumerate(texts):
            v[row, len(t) % self.dim] = 1.0
        return v


# Fast: configuration, errors and the base class's batching, no model needed.


def test_unknown_runtime_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"'tensorrt'.*torch-fp32, onnx-fp32, onnx-int8"):
        TextConfig(runtime="tensorrt")
    with pytest.raises(ConfigError, match="tensorrt"):
        load_encoder(TextConfig.model_construct(runtime="tensorrt"))


def test_config_rejects_unknown_keys_and_bad_sizes() -> None:
    with pytest.raises(ValueError, match="threds"):
        TextConfig(threds=2)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="threads"):
        TextConfig(threads=0)


@pytest.mark.parametrize("runtime", ["onnx-fp32", "onnx-int8"])
def test_onnx_runtime_without_a_cache_dir_is_a_config_error(runtime: str) -> None:
    with pytest.raises(ConfigError, match="cache_dir"):
        load_encoder(TextConfig(runtime=runtime))


def test_missing_onnxruntime_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(LiverecError, match="pip install onnxruntime"):
        open_onnx_encoder(tmp_path / "m.onnx", TextConfig())


def test_missing_torch_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(LiverecError, match="pip install torch sentence-transformers"):
        load_encoder(TextConfig(runtime="torch-fp32"))


def test_batches_are_sorted_by_length_and_rows_come_back_in_input_order() -> None:
    enc = RecordingEncoder(TextConfig(batch_size=2))
    texts = ["bb", "a", "dddd", "ccc", "eeeee"]
    out = enc.encode(texts)
    assert enc.batches == [["eeeee", "dddd"], ["ccc", "bb"], ["a"]]
    assert [int(np.argmax(row)) for row in out] == [len(t) for t in texts]
    assert out.dtype == np.float32 and out.shape == (5, 384)


def test_encode_reports_progress_after_every_batch() -> None:
    calls: list[tuple[int, int]] = []
    texts = ["bb", "a", "dddd", "ccc", "eeeee"]
    RecordingEncoder(TextConfig(batch_size=2)).encode(
        texts, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_encode_takes_a_sequence_and_handles_an_empty_one() -> None:
    enc = RecordingEncoder(TextConfig())
    with pytest.raises(TypeError, match="encode_one"):
        enc.encode("one string")
    with pytest.raises(ValueError, match="batch_size"):
        enc.encode(["a"], batch_size=0)
    assert enc.encode([]).shape == (0, 384)
    assert enc.encode_one("abc").shape == (384,)


def test_mean_pooling_ignores_padding_and_normalises() -> None:
    hidden = np.array([[[3.0, 0.0], [0.0, 4.0], [100.0, 100.0]]], dtype=np.float32)  # (1, 3, 2)
    mask = np.array([[1, 1, 0]], dtype=np.int64)
    np.testing.assert_allclose(_mean_pool(hidden, mask), [[0.6, 0.8]], rtol=1e-6)


# The real model: these share the session's export (about 10 s once) and encoders.


@pytest.mark.slow
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_runtime_returns_unit_norm_float32_rows(
    encoder: Callable[[str], TextEncoder], titles: list[str], runtime: str
) -> None:
    enc = encoder(runtime)
    v = enc.encode(titles)
    assert (enc.runtime, enc.dim) == (runtime, 384)
    assert v.dtype == np.float32 and v.shape == (len(titles), 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    one = enc.encode_one(titles[0])
    assert one.dtype == np.float32 and one.shape == (384,)


@pytest.mark.slow
def test_onnx_fp32_matches_the_torch_reference(
    encoder: Callable[[str], TextEncoder], titles: list[str], reference: NDArray[np.float32]
) -> None:
    cos = (encoder("onnx-fp32").encode(titles) * reference).sum(axis=1)
    assert cos.min() >= 0.9999


@pytest.mark.slow
def test_onnx_int8_stays_close_to_the_torch_reference(
    encoder: Callable[[str], TextEncoder], titles: list[str], reference: NDArray[np.float32]
) -> None:
    cos = (encoder("onnx-int8").encode(titles) * reference).sum(axis=1)
    assert cos.min() >= 0.97
    assert cos.mean() >= 0.99


@pytest.mark.slow
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_sequel_is_closer_than_a_film_of_another_genre(
    encoder: Callable[[str], TextEncoder], runtime: str
) -> None:
    star_wars, jedi, sense = encoder(runtime).encode([STAR_WARS, JEDI, SENSE])
    assert star_wars @ jedi > star_wars @ sense + 0.2


@pytest.mark.slow
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_encode_returns_input_order_whatever_the_batching(
    encoder: Callable[[str], TextEncoder], runtime: str
) -> None:
    enc = encoder(runtime)
    texts = ["Heat", SENSE, "Toy Story (1995)", JEDI, "Fargo", STAR_WARS, "A"]
    batched = enc.encode(texts, batch_size=3)
    shuffled = enc.encode(texts[::-1], batch_size=2)[::-1]
    one_by_one = np.stack([enc.encode_one(t) for t in texts])
    if runtime == "onnx-int8":
        # Dynamic quantisation scales activations per batch (padding included), so the same
        # text in another batch moves by up to ~0.02 in cosine: each row must still be its
        # own text's, and nearest to it.
        for other in (one_by_one, shuffled):
            sims = batched @ other.T  # (7, 7)
            assert np.diag(sims).min() >= 0.97
            assert sims.argmax(axis=1).tolist() == list(range(len(texts)))
    else:
        np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
        np.testing.assert_allclose(batched, shuffled, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_encode_one_is_encode_of_a_list_of_one(
    encoder: Callable[[str], TextEncoder], runtime: str
) -> None:
    enc = encoder(runtime)
    np.testing.assert_array_equal(enc.encode_one(JEDI), enc.encode([JEDI])[0])


@pytest.mark.slow
def test_a_second_export_reuses_the_cached_files(
    text_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_: object) -> None:
        raise AssertionError("exported again")

    fp32, int8 = export_onnx(text_cache, False), export_onnx(text_cache, True)
    before = {p: p.stat().st_mtime_ns for p in text_cache.rglob("*")}
    monkeypatch.setattr(text, "_export_fp32", fail)
    monkeypatch.setattr(text, "quantize_int8", fail)
    assert export_onnx(text_cache, False) == fp32
    assert export_onnx(text_cache, True) == int8
    assert {p: p.stat().st_mtime_ns for p in text_cache.rglob("*")} == before
    assert {fp32.name, int8.name, "tokenizer.json"} <= {p.name for p in fp32.parent.iterdir()}
    assert not [p for p in fp32.parent.iterdir() if p.name.startswith(".tmp-")]
    assert json.loads(int8.with_suffix(".json").read_text())["runtime"] == "onnx-int8"
    assert int8.stat().st_size < fp32.stat().st_size / 3


@pytest.mark.slow
def test_a_damaged_export_is_made_again(
    text_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_: object) -> None:
        raise AssertionError("the valid fp32 file was exported again")

    cache = tmp_path / "models"
    shutil.copytree(text_cache, cache)
    int8 = export_onnx(cache, True)
    int8.write_bytes(int8.read_bytes()[:1000])  # a torn write from an older, non-atomic tool
    monkeypatch.setattr(text, "_export_fp32", fail)
    assert export_onnx(cache, True) == int8
    assert int8.stat().st_size == (text_cache / int8.relative_to(cache)).stat().st_size


@pytest.mark.slow
def test_a_copied_model_opens_with_the_tokenizer_beside_it(
    encoder: Callable[[str], TextEncoder], text_cache: Path, tmp_path: Path
) -> None:
    int8 = export_onnx(text_cache, True)
    shutil.copy(int8, tmp_path / "encoder.onnx")
    with pytest.raises(ConfigError, match=r"tokenizer\.json"):
        open_onnx_encoder(tmp_path / "encoder.onnx", TextConfig(runtime="onnx-int8"))
    shutil.copy(int8.parent / "tokenizer.json", tmp_path)
    enc = open_onnx_encoder(tmp_path / "encoder.onnx", TextConfig(runtime="onnx-int8"))
    np.testing.assert_array_equal(enc.encode_one(JEDI), encoder("onnx-int8").encode_one(JEDI))
    with pytest.raises(ConfigError, match="onnx-int8 model, not onnx-fp32"):
        open_onnx_encoder(int8, TextConfig(runtime="onnx-fp32"))


@pytest.mark.slow
def test_serving_the_onnx_encoder_does_not_import_torch(text_cache: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from liverec.features.text import TextConfig, load_encoder\n"
        f"enc = load_encoder(TextConfig(runtime='onnx-int8'), Path({str(text_cache)!r}))\n"
        "assert enc.encode_one('Heat (1995)').shape == (384,)\n"
        "assert enc.encode(['a', 'bb']).shape == (2, 384)\n"
        "heavy = {'torch', 'transformers', 'sentence_transformers'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
