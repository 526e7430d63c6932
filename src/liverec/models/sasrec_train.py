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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from liverec.data.interactions import Histories
from liverec.models.sasrec import SASRecConfig, encode_histories, gap_buckets

IGNORE = -100


@dataclass
class TrainResult:
    """The validation curve and the epoch whose weights were kept."""

    curve: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_ndcg: float = 0.0
    seconds: float = 0.0
    device: str = "cpu"


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


def make_chunks(histories: Histories, config: SASRecConfig) -> tuple[Any, Any, Any]:
    """(chunks, T) inputs, gap buckets and next-item targets (IGNORE where not trained)."""
    pad = histories.n_items
    size = max(config.chunk, config.max_len + 50)  # a chunk must reach past its context
    xs, gs, ys = [], [], []
    for u in range(len(histories)):
        lo, hi = histories.indptr[u], histories.indptr[u + 1]
        if hi - lo < 2:
            continue
        items = histories.items[lo:hi]
        gaps = gap_buckets(histories.ts[lo:hi])
        inputs, targets, in_gaps = items[:-1], items[1:], gaps[:-1]
        end = len(inputs)
        while True:
            start = max(0, end - size)
            n = end - start
            x = np.full(size, pad, np.int64)
            g = np.zeros(size, np.int64)
            y = np.full(size, IGNORE, np.int64)
            x[:n], g[:n], y[:n] = inputs[start:end], in_gaps[start:end], targets[start:end]
            if start > 0:
                y[: config.max_len] = IGNORE  # trained in the previous chunk; context here
            xs.append(x)
            gs.append(g)
            ys.append(y)
            if start == 0:
                break
            end = start + config.max_len
    return np.array(xs), np.array(gs), np.array(ys)


def ndcg_hr_at_10(scores: Any, targets: Any) -> tuple[float, float]:
    """NDCG@10 and HR@10 of one target per row in a full score matrix (seen items at -inf)."""
    target_scores = scores[np.arange(len(targets)), targets]
    ranks = (scores > target_scores[:, None]).sum(axis=1) + 1
    hit = ranks <= 10
    return float(np.where(hit, 1.0 / np.log2(ranks + 1), 0.0).mean()), float(hit.mean())


def validate(net: Any, context: Histories, users: Any, targets: Any, config: SASRecConfig) -> Any:
    """NDCG@10 and HR@10 of ``targets`` after each user's ``context``, full ranking."""
    import torch

    h = context.take(users)
    enc = encode_histories(net, h, config)
    with torch.no_grad():
        table = net.item_vectors()[: net.n_items].cpu().numpy()
    scores = enc @ table.T
    seen = h.to_csr().tocoo()
    scores[seen.row, seen.col] = -np.inf
    return ndcg_hr_at_10(scores, targets)


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
        import torch

        self.x, self.g, self.y = (torch.from_numpy(a) for a in make_chunks(histories, config))
        self.lengths = (self.x != histories.n_items).sum(dim=1)
        order = torch.argsort(self.lengths, stable=True)
        size = config.batch_size
        self.groups = [order[s : s + size] for s in range(0, len(order), size)]
        self.targets = max(1, int((self.y != IGNORE).sum()))


def _epoch(
    net: Any, data: _Batches, opt: Any, rng: Any, log_q: Any, config: SASRecConfig, device: str
) -> float:
    """One pass over ``data``; returns the mean loss per trained position."""
    from torch.nn import functional

    net.train()
    total = 0.0
    for b in rng.permutation(len(data.groups)).tolist():
        idx = data.groups[b]
        T = int(data.lengths[idx].max())
        x, g, y = (a[idx, :T].to(device) for a in (data.x, data.g, data.y))
        h = net(x, g)  # (B, T, d)
        keep = y != IGNORE
        hk, yk = h[keep], y[keep]  # (P, d), (P,)
        table = net.item_vectors()[: net.n_items]
        if log_q is None:
            loss = functional.cross_entropy(hk @ table.T, yk)  # (P, n_items) logits
        else:
            loss = _sampled_softmax(hk, yk, table, log_q, config.negatives)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        total += float(loss.detach()) * len(yk)
    return total / data.targets


def _train(net: Any, histories: Histories, config: SASRecConfig) -> TrainResult:
    import torch

    t0 = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = pick_device(config.device)
    net.to(device)
    train_h, val_users, val_targets = holdout_last(histories)
    data = _Batches(train_h, config)
    opt = torch.optim.AdamW(
        net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    sampled = histories.n_items > config.sampled_softmax_above
    log_q = _log_unigram(train_h, device) if sampled else None
    result = TrainResult(device=device)
    best_state: dict[str, Any] | None = None
    bar = tqdm(
        range(1, config.max_epochs + 1), desc="sasrec", unit="epoch", disable=not config.progress
    )
    for epoch in bar:
        loss_avg = _epoch(net, data, opt, rng, log_q, config, device)
        if epoch % config.eval_every and epoch != config.max_epochs:
            continue
        ndcg, hr = validate(net, train_h, val_users, val_targets, config)
        result.curve.append({"epoch": epoch, "loss": loss_avg, "ndcg@10": ndcg, "hr@10": hr})
        bar.set_postfix(loss=f"{loss_avg:.3f}", valid_ndcg=f"{ndcg:.4f}", best=result.best_epoch)
        if ndcg > result.best_ndcg or best_state is None:
            result.best_ndcg, result.best_epoch = ndcg, epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        elif epoch - result.best_epoch >= config.patience:
            break
    bar.close()
    if best_state is not None:
        net.load_state_dict(best_state)
    if config.finetune_epochs > 0:
        # The held-out last events are the most recent transitions of every user; the chosen
        # checkpoint learns them too for a few epochs (their count was fixed in advance: no
        # validation is left to choose it on).
        full = _Batches(histories, config)
        for _ in range(config.finetune_epochs):
            _epoch(net, full, opt, rng, log_q, config, device)
    net.to("cpu").eval()
    result.seconds = time.perf_counter() - t0
    return result


def _log_unigram(histories: Histories, device: str) -> Any:
    """log q(item): the sampling distribution of negatives (training frequency, +1 smoothed)."""
    import torch

    counts = np.bincount(histories.items, minlength=histories.n_items).astype(np.float64) + 1.0
    return torch.tensor(np.log(counts / counts.sum()), dtype=torch.float32, device=device)


def _sampled_softmax(h: Any, targets: Any, table: Any, log_q: Any, n: int) -> Any:
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
