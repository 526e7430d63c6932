"""Progress of long steps (training, encoding) as one line with a rate and an ETA.

Every long loop reports through the same callback, ``progress(done, total)``; a
``ProgressLine`` turns the calls into a line on stderr, rewritten in place at most a few
times a second, and a silent one (no stream) costs nothing, so library code reports
unconditionally and only the caller decides whether anything is shown.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

ProgressFn = Callable[[int, int], None]  # (done, total), in the step's own unit


def no_progress(done: int, total: int) -> None:
    """A progress callback that reports nothing."""


def duration(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on.

    >>> duration(75.4), duration(3723.0)
    ('1:15', '1:02:03')
    """
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressLine:
    """``label: done/total unit, rate, ETA`` on ``stream`` (nothing when it is None).

    Call it as a ``ProgressFn``; ``note`` adds a detail (e.g. the validation score) to the
    line; ``close`` ends the line and may add one more (e.g. why a loop stopped early).
    ``clock`` is injectable so tests check the text without waiting.
    """

    def __init__(
        self,
        label: str,
        unit: str,
        stream: TextIO | None = None,
        *,
        interval_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.unit, self.stream = label, unit, stream
        self.interval_s = interval_s
        self.clock = clock
        self.start = clock()
        self.detail = ""
        self._state: tuple[int, int] | None = None  # the latest (done, total)
        self._written_at: float | None = None
        self._shown: tuple[int, int] | None = None
        self._width = 0

    def __call__(self, done: int, total: int) -> None:
        """Record progress; rewrite the line unless it was written under ``interval_s`` ago
        (the last update, done == total, is always written)."""
        self._state = (done, total)
        if self.stream is None:
            return
        now = self.clock()
        recent = self._written_at is not None and now - self._written_at < self.interval_s
        if not recent or done >= total:
            self._write(self.stream, now)

    def note(self, detail: str) -> None:
        """Show ``detail`` after the counts from the next update on."""
        self.detail = detail

    def text(self, now: float) -> str:
        """The line for the latest update as of ``now`` (without carriage return)."""
        done, total = self._state or (0, 0)
        elapsed = now - self.start
        parts = [f"{self.label}: {done}/{total} {self.unit}"]
        if done > 0 and elapsed > 0:
            rate = done / elapsed
            parts.append(f"{rate:.1f}/s" if rate >= 1 else f"{elapsed / done:.1f} s each")
            if done < total:
                parts.append(f"ETA {duration((total - done) / rate)}")
        if done >= total > 0:
            parts.append(f"in {duration(elapsed)}")
        if self.detail:
            parts.append(self.detail)
        return ", ".join(parts)

    def _write(self, stream: TextIO, now: float) -> None:
        line = self.text(now)
        stream.write("\r" + line.ljust(self._width))  # padded over a longer previous line
        stream.flush()
        self._width = len(line)
        self._written_at = now
        self._shown = self._state

    def close(self, final: str = "") -> None:
        """End the line (showing the latest update if it was not), then ``label: final``."""
        if self.stream is None:
            return
        if self._state is not None and self._shown != self._state:
            self._write(self.stream, self.clock())
        if self._written_at is not None:
            self.stream.write("\n")
        if final:
            self.stream.write(f"{self.label}: {final}\n")
        self.stream.flush()
        self._written_at = None
        self._width = 0

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def progress_line(label: str, unit: str, enabled: bool) -> ProgressLine:
    """A ``ProgressLine`` on stderr when ``enabled``, else a silent one."""
    return ProgressLine(label, unit, sys.stderr if enabled else None)
