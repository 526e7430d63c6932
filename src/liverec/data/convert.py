"""Turn raw input columns into typed ones: ids, timestamps, values, event types, item fields.

Every converter has two paths with one meaning. The vectorised path works on a whole Arrow
column and flags every row it cannot vouch for (a blank, a non-numeric string, a negative
number, a type it does not expect); the scalar path then takes only those rows, one Python
value at a time, and either converts them (an ISO-8601 string among epoch numbers, say) or
rejects them with the line-level reason a person needs. Clean data never leaves the fast path.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from liverec.core.privacy import MAX_ID_LENGTH, id_problem
from liverec.core.types import EventType
from liverec.data.catalog import MAX_GENRE, MAX_GENRES

# Above this an epoch number cannot be seconds (year 5138); it is read as milliseconds.
EPOCH_MS = 1e11
MAX_ATTRIBUTE = 1_000  # a user attribute (country, age band, ...)
MAX_VALUE = 1e9  # ratings and amounts; a float32 turns 1e39 into inf
MAX_AHEAD_S = 86_400.0  # a clock may run a little fast; a year ahead would own "trending"


def latest_timestamp() -> float:
    """The latest event time accepted now: a day ahead of this machine's clock."""
    return time.time() + MAX_AHEAD_S


def time_problem(ts: float, latest: float) -> str | None:
    """Why ``ts`` (epoch seconds) is outside the accepted window, or None.

    >>> time_problem(-1.0, 1e9), time_problem(2e9, 1e9), time_problem(5e8, 1e9)
    ('is before 1970', 'is more than a day ahead of the clock', None)
    """
    if ts < 0:
        return "is before 1970"
    if ts > latest:
        return "is more than a day ahead of the clock"
    return None


_NUMERIC = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
Column = Any  # a pyarrow Array, or a list of Python values
Bools = NDArray[np.bool_]


class RejectedError(Exception):
    """Raised inside row conversion; the message becomes the RowError's reason."""


def python_values(column: Column, rows: NDArray[np.int64]) -> list[object]:
    """The Python values of ``rows`` of a column (Arrow array or list)."""
    import pyarrow as pa

    if isinstance(column, list):
        return [column[i] for i in rows.tolist()]
    values: list[object] = column.take(pa.array(rows)).to_pylist()
    return values


def _is_list(column: Column) -> bool:
    return isinstance(column, list)


def _is_number(arrow_type: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type))


def _type(column: Column) -> Any:
    import pyarrow as pa

    t = column.type
    return t.value_type if pa.types.is_dictionary(t) else t


def _decoded(column: Column) -> Column:
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


def _nulls(column: Column) -> Bools:
    return np.asarray(column.is_null().to_numpy(zero_copy_only=False), bool)


def _floats(column: Column) -> NDArray[np.float64]:
    """A numeric Arrow column as float64 with NaN for nulls."""
    import pyarrow as pa
    import pyarrow.compute as pc

    filled = pc.fill_null(column.cast(pa.float64()), float("nan"))
    return np.asarray(filled.to_numpy(zero_copy_only=False), np.float64)


def _numeric_strings(column: Column) -> tuple[NDArray[np.float64], Bools, Bools]:
    """(parsed floats, is numeric, is blank) of a string column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.fill_null(pc.utf8_trim_whitespace(column), "")
    blank = np.asarray(pc.equal(text, "").to_numpy(zero_copy_only=False), bool)
    numeric = np.asarray(
        pc.match_substring_regex(text, _NUMERIC).to_numpy(zero_copy_only=False), bool
    )
    out = np.full(len(column), np.nan)
    if numeric.any():
        rows = np.flatnonzero(numeric)
        out[rows] = text.take(pa.array(rows)).cast(pa.float64()).to_numpy(zero_copy_only=False)
    return out, numeric, blank


def blank(value: object) -> bool:
    """None, an empty/whitespace string or NaN (how pandas writes a blank)."""
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, float) and math.isnan(value))
    )


def text(value: object, col: str, max_length: int = MAX_ID_LENGTH) -> str | None:
    """Stripped text of a scalar cell; None when blank.

    Raises
    ------
    RejectedError
        If the cell is not text or a number, or longer than ``max_length`` characters.
    """
    out = _text(value, col)
    if out is not None and len(out) > max_length:
        raise RejectedError(f"{col} is longer than {max_length:,} characters ({len(out):,})")
    return out


def _text(value: object, col: str) -> str | None:
    if blank(value):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        # 42.0 from a float column must match the id 42 written elsewhere as an integer.
        return str(int(value)) if value.is_integer() else repr(value)
    raise RejectedError(f"{col} must be text or a number, found {type(value).__name__}")


def required(value: object, col: str) -> str:
    """An id cell (blanks at either end trimmed): present, and following the id rule.

    Raises
    ------
    RejectedError
        If it is blank, not text or a number, or breaks the rule (``id_problem``): an
        over-long or multi-line value is what a CSV with a stray quote turns into.
    """
    out = text(value, col)
    if out is None:
        raise RejectedError(f"missing field {col!r}")
    problem = id_problem(out)
    if problem is not None:
        raise RejectedError(f"{col} {shown(out)} {problem}")
    return out


def number(value: object) -> float | None:
    """A float from a number or numeric string, else None (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):
        return None


def shown(raw: object) -> str:
    """A cell as it appears in an error message (quoted, at most 40 characters)."""
    t = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    return repr(t if len(t) <= 40 else t[:37] + "...")


def value_of(raw: object, col: str) -> float | None:
    """A rating/value: None when blank.

    Raises
    ------
    RejectedError
        If it is unparsable, not finite or negative.
    """
    if blank(raw):
        return None
    v = number(raw)
    if v is None:
        raise RejectedError(f"unparsable {col} {shown(raw)}")
    if not math.isfinite(v):
        raise RejectedError(f"{col} {shown(raw)} is not a finite number")
    if v < 0:
        raise RejectedError(f"negative {col} {v:g}")
    if v > MAX_VALUE:
        raise RejectedError(f"{col} {v:g} is above the limit {MAX_VALUE:g}")
    return v


def timestamp_of(raw: object) -> float:
    """Epoch seconds from epoch seconds/milliseconds, an ISO-8601 string or a date(time).

    A time without an offset is read as UTC so the result does not depend on the machine.

    Raises
    ------
    RejectedError
        If it is none of those.
    """
    ts = _seconds(raw)
    if ts is None:
        raise RejectedError(f"unparsable timestamp {shown(raw)}")
    problem = time_problem(ts, latest_timestamp())
    if problem is not None:
        raise RejectedError(f"timestamp {shown(raw)} {problem}")
    return ts


def _seconds(raw: object) -> float | None:
    if isinstance(raw, date):
        moment = raw if isinstance(raw, datetime) else datetime(raw.year, raw.month, raw.day)
        return moment.replace(tzinfo=moment.tzinfo or UTC).timestamp()
    seconds = number(raw)
    if seconds is not None and math.isfinite(seconds):
        return seconds / 1000 if abs(seconds) > EPOCH_MS else seconds
    if isinstance(raw, str) and seconds is None:
        try:
            moment = datetime.fromisoformat(raw.strip())
            return moment.replace(tzinfo=moment.tzinfo or UTC).timestamp()
        except ValueError:
            pass
    return None


def year_of(raw: object) -> int | None:
    """A year: None when blank.

    Raises
    ------
    RejectedError
        If it is not a whole number.
    """
    if blank(raw):
        return None
    v = number(raw)
    if v is None or not math.isfinite(v) or not v.is_integer():
        raise RejectedError(f"unparsable year {shown(raw)}")
    return int(v)


def genres_of(raw: object) -> tuple[str, ...]:
    """Genres from a list, or a string split on the first of ``|``, ``,``, ``;`` present.

    Raises
    ------
    RejectedError
        If it is neither a list nor a string.
    """
    if blank(raw):
        return ()
    if isinstance(raw, list | tuple):
        parts = [text(g, "genres", MAX_GENRE) or "" for g in raw]
    elif isinstance(raw, str):
        sep = next((s for s in "|,;" if s in raw), None)
        parts = raw.split(sep) if sep else [raw]
    else:
        raise RejectedError(f"genres must be a list or a string, found {type(raw).__name__}")
    out = tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
    if len(out) > MAX_GENRES or any(len(g) > MAX_GENRE for g in out):
        raise RejectedError(f"genres: at most {MAX_GENRES} of at most {MAX_GENRE} characters each")
    return out


def attribute_of(value: object, col: str = "attribute") -> str:
    """A user attribute as text ('' when blank; JSON for anything but text and numbers).

    Raises
    ------
    RejectedError
        If it is longer than ``MAX_ATTRIBUTE`` characters.
    """
    if blank(value):
        return ""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return text(value, col, MAX_ATTRIBUTE) or ""
    out = json.dumps(value, default=str, ensure_ascii=False)
    if len(out) > MAX_ATTRIBUTE:
        raise RejectedError(f"{col} is longer than {MAX_ATTRIBUTE:,} characters")
    return out


def ids(column: Column) -> tuple[Any, Bools]:
    """(Arrow string ids, rows needing the scalar path) of an id column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(column)
    if _is_list(column):
        return pa.nulls(n, pa.string()), np.ones(n, bool)
    column = _decoded(column)
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        trimmed = pc.fill_null(pc.utf8_trim_whitespace(column), "").cast(pa.string())
        # Anything but a short printable-ASCII id without '/' (or '.', '..') takes the scalar
        # path, which applies the id rule exactly and names the row.
        odd = pc.or_(
            pc.match_substring_regex(trimmed, r"[^\x20-\x2e\x30-\x7e]|^\.\.?$|^$"),
            pc.greater(pc.utf8_length(trimmed), MAX_ID_LENGTH),
        )
        return trimmed, np.asarray(odd.to_numpy(zero_copy_only=False), bool)
    if pa.types.is_integer(t):
        return pc.fill_null(column.cast(pa.string()), ""), _nulls(column)
    if pa.types.is_floating(t):
        f = _floats(column)
        whole = np.isfinite(f) & (np.floor(f) == f) & (np.abs(f) < 2**53)
        as_int = pa.array(np.where(whole, f, 0).astype(np.int64)).cast(pa.string())
        return as_int, ~whole
    return pa.nulls(n, pa.string()), np.ones(n, bool)


def _unconverted(n: int) -> tuple[NDArray[np.float64], Bools]:
    """No value yet for any of ``n`` rows: all of them take the scalar path."""
    return np.full(n, np.nan), np.ones(n, bool)


def timestamps(column: Column) -> tuple[NDArray[np.float64], Bools]:
    """(epoch seconds, rows needing the scalar path) of a timestamp column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if _is_list(column):
        return _unconverted(len(column))
    column = _decoded(column)
    t = column.type
    if _is_number(t):
        f = _floats(column)
        return _windowed(np.where(np.abs(f) > EPOCH_MS, f / 1000, f), ~np.isfinite(f))
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        seconds = pc.cast(column.cast(pa.timestamp("us", tz=getattr(t, "tz", None))), pa.int64())
        f = _floats(seconds) / 1e6
        return _windowed(f, ~np.isfinite(f))
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return _unconverted(len(column))
    out, numeric, empty = _numeric_strings(column)
    out = np.where(np.abs(out) > EPOCH_MS, out / 1000, out)
    suspect = ~numeric | ~np.isfinite(out)
    rest = np.flatnonzero(suspect & ~empty)
    if len(rest):
        parsed = _iso(pc.utf8_trim_whitespace(column.take(pa.array(rest))))
        if parsed is not None:
            out[rest] = parsed
            suspect[rest] = False
    return _windowed(out, suspect)


def _windowed(ts: NDArray[np.float64], suspect: Bools) -> tuple[NDArray[np.float64], Bools]:
    """Rows outside the accepted time window also take the scalar path, which names them."""
    with np.errstate(invalid="ignore"):
        return ts, suspect | (ts < 0) | (ts > latest_timestamp())


def _iso(strings: Any) -> NDArray[np.float64] | None:
    """Epoch seconds of ISO-8601 strings (naive = UTC), or None if any one does not parse."""
    import pyarrow as pa

    for target in (pa.timestamp("us"), pa.timestamp("us", tz="UTC")):
        try:
            micros = strings.cast(target).cast(pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return np.asarray(micros.to_numpy(zero_copy_only=False), np.float64) / 1e6
    return None


def values(column: Column) -> tuple[NDArray[np.float64], Bools]:
    """(values with NaN for none, rows needing the scalar path) of a rating/value column."""
    import pyarrow as pa

    if _is_list(column):
        return _unconverted(len(column))
    column = _decoded(column)
    t = column.type
    if _is_number(t):
        f = _floats(column)
        return f, (~np.isfinite(f) & ~_nulls(column)) | (f < 0) | (f > MAX_VALUE)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        f, numeric, empty = _numeric_strings(column)
        bad = ~np.isfinite(f) | (f < 0) | (f > MAX_VALUE)
        return f, (~numeric & ~empty) | (numeric & bad)
    if pa.types.is_null(t):
        return np.full(len(column), np.nan), np.zeros(len(column), bool)
    return _unconverted(len(column))


def event_types(column: Column) -> tuple[NDArray[np.int8], Bools]:
    """(EventType codes, -1 where none is given; rows needing the scalar path)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(column)
    column = column if _is_list(column) else _decoded(column)
    if _is_list(column) or not (pa.types.is_string(column.type) or pa.types.is_null(column.type)):
        return np.full(n, -1, np.int8), np.ones(n, bool)
    if pa.types.is_null(column.type):
        return np.full(n, -1, np.int8), np.zeros(n, bool)
    names = pc.utf8_lower(pc.fill_null(pc.utf8_trim_whitespace(column), ""))
    encoded = names.dictionary_encode()
    known = {t.label: int(t) for t in EventType} | {"": -1}
    lookup = np.array([known.get(v, -2) for v in encoded.dictionary.to_pylist()], np.int8)
    codes = lookup[np.asarray(encoded.indices.to_numpy(zero_copy_only=False), np.int64)]
    return np.where(codes == -2, -1, codes).astype(np.int8), codes == -2


def scalar_rows(
    rows: NDArray[np.int64],
    columns: dict[str, Column],
    convert: Callable[[dict[str, object]], Any],
) -> tuple[list[tuple[int, Any]], list[tuple[int, str]]]:
    """Run ``convert`` on each of ``rows`` as a dict of Python values.

    Returns the converted rows and the rejected ones (row position, reason).
    """
    plain = {name: python_values(col, rows) for name, col in columns.items()}
    done: list[tuple[int, Any]] = []
    failed: list[tuple[int, str]] = []
    for k, row in enumerate(rows.tolist()):
        cells = {name: vals[k] for name, vals in plain.items()}
        try:
            done.append((row, convert(cells)))
        except RejectedError as e:
            failed.append((row, str(e)))
    return done, failed


def texts(column: Column | None, n: int, max_length: int) -> tuple[Any, Bools]:
    """(stripped text, null where blank; rows needing the scalar path) of a text column
    (``None``: the file has no such column) of ``n`` rows; longer texts go to the scalar
    path, which rejects them by name."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column is None:
        return pa.nulls(n, pa.string()), np.zeros(n, bool)
    if _is_list(column):
        return pa.nulls(n, pa.string()), np.ones(n, bool)
    column = _decoded(column)
    t = column.type
    if pa.types.is_null(t):
        return pa.nulls(n, pa.string()), np.zeros(n, bool)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t):
        text = pc.utf8_trim_whitespace(column.cast(pa.string()))
        blank = pc.equal(text, "")
        long = pc.fill_null(pc.greater(pc.utf8_length(text), max_length), False)
        return pc.if_else(blank, pa.nulls(n, pa.string()), text), long.to_numpy(
            zero_copy_only=False
        )
    return pa.nulls(n, pa.string()), np.ones(n, bool)  # floats and the rest: exact path


def years(column: Column | None, n: int) -> tuple[Any, Bools]:
    """(int32 years, null where blank; rows needing the scalar path) of a year column."""
    import pyarrow as pa

    if column is None or (not _is_list(column) and pa.types.is_null(column.type)):
        return pa.nulls(n, pa.int32()), np.zeros(n, bool)
    if _is_list(column):
        return pa.nulls(n, pa.int32()), np.ones(n, bool)
    column = _decoded(column)
    t = column.type
    if _is_number(t):
        f, empty = _floats(column), _nulls(column)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        f, _, empty = _numeric_strings(column)
    else:
        return pa.nulls(n, pa.int32()), np.ones(n, bool)
    whole = np.isfinite(f) & (np.floor(f) == f) & (np.abs(f) < 2**31)
    suspect = ~whole & ~empty
    ok = whole & ~empty
    return pa.array(np.where(ok, f, 0).astype(np.int32), mask=~ok), suspect


def genre_lists(column: Column | None, n: int) -> tuple[Any, Bools]:
    """(list<string> genres; rows needing the scalar path) of a genres column.

    A list cell keeps its non-blank strings; a text cell is split on the first of ``|``,
    ``,`` and ``;`` it contains. Either way entries are stripped and repeats dropped.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    empty = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), pa.array([], pa.string()))
    if column is None:
        return empty, np.zeros(n, bool)
    if _is_list(column):
        return empty, np.ones(n, bool)
    column = _decoded(column)
    t = column.type
    if pa.types.is_null(t):
        return empty, np.zeros(n, bool)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        if not (pa.types.is_string(t.value_type) or pa.types.is_null(t.value_type)):
            return empty, np.ones(n, bool)
        lists = pc.fill_null(column, pa.scalar([], t))
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        text = pc.fill_null(column.cast(pa.string()), "")
        split = [pc.split_pattern(text, sep) for sep in "|,;"]
        has = [
            np.asarray(pc.match_substring(text, sep).to_numpy(zero_copy_only=False), bool)
            for sep in "|,;"
        ]
        choice = np.where(has[0], 0, np.where(has[1], 1, np.where(has[2], 2, 0)))
        lists = pa.concat_arrays(split).take(pa.array(choice * n + np.arange(n)))
    else:
        return empty, np.ones(n, bool)
    return _clean_lists(lists.cast(pa.list_(pa.string()))), np.zeros(n, bool)


def _clean_lists(lists: Any) -> Any:
    """Entries stripped, blank ones dropped, a repeat within a row kept once (first place)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(lists)
    parent = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False), np.int64)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    keep = np.asarray(pc.not_equal(flat, "").to_numpy(zero_copy_only=False), bool)
    codes = np.asarray(flat.dictionary_encode().indices.to_numpy(zero_copy_only=False), np.int64)
    key = parent * (int(codes.max(initial=0)) + 1) + codes
    first = np.zeros(len(key), bool)
    first[np.unique(key, return_index=True)[1]] = True
    keep &= first
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(np.bincount(parent[keep], minlength=n), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), flat.filter(pa.array(keep)))
