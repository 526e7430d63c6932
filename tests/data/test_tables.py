"""Streaming readers: the batch size never changes what an import keeps, rejects or reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from liverec.core.privacy import SECRET_ENV
from liverec.data import tables
from liverec.data.dataset import Dataset, dataset_dir
from liverec.data.importer import import_dataset
from liverec.data.tables import open_table

ITEMS = "item_id,title\ni1,One\ni2,Two\ni3,Three\n"
CSV_EVENTS = (
    "user_id,item_id,timestamp,type,rating\n"
    "u1,i1,5,view,\n"
    "\n"
    ",i1,6,view,\n"
    'u2,"i\n2",7,click,\n'
    "u1,i2,xyz,view,\n"
    "u1,i2,8\n"
    "   \n"
    "u3,i3,2024-01-31,purchase,\n"
    "u3,i3,2024-01-31,purchase,\n"
    "u2,i4,9,rating,4\n"
    "u1,i3,1,view,-1\n"
)
JSON_EVENTS = [
    {"user_id": "u1", "item_id": "i1", "ts": 5},
    {"user_id": 7, "item_id": "i2", "ts": "2024-01-31T00:00:00Z"},  # mixed types: slow path
    "not an object",
    {"user_id": "u2", "item_id": "i3", "ts": 6, "type": "like"},
    {"user_id": "u2", "item_id": "i1", "ts": 7.5, "type": "CLICK"},
]


def snapshot_of(home: Path, name: str) -> tuple[list[list[object]], list[str]]:
    ds = Dataset.load(dataset_dir(home, name))
    it = ds.interactions
    rows = [
        [ds.users.raw(u), ds.items.raw(i), float(t), int(e), float(v)]
        for u, i, t, e, v in zip(it.uidx, it.iidx, it.ts, it.etype, it.value, strict=True)
    ]
    return rows, list(ds.items.raw_ids)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_the_batch_size_changes_nothing(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "one secret for every home below")  # same pseudonyms
    items = tmp_path / "items.csv"
    items.write_text(ITEMS)
    events = tmp_path / f"events.{fmt}"
    if fmt == "csv":
        events.write_text(CSV_EVENTS)
    elif fmt == "jsonl":
        events.write_text("\n".join(json.dumps(r) for r in JSON_EVENTS) + "\n\n")
    else:
        rows = [{"user_id": f"u{k % 3}", "item_id": f"i{k % 4 + 1}", "ts": float(k % 7)}
                for k in range(40)]  # fmt: skip
        rows[5]["ts"] = None
        pq.write_table(pa.Table.from_pylist(rows), events)
    reports = []
    for batch in (1, 2, 3, 1000):
        home = tmp_path / f"home-{batch}"
        report = import_dataset(events, items, name="e", home=home, batch_rows=batch)
        reports.append((report, snapshot_of(home, "e")))
    first_report, first = reports[0]
    for report, got in reports[1:]:
        assert got == first
        assert [str(e) for e in report.errors] == [str(e) for e in first_report.errors]
        assert (report.events_read, report.events_kept, report.events_deduplicated) == (
            first_report.events_read,
            first_report.events_kept,
            first_report.events_deduplicated,
        )


def test_csv_rows_are_reported_on_the_line_they_start(tmp_path: Path) -> None:
    items = tmp_path / "items.csv"
    items.write_text(ITEMS)
    events = tmp_path / "events.csv"
    events.write_text(CSV_EVENTS)
    report = import_dataset(events, items, name="e", home=tmp_path / "h", batch_rows=2)
    assert [(e.line, e.reason.split(" (")[0]) for e in report.errors] == [
        (4, "missing field 'user_id'"),
        (5, "item_id 'i\\n2' has a control character"),  # a quoted field spanning lines 5-6
        (7, "unparsable timestamp 'xyz'"),
        (8, "has 3 fields, the header has 5"),
        (13, "negative rating -1"),
    ]
    assert report.events_deduplicated == 1 and report.items_added_from_events == 1


def test_record_lines_survive_block_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "e.csv"
    path.write_text(CSV_EVENTS)
    whole = tables._record_starts(path, "csv", 11)
    monkeypatch.setattr(tables, "_SCAN_BLOCK", 5)  # every record crosses a block boundary
    assert tables._record_starts(path, "csv", 11).tolist() == whole.tolist()
    assert whole.tolist() == [2, 4, 5, 7, 8, 9, 10, 11, 12, 13]


def test_a_jsonl_file_with_one_type_per_column_is_read_by_arrow(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"user_id": "a", "item_id": "b"}\n\n{"user_id": "c", "item_id": "d"}\n')
    table = open_table(path, ("user_id", "item_id"), batch_rows=1)
    batches = list(table.batches)
    assert all(isinstance(b.columns["user_id"], pa.Array) for b in batches)
    assert np.concatenate([b.records for b in batches]).tolist() == [0, 1]
    assert table.lines(np.array([0, 1])).tolist() == [1, 3]
