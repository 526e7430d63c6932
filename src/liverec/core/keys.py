"""API keys with scopes, stored hashed in ``$LIVEREC_HOME/keys.json``.

A key is ``lr_<id>_<secret>``: the id (public, 8 hex characters) names the key in lists, audit
lines and ``revoke``; only the SHA-256 of the whole key is stored. A plain hash is enough here
(unlike passwords): the secret part is 128 random bits, so there is nothing to guess, and a
check costs one hash (~1 us) rather than a deliberately slow key-derivation function.

Scopes nest: ``read`` < ``write`` < ``admin``; a key may do what its scope and every lower
one allow. Each key may carry its own rate limit (token bucket); keys without one use the
service default.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from liverec.core.errors import ConfigError, UnknownIdError
from liverec.core.paths import Paths


class Scope(enum.IntEnum):
    """What a key may do; a higher scope includes the lower ones."""

    read = 1
    write = 2
    admin = 3


@dataclass(frozen=True)
class ApiKey:
    """One key as stored (its hash, never the key itself)."""

    key_id: str
    name: str
    scope: Scope
    sha256: str
    created: float
    rate_per_s: float | None = None  # None: the service default
    burst: float | None = None
    revoked: float | None = None

    @property
    def active(self) -> bool:
        """Whether requests with this key are accepted."""
        return self.revoked is None


def digest(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """The keys of one ``$LIVEREC_HOME``; the service re-reads the file when it changes."""

    def __init__(self, home: Path) -> None:
        self.path = Paths(home).keys
        self._signature: tuple[int, int, int] | None = None
        self._keys: list[ApiKey] = []
        self._by_digest: dict[str, ApiKey] = {}

    def records(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        self.refresh()
        return list(self._keys)

    def configured(self) -> bool:
        """Whether any key existed at the last ``refresh``, revoked ones included: with none
        the service is open on loopback only; revoking every key does not reopen it."""
        return bool(self._keys)

    def find(self, key: str) -> ApiKey | None:
        """The active key whose hash matches ``key`` (None if unknown or revoked)."""
        return self._by_digest.get(digest(key))

    def refresh(self) -> None:
        """Re-read the file if it changed since the last read (one ``stat``; every write
        replaces the file, so its inode changes even within one timestamp tick)."""
        try:
            st = self.path.stat()
            signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            signature = (0, 0, 0)
        if signature == self._signature:
            return
        self._keys = self._read()
        self._by_digest = {k.sha256: k for k in self._keys if k.active}
        self._signature = signature

    def create(
        self,
        scope: Scope,
        name: str = "",
        rate_per_s: float | None = None,
        burst: float | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key: its record and the key itself (shown once, never stored)."""
        if rate_per_s is not None and rate_per_s <= 0:
            raise ConfigError(f"--rate-per-s: must be > 0, got {rate_per_s}")
        keys = self._read()
        taken = {k.key_id for k in keys}
        key_id = secrets.token_hex(4)
        while key_id in taken:
            key_id = secrets.token_hex(4)
        key = f"lr_{key_id}_{secrets.token_hex(16)}"
        record = ApiKey(key_id, name or key_id, scope, digest(key), time.time(), rate_per_s, burst)
        self._write([*keys, record])
        return record, key

    def revoke(self, key_id_or_name: str) -> ApiKey:
        """Revoke one active key by id or name.

        Raises
        ------
        UnknownIdError
            If no active key has that id or name (or a name is shared by several keys).
        """
        keys = self._read()
        hits = [n for n, k in enumerate(keys) if k.active and key_id_or_name in (k.key_id, k.name)]
        if len(hits) != 1:
            why = "no active key" if not hits else f"{len(hits)} active keys"
            raise UnknownIdError(f"{why} with id or name {key_id_or_name!r}")
        keys[hits[0]] = replace(keys[hits[0]], revoked=time.time())
        self._write(keys)
        return keys[hits[0]]

    def _read(self) -> list[ApiKey]:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            raise ConfigError(f"{self.path}: unreadable key file ({e})") from None
        return [ApiKey(**{**k, "scope": Scope[k["scope"]]}) for k in doc["keys"]]

    def _write(self, keys: list[ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        doc = {"keys": [{**asdict(k), "scope": k.scope.name} for k in keys]}
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)  # readers see the old file or the new one, never half
