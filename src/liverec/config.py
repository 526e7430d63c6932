"""The one typed settings object; each component keeps its own config beside its code."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from liverec.api.auth import AuthConfig
from liverec.api.limits import LimitsConfig
from liverec.core.paths import Paths
from liverec.core.privacy import Pseudonyms
from liverec.serving.service import ServiceConfig


def default_home() -> Path:
    """Where liverec keeps datasets, downloads and snapshots unless LIVEREC_HOME says otherwise."""
    return Path("~/.cache/liverec").expanduser()


class Settings(BaseSettings):
    """Service-wide settings, read from ``LIVEREC_*`` environment variables.

    Nested values use a double underscore, e.g. ``LIVEREC_SERVICE__PIPELINE__MMR_LAMBDA=0.7``.
    """

    model_config = SettingsConfigDict(
        env_prefix="LIVEREC_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path = Field(default_factory=default_home, description="cache and state directory")
    dataset: str = Field("ml-100k", description="dataset the service is trained on")
    event_log: str = Field("", description="event log URL; default sqlite under home/state")
    snapshots_dir: Path | None = Field(None, description="default: home/snapshots/<dataset>")
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    watch_snapshots_s: float = Field(
        2.0, ge=0, description="poll for a newer snapshot this often (0 = only on request)"
    )
    auth: AuthConfig = Field(default_factory=AuthConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    secret: SecretStr | None = Field(
        None, description="key of the user-id pseudonyms; default: generated into home/secret"
    )

    @field_validator("home", "snapshots_dir")
    @classmethod
    def _expand_home(cls, v: Path | None) -> Path | None:
        return v.expanduser() if v is not None else None

    @property
    def paths(self) -> Paths:
        """The layout of ``home``."""
        return Paths(self.home)

    @property
    def models_dir(self) -> Path:
        """Exported encoders and cached item embeddings, shared by every training run."""
        return self.paths.models

    @property
    def snapshots(self) -> Path:
        """Directory holding this dataset's versioned snapshots."""
        return self.snapshots_dir or self.paths.snapshots(self.dataset)

    def pseudonyms(self) -> Pseudonyms:
        """Raw user id -> pseudonym under this home's secret (see ``liverec.core.privacy``)."""
        secret = self.secret.get_secret_value() if self.secret is not None else None
        return Pseudonyms.for_home(self.home, secret)

    @property
    def event_log_url(self) -> str:
        """The event log URL, defaulting to a SQLite file under ``home/state/<dataset>``."""
        return self.event_log or f"sqlite:///{self.paths.event_log(self.dataset)}"

    @property
    def exposure_log_url(self) -> str:
        """Where experiment exposures go: SQLite next to the default event log, or memory
        when the event log is ``memory://``."""
        if self.event_log == "memory://":
            return "memory://"
        return f"sqlite:///{self.paths.exposures(self.dataset)}"

    @property
    def experiments_file(self) -> Path:
        """The experiment definitions of this dataset's service."""
        return self.paths.experiments(self.dataset)
