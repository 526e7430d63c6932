"""``liverec experiment``: the workflow on a tiny imported dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liverec.cli import main


@pytest.fixture
def tiny(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Path:
    """Dataset 'tiny' in a fresh home: 40 users walking through 8 items in turn."""
    home = tmp_path / "home"
    monkeypatch.setenv("LIVEREC_HOME", str(home))
    rows = [f"u{u},i{(u + n) % 8},{1000 + 40 * n + u}" for u in range(40) for n in range(5)]
    (tmp_path / "e.csv").write_text("user_id,item_id,timestamp\n" + "\n".join(rows) + "\n")
    (tmp_path / "i.csv").write_text(
        "item_id,title\n" + "".join(f"i{i},Item {i}\n" for i in range(8))
    )
    args = ["--events", str(tmp_path / "e.csv"), "--items", str(tmp_path / "i.csv")]
    assert main(["data", "import", *args, "--name", "tiny"]) == 0
    capsys.readouterr()
    return home


def test_create_list_report_stop(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    create = ["experiment", "create", "mmr", "--dataset", "tiny", "--arm", "control=0.5"]
    create += ["--arm", "b=0.5", "--set", "b.mmr_lambda=0.3", "--set", "b.weights.pop=1"]
    assert main([*create, "--window", "10m"]) == 0
    out = capsys.readouterr().out
    assert 'mmr: ab, running; arms control 50%, b 50% {"mmr_lambda": 0.3' in out
    assert "window 600 s" in out
    stored = json.loads((tiny / "state" / "tiny" / "experiments.json").read_text())
    assert stored["experiments"][0]["arms"][1]["pipeline"]["weights"] == {"pop": 1}
    assert main(["experiment", "list", "--dataset", "tiny"]) == 0
    assert "0 exposures" in capsys.readouterr().out
    assert main(["experiment", "report", "mmr", "--dataset", "tiny"]) == 0
    assert "decision: continue: look 1 of 4 needs 500 users" in capsys.readouterr().out
    assert main(["experiment", "stop", "mmr", "--dataset", "tiny"]) == 0
    assert "mmr: ab, stopped" in capsys.readouterr().out
    audit = (tiny / "audit.jsonl").read_text()
    assert "experiment create mmr" in audit and "experiment stop mmr" in audit


def test_a_misspelt_arm_setting_is_one_line(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["experiment", "create", "x", "--dataset", "tiny", "--arm", "a", "--arm", "b"]
    assert main([*args, "--set", "c.mmr_lambda=1"]) == 2
    assert capsys.readouterr().err == "error: --set 'c.mmr_lambda=1': no --arm 'c' (arms: a, b)\n"
    assert main([*args, "--set", "b.mmr_lamda=1"]) == 2
    assert capsys.readouterr().err == (
        "error: experiment x: arm 'b': pipeline mmr_lamda: Extra inputs are not permitted\n"
    )


@pytest.mark.slow
def test_simulate_replays_the_experiment_and_runs_a_a(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create = ["experiment", "create", "mmr", "--dataset", "tiny", "--arm", "a", "--arm", "b"]
    assert main([*create, "--set", "b.mmr_lambda=0.3"]) == 0
    out_json = tmp_path / "sim.json"
    sim = ["experiment", "simulate", "--dataset", "tiny", "--skip", "text", "--experiment", "mmr"]
    assert main([*sim, "--runs", "20", "--max-user-exposures", "3", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "experiment mmr (ab, running): 40 users, 100 exposures" in out
    assert "false positives (A/A):" in out and "of 20 runs" in out
    doc = json.loads(out_json.read_text())
    assert doc["users"] == 40 and doc["aa"]["runs"] == 20 and doc["power"]["effect"] == 0.05
