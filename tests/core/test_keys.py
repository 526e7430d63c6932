from __future__ import annotations

import stat
from pathlib import Path

import pytest

from liverec.core.errors import ConfigError, UnknownIdError
from liverec.core.keys import KeyStore, Scope
from liverec.core.paths import Paths


def test_a_key_is_shown_once_and_stored_only_as_a_hash(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    record, key = store.create(Scope.write, "ingest")
    text = Paths(tmp_path).keys.read_text()
    assert key not in text and key.split("_")[2] not in text
    assert record.sha256 in text
    assert stat.S_IMODE(Paths(tmp_path).keys.stat().st_mode) == 0o600
    store.refresh()
    found = store.find(key)
    assert found is not None and found.scope is Scope.write and found.name == "ingest"
    assert store.find(key + "x") is None and store.find("") is None


def test_a_revoked_key_stops_working_and_stays_listed(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    a, key_a = store.create(Scope.read, "a")
    _, key_b = store.create(Scope.admin, "b")
    store.revoke("a")
    reader = KeyStore(tmp_path)  # another process sees the change
    reader.refresh()
    assert reader.find(key_a) is None and reader.find(key_b) is not None
    assert [(k.name, k.active) for k in reader.records()] == [("a", False), ("b", True)]
    with pytest.raises(UnknownIdError, match="no active key"):
        store.revoke(a.key_id)


def test_scopes_nest_and_a_bad_rate_is_refused(tmp_path: Path) -> None:
    assert Scope.read < Scope.write < Scope.admin
    with pytest.raises(ConfigError, match="rate-per-s"):
        KeyStore(tmp_path).create(Scope.read, rate_per_s=0)


def test_no_key_file_means_no_keys(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.refresh()
    assert not store.configured() and store.records() == []
