"""The ``liverec bench`` subcommands: their options, and which benchmark each one runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from liverec.cli_options import add_command, add_group, non_negative, positive, settings

# name -> (purpose, an example beyond the plain command)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "serve": (
        "the HTTP service under wrk load: floor, warm/cold recommendations, ingest",
        "liverec bench serve --workers 2 --seconds 4",
    ),
    "freshness": (
        "acknowledged event -> a recommendation that reflects it (1 and 2 workers)",
        "liverec bench freshness --events 100 --no-docs",
    ),
    "naive": (
        "pipeline vs textbook per-request user-CF, same run",
        "liverec bench naive --requests 50 --no-docs",
    ),
    "ablation": (
        "each optimisation off in turn: replay accuracy, latency; MMR curve",
        "liverec bench ablation --seconds 4 --no-docs",
    ),
    "content": (
        "recommendations with the content channel on vs off, same run",
        "liverec bench content --seconds 4 --no-docs",
    ),
    "encoder": (
        "text encoder runtimes: latency, throughput, cosine vs torch, size, load",
        "liverec bench encoder --items 500 --calls 50 --no-docs",
    ),
    "sasrec": (
        "the transformer: fp32 vs int8 accuracy/size/latency; served variants",
        "liverec bench sasrec --model out/models/sasrec --seconds 0",
    ),
    "scale": (
        "synth -> import -> train -> serve -> load at size S, M or L (100M events)",
        "liverec bench scale --size S --no-text --keep",
    ),
    "engines": (
        "training time: local engine vs Ray (own instance, running cluster) at S or M",
        "liverec bench engines --size M --no-text --repeats 1",
    ),
    "cluster": (
        "replicas (1, 2, 4) behind HAProxy on Redis: load, freshness, kill -9",
        "liverec bench cluster --replicas 1,2 --seconds 4 --no-docs",
    ),
    "ranker": (
        "the learned ranking stage per request: features, head, recommend on vs off",
        "liverec bench ranker --requests 200 --no-docs",
    ),
    "durability": (
        "kill -9 under concurrent ingest, N cycles: acknowledged events lost",
        "liverec bench durability --cycles 5 --no-docs",
    ),
    "soak": (
        "long mixed load over many users: memory levels off; maximal PUTs vs /healthz",
        "liverec bench soak --minutes 2 --users 10000 --rate 50",
    ),
}


def cmd_bench(args: argparse.Namespace) -> int:
    """Run one benchmark; results go to JSON under --out and to a section of --docs."""
    from liverec.bench import commands
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
    if args.bench == "engines":
        from liverec.bench.engines import EnginesBench

        eb = EnginesBench(size=args.size, repeats=args.repeats, text=not args.no_text)
        commands.bench_engines(eb, args.workdir, args.out, docs)
        return 0
    home = settings().home
    movielens.fetch(home)
    if args.bench == "serve":
        from liverec.bench.serve import ServeBench

        bench = ServeBench(seconds=args.seconds, connections=args.connections, workers=args.workers)
        commands.bench_serve(home, bench, args.out, docs)
    elif args.bench == "freshness":
        commands.bench_freshness(home, args.events, args.out, docs)
    elif args.bench == "cluster":
        from liverec.bench.cluster import ClusterBench

        replicas = tuple(int(x) for x in args.replicas.split(","))
        cluster = ClusterBench(replicas=replicas, seconds=args.seconds, repeats=args.repeats)
        commands.bench_cluster(home, cluster, args.out, docs)
    elif args.bench == "ranker":
        from liverec.bench.ranker import RankerBench

        ranker_bench = RankerBench(
            requests=args.requests, snapshot=args.snapshot, sasrec=args.sasrec
        )
        commands.bench_ranker(home, ranker_bench, args.out, docs)
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


def add_commands(sub: Any) -> None:
    """Register ``bench <benchmark>`` on the top-level subparsers."""
    bsub = add_group(sub, "bench", "benchmarks (results to JSON and docs/benchmarks.md)", "bench")
    for name, (purpose, example) in BENCHMARKS.items():
        b = add_command(bsub, name, purpose, [f"liverec bench {name}", example])
        b.add_argument("--out", type=Path, default=Path("out/bench"), help="JSON results folder")
        b.add_argument(
            "--docs", type=Path, default=Path("docs/benchmarks.md"), help="markdown to update"
        )
        b.add_argument("--no-docs", action="store_true", help="do not update --docs")
        b.set_defaults(func=cmd_bench)
        if name in ("serve", "ablation", "content", "sasrec", "scale", "cluster"):
            b.add_argument("--seconds", type=float, default=8.0, help="per load scenario")
        if name in _OPTIONS:
            _OPTIONS[name](b)


def _scale_options(b: argparse.ArgumentParser) -> None:
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
    for flag in ("--events", "--users", "--items"):
        b.add_argument(flag, type=int, help="override the preset (a 'custom' run)")


def _serve_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--connections", type=int, default=32, help="open wrk connections")
    b.add_argument("--workers", type=int, default=1, help="server worker processes")


def _sasrec_options(b: argparse.ArgumentParser) -> None:
    b.add_argument(
        "--model",
        type=Path,
        help="a fitted model folder (liverec evaluate --models sasrec --save-models DIR "
        "writes DIR/sasrec) to measure fp32 vs int8 on; --seconds 0 skips serving",
    )


def _soak_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--minutes", type=float, default=10.0, help="length of the load")
    b.add_argument("--users", type=int, default=100_000, help="distinct users")
    b.add_argument("--rate", type=float, default=150.0, help="offered requests/s")


def _encoder_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--items", type=non_negative, default=0, help="catalog items (0: all)")
    b.add_argument("--calls", type=int, default=300, help="single calls per runtime")


def _freshness_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--events", type=int, default=300, help="events to time")


def _ranker_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--requests", type=positive, default=1000, help="timed requests")
    b.add_argument(
        "--snapshot", type=Path, help="a snapshot folder with the ranker (default: train one)"
    )
    b.add_argument(
        "--sasrec", action="store_true", help="train the transformer into it too (minutes)"
    )


def _naive_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--requests", type=int, default=300, help="requests per variant")


def _engines_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--size", default="S", choices=["S", "M"], help="dataset preset (bench scale's)")
    b.add_argument("--repeats", type=positive, default=3, help="train runs per engine")
    b.add_argument("--no-text", action="store_true", help="leave the text component out")
    b.add_argument("--workdir", type=Path, default=Path("out/engines"), help="scratch folder")


def _cluster_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--replicas", default="1,2,4", help="comma-separated replica counts")
    b.add_argument("--repeats", type=int, default=3, help="runs per load; the median is kept")


def _durability_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--cycles", type=int, default=20, help="kill -9 cycles per run")


_OPTIONS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "scale": _scale_options,
    "serve": _serve_options,
    "sasrec": _sasrec_options,
    "soak": _soak_options,
    "encoder": _encoder_options,
    "freshness": _freshness_options,
    "naive": _naive_options,
    "ranker": _ranker_options,
    "durability": _durability_options,
    "cluster": _cluster_options,
    "engines": _engines_options,
}
