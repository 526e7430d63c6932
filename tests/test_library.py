"""The Python API as a newcomer uses it: open, recommend, ingest, similar, add items."""

from __future__ import annotations

import doctest
import re
import shutil
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest

import liverec
from liverec.api.app import create_app
from liverec.config import Settings
from liverec.core.paths import Paths

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def home(tmp_path: Path, session_home: Path, snapshot_dir: Path) -> Path:
    """A home with ML-100K, the session's secret and its trained snapshot (nothing to train)."""
    source, target = Paths(session_home), Paths(tmp_path)
    target.datasets.mkdir()
    (target.datasets / "ml-100k").symlink_to(source.dataset("ml-100k"))
    shutil.copy(source.secret, target.secret)
    target.snapshots("ml-100k").mkdir(parents=True)
    (target.snapshots("ml-100k") / snapshot_dir.name).symlink_to(snapshot_dir)
    return tmp_path


@pytest.fixture
def rec(home: Path) -> Iterator[liverec.LiveRecommender]:
    with liverec.open("ml-100k", home=home) as opened:
        yield opened


def test_top_ten_for_a_user_are_typed_distinct_and_unseen(
    rec: liverec.LiveRecommender,
) -> None:
    top = rec.recommend("196", k=10)
    assert len(top) == 10
    assert all(isinstance(r, liverec.Recommendation) and r.reasons for r in top)
    assert len({r.item_id for r in top}) == 10
    seen = {e.item_id for e in rec.profile("196", limit=500).recent}
    assert not seen & {r.item_id for r in top}


def test_an_ingested_event_is_in_the_next_answer_and_survives_a_reopen(home: Path) -> None:
    with liverec.open("ml-100k", home=home) as rec:
        first = rec.recommend("196", k=5)[0].item_id
        result = rec.ingest([liverec.Event("196", first, "purchase")])
        assert result.accepted == 1
        assert first not in [r.item_id for r in rec.recommend("196", k=5)]
        before = rec.profile("196").event_count
    with liverec.open("ml-100k", home=home) as reopened:  # replayed from the durable log
        assert reopened.profile("196").event_count == before
        assert reopened.profile("196").recent[0].item_id == first


def test_a_new_item_is_recommendable_and_similar_excludes_the_item(
    rec: liverec.LiveRecommender,
) -> None:
    rec.add_item(liverec.Item("brand-new", title="A Brand New Film", genres=("Drama",)))
    assert rec.item("brand-new").genres == ("Drama",)
    rec.ingest([liverec.Event("u-new", "brand-new", "click")])
    sims = rec.similar("50", k=5)
    assert len(sims) == 5 and "50" not in [s.item_id for s in sims]


def test_an_event_made_without_a_time_continues_the_historical_datas_clock(
    rec: liverec.LiveRecommender,
) -> None:
    clock = rec.service.event_clock
    assert clock.kind == "data" and clock.data_latest is not None  # ML-100K ends in 1998
    rec.ingest([liverec.Event("196", "50", "click")])
    stamped = rec.profile("196").recent[0].ts
    assert clock.data_latest <= stamped <= rec.service.now()  # not 28 years later


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (liverec.Event("a/b", "50", "click"), "events[1].user_id"),
        (liverec.Event("196", " 50", "click"), "events[1].item_id"),
        (liverec.Event("196", "50", "click", ts=-1.0), "events[1].ts"),
        (liverec.Event("196", "50", "rating"), "events[1].value"),
    ],
)
def test_bad_input_names_the_field_and_logs_nothing(
    rec: liverec.LiveRecommender, bad: liverec.Event, field: str
) -> None:
    count = rec.profile("196").event_count
    with pytest.raises(liverec.InvalidInputError, match=re.escape(field)):
        rec.ingest([liverec.Event("196", "50", "click"), bad])  # all or nothing
    assert rec.profile("196").event_count == count


def test_unknown_ids_raise_a_key_error_naming_them(rec: liverec.LiveRecommender) -> None:
    with pytest.raises(liverec.UnknownIdError, match="no-such-item"):
        rec.similar("no-such-item")
    with pytest.raises(KeyError):
        rec.ingest([liverec.Event("196", "no-such-item", "click")])


def test_an_unknown_dataset_is_one_clear_error(home: Path) -> None:
    with pytest.raises(liverec.LiverecError, match="not found"):
        liverec.open("no-such-dataset", home=home)


def test_the_http_api_documents_the_librarys_result_types(tmp_path: Path) -> None:
    schemas = create_app(Settings(home=tmp_path)).openapi()["components"]["schemas"]
    for cls in (liverec.Recommendation, liverec.RecommendationResult, liverec.IngestResult):
        assert set(schemas[cls.__name__]["properties"]) == {f.name for f in fields(cls)}


def test_the_readme_example_runs(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEREC_HOME", str(home))
    text = README.read_text()
    section = text[text.index("## Python API") : text.index("## Using the service")]
    example = section[section.index("```python") + len("```python") : section.rindex("```")]
    test = doctest.DocTestParser().get_doctest(example, {}, "README", str(README), 0)
    assert len(test.examples) >= 8
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
