"""MovieLens-100K as shipped in the RecBole wheel: fetch, verify, convert."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from liverec.core.errors import FetchError
from liverec.core.paths import Paths
from liverec.core.types import EventType
from liverec.data.dataset import (
    Dataset,
    Item,
    build_catalog,
    dataset_dir,
    save_atomically,
    user_attribute_columns,
)
from liverec.data.idmap import IdMap
from liverec.data.interactions import Interactions

NAME = "ml-100k"
WHEEL = "recbole==1.2.1"
WHEEL_FILE = "recbole-1.2.1-py3-none-any.whl"
MEMBER_DIR = "recbole/dataset_example/ml-100k/"
# SHA-256 of the files as shipped in recbole 1.2.1 (MIT licence).
CHECKSUMS = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
}


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download_wheel(dest: Path) -> Path:
    """Download the RecBole wheel with pip into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--disable-pip-version-check", "-q", WHEEL, "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FetchError(f"could not run pip to download {WHEEL}: {e}") from e
    wheel = dest / WHEEL_FILE
    if proc.returncode != 0 or not wheel.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise FetchError(
            f"could not download {WHEEL} from PyPI ({' / '.join(tail) or 'no output'}). "
            f"Check the network or pip's index settings, or download the wheel elsewhere and "
            f"run: liverec data fetch ml-100k --wheel PATH/{WHEEL_FILE}"
        )
    return wheel


def extract_raw(wheel: Path, raw_dir: Path) -> None:
    """Extract and verify the three ML-100K files from the wheel into ``raw_dir``."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as z:
            for fname in CHECKSUMS:
                with z.open(MEMBER_DIR + fname) as src, open(raw_dir / fname, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise FetchError(f"{wheel} is not a usable {WHEEL} wheel: {e}") from e
    verify_raw(raw_dir)


def verify_raw(raw_dir: Path) -> None:
    """Check every raw file against its known SHA-256.

    Raises
    ------
    FetchError
        If a file is missing or its checksum differs.
    """
    for fname, expected in CHECKSUMS.items():
        path = raw_dir / fname
        if not path.exists():
            raise FetchError(f"{path} is missing; run: liverec data fetch ml-100k")
        got = sha256(path)
        if got != expected:
            raise FetchError(f"{path} has SHA-256 {got}, expected {expected}")


def read_raw(raw_dir: Path) -> Dataset:
    """Parse the RecBole atomic files into a Dataset (file order kept)."""
    inter = np.loadtxt(raw_dir / "ml-100k.inter", skiprows=1, delimiter="\t", dtype=np.int64)
    user_raw = inter[:, 0].astype(str)
    item_raw = inter[:, 1].astype(str)

    items_meta: dict[str, Item] = {}
    with open(raw_dir / "ml-100k.item", encoding="utf-8") as f:
        next(f)
        for line in f:
            iid, title, year, genres = line.rstrip("\n").split("\t")
            items_meta[iid] = Item(
                item_id=iid,
                title=title,
                year=int(year) if year.isdigit() else None,
                genres=tuple(g for g in genres.split() if g != "unknown"),
            )
    user_rows: dict[str, dict[str, str]] = {}
    with open(raw_dir / "ml-100k.user", encoding="utf-8") as f:
        columns = [c.split(":")[0] for c in next(f).rstrip("\n").split("\t")][1:]
        for line in f:
            uid, *vals = line.rstrip("\n").split("\t")
            user_rows[uid] = dict(zip(columns, vals, strict=True))

    # Users in order of first appearance; items in catalog order so indices follow item ids.
    users = IdMap.from_values(user_raw, kind="user")
    items = IdMap(items_meta.keys(), kind="item")
    interactions = Interactions(
        uidx=users.indices(list(user_raw)).astype(np.int32),
        iidx=items.indices(list(item_raw)).astype(np.int32),
        ts=inter[:, 3].astype(np.float64),
        etype=np.full(len(inter), int(EventType.RATING), np.int8),
        value=inter[:, 2].astype(np.float32),
        n_users=len(users),
        n_items=len(items),
    )
    return Dataset(
        name=NAME,
        users=users,
        items=items,
        interactions=interactions,
        catalog=build_catalog(items, items_meta),
        user_attributes=user_attribute_columns(users, user_rows, columns),
    )


def raw_user_ids(home: Path) -> list[str]:
    """The raw user ids of the fetched files, in dataset order (the stored dataset holds only
    pseudonyms; load generators call the API with raw ids, as a client would)."""
    return list(read_raw(home / "raw" / NAME).users.raw_ids)


def fetch(home: Path, wheel: Path | None = None, *, force: bool = False) -> Path:
    """Make ML-100K available under ``home``; returns the dataset folder.

    Uses the cached copy when present (no network); otherwise downloads the RecBole wheel
    (or uses ``wheel``), verifies checksums and converts the files.
    """
    target = dataset_dir(home, NAME)
    raw_dir = home / "raw" / NAME
    if (target / "meta.json").exists() and not force:
        return target
    try:
        verify_raw(raw_dir)
    except FetchError:
        if wheel is None:
            cached = Paths(home).downloads / WHEEL_FILE
            wheel = cached if cached.exists() else _download_wheel(Paths(home).downloads)
        extract_raw(wheel, raw_dir)
    save_atomically(read_raw(raw_dir), target, home)
    return target
