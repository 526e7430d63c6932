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


def mapped(path: Path) -> Any:
    """A ``.npy`` file memory-mapped read-only, as a plain ndarray view.

    Pages are read when touched, so loading is O(1) whatever the size; the view drops the
    ``np.memmap`` subclass, whose per-index Python overhead (~10 us) the request path would
    otherwise pay on every gather.
    """
    import numpy as np

    return np.asarray(np.load(path, mmap_mode="r"))
