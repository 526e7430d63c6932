"""Importing a user's own CSV, JSONL and Parquet files: every row kept or reported, never lost."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from liverec.cli import main
from liverec.core.errors import DataError, LiverecError, RowError
from liverec.core.privacy import Pseudonyms
from liverec.core.types import EventType
from liverec.data.dataset import Dataset, dataset_dir
from liverec.data.importer import ImportReport, import_dataset
from liverec.data.sources import load_dataset
from liverec.data.split import TEST, VALID, leave_last_out
from liverec.data.tables import TableRowError

ITEMS_CSV = """item_id,title,year,genres,description
i1,Alien,1979,Horror|Sci-Fi,A crew meets a creature.
i2,Heat,1995,"Crime, Drama",
i3,,,,
"""

JAN_31 = datetime(2024, 1, 31, tzinfo=UTC).timestamp()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[object]) -> Path:
    return write(path, "".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def items_csv(tmp_path: Path) -> Path:
    return write(tmp_path / "items.csv", ITEMS_CSV)


def rejected(report: ImportReport) -> list[tuple[str, int, str]]:
    return [(Path(e.file).name, e.line, e.reason) for e in report.errors]


def assert_counts_add_up(report: ImportReport) -> None:
    kept = report.events_kept + report.events_deduplicated + report.events_rejected
    assert report.events_read == kept
    assert report.items_read == report.items_kept + report.items_rejected


def test_csv_import_round_trips_to_a_loadable_dataset(
    tmp_path: Path, home: Path, items_csv: Path
) -> None:
    events = write(
        tmp_path / "shop.csv",
        "user_id,item_id,timestamp,type,rating\n"
        "u1,i1,2024-01-31,,4.5\n"
        "u2,i2,1706659200,click,\n"
        "u1,i3,2024-01-31T12:00:00Z,purchase,\n"
        "u2,i1,2024-01-31T14:00:00+02:00,view,\n",
    )
    users = write(tmp_path / "users.csv", "user_id,age,city\nu2,31,Oslo\nu3,40,Rome\n")

    report = import_dataset(events=events, items=items_csv, users=users, home=home)

    assert report.name == "shop"
    assert report.errors == []
    ds = load_dataset("shop", home)
    # stored as pseudonyms: event users first, then idle ones
    assert ds.users.raw_ids == tuple(Pseudonyms.for_home(home).many(["u1", "u2", "u3"]))
    assert ds.items.raw_ids == ("i1", "i2", "i3")
    assert [it.title for it in ds.catalog] == ["Alien", "Heat", "i3"]
    assert [it.genres for it in ds.catalog] == [("Horror", "Sci-Fi"), ("Crime", "Drama"), ()]
    assert ds.catalog[0].year == 1979
    assert ds.catalog[0].description == "A crew meets a creature."
    it = ds.interactions  # stored sorted by user, then time
    assert it.uidx.tolist() == [0, 0, 1, 1]
    assert it.iidx.tolist() == [0, 2, 1, 0]
    assert it.ts.tolist() == [JAN_31, JAN_31 + 12 * 3600, JAN_31, JAN_31 + 12 * 3600]
    assert it.etype.tolist() == [EventType.RATING, EventType.PURCHASE, EventType.CLICK, 0]
    assert it.value.tolist() == [4.5, 1.0, 1.0, 1.0]
    assert ds.user_attributes == {"age": ("", "31", "40"), "city": ("", "Oslo", "Rome")}
    assert "1 users have events but no row" in report.summary()


def test_jsonl_import_reads_lists_numbers_and_millisecond_epochs(
    tmp_path: Path, home: Path
) -> None:
    items = write_jsonl(
        tmp_path / "items.jsonl",
        [{"item_id": 10, "title": "Up", "genres": ["Animation", "Family"], "year": "2009"}],
    )
    events = write_jsonl(
        tmp_path / "log.ndjson",
        [
            {"user_id": 7, "item_id": 10, "ts": 1706659200000, "value": 3},
            {"user_id": 7, "item_id": 11.0, "ts": 1706659201.5, "event_type": "PURCHASE"},
        ],
    )

    report = import_dataset(events=events, items=items, name="mine", home=home)

    ds = load_dataset("mine", home)
    assert ds.users.raw_ids == (Pseudonyms.for_home(home).of("7"),)
    assert ds.items.raw_ids == ("10", "11")  # 11.0 from a float column is the id 11
    assert ds.catalog[0].genres == ("Animation", "Family")
    assert ds.catalog[0].year == 2009
    assert ds.catalog[1].title == "11"
    assert ds.interactions.ts.tolist() == [JAN_31, JAN_31 + 1.5]
    assert ds.interactions.etype.tolist() == [EventType.RATING, EventType.PURCHASE]
    assert ds.interactions.value.tolist() == [3.0, 1.0]
    assert report.items_added_from_events == 1
    assert "1 added from events" in report.summary()


def test_parquet_import_round_trips_and_reports_rows_by_number(tmp_path: Path, home: Path) -> None:
    pq.write_table(
        pa.Table.from_pylist(
            [{"item_id": "a", "title": "A", "genres": ["x", "y"]}, {"item_id": "b"}]
        ),
        tmp_path / "items.parquet",
    )
    when = datetime(2024, 1, 31, tzinfo=UTC)
    pq.write_table(
        pa.Table.from_pylist(
            [
                {"user_id": "u", "item_id": "a", "timestamp": when, "rating": 5.0},
                {"user_id": "u", "item_id": "b", "timestamp": when, "rating": -2.0},
                {"user_id": None, "item_id": "b", "timestamp": when, "rating": 1.0},
            ]
        ),
        tmp_path / "events.parquet",
    )

    report = import_dataset(
        events=tmp_path / "events.parquet", items=tmp_path / "items.parquet", home=home
    )

    ds = load_dataset("events", home)
    assert ds.catalog[0].genres == ("x", "y")
    assert ds.interactions.ts.tolist() == [JAN_31]
    assert ds.interactions.value.tolist() == [5.0]
    assert rejected(report) == [
        ("events.parquet", 2, "negative rating -2"),
        ("events.parquet", 3, "missing field 'user_id'"),
    ]
    assert isinstance(report.errors[0], TableRowError)
    assert str(report.errors[0]).endswith("events.parquet row 2: negative rating -2")


def test_every_bad_csv_row_is_reported_with_its_line_and_reason(
    tmp_path: Path, home: Path, items_csv: Path
) -> None:
    events = write(
        tmp_path / "events.csv",
        "user_id,item_id,timestamp,type,rating\n"
        "u1,i1,5,view,\n"
        ",i1,6,view,\n"  # line 3
        "u1,i2,xyz,view,\n"
        "\n"  # line 5: blank, skipped but counted
        "u1,i2,7,view,-1\n"  # line 6
        "u1,i2,8,like,\n"
        "u1,i2,9,rating,\n"
        "u1,i2,10\n"
        'u1,"i\n2",11,view,nan\n'  # a quoted field spanning lines 10-11
        "u1,i3,12,click,\n",
    )

    report = import_dataset(events=events, items=items_csv, home=home)

    assert rejected(report) == [
        ("events.csv", 3, "missing field 'user_id'"),
        ("events.csv", 4, "unparsable timestamp 'xyz'"),
        ("events.csv", 6, "negative rating -1"),
        ("events.csv", 7, "event type 'like' is not one of view, click, purchase, rating"),
        ("events.csv", 8, "missing field 'rating' (a rating event needs a value)"),
        ("events.csv", 9, "has 3 fields, the header has 5"),
        ("events.csv", 10, "item_id 'i\\n2' has a control character"),
    ]
    assert all(isinstance(e, RowError) for e in report.errors)
    assert report.events_kept == 2
    assert_counts_add_up(report)


def test_strict_mode_rejects_events_for_items_not_in_the_items_file(
    tmp_path: Path, home: Path, items_csv: Path
) -> None:
    events = write(tmp_path / "events.csv", "user_id,item_id\nu1,i1\nu1,zzz\nu2,i2\n")

    strict = import_dataset(events=events, items=items_csv, home=home, strict=True)
    lenient = import_dataset(events=events, items=items_csv, home=home, name="lenient")

    assert rejected(strict) == [("events.csv", 3, "unknown item_id 'zzz' (not in items file)")]
    assert strict.items_added_from_events == 0
    assert lenient.errors == []
    assert lenient.items_added_from_events == 1
    assert load_dataset("lenient", home).catalog[-1].title == "zzz"


def test_bad_json_lines_are_rejected_rows_not_a_crash(tmp_path: Path, home: Path) -> None:
    items = write_jsonl(tmp_path / "items.jsonl", [{"item_id": "a"}])
    events = write(
        tmp_path / "events.jsonl",
        '{"user_id": "u", "item_id": "a"}\n'
        "\n"
        "{not json\n"
        '["u", "a"]\n'
        '{"user_id": "u", "item_id": {"nested": 1}}\n',
    )

    report = import_dataset(events=events, items=items, home=home)

    assert [(line, reason.split(" (")[0]) for _, line, reason in rejected(report)] == [
        (3, "not valid JSON"),
        (4, "not a JSON object"),
        (5, "item_id must be text or a number, found dict"),
    ]
    assert report.events_read == 4
    assert_counts_add_up(report)


def test_duplicate_item_rows_keep_the_first_and_report_the_rest(tmp_path: Path, home: Path) -> None:
    items = write(
        tmp_path / "items.csv", "item_id,title,year\ni1,First,\ni2,Two,199x\ni1,Second,\n"
    )
    events = write(tmp_path / "events.csv", "user_id,item_id\nu,i1\n")

    report = import_dataset(events=events, items=items, home=home)

    assert rejected(report) == [
        ("items.csv", 3, "unparsable year '199x'"),
        ("items.csv", 4, "duplicate item_id 'i1' (first at line 2)"),
    ]
    assert load_dataset("events", home).catalog[0].title == "First"
    assert (report.items_read, report.items_kept, report.items_rejected) == (3, 1, 2)


def test_exact_duplicate_events_are_counted_not_silently_dropped(
    tmp_path: Path, home: Path, items_csv: Path
) -> None:
    events = write(
        tmp_path / "events.csv",
        "user_id,item_id,timestamp,rating\n"
        "u,i1,5,4\n"
        "u,i1,5,4.0\n"  # same event
        "u,i1,5,3\n"  # another value: kept
        "u,i2,1,\n"
        "u,i2,oops,\n",
    )

    report = import_dataset(events=events, items=items_csv, home=home)

    assert (report.events_read, report.events_kept) == (5, 3)
    assert (report.events_deduplicated, report.events_rejected) == (1, 1)
    assert_counts_add_up(report)
    assert "5 read, 3 kept, 1 deduplicated, 1 rejected" in report.summary()
    # sorted by time; the two kept events at t=5 keep their file order
    assert load_dataset("events", home).interactions.iidx.tolist() == [1, 0, 0]
    assert load_dataset("events", home).interactions.value.tolist() == [1.0, 4.0, 3.0]


def test_without_a_timestamp_column_row_order_is_the_time(
    tmp_path: Path, home: Path, items_csv: Path
) -> None:
    events = write(tmp_path / "events.csv", "user_id,item_id,score\nu,i2,1\nu,i1,2\nu,i3,3\n")

    report = import_dataset(events=events, items=items_csv, home=home)

    assert load_dataset("events", home).interactions.ts.tolist() == [0.0, 1.0, 2.0]
    assert "row order is used as event time" in report.summary()
    assert "ignored columns of" in report.summary() and "score" in report.summary()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1706659200", JAN_31),
        ("1706659200000", JAN_31),
        ("1706659200.25", JAN_31 + 0.25),
        ("2024-01-31", JAN_31),
        ("2024-01-31T00:00:00Z", JAN_31),
        ("2024-01-31T01:00:00+01:00", JAN_31),
        ("2024-01-31 00:00:00", JAN_31),
    ],
)
def test_timestamps_accept_epochs_and_iso_8601(
    tmp_path: Path, home: Path, items_csv: Path, raw: str, expected: float
) -> None:
    events = write(tmp_path / "events.csv", f"user_id,item_id,timestamp\nu,i1,{raw}\n")
    import_dataset(events=events, items=items_csv, home=home)
    assert load_dataset("events", home).interactions.ts.tolist() == [expected]


@pytest.mark.parametrize("raw", ["31/01/2024", "yesterday", "inf", "2024-13-01"])
def test_unparsable_timestamps_are_rejected(
    tmp_path: Path, home: Path, items_csv: Path, raw: str
) -> None:
    events = write(tmp_path / "events.csv", f"user_id,item_id,ts\nu,i1,1\nu,i1,{raw}\n")
    report = import_dataset(events=events, items=items_csv, home=home)
    assert rejected(report) == [("events.csv", 3, f"unparsable timestamp {raw!r}")]


@pytest.mark.parametrize(
    ("cell", "genres"),
    [("a|b,c", ("a", "b,c")), ("a, b", ("a", "b")), ("a;b", ("a", "b")), ("solo", ("solo",))],
)
def test_csv_genres_split_on_the_first_separator_present(
    tmp_path: Path, home: Path, cell: str, genres: tuple[str, ...]
) -> None:
    items = write(tmp_path / "items.csv", f'item_id,genres\ni1,"{cell}"\n')
    events = write(tmp_path / "events.csv", "user_id,item_id\nu,i1\n")
    import_dataset(events=events, items=items, home=home)
    assert load_dataset("events", home).catalog[0].genres == genres


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("events.csv", "user,item,ts\nu,i,1\n", "has no column 'user_id'; found: user, item, ts"),
        ("events.csv", "", "is empty; expected a header line naming user_id, item_id"),
        ("events.csv", "user_id,item_id\n", "has no data rows"),
        ("events.csv", "user_id,item_id,user_id\nu,i,u\n", "names column 'user_id' twice"),
        ("events.jsonl", "\n\n", "has no data rows"),
        ("events.jsonl", '{"user_id": "u"}\n', "has no column 'item_id'; found: user_id"),
        ("events.jsonl", "garbage\n[1]\n", "no row of"),
        ("events.parquet", "not parquet at all", "is not a readable Parquet file"),
        ("events.tsv", "user_id\titem_id\n", "has extension '.tsv'; expected one of .csv"),
        ("events", "x", "has extension '(none)'"),
    ],
)
def test_malformed_events_files_raise_a_data_error_naming_the_file(
    tmp_path: Path, home: Path, items_csv: Path, name: str, content: str, message: str
) -> None:
    events = write(tmp_path / name, content)
    with pytest.raises(DataError) as info:
        import_dataset(events=events, items=items_csv, name="x", home=home)
    assert str(events) in str(info.value)
    assert message in str(info.value)


def test_binary_or_non_utf8_files_raise_a_data_error(
    tmp_path: Path, home: Path, items_csv: Path
) -> None:
    (tmp_path / "latin.csv").write_bytes("user_id,item_id\nu,caf\xe9\n".encode("latin-1"))
    (tmp_path / "blob.jsonl").write_bytes(bytes(range(256)) * 4)
    for name in ("latin.csv", "blob.jsonl"):
        with pytest.raises(DataError, match="is not UTF-8 text"):
            import_dataset(events=tmp_path / name, items=items_csv, home=home)
    with pytest.raises(DataError, match="does not exist"):
        import_dataset(events=tmp_path / "missing.csv", items=items_csv, home=home)


def test_when_every_event_is_rejected_the_error_carries_the_rows(
    tmp_path: Path, home: Path, items_csv: Path
) -> None:
    events = write(tmp_path / "events.csv", "user_id,item_id\nu,nope\nv,\n")
    with pytest.raises(DataError, match="nothing to import") as info:
        import_dataset(events=events, items=items_csv, home=home, strict=True)
    assert [r.line for r in info.value.rows] == [2, 3]
    assert not dataset_dir(home, "events").exists()


def test_a_failed_import_leaves_the_previous_dataset_whole(
    tmp_path: Path, home: Path, items_csv: Path
) -> None:
    events = write(tmp_path / "events.csv", "user_id,item_id\nu,i1\nu,i2\n")
    import_dataset(events=events, items=items_csv, home=home)
    write(events, "user_id,item_id\nu,\n")
    with pytest.raises(DataError):
        import_dataset(events=events, items=items_csv, home=home, replace=True)
    assert len(load_dataset("events", home).interactions) == 2

    write(events, "user_id,item_id\nu,i3\n")
    import_dataset(events=events, items=items_csv, home=home, replace=True)
    assert load_dataset("events", home).interactions.iidx.tolist() == [2]
    assert sorted(p.name for p in home.iterdir()) == ["datasets", "secret"]  # no temporary folders


def test_dataset_names_are_validated(tmp_path: Path, home: Path, items_csv: Path) -> None:
    events = write(tmp_path / "my events.csv", "user_id,item_id\nu,i1\n")
    with pytest.raises(LiverecError, match="choose one with --name"):
        import_dataset(events=events, items=items_csv, home=home)
    with pytest.raises(LiverecError, match="reserved"):
        import_dataset(events=events, items=items_csv, name="ml-100k", home=home)


def test_imported_dataset_feeds_leave_last_out(tmp_path: Path, home: Path, items_csv: Path) -> None:
    rows = "".join(f"u,{i},{t}\n" for t, i in [(3, "i3"), (1, "i1"), (2, "i2")])
    events = write(tmp_path / "events.csv", "user_id,item_id,timestamp\n" + rows)
    import_dataset(events=events, items=items_csv, home=home)

    split = leave_last_out(load_dataset("events", home).interactions)

    assert split.role.tolist() == [0, VALID, TEST]  # rows are stored in time order
    assert split.targets("test")[1].tolist() == [2]


def test_cli_import_prints_the_summary_and_rejected_rows(
    tmp_path: Path,
    home: Path,
    items_csv: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LIVEREC_HOME", str(home))
    events = write(tmp_path / "events.csv", "user_id,item_id,rating\nu,i1,5\nu,i2,-3\n")

    code = main(["data", "import", "--events", str(events), "--items", str(items_csv)])

    out, err = capsys.readouterr()
    assert code == 0
    assert "events: 2 read, 1 kept, 0 deduplicated, 1 rejected" in out
    assert f"rejected {events}:3: negative rating -3" in err
    assert isinstance(Dataset.load(dataset_dir(home, "events")), Dataset)


def test_cli_import_of_a_malformed_file_is_an_error_line_not_a_traceback(
    tmp_path: Path,
    home: Path,
    items_csv: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LIVEREC_HOME", str(home))
    events = write(tmp_path / "events.csv", "user,item\nu,i1\n")

    code = main(["data", "import", "--events", str(events), "--items", str(items_csv)])

    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("error: ") and "has no column 'user_id'" in err
    assert "Traceback" not in out + err
    assert not dataset_dir(home, "events").exists()


def test_a_stray_quote_cannot_merge_lines_into_one_id(
    tmp_path: Path, home: Path, items_csv: Path
) -> None:
    lines = ["user_id,item_id,ts", 'u1,"i1,1'] + [f"u{n},i2,{n}" for n in range(2, 50)]
    events = write(tmp_path / "events.csv", "\n".join(lines) + '\nu9,i1",7\nu50,i1,50\n')
    report = import_dataset(events=events, items=items_csv, home=home)
    ids = load_dataset("events", home).users.raw_ids
    assert all("\n" not in Pseudonyms.passthrough().of(u) for u in ids)
    [(name, line, reason)] = rejected(report)
    assert (name, line) == ("events.csv", 2) and reason.startswith("item_id"), reason
    assert report.events_kept == 1  # u50: the merged record is one rejected row, not 49 ids


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ("u,i1,5,1e39", "value 1e+39 is above the limit 1e+09"),
        ("u,i1,4102444800,1", "is more than a day ahead of the clock"),  # 2100
        ("u,i1,-86400,1", "is before 1970"),
        (f"{'u' * 300},i1,5,1", "is longer than 256 characters"),
        ("u/x,i1,5,1", "contains '/'"),
    ],
)
def test_out_of_range_numbers_times_and_ids_are_rejected_by_line(
    tmp_path: Path, home: Path, items_csv: Path, row: str, says: str
) -> None:
    events = write(tmp_path / "events.csv", f"user_id,item_id,ts,value\nok,i1,5,1\n{row}\n")
    report = import_dataset(events=events, items=items_csv, home=home)
    [(_, line, reason)] = rejected(report)
    assert line == 3 and says in reason, reason


def test_over_long_item_fields_are_rejected_by_line(tmp_path: Path, home: Path) -> None:
    items = write(tmp_path / "items.csv", f"item_id,title\ni1,ok\ni2,{'t' * 501}\n")
    events = write(tmp_path / "events.csv", "user_id,item_id\nu,i1\n")
    report = import_dataset(events=events, items=items, home=home)
    assert rejected(report) == [("items.csv", 3, "title is longer than 500 characters (501)")]


@pytest.mark.parametrize("name", ["bad\nname", "bad name", "../up", ""])
def test_dataset_names_follow_the_rule(
    tmp_path: Path, home: Path, items_csv: Path, name: str
) -> None:
    events = write(tmp_path / "events.csv", "user_id,item_id\nu,i1\n")
    with pytest.raises(LiverecError, match="is not valid"):
        import_dataset(events=events, items=items_csv, name=name, home=home)


def test_importing_over_an_existing_dataset_needs_replace(
    tmp_path: Path, home: Path, items_csv: Path
) -> None:
    events = write(tmp_path / "events.csv", "user_id,item_id\nu,i1\n")
    import_dataset(events=events, items=items_csv, home=home)
    with pytest.raises(LiverecError, match="--replace"):
        import_dataset(events=events, items=items_csv, home=home)
    write(events, "user_id,item_id\nu,i1\nv,i2\n")
    import_dataset(events=events, items=items_csv, home=home, replace=True)
    assert load_dataset("events", home).n_users == 2
