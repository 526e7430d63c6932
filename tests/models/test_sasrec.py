"""The SASRec transformer: shapes, causality, window, persistence, ONNX, incremental steps."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from liverec.core.errors import ConfigError
from liverec.core.privacy import Pseudonyms
from liverec.data.dataset import Dataset
from liverec.data.interactions import Histories, Interactions
from liverec.models.sasrec import SASRec, SASRecConfig
from liverec.models.sasrec.encoder import SequenceEncoder
from liverec.models.sasrec.net import SASRecNet
from liverec.models.sasrec.sequences import gap_bucket, gap_buckets
from liverec.models.sasrec.train import holdout_last, make_chunks, sampled_softmax, train
from tests.conftest import TINY_ITEMS, make_tiny, tiny_successors

TINY = SASRecConfig(
    dim=16,
    heads=2,
    layers=2,
    max_len=6,
    dropout=0.2,
    max_epochs=4,
    eval_every=1,
    learning_rate=0.005,
)


def test_gap_buckets_are_log2_seconds_plus_one() -> None:
    # gaps 0, 1, 2, 997 s -> floor(log2(gap + 1)) + 1 = 1, 2, 2, 10; the first event is 0
    assert gap_buckets(np.array([0.0, 0.0, 1.0, 3.0, 1000.0])).tolist() == [0, 1, 2, 2, 10]
    assert gap_bucket(997.0) == 10
    assert gap_bucket(-5.0) == 1  # out-of-order events count as no gap
    assert gap_bucket(1e30) == 31  # capped at the last bucket


def test_config_rejects_heads_that_do_not_divide_dim() -> None:
    with pytest.raises(ConfigError, match="multiple of heads"):
        SASRecConfig(dim=10, heads=3)


def test_holdout_last_removes_each_long_users_last_event() -> None:
    h = Histories.from_lists(
        [[1, 2, 3], [4, 5], [6, 7, 8, 9]], 10, [[1, 2, 3], [1, 2], [1, 2, 3, 4]]
    )
    train, users, targets = holdout_last(h)
    assert users.tolist() == [0, 2] and targets.tolist() == [3, 9]
    assert [train[u].tolist() for u in range(3)] == [[1, 2], [4, 5], [6, 7, 8]]
    assert train.ts.tolist() == [1, 2, 1, 2, 1, 2, 3]


def test_chunks_cover_every_target_once_with_full_windows() -> None:
    seq = list(range(20))
    h = Histories.from_lists([seq], 20, [list(range(20))])
    cfg = SASRecConfig(max_len=4, chunk=8)  # chunk is raised to max_len + 50 = 54 ...
    chunks = make_chunks(h, cfg)
    assert chunks.lengths().tolist() == [19]  # ... so one chunk holds all 19 inputs
    assert chunks.y.tolist() == seq[1:] and chunks.x.tolist() == seq[:-1]
    long = Histories.from_lists([list(range(120))], 120, [list(range(120))])
    chunks = make_chunks(long, SASRecConfig(max_len=10, chunk=60))
    assert len(chunks) == 3
    trained = np.sort(chunks.y[chunks.y >= 0])
    assert trained.tolist() == list(range(1, 120))  # each next item trained exactly once
    x, _, y = chunks.padded(np.arange(3), pad=120)
    assert x.shape == (3, 60)
    assert (y[:2, :10] == -100).all() and (y[2, :10] >= 0).all()  # later overlaps: context


def test_a_train_window_keeps_only_each_users_recent_events() -> None:
    h = Histories.from_lists([list(range(30)), [5, 6]], 30, [list(range(30)), [0, 1]])
    chunks = make_chunks(h, SASRecConfig(max_len=4, train_window=10))
    assert chunks.lengths().tolist() == [9, 1]
    assert chunks.y.tolist() == [*range(21, 30), 6]


def test_training_stops_when_its_time_budget_is_spent() -> None:
    seqs = [list(np.random.default_rng(u).integers(0, 40, 30)) for u in range(60)]
    h = Histories.from_lists(seqs, 40, [list(range(30))] * 60)
    cfg = replace(TINY, max_epochs=500, eval_every=1, patience=1000, time_budget_s=1e-9)
    net = SASRecNet(cfg, n_items=40, text_dim=None)
    result = train(net, h, cfg)
    assert result.stopped.startswith("time budget") and len(result.curve) == 1


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    return SASRecNet(TINY, n_items=30, text_dim=8).eval()


def test_forward_shapes(net: torch.nn.Module) -> None:
    items = torch.randint(0, 30, (3, 11))
    out = net(items, torch.zeros_like(items))
    assert out.shape == (3, 11, TINY.dim)
    assert net.item_vectors().shape == (31, TINY.dim)


def test_a_future_item_never_changes_an_earlier_output(net: torch.nn.Module) -> None:
    items = torch.randint(0, 30, (1, 12))
    gaps = torch.randint(0, 5, (1, 12))
    changed = items.clone()
    changed[0, 7:] = (changed[0, 7:] + 1) % 30
    a, b = net(items, gaps), net(changed, gaps)
    assert torch.allclose(a[0, :7], b[0, :7])
    assert not torch.allclose(a[0, 7:], b[0, 7:])


def test_only_the_last_context_items_reach_the_last_output(net: torch.nn.Module) -> None:
    # two layers of a 6-item window: the last output sees 2 * 5 + 1 = 11 items
    assert TINY.context == 11
    items = torch.randint(0, 30, (1, 20))
    gaps = torch.zeros_like(items)
    far, near = items.clone(), items.clone()
    far[0, 20 - 12] = (far[0, 8] + 1) % 30  # 12th from the end: outside
    near[0, 20 - 11] = (near[0, 9] + 1) % 30  # 11th from the end: inside
    last = net(items, gaps)[0, -1]
    assert torch.allclose(net(far, gaps)[0, -1], last)
    assert not torch.allclose(net(near, gaps)[0, -1], last)


def test_left_padding_does_not_change_the_output(net: torch.nn.Module) -> None:
    items = torch.randint(0, 30, (1, 7))
    padded = torch.cat([torch.full((1, 4), 30), items], dim=1)  # 30 = padding
    a = net(items, torch.zeros_like(items))[0, -1]
    b = net(padded, torch.zeros_like(padded))[0, -1]
    assert torch.allclose(a, b, atol=1e-6)


def _subset(ds: Dataset, n_users: int) -> Interactions:
    it = ds.interactions
    return it.select(it.uidx < n_users)


def _random_text(n_items: int) -> NDArray[np.float32]:
    """Unit-length random 'text' vectors: the text path without a language model."""
    text = np.random.default_rng(0).normal(size=(n_items, 12)).astype(np.float32)
    return text / np.linalg.norm(text, axis=1, keepdims=True)


# Four chunks per batch: 15 steps an epoch over the 60 tiny users. Measured over data seeds
# 0-5, the successor was the top pick after one click for 40-55% of the items with batches of
# 16, 85-100% with 8 and 93-100% with 4.
SMALL_BATCHES = replace(TINY, batch_size=4)


def fit_tiny(data: Dataset) -> SASRec:
    """A small model fitted on the tiny planted-chain dataset (0.5-0.8 s on an idle core)."""
    return SASRec(SMALL_BATCHES).set_item_vectors(_random_text(data.n_items)).fit(data)


@pytest.fixture(scope="module")
def fitted(tiny: Dataset) -> SASRec:
    """``fit_tiny`` on the session's tiny dataset (tests only read it)."""
    return fit_tiny(tiny)


def test_training_logs_the_curve_and_keeps_the_best_epoch(fitted: SASRec) -> None:
    assert [c["epoch"] for c in fitted.curve] == [1, 2, 3, 4]
    best = max(fitted.curve, key=lambda c: c["ndcg@10"])
    assert fitted.best_epoch == best["epoch"]
    assert fitted.curve[-1]["loss"] < fitted.curve[0]["loss"]


def successor_ranks(model: SASRec) -> NDArray[np.int64]:
    """Rank (1 = top pick) of each item's planted successor for a user whose one click is it."""
    _, ids = model.id_maps()
    items = ids.indices([f"i{k}" for k in range(TINY_ITEMS)])
    successors = ids.indices([tiny_successors()[f"i{k}"] for k in range(TINY_ITEMS)])
    h = Histories.from_lists([[i] for i in items.tolist()], len(ids), [[0]] * TINY_ITEMS)
    scores = model.score_histories(h)
    assert scores.shape == (TINY_ITEMS, len(ids)) and np.isfinite(scores).all()
    wanted = scores[np.arange(TINY_ITEMS), successors]
    return np.asarray((scores > wanted[:, None]).sum(axis=1) + 1, np.int64)


def test_after_an_item_the_planted_successor_is_the_top_pick(fitted: SASRec) -> None:
    # Measured over data seeds 0-11 (model seeds varied too): the successor was the top pick
    # for 88-100% of the items and never ranked below 3rd.
    ranks = successor_ranks(fitted)
    assert (ranks == 1).mean() >= 0.75
    assert ranks.max() <= 5


# Fitting this fixture took 18 s on 2 cores: only the test of ML-100K quality needs it.
@pytest.fixture(scope="module")
def fitted_ml100k(ml100k: Dataset) -> SASRec:
    """A small model fitted for a few epochs on 200 ML-100K users, with random 'text'."""
    return SASRec(TINY).set_item_vectors(_random_text(ml100k.n_items)).fit(_subset(ml100k, 200))


@pytest.mark.slow
def test_scores_every_item_and_beats_random(fitted_ml100k: SASRec, ml100k: Dataset) -> None:
    h = fitted_ml100k.histories
    scores = fitted_ml100k.score(np.arange(50))
    assert scores.shape == (50, ml100k.n_items)
    # the held-out last events: the best epoch ranks them well above chance (10 / 1682)
    assert max(c["hr@10"] for c in fitted_ml100k.curve) > 3 * 10 / ml100k.n_items
    assert np.isfinite(scores).all() and h.lengths()[200:].sum() == 0


def test_training_is_reproducible_for_a_seed(fitted: SASRec, pseudonyms: Pseudonyms) -> None:
    again = fit_tiny(make_tiny(pseudonyms))  # a fresh copy of the data, fitted again
    np.testing.assert_array_equal(again.score(np.arange(5)), fitted.score(np.arange(5)))


def test_save_load_gives_the_same_scores(fitted: SASRec, tmp_path: Path) -> None:
    fitted.save(tmp_path / "m")
    loaded = SASRec.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.score(np.arange(20)), fitted.score(np.arange(20)))
    assert loaded.best_epoch == fitted.best_epoch and len(loaded.curve) == len(fitted.curve)


def test_sampled_softmax_with_logq_follows_the_full_softmax_gradient() -> None:
    # Negatives drawn from a skewed q: with the logQ correction the expected gradient is the
    # full softmax's; without it, popular items are over-penalised and the gradient is biased.
    torch.manual_seed(0)
    h = torch.randn(8, 16, requires_grad=True)
    table = torch.randn(50, 16) * 0.5
    targets = torch.randint(0, 50, (8,))
    counts = torch.arange(1, 51, dtype=torch.float32) ** 2  # item 49 is 2,500x item 0
    log_q = torch.log(counts / counts.sum())

    def grad(loss: torch.Tensor) -> torch.Tensor:
        (g,) = torch.autograd.grad(loss, h)
        return g.flatten()

    full = grad(torch.nn.functional.cross_entropy(h @ table.T, targets))
    corrected = grad(sampled_softmax(h, targets, table, log_q, 200_000))
    cos = torch.nn.functional.cosine_similarity(full, corrected, dim=0)
    assert cos > 0.99
    biased = torch.nn.functional.cosine_similarity(full, _biased(h, targets, table, log_q), dim=0)
    assert biased < cos


def _biased(
    h: torch.Tensor, targets: torch.Tensor, table: torch.Tensor, log_q: torch.Tensor
) -> torch.Tensor:
    """The same popularity-sampled softmax without the logQ correction."""
    torch.manual_seed(1)
    negatives = torch.multinomial(log_q.exp(), 200_000, replacement=True)
    logits = torch.cat([(h * table[targets]).sum(-1)[:, None], h @ table[negatives].T], dim=1)
    loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long))
    (g,) = torch.autograd.grad(loss, h)
    return g.flatten()


@pytest.fixture(scope="module")
def exported(fitted: SASRec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sasrec-onnx")
    fitted.export_onnx(directory, quantize=True)
    return directory


def test_onnx_fp32_agrees_with_torch(fitted: SASRec, exported: Path) -> None:
    h = fitted.histories.take(np.arange(40))
    onnx = SequenceEncoder(exported, fitted.config, int8=False).encode_histories(h)
    np.testing.assert_allclose(onnx, fitted.encode(h), atol=1e-5)


def test_onnx_int8_stays_close_and_ranks_alike(fitted: SASRec, exported: Path) -> None:
    h = fitted.histories.take(np.arange(40))
    ref = fitted.encode(h)
    enc = SequenceEncoder(exported, fitted.config, int8=True)
    q = enc.encode_histories(h)
    cos = (q * ref).sum(1) / np.linalg.norm(q, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.95
    top_ref = np.argsort(-(ref @ fitted.item_vectors().T), axis=1)[:, :10]
    top_q = np.argsort(-enc.scores(q), axis=1)[:, :10]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top_ref, top_q, strict=True)])
    assert overlap > 0.6


def test_incremental_steps_equal_a_full_recompute(fitted: SASRec, exported: Path) -> None:
    enc = SequenceEncoder(exported, fitted.config, int8=False)
    h = fitted.histories
    u = int(np.argmax(h.lengths()))  # a long history: the window slides many times
    items, ts = h[u], h.ts[h.indptr[u] : h.indptr[u + 1]]
    state = enc.prefill(items[:3], ts[:3])
    assert state is not None
    for j in range(3, len(items)):
        state = enc.step([state], [int(items[j])], [float(ts[j])])[0]
    full = fitted.encode(h.take(np.array([u])))[0]
    np.testing.assert_allclose(state.encoding, full, atol=1e-5)
    assert state.count == len(items)


def test_batched_steps_equal_single_steps(fitted: SASRec, exported: Path) -> None:
    enc = SequenceEncoder(exported, fitted.config, int8=False)
    h = fitted.histories
    states = [enc.prefill(h[u][:-1], h.ts[h.indptr[u] : h.indptr[u + 1] - 1]) for u in range(4)]
    last = [int(h[u][-1]) for u in range(4)]
    ts = [float(h.ts[h.indptr[u + 1] - 1]) for u in range(4)]
    batched = enc.step([s for s in states if s is not None], last, ts)
    for u in range(4):
        one = enc.step([states[u]], [last[u]], [ts[u]])[0]  # type: ignore[list-item]
        np.testing.assert_allclose(batched[u].encoding, one.encoding, atol=1e-5)


def test_a_new_item_gets_a_vector_from_its_text(fitted: SASRec, exported: Path) -> None:
    enc = SequenceEncoder(exported, fitted.config, int8=False)
    n = enc.n_items
    text = np.ones((1, 12), np.float32)
    enc.extend(text)
    weight, bias = fitted.text_projection()  # type: ignore[misc]
    np.testing.assert_allclose(enc.item_vectors[n], text[0] @ weight.T + bias, atol=1e-6)
    state = enc.prefill(np.array([0, n]), np.array([0.0, 10.0]))  # the new item in a history
    assert state is not None and np.isfinite(state.encoding).all()
