"""Write benchmark results: JSON files, and marked sections of docs/benchmarks.md."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import os

    return {
        "cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def write_json(path: Path, doc: dict[str, Any]) -> Path:
    """Write ``doc`` (plus the machine description) as pretty JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **doc}, indent=2))
    return path


def update_section(doc: Path, name: str, body: str) -> None:
    """Replace the text between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` in ``doc``.

    The section is appended (with its markers) when the file does not have it yet.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "b.md"
    >>> update_section(p, "x", "one")
    >>> update_section(p, "x", "two")
    >>> p.read_text().count("two"), p.read_text().count("one")
    (1, 0)
    """
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = doc.read_text() if doc.exists() else ""
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
