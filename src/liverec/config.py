"""The one typed settings object; each component keeps its own config beside its code."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    """Where liverec keeps datasets, downloads and snapshots unless LIVEREC_HOME says otherwise."""
    return Path("~/.cache/liverec").expanduser()


class Settings(BaseSettings):
    """Service-wide settings, read from ``LIVEREC_*`` environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="LIVEREC_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path = Field(default_factory=default_home, description="cache and state directory")

    @field_validator("home")
    @classmethod
    def _expand_home(cls, v: Path) -> Path:
        return v.expanduser()

    @property
    def datasets_dir(self) -> Path:
        """Directory holding one folder per fetched or imported dataset."""
        return self.home / "datasets"

    @property
    def downloads_dir(self) -> Path:
        """Directory holding downloaded archives."""
        return self.home / "downloads"
