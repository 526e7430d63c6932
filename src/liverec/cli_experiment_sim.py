"""``liverec experiment simulate``: an experiment and A/A runs on the streaming replay."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from liverec.cli_options import add_command, add_dataset_option, non_negative, positive

if TYPE_CHECKING:
    from liverec.eval.attribution import Outcomes
    from liverec.eval.experiment_sim import RunsResult


def users_for_power(
    outcomes: Outcomes, effect: float, alpha: float, cap: int | None = None, power: float = 0.8
) -> int | None:
    """Users (both arms together, 50/50) a fixed-horizon CTR test needs to detect a relative
    ``effect`` with ``power``, from the variance the replay showed (tea-tasting's power
    analysis, delta method, users capped as the rule caps them); None when the replay shows
    no variance to plan with."""
    import numpy as np
    from tea_tasting.metrics import RatioOfMeans

    from liverec.eval.experiment_report import user_totals
    from liverec.eval.experiment_stats import ratio_aggregates

    totals = user_totals(outcomes, np.zeros(len(outcomes.users), np.int64), cap=cap)
    metric = RatioOfMeans(
        "numer", "denom", alpha=alpha, power=power, rel_effect_size=effect, use_t=False
    )
    aggr = ratio_aggregates(totals.clicks, totals.exposures)
    if not 0 < aggr.mean("numer") < aggr.mean("denom") or aggr.ratio_var("numer", "denom") <= 0:
        return None
    needed: float = metric.solve_power_from_aggregates(aggr, "n_obs")[0].n_obs
    return math.ceil(needed)


def _runs_line(label: str, r: RunsResult) -> str:
    low, high = r.interval()
    stops = ", ".join(f"{n}" for n in r.by_look)
    wrong = f", {r.wrong_sign} in the wrong direction" if r.effect > 0 else ""
    return (
        f"{label}: {r.detected} of {r.runs} runs declared a difference = {r.rate:.1%} "
        f"[95% CI {low:.1%}, {high:.1%}]{wrong}; stops by look: {stops}"
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    """Replay the stream through the experiment (or an A/A test) and check the rule."""
    import numpy as np

    from liverec.cli_experiment import _settings, _store
    from liverec.cli_options import train_config
    from liverec.data.sources import load_dataset
    from liverec.eval.experiment_report import build_report, format_report
    from liverec.eval.experiment_sim import simulate
    from liverec.eval.replay import time_cut

    settings = _settings(args.dataset)
    dataset = load_dataset(args.dataset, settings.home)
    split = time_cut(dataset, args.cut, args.end)
    users = len(np.unique(dataset.interactions.uidx[split.stream]))
    train = train_config(args.models, (), args.skip)

    def progress(done: int, total: int) -> None:
        print(f"  {done:,}/{total:,} events", file=sys.stderr, flush=True)

    def run(config: Any) -> Outcomes:
        print(
            f"replaying {split.n_stream:,} events of {users:,} users: {config.name}",
            file=sys.stderr,
        )
        t0 = time.perf_counter()
        sim = simulate(
            dataset,
            split,
            config,
            train_config=train,
            models_dir=settings.models_dir,
            progress=progress,
        )
        print(f"  {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        return sim.outcomes()

    doc: dict[str, Any] = {
        "dataset": dataset.name,
        "cut": args.cut,
        "end": args.end,
        "users": users,
    }
    if args.experiment:
        config = (
            _store(settings)
            .get(args.experiment)
            .model_copy(update={"planned_users": users, "stopped": None})
        )
        report = build_report(config, run(config), math.inf)
        print(format_report(report) + "\n")
        doc["experiment"] = asdict(report)
    if args.runs:
        doc.update(_aa_figures(args, users, run))
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1, default=str))
    return 0


def _aa_figures(args: argparse.Namespace, users: int, run: Any) -> dict[str, Any]:
    """Replay two identical arms once, then the A/A runs and the power runs; print both."""
    from liverec.eval.experiment_sim import aa_config, rerandomised_runs

    aa = aa_config(users, args.looks, args.alpha, args.max_user_exposures)
    outcomes = run(aa)
    t0 = time.perf_counter()
    false_pos = rerandomised_runs(aa, outcomes, args.runs, 0.0, args.seed)
    power = rerandomised_runs(aa, outcomes, args.runs, args.effect, args.seed + 1)
    needed = users_for_power(outcomes, args.effect, args.alpha, args.max_user_exposures)
    took = time.perf_counter() - t0
    print(
        f"A/A on the replay: {users:,} users, {outcomes.n:,} exposures, CTR "
        f"{false_pos.ctr:.2%}; {args.looks} looks, alpha {args.alpha:g}; {took:.0f} s"
    )
    print(_runs_line("false positives (A/A)", false_pos))
    print(_runs_line(f"power at {args.effect:+.0%} CTR", power))
    if needed is not None:
        print(f"users for 80% power at {args.effect:+.0%} (fixed horizon): {needed:,}")
    return {
        "aa": {**asdict(false_pos), "rate": false_pos.rate, "ci": false_pos.interval()},
        "power": {**asdict(power), "rate": power.rate, "ci": power.interval()},
        "users_for_80pct_power": needed,
    }


def add_simulate(esub: Any) -> None:
    """Register ``experiment simulate``."""
    sm = add_command(
        esub,
        "simulate",
        "try an experiment on the replay; check the decision rule with A/A runs",
        [
            "liverec experiment simulate                       # A/A: false positives and power",
            "liverec experiment simulate --experiment mmr --runs 0",
            "liverec experiment simulate --cut 0.5 --runs 1000 --effect 0.05 --json sim.json",
        ],
        notes="Trains on the events before --cut, then replays the rest: before each event "
        "the user gets their arm's list and clicks the item they chose next if it was shown. "
        "A/A runs re-split the users of one identical-arms replay with fresh salts.",
    )
    add_dataset_option(sm)
    sm.add_argument(
        "--experiment", default="", help="a defined experiment to replay (default: none)"
    )
    sm.add_argument("--cut", type=float, default=0.5, help="train on this share of events by time")
    sm.add_argument("--end", type=float, default=1.0, help="replay up to this share")
    sm.add_argument("--runs", type=non_negative, default=1000, help="A/A runs (0: none)")
    sm.add_argument(
        "--effect", type=float, default=0.05, help="relative CTR lift injected for power"
    )
    sm.add_argument("--looks", type=positive, default=4, help="looks of the decision rule")
    sm.add_argument("--alpha", type=float, default=0.05, help="false-positive rate of the rule")
    sm.add_argument(
        "--max-user-exposures",
        type=positive,
        default=None,
        help="weigh each user as at most this many answers in the A/A statistics "
        "(default: no cap; --experiment uses its own setting)",
    )
    sm.add_argument("--seed", type=int, default=0, help="seed of the salts and injected clicks")
    sm.add_argument(
        "--models", default="none", help="optional components to train (sasrec or none)"
    )
    sm.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="COMPONENT",
        help="leave a default component out of the replay's snapshot, e.g. text (repeatable)",
    )
    sm.add_argument("--json", default="", help="also write the figures to this file")
    sm.set_defaults(func=cmd_simulate)
