"""The event clock: events sent without a time continue a historical dataset's own time."""

from __future__ import annotations

import pytest

from liverec.core.privacy import Pseudonyms
from liverec.core.types import EventType
from liverec.data.dataset import Dataset
from liverec.events.schema import Event
from liverec.events.store import open_event_log
from liverec.serving.clock import HISTORICAL_AFTER_S, ClockSetting, EventClock, clock_kind
from liverec.serving.service import LiveService, ServiceConfig
from liverec.serving.snapshot import Snapshot
from tests.conftest import UNHURRIED_PIPELINE

WALL_2026 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, the injected wall clock


class FakeTime:
    """Injected time sources: the wall clock and a monotonic elapsed-time counter."""

    def __init__(self, wall: float) -> None:
        self.wall_now = wall
        self.elapsed_now = 100.0

    def wall(self) -> float:
        return self.wall_now

    def elapsed(self) -> float:
        return self.elapsed_now


def clock(setting: ClockSetting, data_latest: float, t: FakeTime) -> EventClock:
    return EventClock(setting, data_latest, wall=t.wall, elapsed=t.elapsed)


def test_auto_is_the_data_clock_only_for_data_older_than_thirty_days() -> None:
    now = WALL_2026
    assert clock_kind("auto", now - HISTORICAL_AFTER_S - 1, now) == "data"
    assert clock_kind("auto", now - HISTORICAL_AFTER_S + 1, now) == "wall"  # a live deployment
    assert clock_kind("auto", now + 3600, now) == "wall"
    assert clock_kind("data", now - 60, now) == "data"
    assert clock_kind("wall", 9e8, now) == "wall"
    assert clock_kind("data", float("-inf"), now) == "wall"  # no event: no data time to continue


def test_the_data_clock_continues_from_the_latest_event_by_real_elapsed_time() -> None:
    t = FakeTime(WALL_2026)
    data = clock("auto", 893_286_638.0, t)  # ML-100K's last event, 1998-04-22
    assert data.kind == "data" and data.now() == 893_286_638.0
    t.elapsed_now += 5.0
    t.wall_now -= 3600.0  # the wall clock stepped back (NTP): the data clock does not
    assert data.now() == 893_286_643.0
    wall = clock("wall", 893_286_638.0, t)
    assert wall.kind == "wall" and wall.now() == WALL_2026 - 3600.0


def open_tiny(snapshot: Snapshot, pseudonyms: Pseudonyms, event_clock: EventClock) -> LiveService:
    config = ServiceConfig(pipeline=UNHURRIED_PIPELINE)
    return LiveService.open(snapshot, config=config, pseudonyms=pseudonyms, event_clock=event_clock)


def last_ts(service: LiveService, user: str) -> float:
    return service.profile(user).recent[0].ts


def test_the_service_clock_starts_at_the_latest_event_of_snapshot_and_log(
    tiny: Dataset, tiny_snapshot: Snapshot, pseudonyms: Pseudonyms
) -> None:
    latest = float(tiny.interactions.ts.max())  # about 1.6e9 s: 2020, historical by now
    config = ServiceConfig(pipeline=UNHURRIED_PIPELINE)
    fresh = LiveService.open(tiny_snapshot, config=config, pseudonyms=pseudonyms)
    assert fresh.event_clock.kind == "data" and fresh.event_clock.data_latest == latest
    log = open_event_log("memory://")
    log.append([Event(pseudonyms.of("u1"), "i3", EventType.CLICK, latest + 500.0)])
    replayed = LiveService.open(tiny_snapshot, log, config, pseudonyms)
    assert replayed.event_clock.data_latest == latest + 500.0
    walled = config.model_copy(update={"event_clock": "wall"})
    assert LiveService.open(tiny_snapshot, config=walled).event_clock.kind == "wall"


@pytest.mark.parametrize("setting", ["auto", "data"])
def test_an_event_without_a_time_is_stamped_just_after_the_datas_latest_event(
    tiny: Dataset, tiny_snapshot: Snapshot, pseudonyms: Pseudonyms, setting: ClockSetting
) -> None:
    latest = float(tiny.interactions.ts.max())
    t = FakeTime(WALL_2026)
    service = open_tiny(tiny_snapshot, pseudonyms, clock(setting, latest, t))
    t.elapsed_now += 2.5
    service.ingest([Event("u1", "i3", "click")])
    assert last_ts(service, "u1") == latest + 2.5
    t.elapsed_now += 1.0
    service.ingest([Event("u1", "i4", "click")])
    assert last_ts(service, "u1") == latest + 3.5  # the user's events keep their order


def test_under_the_wall_clock_an_event_without_a_time_is_stamped_now(
    tiny: Dataset, tiny_snapshot: Snapshot, pseudonyms: Pseudonyms
) -> None:
    t = FakeTime(WALL_2026)
    service = open_tiny(
        tiny_snapshot, pseudonyms, clock("wall", float(tiny.interactions.ts.max()), t)
    )
    service.ingest([Event("u1", "i3", "click")])
    assert last_ts(service, "u1") == WALL_2026


@pytest.mark.parametrize("setting", ["auto", "wall"])
def test_a_given_time_is_kept_exactly(
    tiny: Dataset, tiny_snapshot: Snapshot, pseudonyms: Pseudonyms, setting: ClockSetting
) -> None:
    t = FakeTime(WALL_2026)
    service = open_tiny(
        tiny_snapshot, pseudonyms, clock(setting, float(tiny.interactions.ts.max()), t)
    )
    for given in (0.0, 1_234_567_890.125, WALL_2026 - 7.0):
        service.ingest([Event("u2", "i5", "view", ts=given)])
        assert last_ts(service, "u2") == given


def trending_top(service: LiveService, k: int = 10) -> list[str]:
    """The ranked list the trending channel serves from, as item ids."""
    state = service.runtime.state
    return state.catalog.ids.raws(state.stats.trending_items()[:k].tolist())


def test_one_click_without_a_time_does_not_take_over_a_historical_trending_list(
    service: LiveService,
) -> None:
    assert service.event_clock.kind == "data"  # ML-100K ends in 1998: "auto" picks the data's
    before = trending_top(service, 1000)
    clicked = before[500]  # a film far from the top
    service.ingest([Event("196", clicked, "click")])
    after = trending_top(service, 1000)
    # One event at the data's latest time adds 1 to the film's decayed count and changes no
    # other: the film may move up; every other film keeps its place in the order.
    assert [i for i in after if i != clicked] == [i for i in before if i != clicked]
    assert after.index(clicked) <= 500
    assert trending_top(service) == before[:10]


def test_under_the_wall_clock_the_same_click_is_the_whole_trending_list(
    snapshot: Snapshot, pseudonyms: Pseudonyms
) -> None:
    # What "data" prevents: stamped in 2026, the click is ~1,460 half-lives after ML-100K's
    # last event, so every 1998 count decays to nothing against it.
    config = ServiceConfig(pipeline=UNHURRIED_PIPELINE, event_clock="wall")
    wall = clock(config.event_clock, 0.0, FakeTime(WALL_2026))
    service = LiveService.open(snapshot, config=config, pseudonyms=pseudonyms, event_clock=wall)
    clicked = trending_top(service, 1000)[500]
    service.ingest([Event("196", clicked, "click")])
    assert trending_top(service) == [clicked]
