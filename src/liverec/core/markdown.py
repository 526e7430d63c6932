"""The one markdown-table writer of reports, benchmarks and the CLI."""

from __future__ import annotations

from collections.abc import Sequence


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A markdown table; the first ``left`` columns are left-aligned, the rest (numbers) right.

    >>> print(markdown_table(["model", "HR@10"], [["pop", "0.1"]]))
    | model | HR@10 |
    |---|---:|
    | pop | 0.1 |
    """
    align = ["---"] * left + ["---:"] * (len(header) - left)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
