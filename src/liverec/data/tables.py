"""Read CSV, JSONL and Parquet files into line-numbered rows, rejecting bad rows, not files."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from liverec.core.errors import DataError, RowError

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}

Row = dict[str, object]


class TableRowError(RowError):
    """A rejected row of a file without lines (Parquet): ``line`` is the 1-based row number."""

    def __str__(self) -> str:
        return f"{self.file} row {self.line}: {self.reason}"


@dataclass
class Table:
    """Rows of one file with their line (or row) numbers, and the rows that could not be read."""

    path: Path
    columns: list[str]
    rows: list[tuple[int, Row]]
    errors: list[RowError]
    read: int

    @property
    def by_row(self) -> bool:
        """Whether positions are row numbers (Parquet) rather than physical line numbers."""
        return self.path.suffix.lower() == ".parquet"

    def error(self, line: int, reason: str) -> RowError:
        """A RowError for the row at ``line`` of this file."""
        cls = TableRowError if self.by_row else RowError
        return cls(str(self.path), line, reason)

    def where(self, line: int) -> str:
        """How to point a person at ``line``: "line N" or "row N"."""
        return f"row {line}" if self.by_row else f"line {line}"


def read_table(path: Path, required: Sequence[str]) -> Table:
    """Read a CSV, JSONL or Parquet file into line-numbered rows, checking required columns.

    Raises
    ------
    DataError
        If the file is missing, of an unsupported kind, unreadable, empty, lacks a required
        column, or none of its rows can be read.
    """
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"{path} has extension {path.suffix or '(none)'!r}; expected one of "
            f"{', '.join(FORMATS)}"
        )
    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file")
    reader: Callable[[Path, Sequence[str]], Table]
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[fmt]
    table = reader(path, required)
    # JSONL learns its columns from the rows, so only a readable row can show one missing.
    missing = [c for c in required if c not in table.columns]
    if missing and (fmt != "jsonl" or table.rows):
        found = ", ".join(table.columns) or "nothing"
        raise DataError(f"{path} has no column {missing[0]!r}; found: {found}")
    if table.read == 0:
        raise DataError(f"{path} has no data rows; expected at least one besides any header")
    if not table.rows:
        raise DataError(f"no row of {path} could be read", rows=table.errors)
    return table


def _read_csv(path: Path, required: Sequence[str]) -> Table:
    table = Table(path, [], [], [], 0)
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                names = ", ".join(required)
                raise DataError(f"{path} is empty; expected a header line naming {names}")
            table.columns = [h.strip() for h in header]
            _check_header(path, table.columns)
            last = reader.line_num
            for fields in reader:
                # Line of the record's start: a quoted field may span several physical lines.
                line, last = last + 1, reader.line_num
                if not "".join(fields).strip() and len(fields) <= 1:
                    continue
                table.read += 1
                if len(fields) != len(table.columns):
                    reason = f"has {len(fields)} fields, the header has {len(table.columns)}"
                    table.errors.append(table.error(line, reason))
                else:
                    table.rows.append((line, dict(zip(table.columns, fields, strict=True))))
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e.reason}); save it as UTF-8") from None
    except csv.Error as e:
        raise DataError(f"{path} is not a readable CSV file ({e})") from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    return table


def _check_header(path: Path, columns: list[str]) -> None:
    # Rows become dicts, so a repeated name would silently keep only one of the columns.
    dup = next((c for i, c in enumerate(columns) if c in columns[:i]), None)
    if dup is not None:
        raise DataError(f"{path} names column {dup!r} twice in its header")


def _read_jsonl(path: Path, required: Sequence[str]) -> Table:
    table = Table(path, [], [], [], 0)
    columns: dict[str, None] = {}
    try:
        with open(path, "rb") as f:
            for line, raw in enumerate(f, 1):
                try:
                    text = raw.decode("utf-8-sig" if line == 1 else "utf-8")
                except UnicodeDecodeError:
                    raise DataError(
                        f"{path} line {line} is not UTF-8 text; save it as UTF-8"
                    ) from None
                if not text.strip():
                    continue
                table.read += 1
                try:
                    obj = json.loads(text)
                except (ValueError, RecursionError) as e:
                    reason = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
                    table.errors.append(table.error(line, f"not valid JSON ({reason})"))
                    continue
                if not isinstance(obj, dict):
                    reason = f"not a JSON object (found {type(obj).__name__})"
                    table.errors.append(table.error(line, reason))
                    continue
                columns.update(dict.fromkeys(obj))
                table.rows.append((line, obj))
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    table.columns = list(columns)
    return table


def _read_parquet(path: Path, required: Sequence[str]) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        data = pq.read_table(path)
        records: list[Row] = data.to_pylist()
    except (pa.ArrowException, OSError, ValueError) as e:
        raise DataError(f"{path} is not a readable Parquet file ({e})") from None
    columns = [str(c) for c in data.column_names]
    _check_header(path, columns)
    return Table(path, columns, list(enumerate(records, 1)), [], len(records))
