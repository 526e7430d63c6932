from __future__ import annotations

import json
from pathlib import Path

import pytest

from liverec.cli import main
from liverec.data.dataset import Dataset


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
    ],
)
def test_bad_model_options_are_clear_errors(
    home: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) != 0
    assert message in capsys.readouterr().err
