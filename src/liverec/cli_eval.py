"""The offline commands: ``evaluate`` (leave-last-out, replay, cold start) and ``tune``."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from liverec.cli_options import (
    add_command,
    add_dataset_option,
    add_engine_options,
    non_negative,
    parse_params,
    positive,
    settings,
    train_config,
)
from liverec.core.errors import LiverecError

DEFAULT_EVAL_MODELS = "pop,usercf,itemcf,als,bpr"
PROTOCOLS = ("leave-last-out", "replay", "cold-items", "cold-users")


def _write_json(path: Path, doc: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    print(f"\nwrote {path}", file=sys.stderr)


def cmd_replay(args: argparse.Namespace) -> int:
    """Streaming replay: frozen vs online vs periodically retrained, side by side."""
    from liverec.data.sources import load_dataset
    from liverec.eval.replay import MODES, format_replay, replay_config, replay_variants, time_cut
    from liverec.models.registry import COMPONENTS

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in MODES:
            raise LiverecError(f"unknown replay mode {m!r}; expected one of {', '.join(MODES)}")
    train = train_config(args.models if args.models != DEFAULT_EVAL_MODELS else "none")
    params = parse_params(args.param, list(train.components), "the snapshot's components")
    train = train.model_copy(update={"params": params})
    train.build()  # a bad --param fails here, before anything trains
    dataset = load_dataset(args.dataset, settings().home)
    split = time_cut(dataset, args.cut, args.end)
    print(
        f"{dataset.summary()}\nreplay: train on the first {args.cut:.0%} of events by time, "
        f"stream {split.n_stream:,} events",
        file=sys.stderr,
    )
    variants = {"": replay_config()}
    if any(COMPONENTS[n].learns_from_candidates for n in train.components):
        # the same snapshot served with its learned ranker and with fusion's order
        variants = {
            "learned ranker": replay_config(),
            "fusion only": replay_config({"learned_ranker": False}),
        }
    results = []
    for mode in modes:
        print(f"  {mode} ...", file=sys.stderr, flush=True)
        results += replay_variants(
            dataset,
            split,
            mode,
            variants,
            retrain_every=args.retrain_every,
            train_config=train,
            models_dir=settings().models_dir,
        )
    print(f"\nreplay protocol, {split.n_stream:,} events, top-10 shown before each event\n")
    print(format_replay(results))
    if args.json:
        doc = {
            "dataset": dataset.name,
            "protocol": "replay",
            "cut": args.cut,
            "end": args.end,
            "retrain_every": args.retrain_every,
            "results": [r.summary() for r in results],
        }
        _write_json(args.json, doc)
    return 0


def cmd_cold(args: argparse.Namespace) -> int:
    """Cold-start protocols: held-out items, users with 1/3/5 events."""
    from liverec.data.sources import load_dataset
    from liverec.eval.coldstart import cold_items, cold_users, format_cold

    home_settings = settings()
    dataset = load_dataset(args.dataset, home_settings.home)

    def progress(s: str) -> None:
        print(s, file=sys.stderr)

    doc: dict[str, object] = {"dataset": dataset.name, "protocol": args.protocol}
    if args.protocol == "cold-items":
        res = cold_items(dataset, log=progress, models_dir=home_settings.models_dir)
        print(format_cold("cold items: 10% of items held out of training", res))
        doc["results"] = [r.to_json() for r in res]
    else:
        by_size = cold_users(dataset, log=progress, models_dir=home_settings.models_dir)
        for n, res in by_size.items():
            print(format_cold(f"\ncold users: first {n} event(s) known", res))
        doc["results"] = {str(n): [r.to_json() for r in res] for n, res in by_size.items()}
    if args.json:
        _write_json(args.json, doc)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Run an offline protocol and print one table."""
    if args.engine != "local" and args.protocol != "leave-last-out":
        raise LiverecError(f"--engine {args.engine} is for the leave-last-out protocol only")
    if args.protocol == "replay":
        return cmd_replay(args)
    if args.protocol in ("cold-items", "cold-users"):
        return cmd_cold(args)
    from liverec.data.sources import load_dataset
    from liverec.engine import open_executor
    from liverec.eval import pipeline
    from liverec.eval.offline import dump_recs, dump_targets, evaluate, format_table
    from liverec.models.registry import COMPONENTS, model_class, parse_model_list

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    with_pipeline = pipeline.NAME in names
    names = [n for n in names if n != pipeline.NAME]
    if names or not with_pipeline:
        parse_model_list(",".join(names))
    known = [*names, *COMPONENTS] if with_pipeline else names
    params = parse_params(args.param, known, "the models in --models or the components")
    train = None
    if with_pipeline:
        train = train_config(args.pipeline_models)
        mine = {name: p for name, p in params.items() if name in train.components}
        train = train.model_copy(update={"params": mine})
        train.build()  # a bad --param fails here, before anything trains
    dataset = load_dataset(args.dataset, settings().home)
    print(dataset.summary(), file=sys.stderr)
    models = [_build_model(model_class(n), params, dataset) for n in names]

    def progress(r: object) -> None:
        print(f"  done: {getattr(r, 'model', '?')}", file=sys.stderr)

    # The local engine ranks in this process, as it always has: forking after implicit's
    # OpenMP threads (or torch's) have run can hang the child.
    workers = 1 if args.engine == "local" else 0
    results = []
    if models:
        with open_executor(args.engine, args.address, workers) as executor:
            if executor.remote:
                print(f"engine: {executor.describe()}", file=sys.stderr)
            results = evaluate(dataset, models, args.split, on_result=progress, executor=executor)
    if train is not None:
        for r in _evaluate_pipeline(dataset, args.split, train):
            results.append(r)
            progress(r)
    n_users = len(results[0].users) if results else 0
    print(f"\nleave-last-out, {args.split} split, full ranking, {n_users} users\n")
    print(format_table(results))
    if args.json:
        doc = {
            "dataset": dataset.name,
            "protocol": "leave-last-out",
            "split": args.split,
            "n_users": n_users,
            "results": [r.to_json() for r in results],
        }
        _write_json(args.json, doc)
    if args.save_models:
        for m in models:
            m.save(args.save_models / m.name)
        print(f"wrote fitted models to {args.save_models}", file=sys.stderr)
    if args.dump_recs:
        dump_targets(dataset, args.split, args.dump_recs)
        for r in results:
            dump_recs(r, dataset, args.dump_recs)
        print(f"wrote ranked lists to {args.dump_recs}", file=sys.stderr)
    return 0


def _evaluate_pipeline(dataset: Any, split: Any, train: Any) -> list[Any]:
    """The live pipeline's answers (snapshot with ``train``'s components, the service's
    LIVEREC_SERVICE__* settings without time budgets) on the leave-last-out split."""
    from liverec.eval.pipeline import evaluate_pipeline

    home = settings()
    print(f"  pipeline: training {', '.join(train.components)} ...", file=sys.stderr)
    return evaluate_pipeline(
        dataset,
        split,
        train,
        home.service,
        models_dir=home.models_dir,
        log=lambda line: print(f"    {line}", file=sys.stderr),
        progress=True,
    )


def _build_model(cls: type[Any], params: dict[str, dict[str, Any]], dataset: Any) -> Any:
    """A model with its --param overrides; the transformer also gets the item text vectors."""
    model = cls.from_params(params.get(cls.name, {}))
    if cls.name == "sasrec":
        model.config = replace(model.config, progress=True)
        if model.config.text:
            from liverec.features.content import catalog_vectors
            from liverec.features.text import TextConfig

            vectors, _ = catalog_vectors(dataset.catalog, TextConfig(), settings().models_dir)
            model.set_item_vectors(vectors)
    return model


def cmd_tune(args: argparse.Namespace) -> int:
    """Search hyperparameters on the validation split."""
    from liverec.data.sources import load_dataset
    from liverec.eval.tuning import Trial, search
    from liverec.models.registry import parse_model_list

    names = parse_model_list(args.models)
    dataset = load_dataset(args.dataset, settings().home)
    for name in names:

        def show(t: Trial) -> None:
            m = t.result.metrics
            print(f"  {m['ndcg@10']:.4f} {m['hr@10']:.4f}  {t.params}", file=sys.stderr)

        print(f"{name}: validation NDCG@10 HR@10", file=sys.stderr)
        trials = search(dataset, name, max_trials=args.max_trials, seed=args.seed, on_trial=show)
        if not trials:
            print(f"{name}: nothing to tune")
            continue
        best = trials[0]
        print(
            f"{name}: best valid NDCG@10={best.result.metrics['ndcg@10']:.4f} "
            f"HR@10={best.result.metrics['hr@10']:.4f} with {best.params}"
        )
    return 0


def add_commands(sub: Any) -> None:
    """Register ``evaluate`` and ``tune`` on the top-level subparsers."""
    from liverec.models.registry import MODELS, SEARCH_SPACES

    ev = add_command(
        sub,
        "evaluate",
        "compare models offline: leave-last-out (full ranking), replay or cold start",
        [
            "liverec evaluate --models pop,itemcf,als",
            "liverec evaluate --models sasrec --param sasrec.max_epochs=5 --split valid",
            "liverec evaluate --protocol replay --modes frozen,online",
            "liverec evaluate --engine ray --address 127.0.0.1:6379  # users ranked in shards",
            "liverec evaluate --models pipeline --pipeline-models none --dump-recs out/recs",
        ],
        notes="Prints HR, NDCG and MRR at 10 and 20, coverage, diversity and novelty per model. "
        "--engine ray ranks the users in shards as Ray tasks (leave-last-out only; the same "
        "metrics).",
    )
    add_dataset_option(ev)
    add_engine_options(ev)
    ev.add_argument(
        "--models",
        default=DEFAULT_EVAL_MODELS,
        help=f"comma-separated, from: {', '.join(MODELS)} and pipeline (the live service's "
        "answers: a snapshot trained on the split's history, fused, ranked and re-ranked); "
        "with --protocol replay: the optional snapshot models (sasrec)",
    )
    ev.add_argument(
        "--pipeline-models",
        default="sasrec",
        help="optional components of the evaluated pipeline's snapshot, as train --models",
    )
    ev.add_argument("--split", choices=["valid", "test"], default="test", help="held-out events")
    ev.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON here")
    ev.add_argument(
        "--dump-recs", type=Path, metavar="DIR", help="write DIR/<model>.tsv ranked lists"
    )
    ev.add_argument(
        "--save-models", type=Path, metavar="DIR", help="write each fitted model to DIR/<model>"
    )
    ev.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="MODEL.NAME=VALUE",
        help="override a parameter of a model in --models (or, with pipeline or --protocol "
        "replay, of a snapshot component), "
        "e.g. sasrec.text=false (repeatable)",
    )
    ev.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="leave-last-out",
        help="replay: stream the last events by time through the live pipeline",
    )
    ev.add_argument("--cut", type=float, default=0.9, help="replay: train on this share by time")
    ev.add_argument("--end", type=float, default=1.0, help="replay: stream up to this share")
    ev.add_argument("--modes", default="frozen,online,retrain", help="replay variants")
    ev.add_argument(
        "--retrain-every", type=positive, default=1000, help="replay: events per retrain"
    )
    ev.set_defaults(func=cmd_evaluate)

    tu = add_command(
        sub,
        "tune",
        "search hyperparameters on the validation split",
        ["liverec tune --models itemcf", "liverec tune --models als,bpr --max-trials 10"],
    )
    add_dataset_option(tu)
    tu.add_argument(
        "--models",
        default="itemcf,als,bpr",
        help=f"comma-separated, from: {', '.join(MODELS)} (with a search space: "
        f"{', '.join(SEARCH_SPACES)})",
    )
    tu.add_argument("--max-trials", type=positive, default=40, help="trials per model")
    tu.add_argument("--seed", type=non_negative, default=0, help="random seed of the search")
    tu.set_defaults(func=cmd_tune)
