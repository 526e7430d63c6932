"""``liverec bench engines``: training time with the local engine vs the Ray engine, same data.

Synth and import once at a ``bench scale`` size (S or M), then train alternately with
``--engine local``, ``--engine ray`` (a local Ray started and stopped by the ``liverec
train`` process: what the flag costs on its own) and ``--engine ray --address`` (a head the
bench started once, as a cluster would be: Ray's start-up left out), each ``repeats`` times,
each a fresh ``liverec train`` process timed from start to exit. Every run starts from the
same state: the ONNX export is made before the first run, and the text embedding cache is
removed before each, so every run encodes the whole catalog. Ray's own processes are not
children of the train process, so only wall time (and each component's, from the
manifest) is compared, not CPU or memory.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from liverec.bench.scale import run_step
from liverec.core.markdown import markdown_table
from liverec.core.paths import Paths

VARIANTS = ("local", "ray", "ray cluster")


@dataclass(frozen=True)
class EnginesBench:
    """Settings of one ``bench engines`` run."""

    size: str = "S"
    repeats: int = 3
    text: bool = True  # train the text component (the catalog encoded every run)
    events: int | None = None  # override the preset's counts (a "custom" run, for tests)
    users: int | None = None
    items: int | None = None

    @property
    def label(self) -> str:
        """The preset's letter, or "custom" when counts are overridden."""
        custom = (self.events, self.users, self.items) != (None, None, None)
        return "custom" if custom else self.size.upper()


def _synth(bench: EnginesBench, work: Path, env: dict[str, str], log: Callable[[str], None]) -> str:
    """Synthesise and import the size's dataset under ``work``; its name."""
    name = f"synth-{bench.size.lower()}"
    files = work / "synth"
    synth = ["data", "synth", "--preset", bench.size, "--out", str(files), "--no-import"]
    for flag, value in (
        ("--events", bench.events),
        ("--users", bench.users),
        ("--items", bench.items),
    ):
        if value is not None:
            synth += [flag, str(value)]
    events, items = str(files / "events.parquet"), str(files / "items.parquet")
    imported = ["data", "import", "--events", events, "--items", items, "--name", name]
    run_step("synth", synth, env, log)
    run_step("import", imported, env, log)
    return name


@contextmanager
def _cluster(env: dict[str, str]) -> Iterator[str]:
    """A Ray head on 127.0.0.1 for the ``ray cluster`` runs; ``env`` gets its token."""
    from liverec.engine.ray_cluster import local_head

    with local_head() as (address, driver_env):
        env.update(driver_env)
        yield address


def run_engines(
    bench: EnginesBench, workdir: Path, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Every variant ``repeats`` times, alternating; returns the JSON-able results."""
    work = workdir / f"engines-{bench.label}"
    shutil.rmtree(work, ignore_errors=True)
    home = work / "home"
    env = {
        **os.environ,
        "LIVEREC_HOME": str(home),
        "OPENBLAS_NUM_THREADS": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    log(f"bench engines {bench.label} in {work}")
    name = _synth(bench, work, env, log)
    models = Paths(home).models
    if bench.text:
        from liverec.features.text import export_onnx

        export_onnx(models, quantize=True)  # once, before any timed run
    train = ["train", "--dataset", name, "--keep", "1", "--models", "none"]
    train += [] if bench.text else ["--skip", "text"]
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    try:
        with _cluster(env) as address:
            args = {
                "local": train,
                "ray": [*train, "--engine", "ray"],
                "ray cluster": [*train, "--engine", "ray", "--address", address],
            }
            for r in range(bench.repeats):
                for variant in VARIANTS:
                    for cache in models.glob("text-cache-*.npz"):
                        cache.unlink()
                    step = run_step(f"{variant} #{r + 1}", args[variant], env, log)
                    manifest = json.loads(
                        next(Paths(home).snapshots(name).glob("2*/manifest.json")).read_text()
                    )
                    runs[variant].append(
                        {**asdict(step), "engine": manifest["engine"], **manifest["timings"]}
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "size": bench.label,
        "settings": asdict(bench),
        "data": {k: manifest[k] for k in ("n_users", "n_items", "n_interactions")},
        "runs": runs,
        "medians": {v: _medians(rs) for v, rs in runs.items()},
    }


def _medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median of every number the runs share (wall time, each component's seconds)."""
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float) and k != "peak_rss_gb"]
    return {k: round(statistics.median(r[k] for r in runs), 2) for k in keys}


def engines_table(doc: dict[str, Any]) -> str:
    """The markdown of one size: median train wall time per engine, and per component."""
    d, medians, n = doc["data"], doc["medians"], doc["settings"]["repeats"]
    timed = [k for k in medians["local"] if k not in ("wall_s", "cpu_s", "data")]
    # components that take time somewhere (pop, trending and new take milliseconds)
    parts = [p for p in timed if max(m[p] for m in medians.values()) >= 0.5]
    head = ["engine", "train wall s (median)", "range", *(f"{p} s (median)" for p in parts)]
    rows = []
    for variant, runs in doc["runs"].items():
        walls = [r["wall_s"] for r in runs]
        rows.append(
            [
                variant,
                f"{statistics.median(walls):.1f}",
                f"{min(walls):.1f}-{max(walls):.1f}" if len(walls) > 1 else "-",
                *(f"{medians[variant][p]:.1f}" for p in parts),
            ]
        )
    local = medians["local"]["wall_s"]
    ratios = ", ".join(
        f"{v} {medians[v]['wall_s'] / local:.2f}x" for v in doc["runs"] if v != "local"
    )
    return "\n".join(
        [
            f"**Size {doc['size']}**: {d['n_interactions']:,} events, {d['n_users']:,} users, "
            f"{d['n_items']:,} items; {n} `liverec train` run{'s' if n > 1 else ''} per "
            f"engine, alternating; text {'on' if doc['settings']['text'] else 'off'}. "
            "local: a fork pool of one process per core, the text encoder on every core in "
            "this process; ray: `--engine ray`, a Ray started and stopped by each run (its "
            "start included); ray cluster: `--engine ray --address` to a head the bench "
            "started once.",
            "",
            markdown_table(head, rows),
            "",
            f"Train wall time relative to the local engine: {ratios}.",
        ]
    )
