"""Catalog items: the ``Item`` value type and the columnar ``Catalog`` that holds a whole catalog.

A catalog of a million items is one Arrow table (ids, titles, years, genre lists,
descriptions) read by memory-mapping an IPC file; an ``Item`` object is made only for the few
items a request shows. Genre membership and the encoder's input texts are computed on the
columns, never by walking Python objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, overload

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from liverec.data.arrowio import read_arrow, write_arrow

# Bounds on an item's text, the same at the API and in import: text is encoded on writes.
MAX_TITLE = 500
MAX_DESCRIPTION = 10_000
MAX_GENRE = 100
MAX_GENRES = 50


@dataclass(frozen=True)
class Item:
    """Catalog entry: the text fields the encoder and the explanations use."""

    item_id: str
    title: str
    year: int | None = None
    genres: tuple[str, ...] = ()
    description: str = ""

    @property
    def display_title(self) -> str:
        """Title with the year in brackets, as people write film titles."""
        return f"{self.title} ({self.year})" if self.year else self.title

    def text(self) -> str:
        """One string with everything a text encoder should read about the item."""
        parts = [self.display_title]
        if self.genres:
            parts.append("Genres: " + ", ".join(self.genres))
        if self.description:
            parts.append(self.description)
        return ". ".join(parts)

    def to_json(self) -> dict[str, object]:
        """JSON-able dict (as the API and the event log write an item)."""
        return {
            "item_id": self.item_id,
            "title": self.title,
            "year": self.year,
            "genres": list(self.genres),
            "description": self.description,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> Item:
        """Inverse of ``to_json``."""
        year = d.get("year")
        genres = d.get("genres") or []
        return cls(
            item_id=str(d["item_id"]),
            title=str(d.get("title") or ""),
            year=int(year) if isinstance(year, int | float | str) and str(year) else None,
            genres=tuple(str(g) for g in genres) if isinstance(genres, list | tuple) else (),
            description=str(d.get("description") or ""),
        )


def catalog_schema() -> Any:
    """The Arrow schema of a catalog table."""
    import pyarrow as pa

    return pa.schema(
        [
            ("item_id", pa.string()),
            ("title", pa.string()),
            ("year", pa.int32()),
            ("genres", pa.list_(pa.string())),
            ("description", pa.string()),
        ]
    )


class Catalog(Sequence[Item]):
    """Items by internal index (row ``i`` is item ``i``), stored as Arrow columns."""

    def __init__(self, table: Any) -> None:
        schema = catalog_schema()
        self.table = table.select(schema.names).cast(schema).combine_chunks()

    @classmethod
    def from_items(cls, items: Iterable[Item]) -> Catalog:
        """A catalog of ``items`` in order (for small catalogs and tests)."""
        import pyarrow as pa

        rows = [it.to_json() for it in items]
        return cls(pa.Table.from_pylist(rows, schema=catalog_schema()))

    @classmethod
    def placeholders(cls, item_ids: Any) -> Catalog:
        """Entries titled by their id, for items known only from events."""
        import pyarrow as pa
        import pyarrow.compute as pc

        ids = item_ids if isinstance(item_ids, pa.Array) else pa.array(list(item_ids), pa.string())
        n = len(ids)
        no_genres = pa.ListArray.from_arrays(
            pa.array(np.zeros(n + 1, np.int32)), pa.array([], pa.string())
        )
        return cls(
            pa.table(
                {
                    "item_id": ids,
                    "title": ids,
                    "year": pa.nulls(n, pa.int32()),
                    "genres": no_genres,
                    "description": pc.fill_null(pa.nulls(n, pa.string()), ""),
                }
            )
        )

    def __len__(self) -> int:
        return int(self.table.num_rows)

    @overload
    def __getitem__(self, i: int) -> Item: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Item]: ...

    def __getitem__(self, i: int | slice) -> Item | Sequence[Item]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"item index {i} out of range for a catalog of {n}")
        row = self.table.slice(i % n, 1).to_pylist()[0]
        return _item(row)

    def __iter__(self) -> Iterator[Item]:
        for batch in self.table.to_batches(max_chunksize=4096):
            yield from (_item(row) for row in batch.to_pylist())

    def take(self, indices: Sequence[int] | NDArray[np.int64]) -> list[Item]:
        """The items at ``indices``, in that order (one Arrow gather for all of them)."""
        import pyarrow as pa

        rows = self.table.take(pa.array(np.asarray(indices, np.int64))).to_pylist()
        return [_item(r) for r in rows]

    @property
    def item_ids(self) -> Any:
        """The item id column (Arrow strings)."""
        return self.table.column("item_id").combine_chunks()

    def texts(self, start: int = 0, stop: int | None = None) -> list[str]:
        """``Item.text()`` of rows ``start:stop``, built on the columns."""
        import pyarrow as pa
        import pyarrow.compute as pc

        part = self.table.slice(start, (stop if stop is not None else len(self)) - start)
        title = part.column("title").combine_chunks()
        year = part.column("year").combine_chunks()
        with_year = pc.binary_join_element_wise(
            title, pc.binary_join_element_wise("(", pc.cast(year, pa.string()), ")", ""), " "
        )
        has_year = pc.fill_null(pc.not_equal(year, 0), False)
        display = pc.if_else(has_year, with_year, title)
        genres = pc.binary_join(part.column("genres").combine_chunks(), ", ")
        genre_part = pc.if_else(
            pc.greater(pc.fill_null(pc.utf8_length(genres), 0), 0),
            pc.binary_join_element_wise("Genres: ", genres, ""),
            pa.nulls(len(part), pa.string()),
        )
        description = part.column("description").combine_chunks()
        desc_part = pc.if_else(
            pc.greater(pc.fill_null(pc.utf8_length(description), 0), 0),
            description,
            pa.nulls(len(part), pa.string()),
        )
        joined = pc.binary_join_element_wise(
            display, genre_part, desc_part, ". ", null_handling="skip"
        )
        texts: list[str] = joined.to_pylist()
        return texts

    @cached_property
    def genre_names(self) -> tuple[str, ...]:
        """Every genre/tag in the catalog, sorted."""
        import pyarrow.compute as pc

        flat = pc.list_flatten(self.table.column("genres"))
        return tuple(sorted(pc.unique(flat).to_pylist()))

    @cached_property
    def genre_codes(self) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
        """Items x genres as CSR parts: (indptr, genre index into ``genre_names``)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        column = self.table.column("genres").combine_chunks()
        offsets = np.asarray(column.offsets.to_numpy(), np.int64) - int(column.offsets[0].as_py())
        flat = pc.list_flatten(column)
        codes = pc.index_in(flat, value_set=pa.array(self.genre_names, pa.string()))
        return offsets, np.asarray(codes.to_numpy(zero_copy_only=False), np.int32)

    @cached_property
    def genre_matrix(self) -> sp.csr_matrix:
        """Binary items x genres matrix (rows of items without genres are empty)."""
        indptr, codes = self.genre_codes
        m = sp.csr_matrix(
            (np.ones(len(codes), np.float32), codes, indptr),
            shape=(len(self), len(self.genre_names)),
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    def with_items(self, updates: Mapping[int, Item], added: Sequence[Item]) -> Catalog:
        """A new catalog with rows ``updates`` replaced and ``added`` appended."""
        import pyarrow as pa

        table = self.table
        if updates:
            rows = np.fromiter(updates, np.int64)
            keep = np.ones(len(self), bool)
            keep[rows] = False
            replaced = Catalog.from_items(updates.values()).table
            # Put each replacement back at its row: concatenate, then reorder.
            order = np.empty(len(self), np.int64)
            kept_rows = np.flatnonzero(keep)
            order[kept_rows] = np.arange(len(kept_rows))
            order[rows] = len(kept_rows) + np.arange(len(rows))
            table = pa.concat_tables([table.filter(pa.array(keep)), replaced]).take(order)
        if added:
            table = pa.concat_tables([table, Catalog.from_items(added).table])
        return Catalog(table)

    def concat(self, other: Catalog) -> Catalog:
        """Rows of ``self`` then ``other``."""
        import pyarrow as pa

        return Catalog(pa.concat_tables([self.table, other.table]))

    def save(self, path: Path) -> None:
        """Write the catalog as an uncompressed Arrow IPC file (memory-mappable)."""
        write_arrow(self.table, path)

    @classmethod
    def load(cls, path: Path) -> Catalog:
        """Memory-map a catalog written by ``save``."""
        return cls(read_arrow(path))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Catalog) and self.table.equals(other.table)

    def __hash__(self) -> int:
        return hash(len(self))

    def __repr__(self) -> str:
        return f"Catalog(n={len(self)})"


def _item(row: Mapping[str, Any]) -> Item:
    return Item(
        item_id=row["item_id"],
        title=row["title"] or "",
        year=row["year"],
        genres=tuple(row["genres"] or ()),
        description=row["description"] or "",
    )
