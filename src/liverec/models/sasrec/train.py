"""Training loop of the SASRec transformer: next-item cross-entropy at every position.

Each user's sequence is cut into chunks of ``chunk`` positions that overlap by ``max_len``, so
every trained position sees its full window; the overlap positions of a later chunk are context
only. Batches group chunks of similar length (little padding), and logits are computed only at
real positions. The last event of every user with at least three is held out to pick the epoch
(early stopping on NDCG@10 over the full catalog, seen items excluded); it is the same
leave-last-out rule the offline protocol applies, one step earlier, so no test data is touched.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from liverec.core.arrays import ranges
from liverec.core.progress import ProgressLine, progress_line
from liverec.data.interactions import Histories
from liverec.models.sasrec.config import SASRecConfig
from liverec.models.sasrec.sequences import encode_histories, flat_gap_buckets

IGNORE = -100
VALID_BATCH = 1024  # validation users scored at once


@dataclass
class TrainResult:
    """The validation curve and the epoch whose weights were kept."""

    curve: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_ndcg: float = 0.0
    seconds: float = 0.0
    device: str = "cpu"
    stopped: str = ""  # why training ended before max_epochs, if it did


def pick_device(name: str) -> str:
    """``auto``: CUDA when a GPU is visible, else CPU."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def holdout_last(histories: Histories, min_events: int = 3) -> tuple[Histories, Any, Any]:
    """Histories without each long-enough user's last event; those users and their last items."""
    lengths = histories.lengths()
    users = np.flatnonzero(lengths >= min_events)
    keep = np.ones(len(histories.items), bool)
    keep[histories.indptr[users + 1] - 1] = False
    indptr = np.zeros(len(histories) + 1, np.int64)
    np.cumsum(lengths - (lengths >= min_events), out=indptr[1:])
    train = Histories(indptr, histories.items[keep], histories.ts[keep], histories.n_items)
    return train, users, histories.items[histories.indptr[users + 1] - 1]


@dataclass(frozen=True)
class Chunks:
    """Training chunks as ragged rows: inputs, their gap buckets and next-item targets.

    Chunk ``k`` is ``x[indptr[k]:indptr[k+1]]`` (and the same of ``g`` and ``y``); a target of
    IGNORE marks a position that is context only. Ragged, not padded: memory follows the
    number of trained positions, not the longest chunk times the number of users.
    """

    x: NDArray[np.int32]
    g: NDArray[np.int8]
    y: NDArray[np.int32]
    indptr: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def lengths(self) -> NDArray[np.int64]:
        """Positions per chunk."""
        return np.diff(self.indptr)

    def padded(self, rows: NDArray[np.int64], pad: int) -> tuple[Any, Any, Any]:
        """(B, T) inputs, gaps and targets of ``rows``; T is their longest length."""
        lengths = self.lengths()[rows]
        T = int(lengths.max()) if len(rows) else 0
        cols = np.arange(T)
        real = cols[None, :] < lengths[:, None]
        pos = np.where(real, self.indptr[rows][:, None] + cols[None, :], 0)
        x = np.where(real, self.x[pos], pad).astype(np.int64)
        g = np.where(real, self.g[pos], 0).astype(np.int64)
        y = np.where(real, self.y[pos], IGNORE).astype(np.int64)
        return x, g, y


def make_chunks(histories: Histories, config: SASRecConfig) -> Chunks:
    """Every user's (most recent ``train_window``) events cut into overlapping chunks.

    A chunk holds up to ``size`` inputs; consecutive chunks overlap by ``max_len`` so every
    trained position sees its full window, and the overlap of a later chunk is context only.
    Chunks come per user (in user order), each user's from the last one back.
    """
    size = max(config.chunk, config.max_len + 50)  # a chunk must reach past its context
    step = size - config.max_len
    lo = np.asarray(histories.indptr[:-1], np.int64)
    hi = np.asarray(histories.indptr[1:], np.int64)
    if config.train_window > 0:
        lo = np.maximum(lo, hi - config.train_window)
    n_in = hi - lo - 1  # inputs per user: every event but the last
    users = np.flatnonzero(n_in >= 1)
    n_chunks = 1 + np.maximum(0, -(-(n_in[users] - size) // step))
    owner = np.repeat(users, n_chunks)
    back = ranges(n_chunks)  # 0 = the user's last chunk
    end = n_in[owner] - back * step
    start = np.maximum(0, end - size)
    lengths = end - start
    indptr = np.zeros(len(owner) + 1, np.int64)
    np.cumsum(lengths, out=indptr[1:])
    offset = np.repeat(lo[owner] + start, lengths) + ranges(lengths)  # event of each input
    items = np.asarray(histories.items)
    gaps = flat_gap_buckets(histories)
    y = items[offset + 1].astype(np.int32)
    context = np.repeat(start > 0, lengths) & (ranges(lengths) < config.max_len)
    y[context] = IGNORE  # trained in the (older) chunk before this one; context here
    return Chunks(items[offset].astype(np.int32), gaps[offset], y, indptr)


def ndcg_hr_at_10(scores: Any, targets: Any) -> tuple[float, float]:
    """NDCG@10 and HR@10 of one target per row in a full score matrix (seen items at -inf)."""
    target_scores = scores[np.arange(len(targets)), targets]
    ranks = (scores > target_scores[:, None]).sum(axis=1) + 1
    hit = ranks <= 10
    return float(np.where(hit, 1.0 / np.log2(ranks + 1), 0.0).mean()), float(hit.mean())


def validate(
    net: Any, context: Histories, users: Any, targets: Any, config: SASRecConfig
) -> tuple[float, float]:
    """NDCG@10 and HR@10 of ``targets`` after each user's ``context``, full ranking.

    Users are scored in batches, so memory stays at ``batch x catalog`` floats.
    """
    import torch

    with torch.no_grad():
        table = net.item_vectors()[: net.n_items].cpu().numpy()
    ndcg = hr = 0.0
    for start in range(0, len(users), VALID_BATCH):
        part, wanted = users[start : start + VALID_BATCH], targets[start : start + VALID_BATCH]
        h = context.take(part)
        scores = encode_histories(net, h, config.context, config.dim) @ table.T
        seen = h.to_csr().tocoo()
        scores[seen.row, seen.col] = -np.inf
        n, r = ndcg_hr_at_10(scores, wanted)
        ndcg += n * len(part)
        hr += r * len(part)
    return ndcg / max(1, len(users)), hr / max(1, len(users))


def sample_users(users: Any, targets: Any, n: int, seed: int) -> tuple[Any, Any]:
    """At most ``n`` of the validation users (seeded, kept in user order)."""
    if len(users) <= n:
        return users, targets
    keep = np.sort(np.random.default_rng(seed).choice(len(users), n, replace=False))
    return users[keep], targets[keep]


def train(net: Any, histories: Histories, config: SASRecConfig) -> TrainResult:
    """Fit ``net`` on ``histories`` with early stopping; leaves the best weights loaded."""
    import torch

    was_deterministic = torch.are_deterministic_algorithms_enabled()
    # CPU runs are bit-reproducible for a seed: the default parallel embedding backward sums
    # in a varying order, and those 1e-7 differences grow into different rankings.
    torch.use_deterministic_algorithms(pick_device(config.device) == "cpu")
    try:
        return _train(net, histories, config)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


class _Batches:
    """Training chunks of some histories, grouped by length, with a per-epoch order."""

    def __init__(self, histories: Histories, config: SASRecConfig) -> None:
        self.chunks = make_chunks(histories, config)
        self.pad = histories.n_items
        order = np.argsort(self.chunks.lengths(), kind="stable")
        size = config.batch_size
        self.groups = [order[s : s + size] for s in range(0, len(order), size)]
        self.targets = max(1, int((self.chunks.y != IGNORE).sum()))

    def tensors(self, rows: Any, device: str) -> tuple[Any, Any, Any]:
        """(B, T) inputs, gaps and targets of chunk ``rows`` on ``device``."""
        import torch

        return tuple(torch.from_numpy(a).to(device) for a in self.chunks.padded(rows, self.pad))  # type: ignore[return-value]


class _Clock:
    """The time budget: ``spent`` once ``budget_s`` (0: none) has passed since the start."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.start = time.perf_counter()

    @property
    def spent(self) -> bool:
        return self.budget_s > 0 and time.perf_counter() - self.start > self.budget_s


def _epoch(
    net: Any,
    data: _Batches,
    opt: Any,
    rng: Any,
    log_q: Any,
    config: SASRecConfig,
    device: str,
    clock: _Clock,
) -> float:
    """One pass over ``data`` (cut short when the time budget is spent); mean loss."""
    from torch.nn import functional

    net.train()
    total, trained = 0.0, 0
    for b in rng.permutation(len(data.groups)).tolist():
        if clock.spent:
            break
        x, g, y = data.tensors(data.groups[b], device)
        h = net(x, g)  # (B, T, d)
        keep = y != IGNORE
        hk, yk = h[keep], y[keep]  # (P, d), (P,)
        table = net.item_vectors()[: net.n_items]
        if log_q is None:
            loss = functional.cross_entropy(hk @ table.T, yk)  # (P, n_items) logits
        else:
            loss = sampled_softmax(hk, yk, table, log_q, config.negatives)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        total += float(loss.detach()) * len(yk)
        trained += len(yk)
    return total / max(1, trained)


def _train(net: Any, histories: Histories, config: SASRecConfig) -> TrainResult:
    import torch

    clock = _Clock(config.time_budget_s)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = pick_device(config.device)
    net.to(device)
    train_h, val_users, val_targets = holdout_last(histories)
    val_users, val_targets = sample_users(val_users, val_targets, config.valid_users, config.seed)
    data = _Batches(train_h, config)
    opt = torch.optim.AdamW(
        net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    sampled = histories.n_items > config.sampled_softmax_above
    log_q = _log_unigram(train_h, device) if sampled else None
    result = TrainResult(device=device)

    def one_epoch(batches: _Batches) -> float:
        return _epoch(net, batches, opt, rng, log_q, config, device, clock)

    def score() -> tuple[float, float]:
        return validate(net, train_h, val_users, val_targets, config)

    with progress_line("sasrec", "epochs", config.progress) as line:
        best_state = _early_stopping(net, one_epoch, data, score, config, clock, result, line)
    if best_state is not None:
        net.load_state_dict(best_state)
    if config.finetune_epochs > 0 and not clock.spent:
        # The held-out last events are the most recent transitions of every user; the chosen
        # checkpoint learns them too for a few epochs (their count was fixed in advance: no
        # validation is left to choose it on).
        full = _Batches(histories, config)
        with progress_line("sasrec fine-tuning", "epochs", config.progress) as line:
            for done in range(1, config.finetune_epochs + 1):
                one_epoch(full)
                line(done, config.finetune_epochs)
    net.to("cpu").eval()
    result.seconds = time.perf_counter() - clock.start
    return result


def _early_stopping(
    net: Any,
    one_epoch: Callable[[_Batches], float],
    data: _Batches,
    score: Callable[[], tuple[float, float]],
    config: SASRecConfig,
    clock: _Clock,
    result: TrainResult,
    line: ProgressLine,
) -> dict[str, Any] | None:
    """Train epochs until validation NDCG@10 stalls, time runs out or ``max_epochs``; fills
    ``result`` and returns the best weights (None if never validated)."""
    best_state: dict[str, Any] | None = None
    for epoch in range(1, config.max_epochs + 1):
        loss_avg = one_epoch(data)
        if epoch % config.eval_every and epoch != config.max_epochs and not clock.spent:
            line(epoch, config.max_epochs)
            continue
        ndcg, hr = score()
        result.curve.append({"epoch": epoch, "loss": loss_avg, "ndcg@10": ndcg, "hr@10": hr})
        if ndcg > result.best_ndcg or best_state is None:
            result.best_ndcg, result.best_epoch = ndcg, epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        elif epoch - result.best_epoch >= config.patience:
            result.stopped = (
                f"validation NDCG@10 did not improve for {config.patience} epochs "
                f"(best {result.best_ndcg:.4f} at epoch {result.best_epoch})"
            )
        if clock.spent and not result.stopped:
            result.stopped = f"time budget of {config.time_budget_s:g} s used"
        line.note(
            f"loss {loss_avg:.3f}, valid NDCG@10 {ndcg:.4f} (best {result.best_ndcg:.4f} "
            f"at epoch {result.best_epoch})"
        )
        line(epoch, config.max_epochs)
        if result.stopped:
            line.close(f"stopped early after epoch {epoch}: {result.stopped}")
            break
    return best_state


def _log_unigram(histories: Histories, device: str) -> Any:
    """log q(item): the sampling distribution of negatives (training frequency, +1 smoothed)."""
    import torch

    counts = np.bincount(histories.items, minlength=histories.n_items).astype(np.float64) + 1.0
    return torch.tensor(np.log(counts / counts.sum()), dtype=torch.float32, device=device)


def sampled_softmax(h: Any, targets: Any, table: Any, log_q: Any, n: int) -> Any:
    """Cross-entropy over the target and ``n`` shared negatives drawn from q, logQ-corrected.

    Subtracting log q from every logit makes the sampled softmax an unbiased estimate of the
    full one (Bengio & Senecal 2008; Yi et al. 2019); a negative equal to the row's target is
    masked out.
    """
    import torch
    from torch.nn import functional

    negatives = torch.multinomial(log_q.exp(), n, replacement=True)  # (n,)
    pos = (h * table[targets]).sum(-1) - log_q[targets] - math.log(n)  # (P,)
    neg = h @ table[negatives].T - log_q[negatives] - math.log(n)  # (P, n)
    neg = neg.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))
    logits = torch.cat([pos[:, None], neg], dim=1)
    return functional.cross_entropy(
        logits, torch.zeros(len(targets), dtype=torch.long, device=h.device)
    )
