"""Keyed pseudonyms for user ids, and the one rule every external id follows.

Raw user ids stop at the edge: the service, the importer and the fetcher turn each one into
``HMAC-SHA256(secret, raw id)`` (hex, 128 bits) before anything is stored, logged or cached.
The same raw id always gets the same pseudonym under one secret, so histories, models and
deletions work unchanged; without the secret nobody can compute, or confirm, the pseudonym of
a raw id. The secret comes from ``LIVEREC_SECRET`` or a file ``$LIVEREC_HOME/secret``
(created on first use, mode 0600).

If the secret is lost or changed, every stored user becomes unreachable: a returning user
gets a new pseudonym and starts with an empty history (items, models and other data are
unaffected). Keep the secret with the backups of ``$LIVEREC_HOME``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from liverec.core.errors import ConfigError
from liverec.core.paths import Paths

SECRET_ENV = "LIVEREC_SECRET"
PSEUDONYM_HEX = 32  # 128 bits: collisions stay negligible far past 10^9 users
MAX_ID_LENGTH = 256


def id_problem(raw: object, max_length: int = MAX_ID_LENGTH) -> str | None:
    """Why ``raw`` cannot be a user, item or dataset id (None when it can).

    One rule everywhere (API paths and bodies, import files, the CLI): a non-empty string of
    at most ``max_length`` characters, without control characters, without leading or
    trailing blanks, and usable as one URL path segment (no ``/``, not ``.`` or ``..``), so
    every id an event can name can also be named in ``/v1/items/{item_id}``.

    >>> id_problem("196"), id_problem(" 196"), id_problem("a\\nb"), id_problem("")
    (None, 'has leading or trailing blanks', 'has a control character', 'is empty')
    >>> id_problem("a/b"), id_problem("..")
    ("contains '/'", 'is a relative path name')
    """
    if not isinstance(raw, str):
        return "is not a string"
    if not raw:
        return "is empty"
    if len(raw) > max_length:
        return f"is longer than {max_length} characters"
    if raw != raw.strip():
        return "has leading or trailing blanks"
    if not raw.isprintable():
        return "has a control character"
    if "/" in raw:
        return "contains '/'"
    if raw in (".", ".."):
        return "is a relative path name"
    return None


class Pseudonyms:
    """Raw user id -> pseudonym under one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ConfigError("the pseudonym secret must be at least 16 bytes")
        self._key = secret

    @classmethod
    def for_home(cls, home: Path, secret: str | None = None) -> Pseudonyms:
        """The secret given, else ``LIVEREC_SECRET``, else ``home/secret`` (created if missing).

        Raises
        ------
        ConfigError
            If the secret file cannot be created or read, or is too short.
        """
        text = secret or os.environ.get(SECRET_ENV)
        if text:
            return cls(text.encode())
        path = Paths(home).secret
        try:
            home.mkdir(parents=True, exist_ok=True)
            # O_EXCL: of two processes starting at once, exactly one writes the secret
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        except OSError as e:
            raise ConfigError(f"cannot create the pseudonym secret {path}: {e}") from None
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        try:
            text = path.read_text().strip()
        except OSError as e:
            raise ConfigError(f"cannot read the pseudonym secret {path}: {e}") from None
        if not text:  # the creator has not written it yet
            raise ConfigError(f"the pseudonym secret {path} is empty")
        return cls(text.encode())

    @classmethod
    def passthrough(cls) -> Pseudonyms:
        """For ids that already are pseudonyms: stored data replayed through a live service
        (evaluation and benchmarks read user ids from a dataset under ``$LIVEREC_HOME``)."""
        return _Passthrough(b"0" * 16)

    def of(self, raw_id: str) -> str:
        """The pseudonym of one raw user id."""
        return hmac.digest(self._key, raw_id.encode(), "sha256").hex()[:PSEUDONYM_HEX]

    def many(self, raw_ids: Iterable[str]) -> list[str]:
        """Pseudonyms of several raw ids, in order."""
        key = self._key
        return [hmac.digest(key, r.encode(), "sha256").hex()[:PSEUDONYM_HEX] for r in raw_ids]


class _Passthrough(Pseudonyms):
    """Ids that already are pseudonyms stay as they are."""

    def of(self, raw_id: str) -> str:
        """``raw_id`` itself (it already is a pseudonym)."""
        return raw_id

    def many(self, raw_ids: Iterable[str]) -> list[str]:
        """The ids themselves."""
        return list(raw_ids)
