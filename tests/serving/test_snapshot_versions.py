from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import pytest

from liverec.serving.snapshot import MANIFEST, list_snapshots, reserve_version

FROZEN_NS = 1_767_225_600_123_456_789  # 2026-01-01T00:00:00.123456789Z


def publish(root: Path, clock: Callable[[], int]) -> str:
    """Reserve a version and rename it into place as a complete (if empty) snapshot."""
    version, folder = reserve_version(root, clock)
    (folder / MANIFEST).write_text("{}")
    os.replace(folder, root / version)
    return version


@pytest.mark.parametrize("clock", [time.time_ns, lambda: FROZEN_NS], ids=["real", "frozen"])
def test_versions_made_back_to_back_strictly_increase_and_list_in_creation_order(
    tmp_path: Path, clock: Callable[[], int]
) -> None:
    made = [publish(tmp_path, clock) for _ in range(50)]
    assert all(a < b for a, b in pairwise(made))
    assert [p.name for p in list_snapshots(tmp_path)] == made


def test_a_frozen_clock_moves_on_by_one_microsecond(tmp_path: Path) -> None:
    made = [publish(tmp_path, lambda: FROZEN_NS) for _ in range(3)]
    assert made == [
        "20260101T000000.123456Z",
        "20260101T000000.123457Z",
        "20260101T000000.123458Z",
    ]


def test_a_version_sorts_after_reservations_still_being_written(tmp_path: Path) -> None:
    first, _ = reserve_version(tmp_path, lambda: FROZEN_NS)  # training, not yet renamed
    second = publish(tmp_path, lambda: FROZEN_NS)
    assert first < second


def test_a_version_sorts_after_older_names_and_a_clock_that_went_back(tmp_path: Path) -> None:
    for old in ("20260101T000000Z-3fa2c1", "20251231T235959.999999Z"):
        (tmp_path / old).mkdir()
        (tmp_path / old / MANIFEST).write_text("{}")
    new = publish(tmp_path, lambda: FROZEN_NS)  # same second as the older-format name
    assert new == "20260101T000001.000000Z"
    assert [p.name for p in list_snapshots(tmp_path)][-1] == new


def test_concurrent_reservations_never_share_a_version(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: publish(tmp_path, lambda: FROZEN_NS), range(80)))
    assert len(set(made)) == 80
    assert [p.name for p in list_snapshots(tmp_path)] == sorted(made)
