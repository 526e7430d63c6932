"""The OpenAPI document tells the truth: schemathesis generates ≥ 1,000 cases over every operation
and sends each with an admin key, a read key and no key; no answer may be a 5xx, and every
status, content type and body must be one the document lists."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from liverec.api.app import create_app
from liverec.config import Settings
from liverec.core.keys import KeyStore, Scope
from liverec.core.privacy import Pseudonyms
from liverec.events.store import open_event_log
from liverec.serving.service import LiveService, ServiceConfig
from liverec.serving.snapshot import Snapshot
from tests.conftest import UNHURRIED_PIPELINE

pytestmark = pytest.mark.slow
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MIN_CASES = 1_000


@pytest.fixture(scope="module")
def fuzz_home(tmp_path_factory: pytest.TempPathFactory, snapshot: Snapshot) -> Path:
    """A home with its own copy of the session snapshot (hard links): an erasure the fuzzer
    triggers re-issues snapshots here, never in the session's folder."""
    home = tmp_path_factory.mktemp("fuzz-home")
    root = home / "snapshots" / "ml-100k"
    root.mkdir(parents=True)
    shutil.copytree(snapshot.directory, root / snapshot.version, copy_function=os.link)
    return home


@pytest.fixture(scope="module")
def fuzz_keys(fuzz_home: Path) -> dict[str, dict[str, str]]:
    store = KeyStore(fuzz_home)
    admin, read = (store.create(s, s.name)[1] for s in (Scope.admin, Scope.read))
    return {
        "admin": {"Authorization": f"Bearer {admin}"},
        "read": {"Authorization": f"Bearer {read}"},
        "none": {},
    }


@pytest.fixture(scope="module")
def fuzz_app(
    fuzz_home: Path, fuzz_keys: dict[str, dict[str, str]], pseudonyms: Pseudonyms
) -> FastAPI:
    config = ServiceConfig(pipeline=UNHURRIED_PIPELINE)
    root = fuzz_home / "snapshots" / "ml-100k"
    service = LiveService.open(root, open_event_log("memory://"), config, pseudonyms)
    return create_app(Settings(home=fuzz_home, watch_snapshots_s=0), service=service)


def test_no_5xx_and_every_answer_is_documented(
    fuzz_app: FastAPI, fuzz_keys: dict[str, dict[str, str]]
) -> None:
    # Hypothesis is driven here rather than through schemathesis' pytest plugin, whose
    # fixture loader does not run under pytest 9 (it reads a removed ``Function._nodeid``).
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    cases: dict[str, int] = {}
    operations = [found.ok() for found in schema.get_all_operations()]
    for operation in operations:
        fuzz(operation, list(fuzz_keys.values()), cases)()
    assert set(cases) == {op.label for op in operations}  # every operation was exercised
    assert sum(cases.values()) >= MIN_CASES, cases
    print(
        f"schemathesis: {sum(cases.values())} generated cases over {len(cases)} operations, "
        f"each sent with {len(fuzz_keys)} keys; 0 failures"
    )


def fuzz(
    operation: Any, key_headers: list[dict[str, str]], cases: dict[str, int]
) -> Callable[[], None]:
    """A Hypothesis test of one operation: each generated case is sent once per key."""

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: schemathesis.Case) -> None:
        for headers in key_headers:
            case.call_and_validate(headers=headers, checks=CHECKS)
        cases[operation.label] = cases.get(operation.label, 0) + 1

    return check
