from __future__ import annotations

from pathlib import Path

import pytest

from liverec.core.audit import AuditEntry, AuditLog, parse_since


def test_entries_read_back_in_order_and_filtered_by_time(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.append(AuditEntry(100.0, "ops", "POST", "/v1/events", 200, 3))
    log.append(AuditEntry(200.0, "ops", "DELETE", "/v1/users/{user_id}", 404))
    log.append(AuditEntry(300.0, "open", "PUT", "/v1/items/{item_id}", 401))
    log.close()
    got = list(AuditLog(tmp_path).read(since=150.0))
    assert [(e.time, e.route, e.outcome) for e in got] == [
        (200.0, "/v1/users/{user_id}", "rejected"),
        (300.0, "/v1/items/{item_id}", "denied"),
    ]
    assert list(AuditLog(tmp_path / "none").read()) == []


@pytest.mark.parametrize("bad", ["yesterday", "5w", "", "h"])
def test_since_names_what_it_expected(bad: str) -> None:
    with pytest.raises(ValueError, match="30m, 2h, 7d"):
        parse_since(bad)
