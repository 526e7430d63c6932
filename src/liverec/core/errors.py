"""The liverec error hierarchy: every error a user can cause derives from LiverecError."""

from __future__ import annotations

from dataclasses import dataclass


class LiverecError(Exception):
    """Base class of every error liverec raises on purpose."""


class ConfigError(LiverecError):
    """A setting or argument has a value liverec cannot use."""


class FetchError(LiverecError):
    """A dataset could not be downloaded or failed verification."""


class DatasetNotFoundError(LiverecError):
    """A dataset name does not refer to a fetched or imported dataset."""


class NotFittedError(LiverecError):
    """A model was used before ``fit`` or ``load``."""


class InvalidInputError(LiverecError, ValueError):
    """A value given to the Python API breaks a rule; the message names the field."""


class UnknownIdError(LiverecError, KeyError):
    """A raw user or item id is not in the id map."""

    def __str__(self) -> str:
        # KeyError would otherwise wrap the message in quotes.
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class RowError:
    """One rejected input row: where it is and why it was rejected."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class DataError(LiverecError):
    """An input file is malformed; ``rows`` lists line-numbered reasons when known."""

    def __init__(self, message: str, rows: list[RowError] | None = None) -> None:
        super().__init__(message)
        self.rows = rows or []
