"""The operator's commands: keys, audit, users delete, and serve's checks before serving."""

from __future__ import annotations

from pathlib import Path

import pytest

from liverec.cli import main
from liverec.core.keys import KeyStore


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIVEREC_HOME", str(tmp_path))
    return tmp_path


def test_keys_are_created_listed_revoked_and_audited(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "create", "--scope", "write", "--name", "ingest"]) == 0
    key = capsys.readouterr().out.splitlines()[0]
    assert key.startswith("lr_") and KeyStore(home).find(key) is None  # not refreshed yet
    store = KeyStore(home)
    store.refresh()
    assert store.find(key) is not None
    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert "ingest" in listed and "write" in listed and key not in listed
    assert main(["keys", "revoke", "ingest"]) == 0
    assert main(["keys", "revoke", "ingest"]) == 2  # already revoked: one clear line
    assert "no active key" in capsys.readouterr().err
    assert main(["audit", "--since", "1h"]) == 0
    audit = capsys.readouterr().out
    assert "keys create" in audit and "keys revoke" in audit and key not in audit
    assert main(["audit", "--since", "yesterday"]) == 2


def test_serve_refuses_a_public_host_without_keys(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "without API keys" in capsys.readouterr().err


def test_serve_says_in_one_line_when_no_snapshot_opens(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = home / "snapshots" / "ml-100k" / "20260101T000000.000000Z"
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text("{not json")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no snapshot under") and broken.name in err
    assert len(err.splitlines()) == 1


def test_deleting_an_unknown_user_is_a_clear_error(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["users", "delete", "nobody"]) == 2
    assert "unknown user id 'nobody'" in capsys.readouterr().err


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip().startswith("liverec 0.")
