"""Erasing a user leaves no trace under $LIVEREC_HOME and answers as if they never existed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from liverec.core.errors import LiverecError, UnknownIdError
from liverec.core.paths import Paths
from liverec.core.privacy import Pseudonyms
from liverec.core.types import EventType
from liverec.data.dataset import Dataset, dataset_dir
from liverec.events.schema import Event
from liverec.events.store import open_event_log
from liverec.serving.erasure import erase_user
from liverec.serving.service import LiveService, ServiceConfig
from liverec.serving.snapshot import list_snapshots
from liverec.serving.training import TrainConfig, train_snapshot
from tests.conftest import UNHURRIED_PIPELINE

LIGHT = TrainConfig(components=("pop", "trending", "itemcf"))
CONFIG = ServiceConfig(pipeline=UNHURRIED_PIPELINE)
ERASED_RAW = "erase-me-0b5f9c"  # a log-only user; its id is distinctive enough to grep for
DATASET_USER = "196"  # an ML-100K user, also active in the log
OTHERS = ["1", "7", "13", "42", "303", "500", "655", "900"]


def _home(root: Path, session_home: Path, data: Dataset) -> Path:
    home = root / "home"
    home.mkdir(parents=True)
    shutil.copy(Paths(session_home).secret, Paths(home).secret)
    data.save(dataset_dir(home, "ml-100k"))
    return home


def _log_events(service: LiveService) -> None:
    t = 893_300_000.0
    script = [
        (DATASET_USER, ["50", "181", "100"]),
        (ERASED_RAW, ["50", "1", "121", "7"]),
        ("bystander", ["50", "1", "98"]),
    ]
    for user, items in script:
        service.ingest([Event(user, i, EventType.CLICK, t + k) for k, i in enumerate(items)])


def _grep(home: Path, needles: list[str]) -> list[str]:
    hits = []
    for path in home.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            hits += [f"{path.relative_to(home)}: {n}" for n in needles if n.encode() in blob]
    return hits


@pytest.mark.slow
def test_an_erased_user_leaves_no_trace_and_others_get_never_saw_them_answers(
    ml100k: Dataset, session_home: Path, pseudonyms: Pseudonyms, tmp_path: Path
) -> None:
    home = _home(tmp_path / "a", session_home, ml100k)
    root = home / "snapshots" / "ml-100k"
    log = open_event_log(f"sqlite:///{home / 'state' / 'events.db'}")
    first = train_snapshot(ml100k, [], root, LIGHT, log=lambda _: None)
    service = LiveService.open(first, log, CONFIG, pseudonyms)
    _log_events(service)
    entries = log.read(0, 100)
    train_snapshot(ml100k, entries, root, LIGHT, log=lambda _: None)  # holds both users
    service.reload()
    needles = [ERASED_RAW, pseudonyms.of(ERASED_RAW), pseudonyms.of(DATASET_USER)]
    assert _grep(home, needles)  # the check below can find them

    for user in (ERASED_RAW, DATASET_USER):
        report = service.erase_user(user, home, "ml-100k")
        assert report.user_id == user and report.snapshots_deleted >= 1
    with pytest.raises(UnknownIdError):
        service.erase_user(ERASED_RAW, home, "ml-100k")
    log.close()

    assert _grep(home, needles) == []
    assert len(list_snapshots(root)) == 1
    with pytest.raises(UnknownIdError):
        service.profile(DATASET_USER)
    assert service.recommend(ERASED_RAW).cold_start

    # A service that never saw either user: the dataset without 196, the log without both.
    gone = [pseudonyms.of(DATASET_USER)]
    clean_data, _ = ml100k.without_users(gone)
    other = tmp_path / "b"
    other.mkdir()
    clean_log = open_event_log("memory://")
    kept = [e.event for e in entries if e.event.user_id not in (*gone, needles[1])]
    clean_log.append(kept)
    clean = LiveService.open(
        train_snapshot(
            clean_data, clean_log.read(0, 100), other / "snapshots", LIGHT, log=lambda _: None
        ),
        clean_log,
        CONFIG,
        Pseudonyms.passthrough(),
    )
    for user in [*OTHERS, "bystander"]:
        mine = [(r.item_id, r.score) for r in service.recommend(user, k=20).items]
        pseudonym = pseudonyms.of(user)
        theirs = [(r.item_id, r.score) for r in clean.recommend(pseudonym, k=20).items]
        assert mine == theirs, user


def test_a_training_run_that_overlaps_an_erasure_is_discarded(
    ml100k: Dataset, session_home: Path, tmp_path: Path
) -> None:
    home = _home(tmp_path, session_home, ml100k)
    root = home / "snapshots" / "ml-100k"
    log = open_event_log("memory://")

    def erase_meanwhile(message: str) -> None:
        if message.startswith("training on"):
            erase_user("no-such-user", home=home, dataset="ml-100k", log=log, snapshots=root)

    with pytest.raises(LiverecError, match="erased while this snapshot was training"):
        train_snapshot(ml100k, [], root, LIGHT, log=erase_meanwhile)
    assert list_snapshots(root) == []
