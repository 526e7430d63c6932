"""The operator's commands: keys, audit and users delete (wired into the liverec command)."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from typing import Any

from liverec.cli_options import add_command, add_dataset_option, add_group
from liverec.config import Settings


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _audit_cli(settings: Settings, action: str, status: int, count: int | None = None) -> None:
    from liverec.core.audit import AuditEntry, AuditLog

    audit = AuditLog(settings.home)
    audit.append(AuditEntry(time.time(), "cli", "CLI", action, status, count))
    audit.close()


def cmd_keys_create(args: argparse.Namespace) -> int:
    """Create a key and print it once."""
    from liverec.core.keys import KeyStore, Scope

    settings = Settings()
    record, key = KeyStore(settings.home).create(
        Scope[args.scope], args.name or "", args.rate_per_s, args.burst
    )
    _audit_cli(settings, f"keys create {record.key_id} {record.scope.name}", 200)
    print(key)
    print(
        f"key {record.key_id} ({record.name}, scope {record.scope.name}) created; it is "
        f"shown only now: send it as 'Authorization: Bearer <key>'",
        flush=True,
    )
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    """List keys (never the keys themselves)."""
    from liverec.core.keys import KeyStore

    keys = KeyStore(Settings().home).records()
    if not keys:
        print("no API keys: the service is open on loopback only (liverec keys create ...)")
        return 0
    print(f"{'id':<10}{'name':<20}{'scope':<7}{'rate/s':>8}  {'created':<20}status")
    for k in keys:
        rate = f"{k.rate_per_s:g}" if k.rate_per_s else "default"
        status = "active" if k.active else f"revoked {_when(k.revoked)}"
        print(
            f"{k.key_id:<10}{k.name[:19]:<20}{k.scope.name:<7}{rate:>8}  "
            f"{_when(k.created):<20}{status}"
        )
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    """Revoke a key by id or name (running services stop accepting it within a second)."""
    from liverec.core.keys import KeyStore

    settings = Settings()
    record = KeyStore(settings.home).revoke(args.key)
    _audit_cli(settings, f"keys revoke {record.key_id}", 200)
    print(f"revoked key {record.key_id} ({record.name})")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """Print the audit trail, oldest first."""
    from liverec.core.audit import AuditLog, parse_since

    try:
        since = parse_since(args.since) if args.since else 0.0
    except ValueError as err:
        from liverec.core.errors import ConfigError

        raise ConfigError(str(err)) from None
    for e in AuditLog(Settings().home).read(since):
        if args.json:
            print(json.dumps({**asdict(e), "outcome": e.outcome}))
        else:
            count = "" if e.count is None else f" count={e.count}"
            print(
                f"{_when(e.time)}  {e.key:<16} {e.method:<6} {e.route}  "
                f"{e.status} {e.outcome}{count}"
            )
    return 0


def cmd_users_delete(args: argparse.Namespace) -> int:
    """Erase a user everywhere under ``$LIVEREC_HOME``; running services follow."""
    from liverec.core.errors import UnknownIdError
    from liverec.data.sources import check_dataset
    from liverec.events.exposures import open_exposure_log
    from liverec.events.store import open_event_log
    from liverec.serving.erasure import erase_user

    settings = Settings(dataset=args.dataset)
    check_dataset(args.dataset, settings.home)  # before the event log creates its folder
    event_log = open_event_log(settings.event_log_url)
    exposures = (
        open_exposure_log(settings.exposure_log_url)
        if settings.paths.exposures(settings.dataset).exists()
        else None
    )
    try:
        report = erase_user(
            settings.pseudonyms().of(args.user_id),
            home=settings.home,
            dataset=settings.dataset,
            log=event_log,
            snapshots=settings.snapshots,
            exposures=exposures,
            models_dir=settings.models_dir,
            progress=print,
        )
    finally:
        event_log.close()
        if exposures is not None:
            exposures.close()
    _audit_cli(
        settings,
        "users delete",
        200 if report.found else 404,
        report.log_events + report.dataset_events,
    )
    if not report.found:
        raise UnknownIdError(f"unknown user id {args.user_id!r} in dataset {args.dataset!r}")
    print(
        f"erased user {args.user_id!r}: {report.log_events} logged and {report.dataset_events} "
        f"imported events, {report.snapshots_deleted} snapshots replaced; serving "
        f"{report.snapshot} (running services swap to it on their next snapshot check)"
    )
    return 0


def add_commands(sub: Any) -> None:
    """Register ``keys``, ``audit`` and ``users`` on the top-level subparsers."""
    _add_keys(sub)
    au = add_command(
        sub,
        "audit",
        "print the audit trail of writes and admin actions, oldest first",
        ["liverec audit --since 2h", "liverec audit --since 2026-01-31T12:00 --json"],
    )
    au.add_argument("--since", default="", help="e.g. 30m, 2h, 7d or an ISO time (default: all)")
    au.add_argument("--json", action="store_true", help="one JSON object per line")
    au.set_defaults(func=cmd_audit)

    usub = add_group(sub, "users", "user data: delete", "users_command")
    ud = add_command(
        usub,
        "delete",
        "erase a user from the event log, the dataset and the snapshots",
        ["liverec users delete 196", "liverec users delete alice@example.com --dataset shop"],
    )
    ud.add_argument("user_id", help="the user's id as your application knows it")
    add_dataset_option(ud)
    ud.set_defaults(func=cmd_users_delete)


def _add_keys(sub: Any) -> None:
    ksub = add_group(sub, "keys", "API keys: create, list, revoke", "keys_command")
    kc = add_command(
        ksub,
        "create",
        "create a key and print it (once)",
        [
            "liverec keys create --scope admin --name ops",
            "liverec keys create --scope write --name ingest --rate-per-s 200",
        ],
        notes="Send it as 'Authorization: Bearer <key>'. Once a key exists, every request "
        "needs one.",
    )
    kc.add_argument(
        "--scope",
        choices=["read", "write", "admin"],
        required=True,
        help="read: answers; write: + events and items; admin: + delete, reload",
    )
    kc.add_argument("--name", default="", help="a label for lists and the audit trail")
    kc.add_argument(
        "--rate-per-s",
        type=float,
        default=None,
        help="requests per second for this key (default: the service's)",
    )
    kc.add_argument("--burst", type=float, default=None, help="requests allowed at once")
    kc.set_defaults(func=cmd_keys_create)
    kl = add_command(
        ksub, "list", "list keys (ids, names, scopes; never the keys)", ["liverec keys list"]
    )
    kl.set_defaults(func=cmd_keys_list)
    kr = add_command(
        ksub,
        "revoke",
        "revoke a key by id or name (services stop accepting it within a second)",
        ["liverec keys revoke ingest"],
    )
    kr.add_argument("key", help="key id (from list) or name")
    kr.set_defaults(func=cmd_keys_revoke)
