"""Where everything lives under a liverec home: the one description of its layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    """The folders and files of one home (``LIVEREC_HOME``, default ``~/.cache/liverec``).

    >>> p = Paths(Path("/h"))
    >>> str(p.snapshots("ml-100k")), str(p.event_log("ml-100k"))
    ('/h/snapshots/ml-100k', '/h/state/ml-100k/events.db')
    """

    home: Path

    @property
    def datasets(self) -> Path:
        """One folder per fetched, imported or generated dataset."""
        return self.home / "datasets"

    def dataset(self, name: str) -> Path:
        """The folder of dataset ``name`` (the name is not checked here)."""
        return self.datasets / name

    @property
    def downloads(self) -> Path:
        """Downloaded archives, kept so a re-fetch needs no network."""
        return self.home / "downloads"

    @property
    def models(self) -> Path:
        """Exported encoders and cached item embeddings, shared by every training run."""
        return self.home / "models"

    def snapshots(self, dataset: str) -> Path:
        """The versioned snapshots trained on ``dataset``."""
        return self.home / "snapshots" / dataset

    def state(self, dataset: str) -> Path:
        """The live state of the service of ``dataset`` (its event log)."""
        return self.home / "state" / dataset

    def event_log(self, dataset: str) -> Path:
        """The default (SQLite) event log of ``dataset``."""
        return self.state(dataset) / "events.db"

    def exposures(self, dataset: str) -> Path:
        """What experiment traffic was shown (``liverec.events.exposures``)."""
        return self.state(dataset) / "exposures.db"

    def experiments(self, dataset: str) -> Path:
        """The experiments defined on ``dataset``'s service: arms, shares, status."""
        return self.state(dataset) / "experiments.json"

    @property
    def keys(self) -> Path:
        """API keys, stored hashed (mode 0600)."""
        return self.home / "keys.json"

    @property
    def audit(self) -> Path:
        """The audit log: one JSON line per write or admin action."""
        return self.home / "audit.jsonl"

    @property
    def secret(self) -> Path:
        """The key of the user-id pseudonyms (mode 0600)."""
        return self.home / "secret"
