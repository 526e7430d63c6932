"""SimHash fingerprints of item embeddings, to find near-duplicates (the same film twice).

Random-hyperplane SimHash (Charikar 2002): bit b of an item's fingerprint is the sign of its
embedding's projection on the b-th random hyperplane. Two embeddings at angle theta disagree
on each bit with probability theta / pi, so a small Hamming distance between fingerprints
means a small angle: 64 bits and at most 4 differing ones keep pairs with cosine >= ~0.95.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

U64 = NDArray[np.uint64]


def hyperplanes(dim: int, bits: int = 64, seed: int = 0) -> NDArray[np.float32]:
    """``bits`` random Gaussian hyperplanes in ``dim`` dimensions (fixed by the seed)."""
    if not 1 <= bits <= 64:
        raise ValueError(f"bits must be in 1..64, got {bits}")
    return np.random.default_rng(seed).standard_normal((dim, bits)).astype(np.float32)


def simhash(vectors: NDArray[np.floating], planes: NDArray[np.float32]) -> U64:
    """One unsigned 64-bit fingerprint per row of ``vectors``.

    >>> planes = np.eye(2, dtype=np.float32)
    >>> simhash(np.array([[1.0, -1.0], [-1.0, 1.0], [2.0, -3.0]]), planes).tolist()
    [1, 2, 1]
    """
    signs = (np.atleast_2d(vectors).astype(np.float32) @ planes) > 0  # (n, bits)
    weights = np.left_shift(np.uint64(1), np.arange(planes.shape[1], dtype=np.uint64))
    out: U64 = (signs.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return out


def hamming(a: U64 | np.uint64, b: U64 | np.uint64) -> NDArray[np.int64]:
    """Number of differing bits, elementwise.

    >>> hamming(np.array([0b1011], np.uint64), np.array([0b0001], np.uint64)).tolist()
    [2]
    """
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int64)


@dataclass(frozen=True)
class DuplicatePair:
    """Two items whose fingerprints differ in ``distance`` bits."""

    first: int
    second: int
    distance: int


def near_duplicates(
    fingerprints: U64, max_distance: int = 4, bands: int = 8
) -> list[DuplicatePair]:
    """All pairs within ``max_distance`` bits, found by LSH banding then checked exactly.

    The 64 bits are split into ``bands`` bands; a pair is compared only if some band is
    identical. With ``max_distance < bands`` every qualifying pair shares at least one band
    (pigeonhole), so nothing within the distance is missed.
    """
    if max_distance >= bands:
        raise ValueError(f"max_distance ({max_distance}) must be below bands ({bands})")
    fp = np.asarray(fingerprints, np.uint64)
    width = 64 // bands
    mask = np.uint64((1 << width) - 1)
    candidates: set[tuple[int, int]] = set()
    for b in range(bands):
        keys = (fp >> np.uint64(b * width)) & mask
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        ends = np.r_[starts[1:], len(order)]
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            if e - s < 2:
                continue
            group = np.sort(order[s:e])
            for i in range(len(group)):
                for j in range(i + 1, len(group)):
                    candidates.add((int(group[i]), int(group[j])))
    pairs = []
    for i, j in sorted(candidates):
        d = int(hamming(fp[i], fp[j]))
        if d <= max_distance:
            pairs.append(DuplicatePair(i, j, d))
    return pairs


def is_near_duplicate(candidates: U64, chosen: U64, max_distance: int) -> NDArray[np.bool_]:
    """For each candidate fingerprint, whether any chosen one is within ``max_distance``."""
    if not len(chosen) or not len(candidates):
        return np.zeros(len(candidates), bool)
    d = hamming(np.asarray(candidates)[:, None], np.asarray(chosen)[None, :])
    return np.asarray((d <= max_distance).any(axis=1))
