"""The liverec command: the one place where data, models and evaluation are wired together."""

from __future__ import annotations

import os

# OpenBLAS reads its thread count once, when numpy first loads it, so this must run before
# anything below imports numpy. implicit, faiss and onnxruntime bring their own threads; a
# second pool in BLAS only oversubscribes 2 cores (a small mat-vec took 18 ms instead of 1).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import errno
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from liverec import cli_admin, cli_cluster, cli_data, cli_eval, cli_experiment, cli_serve
from liverec.bench import cli as bench_cli
from liverec.cli_options import (
    HelpFormatter,
    add_command,
    add_dataset_option,
    add_engine_options,
    add_group,
    positive,
    settings,
    train_config,
)
from liverec.cli_serve import TRAIN_KEEP, train_into_home
from liverec.core.errors import LiverecError
from liverec.core.markdown import markdown_table

if TYPE_CHECKING:
    pass


def cmd_train(args: argparse.Namespace) -> int:
    """Train the serving models on the dataset plus the event log; write a new snapshot."""
    from liverec.data.sources import check_dataset, load_dataset
    from liverec.engine import open_executor

    config = train_config(args.models, args.param, args.skip)
    config.build()  # a bad --param fails here, before the dataset loads
    home_settings = settings(dataset=args.dataset)
    check_dataset(home_settings.dataset, home_settings.home)
    # the engine next: a missing extra or an unreachable cluster fails before any work
    with open_executor(args.engine, args.address) as executor:
        if executor.remote:
            print(f"engine: {executor.describe()}", file=sys.stderr)
        dataset = load_dataset(home_settings.dataset, home_settings.home)
        path = train_into_home(home_settings, dataset, config, keep=args.keep, executor=executor)
    print(f"snapshot: {path}")
    return 0


def cmd_catalog_dupes(args: argparse.Namespace) -> int:
    """List near-duplicate catalog items (SimHash of their text embeddings)."""
    import numpy as np

    from liverec.data.sources import check_dataset
    from liverec.features.fingerprint import near_duplicates
    from liverec.serving.snapshot import latest_snapshot, load_snapshot

    home_settings = settings(dataset=args.dataset)
    check_dataset(args.dataset, home_settings.home)
    path = latest_snapshot(home_settings.snapshots)
    if path is None:
        raise LiverecError(f"no snapshot under {home_settings.snapshots}; run: liverec train")
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


DESCRIPTION = """\
liverec: a real-time recommender. Fetch or import a dataset, compare models offline,
train a snapshot and serve it over HTTP; events sent to the service change the next answer.

Settings come from LIVEREC_* environment variables (LIVEREC_HOME: where datasets,
snapshots and the event log live; default ~/.cache/liverec)."""

EXAMPLES = """\
examples:
  liverec data fetch ml-100k
  liverec evaluate --models pop,itemcf,als
  liverec train --models none
  liverec serve --port 8000
  liverec train --help        # every command explains itself"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    from liverec import __version__

    parser = argparse.ArgumentParser(
        prog="liverec", description=DESCRIPTION, epilog=EXAMPLES, formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"liverec {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli_data.add_commands(sub)
    cli_eval.add_commands(sub)
    _add_train(sub)
    cli_serve.add_commands(sub)
    cli_admin.add_commands(sub)
    cli_cluster.add_commands(sub)
    cli_experiment.add_commands(sub)
    _add_catalog(sub)
    bench_cli.add_commands(sub)
    return parser


def _add_train(sub: Any) -> None:
    from liverec.models.registry import COMPONENTS

    always = [n for n, c in COMPONENTS.items() if not c.optional]
    optional = [n for n, c in COMPONENTS.items() if c.optional]
    skippable = [n for n, c in COMPONENTS.items() if not (c.optional or c.required)]
    tr = add_command(
        sub,
        "train",
        "train the serving models into a new snapshot (a running serve swaps to it)",
        [
            "liverec train",
            "liverec train --models none --skip text    # the classic models only: seconds",
            "liverec train --param sasrec.max_epochs=10 --param itemcf.neighbours=50",
            "liverec train --engine ray    # Ray tasks on a local Ray started for this run",
            "liverec train --engine ray --address 127.0.0.1:6379    # on a running cluster",
        ],
        notes=f"A snapshot holds {', '.join(always)} unless --skip leaves one out; --models "
        f"adds the optional {', '.join(optional)}. --engine ray runs the item-neighbour blocks "
        "and the text embedding batches as Ray tasks (pip install 'liverec[ray]'); the "
        "snapshot is the same as with the local engine. README, Training on Ray: starting a "
        "cluster on loopback.",
    )
    add_dataset_option(tr)
    add_engine_options(tr)
    tr.add_argument("--keep", type=positive, default=TRAIN_KEEP, help="snapshots to keep")
    tr.add_argument(
        "--models",
        default="sasrec",
        help=f"optional components to train as well: {', '.join(optional)} or none",
    )
    tr.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=skippable,
        metavar="COMPONENT",
        help=f"leave out a default component, one of {', '.join(skippable)} (repeatable)",
    )
    tr.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="COMPONENT.NAME=VALUE",
        help=f"override a component parameter (repeatable); components: {', '.join(COMPONENTS)}",
    )
    tr.set_defaults(func=cmd_train)


def _add_catalog(sub: Any) -> None:
    csub = add_group(sub, "catalog", "catalog tools", "catalog_command")
    du = add_command(
        csub,
        "dupes",
        "list near-duplicate items by SimHash of their text embeddings",
        ["liverec catalog dupes", "liverec catalog dupes --max-bits 5 --limit 20"],
    )
    add_dataset_option(du)
    du.add_argument("--max-bits", type=int, default=3, help="differing bits of 64 allowed")
    du.add_argument("--limit", type=int, default=100, help="pairs to print")
    du.set_defaults(func=cmd_catalog_dupes)


def error_lines(error: Exception) -> tuple[int, list[str]]:
    """The exit code and the lines that report ``error`` (2: the user's to fix, 1: ours)."""
    from pydantic import ValidationError

    if isinstance(error, LiverecError):
        rows = [f"  {row}" for row in getattr(error, "rows", [])[:50]]
        return 2, [f"error: {_one_line(str(error))}", *rows]
    if isinstance(error, OSError):
        return 2, [f"error: {_os_error(error)}"]
    if isinstance(error, ValidationError):
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        source = " (from LIVEREC_* variables)" if error.title == "Settings" else ""
        return 2, [f"error: invalid {error.title}{source}: {fields}"]
    return 1, [
        f"internal error: {type(error).__name__}: {_one_line(str(error))} "
        f"(run with --debug for the traceback)"
    ]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _os_error(error: OSError) -> str:
    """``reason: path`` plus what to do for the errors a user can fix."""
    where = f": {error.filename}" if error.filename else ""
    if error.filename2:
        where += f" -> {error.filename2}"
    hint = {
        errno.ENOSPC: " (free some space, or point LIVEREC_HOME at a larger disk)",
        errno.EACCES: " (check the permissions, or point LIVEREC_HOME elsewhere)",
        errno.EROFS: " (point LIVEREC_HOME at a writable folder)",
    }.get(error.errno or 0, "")
    return f"{error.strerror or _one_line(str(error))}{where}{hint}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``liverec`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if args.debug:
            raise
        code, lines = error_lines(error)
        for line in lines:
            print(line, file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
