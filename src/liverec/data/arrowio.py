"""Arrow IPC files: what columnar parts of datasets and snapshots are stored as."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_arrow(table: Any, path: Path) -> None:
    """Write ``table`` as an uncompressed Arrow IPC file (memory-mappable on read)."""
    import pyarrow as pa

    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_arrow(path: Path) -> Any:
    """Memory-map an Arrow IPC file as a table (zero copy: pages load as they are read)."""
    import pyarrow as pa

    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()
