from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from argparse import SUPPRESS
from pathlib import Path

import pytest

from liverec.bench.server import call, free_port
from liverec.cli import build_parser, main
from liverec.cli_eval import DEFAULT_EVAL_MODELS
from liverec.core.errors import DatasetNotFoundError
from liverec.data.dataset import Dataset
from liverec.models.registry import COMPONENTS, MODELS


@pytest.fixture
def home(session_home: Path, ml100k: Dataset, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIVEREC_HOME", str(session_home))
    return session_home


@pytest.mark.slow
def test_evaluate_prints_a_table_and_writes_json_and_lists(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "r.json"
    code = main(
        [
            "evaluate",
            "--models",
            "pop,itemcf",
            "--split",
            "valid",
            "--json",
            str(out_json),
            "--dump-recs",
            str(tmp_path / "recs"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "| pop |" in out and "| itemcf |" in out and "NDCG@10" in out
    doc = json.loads(out_json.read_text())
    assert doc["split"] == "valid" and doc["n_users"] == 943
    assert [r["model"] for r in doc["results"]] == ["pop", "itemcf"]
    assert (tmp_path / "recs" / "itemcf.tsv").read_text().count("\n") == 943 * 20


def test_unknown_model_is_a_one_line_error_not_a_traceback(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--models", "pop,nope"]) == 2
    err = capsys.readouterr().err
    assert "error: unknown model 'nope'; expected one of pop, usercf, itemcf, als, bpr" in err
    assert "Traceback" not in err


def test_unknown_dataset_says_how_to_get_one(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--dataset", "mine", "--models", "pop"]) == 2
    err = capsys.readouterr().err
    assert "dataset 'mine' not found" in err and "liverec data import" in err


def test_data_list_shows_fetched_datasets(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list"]) == 0
    assert "ml-100k: 943 users, 1,682 items, 100,000 interactions" in capsys.readouterr().out


@pytest.mark.slow
def test_evaluate_with_a_small_transformer_saves_a_loadable_model(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = ["dim=8", "max_len=4", "max_epochs=1", "text=false", "layers=1"]
    args = ["evaluate", "--models", "sasrec", "--split", "valid"]
    for p in params:
        args += ["--param", f"sasrec.{p}"]
    assert main([*args, "--save-models", str(tmp_path / "m")]) == 0
    assert "| sasrec |" in capsys.readouterr().out
    from liverec.models.sasrec import SASRec

    model = SASRec.load(tmp_path / "m" / "sasrec")
    assert model.config.dim == 8 and model.config.text is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evaluate", "--models", "pop", "--param", "dim=8"], "expected MODEL.NAME=VALUE"),
        (["evaluate", "--models", "sasrec", "--param", "sasrec.depth=3"], "has no parameter"),
        (["train", "--models", "bert4rec"], "cannot train bert4rec"),
        (
            ["evaluate", "--protocol", "replay", "--models", "ranker", "--param", "ranker.nope=1"],
            "ranker has no parameter nope",
        ),
    ],
)
def test_bad_model_options_are_clear_errors(
    home: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) != 0
    assert message in capsys.readouterr().err


def _leaf_commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every runnable command as (words after ``liverec``, its parser), found by walking."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        return [(path, parser)]
    return [
        leaf
        for group in groups
        for name, child in group.choices.items()
        for leaf in _leaf_commands(child, (*path, name))
    ]


LEAVES = _leaf_commands(build_parser())


def _option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in parser._actions if flag in a.option_strings), None)


def test_the_walk_finds_every_command() -> None:
    names = {" ".join(path) for path, _ in LEAVES}
    assert {"data import", "evaluate", "train", "serve", "users delete", "bench soak"} <= names
    assert len(names) == len(LEAVES) > 20


@pytest.mark.parametrize(("path", "parser"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_command_help_has_a_purpose_examples_and_its_defaults(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    text = parser.format_help()
    flat = " ".join(text.split())
    assert "``" not in text and "`" not in text
    purpose = (parser.description or "").split("\n\n")[0]
    assert "\n" not in purpose and purpose.endswith(".") and purpose[0].isupper()
    assert "examples:" in text and f"liverec {' '.join(path)}" in text.split("examples:")[1]
    for action in parser._actions:
        if action.option_strings and action.default not in (None, False, "", [], SUPPRESS):
            assert f"(default: {action.default})" in flat, action.option_strings
        if action.choices is not None:
            assert all(str(c) in flat for c in action.choices)


def test_top_level_help_lists_commands_and_examples_without_rst_marks() -> None:
    text = build_parser().format_help()
    assert "`" not in text and "--debug" in text and "examples:" in text
    assert all(f"    {name}" in text for name in ("data", "evaluate", "train", "serve", "bench"))


def test_model_and_component_choices_come_from_the_registries() -> None:
    helps = {" ".join(path): " ".join(p.format_help().split()) for path, p in LEAVES}
    assert all(name in helps["evaluate"] and name in helps["tune"] for name in MODELS)
    assert all(name in helps["train"] for name in COMPONENTS)


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("LIVEREC_HOME", str(home))
    return home


DATASET_COMMANDS = [(path, p) for path, p in LEAVES if _option(p, "--dataset")]


@pytest.mark.parametrize(
    ("path", "parser"), DATASET_COMMANDS, ids=[" ".join(p) for p, _ in DATASET_COMMANDS]
)
def test_an_unknown_dataset_is_one_line_and_writes_nothing(
    path: tuple[str, ...],
    parser: argparse.ArgumentParser,
    empty_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    positionals = ["someone" for a in parser._actions if not a.option_strings]
    assert main([*path, *positionals, "--dataset", "nope"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: dataset 'nope' not found")
    assert len(captured.err.splitlines()) == 1 and "serving" not in captured.out
    assert not [p for p in empty_home.rglob("*") if "nope" in p.name]


def test_debug_raises_with_the_traceback_before_or_after_the_command(empty_home: Path) -> None:
    with pytest.raises(DatasetNotFoundError):
        main(["--debug", "evaluate", "--dataset", "nope"])
    with pytest.raises(DatasetNotFoundError):
        main(["evaluate", "--dataset", "nope", "--debug"])


def test_serve_names_a_port_in_use_before_serving(
    empty_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: port {port} on 127.0.0.1 is in use (another liverec serve?); "
        f"pick a free one with --port, e.g. --port {port + 1}\n"
    )
    assert "serving" not in captured.out and not (empty_home / "snapshots").exists()


@pytest.fixture
def tiny(
    empty_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> dict[str, list[str]]:
    """A 5-item catalog imported as dataset 'tiny': each of 12 users saw 4 items, in order."""
    histories = {f"u{u}": [f"i{(u + n) % 5}" for n in range(4)] for u in range(12)}
    rows = [
        f"{user},{item},{1000 + 10 * u + n}"
        for u, (user, items) in enumerate(histories.items())
        for n, item in enumerate(items)
    ]
    (tmp_path / "events.csv").write_text("user_id,item_id,timestamp\n" + "\n".join(rows) + "\n")
    (tmp_path / "items.csv").write_text(
        "item_id,title\n" + "".join(f"i{i},Item {i}\n" for i in range(5))
    )
    args = ["--events", str(tmp_path / "events.csv"), "--items", str(tmp_path / "items.csv")]
    assert main(["data", "import", *args, "--name", "tiny"]) == 0
    capsys.readouterr()
    return histories


def test_a_catalog_smaller_than_k_evaluates_and_lists_only_unseen_items(
    tiny: dict[str, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recs = tmp_path / "recs"
    assert main(["evaluate", "--dataset", "tiny", "--dump-recs", str(recs)]) == 0
    out = capsys.readouterr().out
    assert all(f"| {name} |" in out for name in DEFAULT_EVAL_MODELS.split(","))
    assert "12 users" in out
    for model in DEFAULT_EVAL_MODELS.split(","):
        lists: dict[str, list[str]] = {}
        for line in (recs / f"{model}.tsv").read_text().splitlines():
            user, _, item = line.split("\t")
            lists.setdefault(user, []).append(item)
        # test split: the first 3 events are history, so 2 of the 5 items are left to show
        assert len(lists) == 12
        assert all(len(items) == 2 for items in lists.values())


def test_a_catalog_smaller_than_k_trains_a_snapshot(
    tiny: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--dataset", "tiny", "--models", "none", "--skip", "text"]) == 0
    assert "snapshot: " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--models", "none", "--param", "bert.depth=3"], "'bert' is not one of the"),
        (["train", "--models", "none", "--param", "itemcf.depth=3"], "itemcf has no parameter"),
        (["train", "--models", "none", "--param", "sasrec.dim=8"], "not trained here"),
        (["evaluate", "--models", "pop", "--param", "als.factors=8"], "not one of the models"),
    ],
)
def test_a_bad_param_is_one_line_naming_what_is_expected(
    empty_home: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1


def test_an_os_error_is_one_line_naming_the_path(
    tiny: dict[str, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = ["evaluate", "--dataset", "tiny", "--models", "pop"]
    assert main([*args, "--json", str(blocker / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"error: File exists: {blocker}" and "Traceback" not in err


def test_an_unexpected_error_is_one_line_exit_1_pointing_at_debug(
    tiny: dict[str, list[str]], empty_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (empty_home / "datasets" / "tiny" / "items.arrow").write_bytes(b"damaged")
    assert main(["evaluate", "--dataset", "tiny", "--models", "pop"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("internal error: ") and len(err.splitlines()) == 1
    assert err.rstrip().endswith("(run with --debug for the traceback)")


def test_a_bad_setting_is_one_line(
    empty_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIVEREC_WATCH_SNAPSHOTS_S", "-1")
    assert main(["data", "list"]) == 2
    assert capsys.readouterr().err == (
        "error: invalid Settings (from LIVEREC_* variables): watch_snapshots_s: "
        "Input should be greater than or equal to 0\n"
    )


def test_serve_trains_a_first_snapshot_saying_so_then_answers_on_a_tiny_catalog(
    tiny: dict[str, list[str]], empty_home: Path, models_dir: Path
) -> None:
    # The text encoder is exported once per session; this home shares that copy.
    models_dir.mkdir(parents=True, exist_ok=True)
    (empty_home / "models").symlink_to(models_dir, target_is_directory=True)
    port = free_port()
    cmd = [sys.executable, "-m", "liverec.cli", "serve", "--dataset", "tiny", "--port", str(port)]
    env = {**os.environ, "LIVEREC_HOME": str(empty_home)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        said = [proc.stdout.readline().decode() for _ in range(2)]
        assert said[1].startswith(
            "liverec: no snapshot for tiny yet: training a first one "
            "(pop, trending, itemcf, als, text, new;"
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                status, body = call(f"http://127.0.0.1:{port}/v1/users/u0/recommendations?k=10")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert status == 200
        assert [i["item_id"] for i in body["items"]] == ["i4"]  # the one item u0 has not seen
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_train_on_an_unreachable_cluster_exits_2_with_one_line_and_no_snapshot(
    empty_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    assert main(["train", "--engine", "ray", "--address", f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: no Ray cluster answers at 127.0.0.1:{port}")
    assert len(err.splitlines()) == 1
    assert not (empty_home / "snapshots").exists()


def test_train_without_the_ray_extra_exits_2_with_one_line(
    empty_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["train", "--engine", "ray"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: --engine ray needs Ray, which is not installed; install it with: "
        "pip install 'liverec[ray]'\n"
    )


def test_an_address_without_the_ray_engine_exits_2(
    empty_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--address", "127.0.0.1:6379"]) == 2
    assert capsys.readouterr().err == (
        "error: --address is the Ray cluster's; it needs --engine ray\n"
    )


def test_the_ray_engine_is_refused_for_protocols_it_does_not_run(
    empty_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--protocol", "replay", "--engine", "ray"]) == 2
    assert capsys.readouterr().err == (
        "error: --engine ray is for the leave-last-out protocol only\n"
    )
