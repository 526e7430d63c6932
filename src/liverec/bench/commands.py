"""What each ``liverec bench`` subcommand runs and writes (JSON + a docs section)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from liverec.bench import (
    ablation,
    cluster,
    durability,
    encoder,
    engines,
    freshness,
    naive,
    ranker,
    sasrec,
    scale,
    serve,
    soak,
)
from liverec.bench.report import machine, update_section, write_json
from liverec.core.markdown import markdown_table
from liverec.core.paths import Paths
from liverec.features.text import RUNTIMES


def _command() -> str:
    return "liverec " + " ".join(shlex.quote(a) for a in sys.argv[1:])


_MACHINE: dict[str, Any] = {}


def _before_run() -> None:
    """Remember the machine's state (load average) before a benchmark starts."""
    _MACHINE.clear()
    _MACHINE.update(machine())


def _header(title: str) -> str:
    m = _MACHINE or machine()
    return (
        f"### {title}\n\n```\n{_command()}\n```\n\n"
        f"Measured {m['when']} on {m['cpus']} CPU cores (load average before the run: "
        f"{', '.join(str(x) for x in m['load_avg'])}), Python {m['python']}.\n"
    )


def _write(name: str, doc: dict[str, Any], body: str, out: Path, docs: Path | None) -> None:
    path = write_json(out / f"{name}.json", {"command": _command(), **doc})
    print(f"wrote {path}", file=sys.stderr)
    if docs is not None:
        update_section(docs, name, body)
        print(f"updated the '{name}' section of {docs}", file=sys.stderr)


def bench_serve(home: Path, bench: serve.ServeBench, out: Path, docs: Path | None) -> None:
    """Run and record ``bench serve``."""
    _before_run()
    print(
        f"bench serve: {bench.workers} worker(s), {bench.connections} connections, "
        f"{bench.seconds:g} s per scenario",
        file=sys.stderr,
    )
    doc = serve.run_serve(home, bench, log=lambda s: print(s, file=sys.stderr))
    text = serve.serve_table(doc)
    print(text)
    workers = f"{bench.workers} worker" + ("s" if bench.workers > 1 else "")
    body = _header(f"Service under load ({workers})") + "\n" + text + "\n"
    _write(f"serve-{bench.workers}w", doc, body, out, docs)


def bench_freshness(home: Path, events: int, out: Path, docs: Path | None) -> None:
    """Run and record ``bench freshness`` for one and two workers."""
    _before_run()
    results = []
    for workers in (1, 2):
        print(f"bench freshness: {workers} worker(s), {events} events", file=sys.stderr)
        results.append(
            freshness.run_freshness(
                home,
                freshness.FreshnessBench(events=events, workers=workers),
                log=lambda s: print(s, file=sys.stderr),
            )
        )
    rows = [
        [
            str(r["workers"]),
            str(r["events"]),
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['max_ms']:.2f}",
            f"{r['visible_on_first_read']:.1%}",
            str(r["never_visible"]),
        ]
        for r in results
    ]
    text = markdown_table(
        [
            "workers",
            "events",
            "p50 ms",
            "p99 ms",
            "max ms",
            "visible on first read",
            "never visible",
        ],
        rows,
    )
    print(text)
    _write(
        "freshness",
        {"results": results},
        _header("Freshness: acknowledged event to a recommendation that reflects it")
        + "\n"
        + text
        + "\n",
        out,
        docs,
    )


def bench_naive(home: Path, requests: int, out: Path, docs: Path | None) -> None:
    """Run and record ``bench naive``."""
    _before_run()
    doc = naive.run_naive(home, requests, log=lambda s: print(s, file=sys.stderr))
    r = doc["results"]
    labels = {
        "textbook": "textbook user-CF: all user-user similarities recomputed per request",
        "usercf": "user-CF for the one user (liverec.models.usercf)",
        "pipeline": "live pipeline (cache off)",
    }
    rows = [
        [
            labels[k],
            f"{v['p50_ms']:.3f}",
            f"{v['p99_ms']:.3f}",
            f"{v.get('p50_x_pipeline', 1.0):.1f}x",
            f"{v.get('p99_x_pipeline', 1.0):.1f}x",
        ]
        for k, v in r.items()
    ]
    text = markdown_table(["path", "p50 ms", "p99 ms", "p50 / pipeline", "p99 / pipeline"], rows)
    print(text)
    _write(
        "naive",
        doc,
        _header("Naive per-request user-CF vs the pipeline (in process)") + "\n" + text + "\n",
        out,
        docs,
    )


def bench_ranker(home: Path, bench: ranker.RankerBench, out: Path, docs: Path | None) -> None:
    """Run and record ``bench ranker``."""
    _before_run()
    doc = ranker.run_ranker(home, bench, log=lambda s: print(s, file=sys.stderr))
    timed = [(f"ranking stage: {k}", v) for k, v in doc["parts"].items()]
    timed += [(f"Pipeline.recommend, {k}", v) for k, v in doc["recommend"].items()]
    rows = [
        [what, f"{v['p50_ms']:.3f}", f"{v['p99_ms']:.3f}", f"{v['mean_ms']:.3f}"]
        for what, v in timed
    ]
    text = markdown_table(["what (in process)", "p50 ms", "p99 ms", "mean ms"], rows)
    facts = (
        f"{doc['requests']} requests, {doc['candidates_median']} candidates each (median), "
        f"{doc['features']} features, head {doc['head']}"
        + (f" ({doc['trees']} trees)" if doc["trees"] else "")
        + "; on and off alternated request by request."
    )
    print(text)
    print(facts)
    body = _header("Learned ranker cost (in process)") + "\n" + facts + "\n\n" + text + "\n"
    _write("ranker", doc, body, out, docs)


def bench_ablation(home: Path, seconds: float, out: Path, docs: Path | None) -> None:
    """Run and record ``bench ablation`` (tables and the plot)."""
    _before_run()
    doc = ablation.run_ablation(home, seconds, log=lambda s: print(s, file=sys.stderr))
    text = ablation.ablation_tables(doc)
    print(text)
    figure = (docs.parent if docs is not None else out) / "ablation.png"
    ablation.plot(doc, figure)
    print(f"wrote {figure}", file=sys.stderr)
    body = (
        _header(f"Ablation: each optimisation off in turn (replay of {doc['events']:,} events)")
        + f"\n![ablation]({figure.name})\n\n"
        + text
        + "\n"
    )
    _write("ablation", doc, body, out, docs)


def bench_encoder(home: Path, bench: encoder.EncoderBench, out: Path, docs: Path | None) -> None:
    """Run and record ``bench encoder``."""
    _before_run()
    print(
        f"bench encoder: {', '.join(RUNTIMES)} at {bench.threads} thread(s)",
        file=sys.stderr,
    )
    doc = encoder.run_encoder(home, bench, log=lambda s: print(s, file=sys.stderr))
    text = encoder.encoder_tables(doc)
    print(text)
    body = _header("Text encoder: torch vs ONNX fp32 vs ONNX int8 (all-MiniLM-L6-v2)")
    _write("encoder", doc, body + "\n" + text, out, docs)


def _variants_table(doc: dict[str, Any]) -> str:
    """One row per scenario and server variant of a ``run_variants`` result."""
    rows = [
        [
            r["scenario"],
            r["variant"],
            f"{r['rps']:,.0f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            str(r["errors"]),
        ]
        for r in sorted(doc["results"], key=lambda r: (r["scenario"], r["variant"]))
    ]
    return markdown_table(["scenario", "variant", "req/s", "p50 ms", "p99 ms", "errors"], rows)


def bench_content(home: Path, seconds: float, out: Path, docs: Path | None) -> None:
    """Recommendations with the content channel on vs off, two servers, same run."""
    _before_run()
    bench = serve.ServeBench(
        seconds=seconds, warmup=1.0, paced_share=0.5, only=("recommendations",)
    )
    variants = {
        "content on": {},
        "content off": {"LIVEREC_SERVICE__PIPELINE__DISABLED": '["content"]'},
    }
    doc = serve.run_variants(home, bench, variants, log=lambda s: print(s, file=sys.stderr))
    text = _variants_table(doc)
    print(text)
    title = "Content channel on vs off (two servers, alternating, same run)"
    _write("content", doc, _header(title) + "\n" + text + "\n", out, docs)


def bench_sasrec(
    home: Path, model: Path | None, seconds: float, out: Path, docs: Path | None
) -> None:
    """The transformer: fp32 vs int8 (accuracy, size, latency) and served variants."""
    from liverec.data.sources import load_dataset
    from liverec.models.sasrec import SASRecConfig

    _before_run()
    log = lambda s: print(s, file=sys.stderr)  # noqa: E731
    if model is not None:
        print(f"bench sasrec: compression of {model}", file=sys.stderr)
        doc = sasrec.run_compression(load_dataset("ml-100k", home), model, log=log)
        text = sasrec.compression_tables(doc)
        print(text)
        title = "Transformer: torch fp32 vs ONNX fp32 vs ONNX int8 (test split, same model)"
        _write("sasrec-compression", doc, _header(title) + "\n" + text, out, docs)
    if seconds > 0:
        print("bench sasrec: served variants (training a snapshot first)", file=sys.stderr)
        doc = sasrec.run_serve_variants(home, seconds, SASRecConfig(), log=log)
        text = _variants_table(doc)
        print(text)
        title = "Transformer in the live pipeline (five servers, alternating, same run)"
        _write("sasrec-serve", doc, _header(title) + "\n" + text + "\n", out, docs)


def bench_scale(bench: scale.ScaleBench, workdir: Path, out: Path, docs: Path | None) -> None:
    """Run and record ``bench scale`` for one size, then redraw the cost plot of every size
    measured so far (from their JSON files under ``out``)."""
    import json

    _before_run()
    doc = scale.run_scale(bench, workdir, log=lambda s: print(s, file=sys.stderr, flush=True))
    doc["machine"] = _MACHINE or machine()
    text = scale.scale_tables(doc)
    print(text)
    body = _header(f"Scale: size {bench.label}") + "\n" + text + "\n"
    _write(f"scale-{bench.label}", doc, body, out, docs)
    measured = [
        json.loads((out / f"scale-{s}.json").read_text())
        for s in scale.SIZES
        if (out / f"scale-{s}.json").exists()
    ]
    if docs is not None and len(measured) > 1:
        plot = scale.plot_scale(measured, docs.parent / "scale.png")
        print(f"wrote {plot}", file=sys.stderr)


def bench_engines(bench: engines.EnginesBench, workdir: Path, out: Path, docs: Path | None) -> None:
    """Run and record ``bench engines`` for one size."""
    _before_run()
    doc = engines.run_engines(bench, workdir, log=lambda s: print(s, file=sys.stderr, flush=True))
    text = engines.engines_table(doc)
    print(text)
    name, title = f"engines-{bench.label}", f"Training engines: local vs Ray, size {bench.label}"
    if not bench.text:  # its own section: a run with text at the same size keeps its own
        name, title = f"{name}-notext", f"{title}, no text"
    _write(name, doc, _header(title) + "\n" + text + "\n", out, docs)


def bench_durability(home: Path, cycles: int, out: Path, docs: Path | None) -> None:
    """Run and record ``bench durability`` with one and with two workers."""
    import tempfile

    from liverec.bench.server import prepare_home
    from liverec.data.sources import load_dataset
    from liverec.serving.training import TrainConfig, train_snapshot

    _before_run()
    dataset = load_dataset("ml-100k", home)
    results = []
    for workers in (1, 2):
        print(f"bench durability: {workers} worker(s), {cycles} kill -9 cycles", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            scratch = prepare_home(home, Path(tmp) / "home")
            light = TrainConfig(components=("pop", "itemcf"))  # the log is under test
            train_snapshot(
                dataset, [], Paths(scratch).snapshots("ml-100k"), light, log=lambda _: None
            )
            bench = durability.DurabilityBench(cycles=cycles, workers=workers)
            log_url = f"sqlite:///{Path(tmp) / 'events.db'}"
            found = durability.run_durability(
                scratch, log_url, bench, log=lambda s: print(s, file=sys.stderr)
            )
            results.append(found.to_json())
    rows = [
        [
            str(r["workers"]),
            str(r["cycles"]),
            f"{r['batches_sent']:,}",
            f"{r['events_acked']:,}",
            str(r["lost_acked"]),
            str(r["partial"]),
            str(r["unacked_present"]),
        ]
        for r in results
    ]
    headers = [
        "workers",
        "kill -9 cycles",
        "batches sent",
        "events acknowledged",
        "acknowledged lost",
        "partial batches",
        "unacknowledged yet whole",
    ]
    text = markdown_table(headers, rows)
    print(text)
    body = _header("Durability: kill -9 under concurrent ingest") + "\n" + text + "\n"
    _write("durability", {"results": results}, body, out, docs)


def bench_soak(home: Path, bench: soak.SoakBench, out: Path, docs: Path | None) -> None:
    """Run and record ``bench soak`` against a server with the default components."""
    import tempfile

    from liverec.bench.server import Server, prepare_home
    from liverec.data.sources import load_dataset
    from liverec.serving.training import train_snapshot

    _before_run()
    dataset = load_dataset("ml-100k", home)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = prepare_home(home, Path(tmp) / "home")
        root = Paths(scratch).snapshots("ml-100k")
        train_snapshot(dataset, [], root, log=lambda _: None, models_dir=Paths(home).models)
        print(
            f"bench soak: {bench.minutes:g} min, {bench.users:,} users, {bench.rate:g} req/s",
            file=sys.stderr,
        )
        with Server(scratch, f"sqlite:///{Path(tmp) / 'events.db'}") as server:
            doc = soak.run_soak(
                server, bench, dataset.n_items, log=lambda s: print(s, file=sys.stderr)
            )
    load = doc["load"]
    put = doc["healthz_during_put_ms"]
    calm = doc["healthz_between_puts_ms"]
    rows = [
        ["mixed load served", f"{load['rps']:,.1f} req/s of {bench.rate:g} offered"],
        ["latency p50 / p99", f"{load['p50_ms']:.2f} / {load['p99_ms']:.2f} ms"],
        ["errors (any non-2xx, timeouts)", str(load["errors"])],
        [
            f"RSS after {bench.warmup_minutes:g} min warm-up / at the end",
            f"{doc['rss_after_warmup_bytes'] / 2**30:.2f} / {doc['rss_end_bytes'] / 2**30:.2f} GB "
            f"({doc['rss_growth']:+.1%})",
        ],
        [
            f"/healthz while a maximal PUT is in flight ({doc['max_puts']} PUTs, "
            f"{put['n']} probes)",
            f"p50 {put['p50']} ms, p99 {put['p99']} ms, max {put['max']} ms",
        ],
        [
            f"/healthz under the same load, no PUT in flight ({calm['n']} probes)",
            f"p50 {calm['p50']} ms, p99 {calm['p99']} ms, max {calm['max']} ms",
        ],
    ]
    text = markdown_table(["soak", "measured"], rows)
    print(text)
    body = _header("Soak: mixed load over many users; maximal writes") + "\n" + text + "\n"
    _write("soak", doc, body, out, docs)


def bench_cluster(home: Path, bench: cluster.ClusterBench, out: Path, docs: Path | None) -> None:
    """Run and record ``bench cluster``."""
    _before_run()
    print(
        f"bench cluster: replicas {', '.join(map(str, bench.replicas))}, "
        f"{bench.seconds:g} s per load, {bench.repeats} runs each",
        file=sys.stderr,
    )
    doc = cluster.run_cluster(home, bench, log=lambda s: print(s, file=sys.stderr))
    text = cluster.cluster_tables(doc)
    print(text)
    body = _header("Cluster: replicas behind HAProxy on a Redis log") + "\n" + text + "\n"
    if docs is not None:
        plot = cluster.plot_cluster(doc, docs.parent / "cluster.png")
        body += f"\n![cluster]({plot.name})\n"
    _write("cluster", doc, body, out, docs)
