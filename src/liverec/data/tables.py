"""Stream CSV, JSONL and Parquet files as Arrow batches of numbered records.

Readers never hold a file in memory: they yield batches of raw columns plus the record number
of every row (0-based, data records only), and report records the parser itself could not read
(a CSV row with the wrong number of fields, a JSONL line that is not a JSON object). Physical
line numbers are worked out only for the records an import reports, by one vectorised scan of
the file's bytes (``Table.lines``), so a clean 100M-row file costs nothing for them.

JSONL goes through pyarrow's reader when every line is typed consistently; otherwise (mixed
types in a column, or a line that is not JSON) it is read again line by line with orjson, and
columns that mix types reach the converters as Python lists, which take their exact row-by-row
path.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from liverec.core.errors import DataError, RowError

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
BATCH_ROWS = 1 << 18
_SCAN_BLOCK = 1 << 24
Column = Any  # a pyarrow Array, or a list of Python values where a JSONL column mixes types


class TableRowError(RowError):
    """A rejected row of a file without lines (Parquet): ``line`` is the 1-based row number."""

    def __str__(self) -> str:
        return f"{self.file} row {self.line}: {self.reason}"


@dataclass
class RecordBatch:
    """Consecutive readable records: raw columns and each row's record number."""

    columns: dict[str, Column]
    records: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.records)

    def column(self, name: str) -> Column | None:
        """A column, or None when the file does not have it."""
        return self.columns.get(name)


@dataclass
class Table:
    """One input file being read: its columns, how many records it had, which were unreadable."""

    path: Path
    fmt: str
    columns: list[str] = field(default_factory=list)
    read: int = 0
    unreadable: list[tuple[int, str]] = field(default_factory=list)  # (record, reason)
    size_hint: int = 0  # rows expected, when the format says (Parquet)
    batches: Iterator[RecordBatch] = field(default_factory=lambda: iter(()))

    @property
    def by_row(self) -> bool:
        """Whether positions are row numbers (Parquet) rather than physical line numbers."""
        return self.fmt == "parquet"

    def error(self, line: int, reason: str) -> RowError:
        """A RowError for the row at ``line`` of this file."""
        cls = TableRowError if self.by_row else RowError
        return cls(str(self.path), line, reason)

    def where(self, line: int) -> str:
        """How to point a person at ``line``: "line N" or "row N"."""
        return f"row {line}" if self.by_row else f"line {line}"

    def lines(self, records: NDArray[np.int64]) -> NDArray[np.int64]:
        """1-based physical line (Parquet: row number) where each record starts."""
        records = np.asarray(records, np.int64)
        if self.by_row or not len(records):
            return records + 1
        starts = _record_starts(self.path, self.fmt, int(records.max()) + 1)
        return starts[records]


def open_table(path: Path, required: Sequence[str], batch_rows: int = BATCH_ROWS) -> Table:
    """Open a CSV, JSONL or Parquet file for streaming, checking its required columns.

    The batches are read lazily from ``Table.batches``; ``read`` and ``unreadable`` are
    complete once they are exhausted.

    Raises
    ------
    DataError
        If the file is missing, of an unsupported kind, unreadable, empty, or lacks a
        required column (JSONL: found in its first readable batch).
    """
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"{path} has extension {path.suffix or '(none)'!r}; expected one of "
            f"{', '.join(FORMATS)}"
        )
    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file")
    opener: Callable[[Path, Sequence[str], int], Table]
    opener = {"csv": _open_csv, "jsonl": _open_jsonl, "parquet": _open_parquet}[fmt]
    table = opener(path, required, batch_rows)
    missing = [c for c in required if c not in table.columns]
    if missing and (fmt != "jsonl" or table.columns):
        found = ", ".join(table.columns) or "nothing"
        raise DataError(f"{path} has no column {missing[0]!r}; found: {found}")
    return table


def finish(table: Table) -> None:
    """Raise for a file that had no data row, or none that could be read.

    Raises
    ------
    DataError
        Carrying the unreadable rows when there are some.
    """
    if table.read == 0:
        raise DataError(f"{table.path} has no data rows; expected at least one besides any header")
    if len(table.unreadable) == table.read:
        lines = table.lines(np.array([r for r, _ in table.unreadable], np.int64))
        rows = [
            table.error(int(n), why) for n, (_, why) in zip(lines, table.unreadable, strict=True)
        ]
        raise DataError(f"no row of {table.path} could be read", rows=rows)


def _check_header(path: Path, columns: list[str]) -> None:
    # Rows become named columns, so a repeated name would silently keep only one of them.
    dup = next((c for i, c in enumerate(columns) if c in columns[:i]), None)
    if dup is not None:
        raise DataError(f"{path} names column {dup!r} twice in its header")


def _open_parquet(path: Path, required: Sequence[str], batch_rows: int) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as e:
        raise DataError(f"{path} is not a readable Parquet file ({e})") from None
    columns = [str(c) for c in source.schema_arrow.names]
    _check_header(path, columns)
    table = Table(path, "parquet", columns, size_hint=source.metadata.num_rows)

    def batches() -> Iterator[RecordBatch]:
        start = 0
        try:
            for batch in source.iter_batches(batch_size=batch_rows):
                n = batch.num_rows
                table.read += n
                cols = {name: batch.column(i) for i, name in enumerate(batch.schema.names)}
                yield RecordBatch(cols, np.arange(start, start + n, dtype=np.int64))
                start += n
        except (pa.ArrowException, OSError) as e:
            raise DataError(f"{path} is not a readable Parquet file ({e})") from None

    table.batches = batches()
    return table


def _csv_header(path: Path, required: Sequence[str]) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e.reason}); save it as UTF-8") from None
    except csv.Error as e:
        raise DataError(f"{path} is not a readable CSV file ({e})") from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if header is None:
        raise DataError(f"{path} is empty; expected a header line naming {', '.join(required)}")
    columns = [h.strip() for h in header]
    _check_header(path, columns)
    return columns


def _open_csv(path: Path, required: Sequence[str], batch_rows: int) -> Table:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    columns = _csv_header(path, required)
    table = Table(path, "csv", columns)
    skipped: list[int] = []  # records that are not data rows: blank ones and unreadable ones

    def invalid(row: Any) -> str:
        record = int(row.number) - 2  # pyarrow counts the header as record 1
        skipped.append(record)
        if row.text.strip(" \t\r\n,"):
            table.read += 1
            reason = f"has {row.actual_columns} fields, the header has {row.expected_columns}"
            table.unreadable.append((record, reason))
        return "skip"

    # use_threads=False: records are parsed in order, so the handler sees their numbers.
    reader_options = pcsv.ReadOptions(
        use_threads=False, column_names=columns, skip_rows=1, block_size=1 << 22
    )
    parse_options = pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=invalid)
    convert = pcsv.ConvertOptions(
        column_types=dict.fromkeys(columns, pa.string()), strings_can_be_null=False
    )

    def batches() -> Iterator[RecordBatch]:
        next_record = 0
        pending: list[pa.RecordBatch] = []
        try:
            reader = pcsv.open_csv(path, reader_options, parse_options, convert)
            for batch in reader:
                pending.append(batch)
                if sum(b.num_rows for b in pending) < batch_rows:
                    continue
                merged = pa.Table.from_batches(pending).combine_chunks()
                pending = []
                out, next_record = _csv_batch(merged, next_record, skipped, table)
                yield out
            if pending:
                merged = pa.Table.from_batches(pending).combine_chunks()
                out, next_record = _csv_batch(merged, next_record, skipped, table)
                yield out
        except pa.ArrowInvalid as e:
            if "UTF8" in str(e) or "utf8" in str(e).lower():
                raise DataError(f"{path} is not UTF-8 text ({e}); save it as UTF-8") from None
            raise DataError(f"{path} is not a readable CSV file ({e})") from None
        except OSError as e:
            raise DataError(f"cannot read {path}: {e.strerror or e}") from None

    table.batches = batches()
    return table


def _csv_batch(
    merged: Any, next_record: int, skipped: list[int], table: Table
) -> tuple[RecordBatch, int]:
    """Number the rows of a parsed block: the next record numbers that were not skipped."""
    import pyarrow.compute as pc

    n = merged.num_rows
    gaps = np.sort(np.asarray(skipped, np.int64))
    hi = next_record + n
    while True:  # extend the range until it holds n records besides the skipped ones
        k = int(np.count_nonzero((gaps >= next_record) & (gaps < hi)))
        if next_record + n + k == hi:
            break
        hi = next_record + n + k
    records = np.setdiff1d(np.arange(next_record, hi, dtype=np.int64), gaps, assume_unique=True)
    # Rows whose every field is blank are empty lines to a person: neither data nor errors.
    blank = np.ones(n, bool)
    for name in merged.column_names:
        stripped = pc.utf8_trim_whitespace(merged.column(name))
        blank &= pc.equal(stripped, "").to_numpy(zero_copy_only=False)
    keep = ~blank
    table.read += int(keep.sum())
    cols = {name: merged.column(name).combine_chunks().filter(keep) for name in merged.column_names}
    return RecordBatch(cols, records[keep]), hi


def _open_jsonl(path: Path, required: Sequence[str], batch_rows: int) -> Table:
    import pyarrow as pa
    import pyarrow.json as pjson

    table = Table(path, "jsonl")
    try:
        fast = pjson.read_json(path, read_options=pjson.ReadOptions(block_size=1 << 24))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError):
        fast = None
    if fast is not None and all(not pa.types.is_null(t) for t in fast.schema.types):
        table.columns = list(fast.column_names)

        def from_arrow() -> Iterator[RecordBatch]:
            start = 0
            for batch in fast.to_batches(max_chunksize=batch_rows):
                table.read += batch.num_rows
                cols = {name: batch.column(i) for i, name in enumerate(batch.schema.names)}
                yield RecordBatch(cols, np.arange(start, start + batch.num_rows, dtype=np.int64))
                start += batch.num_rows

        table.batches = from_arrow()
        return table
    table.columns = _jsonl_columns(path)
    table.batches = _jsonl_python(path, table, batch_rows)
    return table


def _jsonl_columns(path: Path) -> list[str]:
    """Column names in order of first appearance over every JSON object line."""
    import orjson

    names: dict[str, None] = {}
    for _, text in _jsonl_lines(path):
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            names.update(dict.fromkeys(obj))
    return list(names)


def _jsonl_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(record number, raw line) of every non-blank line."""
    record = 0
    try:
        with open(path, "rb") as f:
            for n, raw in enumerate(f, 1):
                text = raw[3:] if n == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
                try:
                    text.decode("utf-8")
                except UnicodeDecodeError:
                    raise DataError(
                        f"{path} line {n} is not UTF-8 text; save it as UTF-8"
                    ) from None
                if not text.strip():
                    continue
                yield record, text
                record += 1
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None


def _jsonl_python(path: Path, table: Table, batch_rows: int) -> Iterator[RecordBatch]:
    """Line-by-line parse (orjson) for files pyarrow cannot read as one typed table."""
    import orjson

    rows: list[dict[str, object]] = []
    records: list[int] = []
    for record, text in _jsonl_lines(path):
        table.read += 1
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            table.unreadable.append((record, f"not valid JSON ({e})"))
            continue
        if not isinstance(obj, dict):
            table.unreadable.append((record, f"not a JSON object (found {_json_type(obj)})"))
            continue
        rows.append(obj)
        records.append(record)
        if len(rows) >= batch_rows:
            yield _python_batch(rows, records, table.columns)
            rows, records = [], []
    if rows:
        yield _python_batch(rows, records, table.columns)


def _json_type(obj: object) -> str:
    return {list: "list", str: "str", int: "int", float: "float", bool: "bool"}.get(
        type(obj), type(obj).__name__ if obj is not None else "NoneType"
    )


def _python_batch(
    rows: list[dict[str, object]], records: list[int], names: list[str]
) -> RecordBatch:
    import pyarrow as pa

    columns: dict[str, Column] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        kinds = {type(v) for v in values if v is not None}
        if len(kinds) <= 1 and not kinds & {dict, list}:
            try:
                columns[name] = pa.array(values)
                continue
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                pass
        columns[name] = values  # mixed: the converters take these row by row
    return RecordBatch(columns, np.asarray(records, np.int64))


def _record_starts(path: Path, fmt: str, n_records: int) -> NDArray[np.int64]:
    """1-based line on which each of the first ``n_records`` data records starts.

    The file is cut into pieces at newlines. CSV: a record is the pieces up to a newline outside
    double quotes (a quoted field may span lines), and counts unless it is empty; the first
    record is the header. JSONL: every non-blank line is a record. Scans block by block,
    carrying the record that is still open across a block boundary.
    """
    blank = np.frombuffer(b" \t\r\x0b\x0c" if fmt == "jsonl" else b"\r", np.uint8)
    starts: list[NDArray[np.int64]] = []
    found, line_base, parity = 0, 0, 0
    open_line, open_has = 1, False  # the record not yet ended: where it began, has it content
    with open(path, "rb") as f:
        while found < n_records + 1:
            block = f.read(_SCAN_BLOCK)
            if not block:
                break
            data = np.frombuffer(block, np.uint8)
            newline = np.flatnonzero(data == 10)
            if fmt == "csv":
                quotes = np.cumsum(data == 34) + parity
                ends = newline[quotes[newline] % 2 == 0] if len(newline) else newline
                parity = int(quotes[-1] % 2)
            else:
                ends = newline
            content = (data != 10) & ~np.isin(data, blank)
            # records of this block: [open record's rest], then one per later end
            bounds = np.r_[0, ends + 1]
            has = (
                np.add.reduceat(content[: bounds[-1]], bounds[:-1]) > 0
                if len(ends)
                else np.zeros(0, bool)
            )
            has = has & (np.diff(bounds) > 1) if len(ends) else has
            lines = line_base + 1 + np.searchsorted(newline, bounds[:-1], side="left")
            if len(ends):
                has[0] |= open_has
                lines[0] = open_line
                starts.append(lines[has])
                found += int(has.sum())
                tail = ends[-1] + 1
                open_line = line_base + 1 + len(newline[newline < tail])
                open_has = bool(content[tail:].any())
            else:
                open_has |= bool(content.any())
            line_base += len(newline)
    if open_has:  # a last record without a final newline
        starts.append(np.array([open_line], np.int64))
    out = np.concatenate(starts) if starts else np.zeros(0, np.int64)
    if fmt == "csv":
        out = out[1:]  # the header
    return np.asarray(out[:n_records], np.int64)
