"""Import a user's own events/items/users files (CSV, JSONL or Parquet) as a named dataset."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np

from liverec.core.errors import DataError, LiverecError, RowError
from liverec.core.types import EventType
from liverec.data.dataset import (
    Dataset,
    Item,
    build_catalog,
    dataset_dir,
    save_atomically,
    user_attribute_columns,
    validate_name,
)
from liverec.data.idmap import IdMap
from liverec.data.interactions import Interactions
from liverec.data.sources import BUILTIN
from liverec.data.tables import Row, Table, read_table

# Above this an epoch number cannot be seconds (year 5138); it is read as milliseconds.
_EPOCH_MS = 1e11


class _RejectedError(Exception):
    """Raised inside row parsing; the message becomes the RowError's reason."""


class _Event(NamedTuple):
    user_id: str
    item_id: str
    etype: EventType
    ts: float | None
    value: float | None


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
) -> ImportReport:
    """Validate the files, save them as dataset ``name`` under ``home`` and report on every row.

    Raises
    ------
    DataError
        If a file is missing, unreadable, lacks a required column or has no usable row.
    LiverecError
        If the name is not usable or the dataset cannot be written.
    """
    events, items = Path(events), Path(items)
    name = _dataset_name(name, events)
    item_table = read_table(items, ("item_id",))
    catalog, item_errors = _parse_keyed(item_table, "item_id", _item)
    event_table = read_table(events, ("user_id", "item_id"))
    kept, event_errors, n_dups, notes = _parse_events(event_table, catalog, strict)
    notes += _ignored_columns(item_table, {"item_id", "title", "year", "genres", "description"})
    user_rows: dict[str, dict[str, str]] = {}
    user_columns: list[str] = []
    user_errors: list[RowError] = []
    users_read = 0
    if users is not None:
        user_table = read_table(Path(users), ("user_id",))
        user_columns = [c for c in user_table.columns if c != "user_id"]
        user_rows, user_errors = _parse_keyed(
            user_table, "user_id", lambda _, row: {c: _attribute(row.get(c)) for c in user_columns}
        )
        users_read = user_table.read
        active = {e.user_id for e in kept}
        if missing := len(active - user_rows.keys()):
            notes.append(f"{missing:,} users have events but no row in {users}")
        if idle := len(user_rows.keys() - active):
            notes.append(f"{idle:,} users of {users} have no events (kept)")

    dataset = _build_dataset(name, kept, catalog, user_rows, user_columns)
    target = dataset_dir(home, name)
    save_atomically(dataset, target, home)
    return ImportReport(
        name=name,
        path=target,
        events_read=event_table.read,
        events_kept=len(kept),
        events_deduplicated=n_dups,
        events_rejected=len(event_errors),
        items_read=item_table.read,
        items_kept=len(catalog),
        items_rejected=len(item_errors),
        items_added_from_events=dataset.n_items - len(catalog),
        users_read=users_read,
        users_rejected=len(user_errors),
        n_users=dataset.n_users,
        n_items=dataset.n_items,
        errors=[*event_errors, *item_errors, *user_errors],
        notes=notes,
    )


def _build_dataset(
    name: str,
    kept: list[_Event],
    catalog: dict[str, Item],
    user_rows: dict[str, dict[str, str]],
    user_columns: list[str],
) -> Dataset:
    """Index users in first-seen order (event users, then idle ones) and items in file order."""
    users = IdMap.from_values([*(e.user_id for e in kept), *user_rows], kind="user")
    items = IdMap(catalog, kind="item").extended(e.item_id for e in kept)
    ts = [e.ts for e in kept]
    interactions = Interactions(
        uidx=users.indices([e.user_id for e in kept]).astype(np.int32),
        iidx=items.indices([e.item_id for e in kept]).astype(np.int32),
        # Without timestamps the row order is the time, so ties never reorder the file.
        ts=np.arange(len(kept), dtype=np.float64) if ts[0] is None else np.array(ts, np.float64),
        etype=np.array([int(e.etype) for e in kept], np.int8),
        value=np.array([1.0 if e.value is None else e.value for e in kept], np.float32),
        n_users=len(users),
        n_items=len(items),
    )
    return Dataset(
        name=name,
        users=users,
        items=items,
        interactions=interactions,
        catalog=build_catalog(items, catalog),
        user_attributes=user_attribute_columns(users, user_rows, user_columns),
    )


_T = TypeVar("_T")


def _parse_keyed(
    table: Table, id_col: str, parse: Callable[[str, Row], _T]
) -> tuple[dict[str, _T], list[RowError]]:
    """Rows by their id in file order; a later row with a seen id is rejected, not merged."""
    out: dict[str, _T] = {}
    first: dict[str, int] = {}
    errors = list(table.errors)
    for line, row in table.rows:
        try:
            key = _required(row, id_col)
            if key in first:
                where = table.where(first[key])
                raise _RejectedError(f"duplicate {id_col} {key!r} (first at {where})")
            out[key] = parse(key, row)
            first[key] = line
        except _RejectedError as e:
            errors.append(table.error(line, str(e)))
    if not out:
        raise DataError(f"no usable row in {table.path}", rows=errors)
    return out, sorted(errors, key=lambda e: e.line)


def _item(item_id: str, row: Row) -> Item:
    return Item(
        item_id=item_id,
        title=_text(row.get("title"), "title") or item_id,
        year=_year(row.get("year")),
        genres=_genres(row.get("genres")),
        description=_text(row.get("description"), "description") or "",
    )


def _parse_events(
    table: Table, catalog: dict[str, Item], strict: bool
) -> tuple[list[_Event], list[RowError], int, list[str]]:
    ts_col = _first_present(table.columns, ("timestamp", "ts"))
    type_col = _first_present(table.columns, ("type", "event_type"))
    value_col = _first_present(table.columns, ("rating", "value"))
    used = {"user_id", "item_id", ts_col, type_col, value_col}
    notes = _ignored_columns(table, {c for c in used if c is not None})
    if ts_col is None:
        notes.append(f"{table.path} has no timestamp column: row order is used as event time")
    kept: list[_Event] = []
    seen: set[_Event] = set()
    errors: list[RowError] = []
    n_dups = 0
    for line, row in table.rows:
        try:
            event = _event(row, ts_col, type_col, value_col)
            if strict and event.item_id not in catalog:
                raise _RejectedError(f"unknown item_id {event.item_id!r} (not in items file)")
        except _RejectedError as e:
            errors.append(table.error(line, str(e)))
            continue
        if event in seen:
            n_dups += 1
        else:
            seen.add(event)
            kept.append(event)
    errors = sorted(table.errors + errors, key=lambda e: e.line)
    if not kept:
        raise DataError(
            f"nothing to import: all {table.read} event rows of {table.path} were rejected",
            rows=errors,
        )
    return kept, errors, n_dups, notes


def _event(row: Row, ts_col: str | None, type_col: str | None, value_col: str | None) -> _Event:
    user_id = _required(row, "user_id")
    item_id = _required(row, "item_id")
    ts = None
    if ts_col is not None:
        if _blank(row.get(ts_col)):
            raise _RejectedError(f"missing field {ts_col!r}")
        ts = _timestamp(row.get(ts_col))
    value = None if value_col is None else _value(row.get(value_col), value_col)
    etype = EventType.RATING if value is not None else EventType.VIEW
    name = None if type_col is None else _text(row.get(type_col), type_col)
    if name is not None:
        try:
            etype = EventType.parse(name)
        except ValueError as e:
            raise _RejectedError(str(e)) from None
    if etype is EventType.RATING and value is None:
        raise _RejectedError(
            f"missing field {value_col or 'rating'!r} (a rating event needs a value)"
        )
    return _Event(user_id, item_id, etype, ts, value)


def _blank(value: object) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, float) and math.isnan(value))
    )


def _text(value: object, col: str) -> str | None:
    """Stripped text of a scalar cell; None when blank (NaN is how pandas writes a blank)."""
    if _blank(value):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        # 42.0 from a float column must match the id 42 written elsewhere as an integer.
        return str(int(value)) if value.is_integer() else repr(value)
    raise _RejectedError(f"{col} must be text or a number, found {type(value).__name__}")


def _required(row: Row, col: str) -> str:
    text = _text(row.get(col), col)
    if text is None:
        raise _RejectedError(f"missing field {col!r}")
    return text


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):
        return None


def _value(raw: object, col: str) -> float | None:
    if _blank(raw):
        return None
    value = _number(raw)
    if value is None:
        raise _RejectedError(f"unparsable {col} {_shown(raw)}")
    if not math.isfinite(value):
        raise _RejectedError(f"{col} {_shown(raw)} is not a finite number")
    if value < 0:
        raise _RejectedError(f"negative {col} {value:g}")
    return value


def _timestamp(raw: object) -> float:
    """Epoch seconds from epoch seconds/milliseconds, an ISO-8601 string or a date(time)."""
    # A time without an offset is read as UTC so the result does not depend on the machine.
    if isinstance(raw, date):
        moment = raw if isinstance(raw, datetime) else datetime(raw.year, raw.month, raw.day)
        return moment.replace(tzinfo=moment.tzinfo or UTC).timestamp()
    seconds = _number(raw)
    if seconds is not None and math.isfinite(seconds):
        return seconds / 1000 if abs(seconds) > _EPOCH_MS else seconds
    if isinstance(raw, str) and seconds is None:
        try:
            moment = datetime.fromisoformat(raw.strip())
            return moment.replace(tzinfo=moment.tzinfo or UTC).timestamp()
        except ValueError:
            pass
    raise _RejectedError(f"unparsable timestamp {_shown(raw)}")


def _year(raw: object) -> int | None:
    if _blank(raw):
        return None
    value = _number(raw)
    if value is None or not math.isfinite(value) or not value.is_integer():
        raise _RejectedError(f"unparsable year {_shown(raw)}")
    return int(value)


def _genres(raw: object) -> tuple[str, ...]:
    if _blank(raw):
        return ()
    if isinstance(raw, list | tuple):
        parts = [_text(g, "genres") or "" for g in raw]
    elif isinstance(raw, str):
        # CSV has no lists; the first separator present, in this order, splits the cell.
        sep = next((s for s in "|,;" if s in raw), None)
        parts = raw.split(sep) if sep else [raw]
    else:
        raise _RejectedError(f"genres must be a list or a string, found {type(raw).__name__}")
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))


def _attribute(value: object) -> str:
    if _blank(value):
        return ""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return _text(value, "") or ""
    return json.dumps(value, default=str, ensure_ascii=False)


def _shown(raw: object) -> str:
    text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _first_present(columns: list[str], candidates: Sequence[str]) -> str | None:
    return next((c for c in candidates if c in columns), None)


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
