"""``liverec experiment create|list|report|stop|simulate``: online experiments on the service."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from liverec.cli_options import add_command, add_dataset_option, add_group, positive
from liverec.core.errors import ConfigError

if TYPE_CHECKING:
    from liverec.config import Settings
    from liverec.serving.experiments import ExperimentConfig, ExperimentStore

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_s(text: str) -> float:
    """An argparse type: ``90s``, ``30m``, ``2h``, ``7d`` (or plain seconds) as seconds.

    >>> duration_s("30m"), duration_s("45")
    (1800.0, 45.0)
    """
    unit = DURATION_UNITS.get(text[-1:], 0)
    try:
        value = float(text[:-1]) * unit if unit else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 30m, 2h or 7d, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration > 0, got {text!r}")
    return value


def _settings(dataset: str) -> Settings:
    from liverec.cli_options import settings
    from liverec.data.sources import check_dataset

    found = settings(dataset=dataset)
    check_dataset(dataset, found.home)  # before anything creates a folder for it
    return found


def _store(settings: Settings) -> ExperimentStore:
    from liverec.serving.experiments import ExperimentStore

    return ExperimentStore(settings.experiments_file)


def _audit(settings: Settings, action: str) -> None:
    from liverec.cli_admin import _audit_cli

    _audit_cli(settings, action, 200)


def arms_of(specs: list[str], sets: list[str]) -> list[dict[str, Any]]:
    """``--arm NAME[=SHARE]`` and ``--set ARM.FIELD[.KEY]=VALUE`` (values as JSON, else text)
    as arm definitions.

    >>> arms_of(["control=0.5", "b=0.5"], ["b.mmr_lambda=0.5", "b.weights.pop=1"])[1]
    {'name': 'b', 'pipeline': {'mmr_lambda': 0.5, 'weights': {'pop': 1}}, 'share': 0.5}

    Raises
    ------
    ConfigError
        If a spec is malformed or names an arm not given with --arm.
    """
    arms: dict[str, dict[str, Any]] = {}
    for spec in specs:
        name, sep, share = spec.partition("=")
        arms[name] = {"name": name, "pipeline": {}}
        if sep:
            try:
                arms[name]["share"] = float(share)
            except ValueError:
                raise ConfigError(f"--arm {spec!r}: expected NAME or NAME=SHARE") from None
    for pair in sets:
        key, sep, raw = pair.partition("=")
        name, _, field = key.partition(".")
        if not sep or not field:
            raise ConfigError(f"--set {pair!r}: expected ARM.FIELD=VALUE, e.g. b.mmr_lambda=0.5")
        if name not in arms:
            raise ConfigError(f"--set {pair!r}: no --arm {name!r} (arms: {', '.join(arms)})")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        top, _, sub = field.partition(".")
        target = arms[name]["pipeline"]
        if sub:
            target.setdefault(top, {})[sub] = value
        else:
            target[top] = value
    return list(arms.values())


def validation_message(error: ValidationError) -> str:
    """Each problem of a definition as ``field: message``, joined by semicolons."""
    parts = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"])
        message = str(e["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def cmd_create(args: argparse.Namespace) -> int:
    """Define and start an experiment; running services pick it up within a second."""
    from liverec.serving.experiments import ExperimentConfig

    settings = _settings(args.dataset)
    doc: dict[str, Any] = json.loads(Path(args.file).read_text()) if args.file else {}
    doc.update(name=args.name, created=time.time(), stopped=None)
    if args.arm:
        doc["arms"] = arms_of(args.arm, args.set)
    elif args.set:
        raise ConfigError("--set needs the arms named with --arm")
    if "arms" not in doc:
        raise ConfigError("name the arms: --arm control --arm treatment (the first is control)")
    for key in (
        "mode",
        "window_s",
        "planned_users",
        "looks",
        "alpha",
        "salt",
        "max_user_exposures",
    ):
        if getattr(args, key) is not None:
            doc[key] = getattr(args, key)
    try:
        config = ExperimentConfig.model_validate(doc)
    except ValidationError as e:
        raise ConfigError(f"experiment {args.name}: {validation_message(e)}") from None
    config = _store(settings).create(config)
    _audit(settings, f"experiment create {config.name}")
    print(_describe(config))
    return 0


def _describe(c: ExperimentConfig) -> str:
    arms = ", ".join(
        f"{a.name} {share:.0%}" + (f" {json.dumps(a.pipeline)}" if a.pipeline else "")
        for a, share in zip(c.arms, c.shares, strict=True)
    )
    state = (
        "running"
        if c.running
        else f"stopped {time.strftime('%Y-%m-%d %H:%M', time.localtime(c.stopped or 0))}"
    )
    return (
        f"{c.name}: {c.mode}, {state}; arms {arms}; {c.planned_users:,} planned users in "
        f"{c.looks} looks at alpha {c.alpha:g}; window {c.window_s:g} s"
    )


def cmd_list(args: argparse.Namespace) -> int:
    """List the experiments of a dataset's service with their exposure counts."""
    from liverec.events.exposures import open_exposure_log

    settings = _settings(args.dataset)
    found = _store(settings).all()
    if not found:
        print("no experiments (liverec experiment create ...)")
        return 0
    exposures = open_exposure_log(settings.exposure_log_url)
    try:
        counts = exposures.counts()
    finally:
        exposures.close()
    for c in found:
        print(f"{_describe(c)}; {counts.get(c.name, 0):,} exposures")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Per-arm exposures, CTR and conversion, effects, SRM and the decision."""
    from liverec.eval.experiment_report import experiment_report, format_report
    from liverec.events.exposures import open_exposure_log
    from liverec.events.store import open_event_log

    settings = _settings(args.dataset)
    config = _store(settings).get(args.name)
    exposures = open_exposure_log(settings.exposure_log_url)
    log = open_event_log(settings.event_log_url)
    try:
        report = experiment_report(config, exposures, log, time.time())
    finally:
        exposures.close()
        log.close()
    print(json.dumps(asdict(report), indent=1) if args.json else format_report(report))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop assigning answers to an experiment; its exposures stay for the report."""
    settings = _settings(args.dataset)
    config = _store(settings).stop(args.name)
    _audit(settings, f"experiment stop {config.name}")
    print(_describe(config))
    return 0


def add_commands(sub: Any) -> None:
    """Register ``experiment`` and its subcommands on the top-level subparsers."""
    from liverec.cli_experiment_sim import add_simulate

    esub = add_group(
        sub, "experiment", "online experiments: create, list, report, stop, simulate", "exp_command"
    )
    _add_create(esub)
    ls = add_command(
        esub,
        "list",
        "list the experiments with their status and exposures",
        ["liverec experiment list"],
    )
    add_dataset_option(ls)
    ls.set_defaults(func=cmd_list)

    rp = add_command(
        esub,
        "report",
        "per-arm CTR and conversion with intervals, effects, SRM check, decision",
        ["liverec experiment report mmr", "liverec experiment report mmr --json"],
    )
    rp.add_argument("name", help="the experiment")
    add_dataset_option(rp)
    rp.add_argument("--json", action="store_true", help="the whole report as JSON")
    rp.set_defaults(func=cmd_report)

    st = add_command(
        esub, "stop", "stop assigning answers to an experiment", ["liverec experiment stop mmr"]
    )
    st.add_argument("name", help="the experiment")
    add_dataset_option(st)
    st.set_defaults(func=cmd_stop)
    add_simulate(esub)


def _add_create(esub: Any) -> None:
    cr = add_command(
        esub,
        "create",
        "define and start an experiment; its arms are pipeline configurations",
        [
            "liverec experiment create mmr --arm control --arm b --set b.mmr_lambda=0.5",
            "liverec experiment create pop --arm control=0.8 --arm pop=0.2 --set pop.weights.pop=1",
            "liverec experiment create rankers --mode interleave --arm a --arm b "
            "--set b.feature_weights.sasrec=0.05",
            "liverec experiment create big --file arms.json     # JSON: arms, mode, window_s ...",
        ],
        notes="The first arm is the control. Users are split by a salted hash of their "
        "pseudonym; a running service starts assigning within a second. One experiment "
        "runs at a time.",
    )
    cr.add_argument("name", help="lower-case letters, digits, _ . -")
    add_dataset_option(cr)
    cr.add_argument(
        "--arm",
        action="append",
        default=[],
        metavar="NAME[=SHARE]",
        help="an arm (repeatable; no shares: equal split)",
    )
    cr.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="ARM.FIELD=VALUE",
        help="a pipeline setting of one arm, e.g. b.mmr_lambda=0.5 or b.weights.pop=1 (repeatable)",
    )
    cr.add_argument(
        "--mode",
        choices=["ab", "interleave"],
        default=None,
        help="ab splits users; interleave merges two arms' lists (default: ab)",
    )
    cr.add_argument(
        "--window",
        dest="window_s",
        type=duration_s,
        default=None,
        help="clicks and purchases this long after an answer count (default: 30m)",
    )
    cr.add_argument(
        "--planned-users",
        type=positive,
        default=None,
        help="users at the last look of the decision rule (default: 2000)",
    )
    cr.add_argument(
        "--looks", type=positive, default=None, help="equally spaced looks (default: 4)"
    )
    cr.add_argument("--alpha", type=float, default=None, help="false-positive rate (default: 0.05)")
    cr.add_argument(
        "--max-user-exposures",
        type=positive,
        default=None,
        help="weigh each user as at most this many answers in the statistics (default: no cap)",
    )
    cr.add_argument("--salt", default=None, help="hash salt of the split (default: random)")
    cr.add_argument("--file", default=None, help="a JSON experiment definition; flags override it")
    cr.set_defaults(func=cmd_create)
