"""The exposure log's contract, over memory:// and sqlite:///."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from liverec.core.errors import ConfigError
from liverec.events.exposures import Exposure, ExposureLog, open_exposure_log


@pytest.fixture(params=["memory://", "sqlite:///{tmp}/exposures.db"], ids=["memory", "sqlite"])
def exposures(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ExposureLog]:
    opened = open_exposure_log(request.param.format(tmp=tmp_path))
    yield opened
    opened.close()


def shown(n: int, user: str = "u1", experiment: str = "e", teams: tuple[str, ...] = ()) -> Exposure:
    return Exposure(f"r{n}", experiment, "a", user, 100.0 + n, ("i1", "i 2", "ï/3"), teams)


def test_exposures_round_trip_every_field_per_experiment(exposures: ExposureLog) -> None:
    written = [shown(1), shown(2, teams=("a", "b", "a")), shown(3, experiment="other")]
    exposures.append(written)
    assert exposures.read("e") == written[:2]
    assert exposures.read("other") == written[2:]
    assert exposures.counts() == {"e": 2, "other": 1}


def test_deleting_a_user_removes_only_their_exposures(exposures: ExposureLog) -> None:
    exposures.append([shown(1, "alice"), shown(2, "bob"), shown(3, "alice")])
    assert exposures.delete_user("alice") == 2
    assert [e.user_id for e in exposures.read("e")] == ["bob"]


def test_sqlite_exposures_survive_a_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    first = open_exposure_log(url)
    first.append([shown(1)])
    first.close()
    again = open_exposure_log(url)
    assert again.read("e") == [shown(1)]
    again.close()


def test_an_unknown_scheme_is_refused_with_the_accepted_ones() -> None:
    with pytest.raises(ConfigError, match="memory://"):
        open_exposure_log("redis://x")


@pytest.mark.parametrize("store", ["exposures", "events"])
def test_processes_opening_one_new_store_together_all_succeed(store: str, tmp_path: Path) -> None:
    """Replicas start together: with `enable_wal`'s retry taken out, this test failed in 5
    of 6 runs here ("database is locked"), both stores."""
    from liverec.events.exposures import SqliteExposureLog
    from liverec.events.sqlite import SqliteEventLog

    opener = SqliteExposureLog if store == "exposures" else SqliteEventLog
    errors: list[Exception] = []
    for round_ in range(30):
        path = tmp_path / f"{round_}.db"
        barrier = threading.Barrier(6)

        def open_one(path: Path = path, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                opener(path).close()
            except Exception as e:  # collected: the assertion below names it
                errors.append(e)

        threads = [threading.Thread(target=open_one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
