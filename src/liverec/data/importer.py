"""Import a user's own events/items/users files (CSV, JSONL or Parquet) as a named dataset.

Files are streamed in batches (``liverec.data.tables``) and converted column by column
(``liverec.data.convert``); every rejected row is reported with its line (or Parquet row)
number and reason. The result is a columnar dataset: events sorted by user then time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from liverec.core.errors import DataError, LiverecError, RowError
from liverec.data import convert
from liverec.data.catalog import MAX_DESCRIPTION, MAX_TITLE, Catalog
from liverec.data.dataset import Dataset, dataset_dir, save_atomically, validate_name
from liverec.data.eventfile import (
    EventColumns,
    EventParts,
    SortedEvents,
    read_events,
    sort_and_deduplicate,
)
from liverec.data.idmap import IdMap, IdMapBuilder
from liverec.data.interactions import Interactions
from liverec.data.sources import BUILTIN
from liverec.data.tables import RecordBatch, Table, finish, open_table

ITEM_COLUMNS = {"item_id", "title", "year", "genres", "description"}
MAX_REPORTED = 10_000  # rejected rows listed one by one; beyond this they are only counted


@dataclass(frozen=True)
class ImportReport:
    """What an import read, kept, deduplicated and rejected, and where it wrote the dataset."""

    name: str
    path: Path
    events_read: int
    events_kept: int
    events_deduplicated: int
    events_rejected: int
    items_read: int
    items_kept: int
    items_rejected: int
    items_added_from_events: int
    users_read: int
    users_rejected: int
    n_users: int
    n_items: int
    errors: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines naming every count, then the notes."""
        lines = [
            f"imported {self.name!r} into {self.path}: {self.n_users:,} users, "
            f"{self.n_items:,} items, {self.events_kept:,} events",
            f"events: {self.events_read:,} read, {self.events_kept:,} kept, "
            f"{self.events_deduplicated:,} deduplicated, {self.events_rejected:,} rejected",
            f"items: {self.items_read:,} read, {self.items_kept:,} kept, "
            f"{self.items_rejected:,} rejected, {self.items_added_from_events:,} added from events",
            f"users: {self.users_read:,} read, {self.users_read - self.users_rejected:,} kept, "
            f"{self.users_rejected:,} rejected"
            if self.users_read
            else "users: no users file",
        ]
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


def import_dataset(
    events: Path | str,
    items: Path | str,
    users: Path | str | None = None,
    name: str | None = None,
    *,
    home: Path,
    strict: bool = False,
    replace: bool = False,
    batch_rows: int | None = None,
) -> ImportReport:
    """Validate the files, save them as dataset ``name`` under ``home`` and report on every row.

    Raises
    ------
    DataError
        If a file is missing, unreadable, lacks a required column or has no usable row.
    LiverecError
        If the name is not usable, a dataset of that name exists and ``replace`` is False
        (checked before reading anything), or the dataset cannot be written.
    """
    events, items = Path(events), Path(items)
    name = _dataset_name(name, events)
    if not replace and (dataset_dir(home, name) / "meta.json").exists():
        raise LiverecError(
            f"a dataset named {name!r} exists under {home}; pass --replace to overwrite it "
            f"(its snapshots stay until you train again)"
        )
    rows_per_batch = {} if batch_rows is None else {"batch_rows": batch_rows}
    item_table = open_table(items, ("item_id",), **rows_per_batch)
    catalog, item_errors = _read_catalog(item_table)
    event_table = open_table(events, ("user_id", "item_id"), **rows_per_batch)
    cols = EventColumns.of(event_table.columns)
    notes = _ignored_columns(event_table, cols.used)
    if cols.ts is None:
        notes.append(f"{events} has no timestamp column: row order is used as event time")
    notes += _ignored_columns(item_table, ITEM_COLUMNS)
    sorted_events, parts, event_errors = _read_event_file(event_table, cols, catalog, strict)
    item_map = parts.items.finish()
    user_rows = _read_users(users, parts.users.ids())
    user_map = parts.users.finish() if user_rows is None else IdMap(user_rows.ids, kind="user")
    added = item_map.arrow.slice(len(catalog))
    dataset = Dataset(
        name=name,
        users=user_map,
        items=item_map,
        interactions=Interactions(
            uidx=sorted_events.uidx,
            iidx=sorted_events.iidx,
            ts=sorted_events.ts,
            etype=sorted_events.etype,
            value=sorted_events.value,
            n_users=len(user_map),
            n_items=len(item_map),
        ),
        catalog=catalog.concat(Catalog.placeholders(added)) if len(added) else catalog,
        user_attributes=user_rows.attributes if user_rows else {},
    )
    target = dataset_dir(home, name)
    save_atomically(dataset, target, home)
    return ImportReport(
        name=name,
        path=target,
        events_read=event_table.read,
        events_kept=len(sorted_events.uidx),
        events_deduplicated=sorted_events.duplicates,
        events_rejected=len(event_errors),
        items_read=item_table.read,
        items_kept=len(catalog),
        items_rejected=item_table.read - len(catalog),
        items_added_from_events=len(added),
        users_read=user_rows.read if user_rows else 0,
        users_rejected=len(user_rows.errors) if user_rows else 0,
        n_users=dataset.n_users,
        n_items=dataset.n_items,
        errors=[
            *_located(event_table, event_errors),
            *item_errors,
            *(user_rows.errors if user_rows else []),
        ],
        notes=notes + (user_rows.notes if user_rows else []) + _unlisted(len(event_errors)),
    )


def _read_event_file(
    table: Table, cols: EventColumns, catalog: Catalog, strict: bool
) -> tuple[SortedEvents, EventParts, list[tuple[int, str]]]:
    """The events converted, id-mapped (catalog items first), sorted and de-duplicated; the
    id builders; every rejected (record, reason).

    Raises
    ------
    DataError
        If no event row is usable.
    """
    parts = EventParts(
        users=IdMapBuilder("user"),
        items=IdMapBuilder("item", initial=catalog.item_ids),
        n_catalog=len(catalog),
        strict=strict,
        capacity=table.size_hint,
    )
    read_events(table, cols, parts)
    finish(table)
    errors = list(table.unreadable) + parts.errors
    if not len(parts):
        raise DataError(
            f"nothing to import: all {table.read} event rows of {table.path} were rejected",
            rows=_located(table, errors),
        )
    return sort_and_deduplicate(parts.take_columns(), cols.ts is not None), parts, errors


def _located(table: Table, errors: list[tuple[int, str]]) -> list[RowError]:
    """The first MAX_REPORTED (record, reason) pairs as RowErrors with line numbers."""
    errors = sorted(errors)[:MAX_REPORTED]
    lines = table.lines(np.array([r for r, _ in errors], np.int64))
    return [table.error(int(n), why) for n, (_, why) in zip(lines, errors, strict=True)]


def _unlisted(n_rejected: int) -> list[str]:
    if n_rejected <= MAX_REPORTED:
        return []
    return [f"{n_rejected - MAX_REPORTED:,} more rejected event rows are counted, not listed"]


def _scalar_item(cells: dict[str, object]) -> dict[str, object]:
    item_id = convert.required(cells.get("item_id"), "item_id")
    return {
        "item_id": item_id,
        "title": convert.text(cells.get("title"), "title", MAX_TITLE) or item_id,
        "year": convert.year_of(cells.get("year")),
        "genres": list(convert.genres_of(cells.get("genres"))),
        "description": convert.text(cells.get("description"), "description", MAX_DESCRIPTION) or "",
    }


def _item_batch(batch: RecordBatch) -> tuple[Any, list[tuple[int, str]]]:
    """Catalog rows of one batch (an Arrow table with a ``record`` column) and its errors.

    Columns convert as a whole; rows a converter flags take the exact per-row path.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from liverec.data.catalog import catalog_schema

    cols = batch.columns
    ids, bad = convert.ids(cols["item_id"])
    n = len(batch)
    title, bad_title = convert.texts(cols.get("title"), n, MAX_TITLE)
    year, bad_year = convert.years(cols.get("year"), n)
    genres, bad_genres = convert.genre_lists(cols.get("genres"), n)
    description, bad_desc = convert.texts(cols.get("description"), n, MAX_DESCRIPTION)
    bad = bad | bad_title | bad_year | bad_genres | bad_desc
    table = pa.table(
        {
            "item_id": ids,
            "title": pc.coalesce(title, ids),
            "year": year,
            "genres": genres,
            "description": pc.fill_null(description, ""),
            "record": pa.array(batch.records),
        }
    ).filter(pa.array(~bad))
    suspect = np.flatnonzero(bad)
    if not len(suspect):
        return table, []
    done, failed = convert.scalar_rows(
        suspect, {c: cols[c] for c in ITEM_COLUMNS if c in cols}, _scalar_item
    )
    if done:
        rows = np.array([r for r, _ in done], np.int64)
        fixed = pa.Table.from_pylist([row for _, row in done], schema=catalog_schema())
        fixed = fixed.append_column("record", pa.array(batch.records[rows]))
        table = pa.concat_tables([table, fixed]).sort_by("record")  # back in file order
    return table, [(int(batch.records[r]), why) for r, why in failed]


def _read_catalog(table: Table) -> tuple[Catalog, list[RowError]]:
    """Items by id in file order; a later row with a seen id is rejected, not merged."""
    import pyarrow as pa

    parts, errors = [], list(table.unreadable)
    for batch in table.batches:
        rows, failed = _item_batch(batch)
        parts.append(rows)
        errors += failed
    finish(table)
    rows = pa.concat_tables(parts) if parts else None
    if rows is None or not rows.num_rows:
        raise DataError(f"no usable row in {table.path}", rows=_located(table, errors))
    first_rows, errors = _first_of_each(table, rows, "item_id", errors)
    return Catalog(rows.take(pa.array(first_rows))), _located(table, errors)


def _first_of_each(
    table: Table, rows: Any, key: str, errors: list[tuple[int, str]]
) -> tuple[NDArray[np.int64], list[tuple[int, str]]]:
    """Positions of the first row of each ``key``; later ones become duplicate errors."""
    codes = np.asarray(rows.column(key).combine_chunks().dictionary_encode().indices, np.int64)
    _, first = np.unique(codes, return_index=True)
    first = np.sort(first)
    dups = np.setdiff1d(np.arange(len(codes)), first)
    if len(dups):
        records = np.asarray(rows.column("record").combine_chunks(), np.int64)
        first_of = np.full(int(codes.max()) + 1, -1, np.int64)
        first_of[codes[first]] = records[first]
        lines = table.lines(first_of[codes[dups]])
        keys = rows.column(key).combine_chunks()
        for d, line in zip(dups.tolist(), lines.tolist(), strict=True):
            where = table.where(int(line))
            errors.append(
                (int(records[d]), f"duplicate {key} {keys[d].as_py()!r} (first at {where})")
            )
    return first, errors


def _user_batch(batch: RecordBatch, columns: list[str]) -> tuple[Any, list[tuple[int, str]]]:
    """User rows of one batch (ids, attributes as text, ``record``) and its errors."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(batch)
    ids, bad = convert.ids(batch.columns["user_id"])
    attrs = {}
    for c in columns:
        text, bad_text = convert.texts(batch.columns[c], n, convert.MAX_ATTRIBUTE)
        attrs[c] = pc.fill_null(text, "")
        bad |= bad_text
    schema = pa.schema([(c, pa.string()) for c in ("user_id", *columns)] + [("record", pa.int64())])
    table = pa.table({"user_id": ids, **attrs, "record": pa.array(batch.records)}, schema=schema)
    table = table.filter(pa.array(~bad))

    def scalar(cells: dict[str, object]) -> dict[str, object]:
        out = {c: convert.attribute_of(cells.get(c), c) for c in columns}
        return {"user_id": convert.required(cells.get("user_id"), "user_id"), **out}

    suspect = np.flatnonzero(bad)
    done, failed = convert.scalar_rows(suspect, batch.columns, scalar) if len(suspect) else ([], [])
    if done:
        rows = np.array([r for r, _ in done], np.int64)
        records = batch.records[rows].tolist()
        fixed = pa.Table.from_pylist(
            [{**row, "record": rec} for (_, row), rec in zip(done, records, strict=True)],
            schema=schema,
        )
        table = pa.concat_tables([table, fixed]).sort_by("record")
    return table, [(int(batch.records[r]), why) for r, why in failed]


@dataclass(frozen=True)
class UserRows:
    """A users file, read: every user id (event users first, then idle ones), attributes
    aligned to them, notes, rows read and rows rejected."""

    ids: Any
    attributes: dict[str, tuple[str, ...]]
    notes: list[str]
    read: int
    errors: list[RowError]


def _read_users(path: Path | str | None, event_users: Any) -> UserRows | None:
    """The users file (None without one)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if path is None:
        return None
    table = open_table(Path(path), ("user_id",))
    columns = [c for c in table.columns if c != "user_id"]
    parts, errors = [], list(table.unreadable)
    for batch in table.batches:
        rows, failed = _user_batch(batch, columns)
        parts.append(rows)
        errors += failed
    finish(table)
    rows = pa.concat_tables(parts)
    first, errors = _first_of_each(table, rows, "user_id", errors)
    rows = rows.take(pa.array(first))
    file_ids = rows.column("user_id").combine_chunks()
    known = pc.is_in(file_ids, value_set=event_users)
    idle = file_ids.filter(pc.invert(known))
    all_ids = pa.concat_arrays([event_users.cast(pa.string()), idle.cast(pa.string())])
    position = IdMap(all_ids, kind="user").indices(file_ids)
    attributes = {}
    for c in columns:
        aligned = np.full(len(all_ids), "", object)
        aligned[position] = rows.column(c).to_pylist()
        attributes[c] = tuple(aligned.tolist())
    notes = []
    if missing := len(event_users) - int(pc.sum(known.cast(pa.int64())).as_py() or 0):
        notes.append(f"{missing:,} users have events but no row in {path}")
    if len(idle):
        notes.append(f"{len(idle):,} users of {path} have no events (kept)")
    return UserRows(all_ids, attributes, notes, table.read, _located(table, errors))


def _ignored_columns(table: Table, used: set[str]) -> list[str]:
    ignored = [c for c in table.columns if c not in used]
    return [f"ignored columns of {table.path}: {', '.join(ignored)}"] if ignored else []


def _dataset_name(name: str | None, events: Path) -> str:
    chosen = events.stem if name is None else name
    try:
        validate_name(chosen)
    except LiverecError as e:
        hint = "; choose one with --name" if name is None else ""
        raise LiverecError(f"{e}{hint}") from None
    if chosen in BUILTIN:
        raise LiverecError(f"dataset name {chosen!r} is reserved for the built-in dataset")
    return chosen
