from __future__ import annotations

import io

import pytest

from liverec.core.progress import ProgressLine, progress_line


class FakeClock:
    """Seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_line_shows_rate_and_eta_and_skips_updates_within_the_interval() -> None:
    out, clock = io.StringIO(), FakeClock()
    line = ProgressLine("text", "texts", out, interval_s=0.5, clock=clock)
    clock.now += 2.0
    line(100, 1000)  # first update: written
    clock.now += 0.1
    line(150, 1000)  # 0.1 s later: skipped
    clock.now += 0.9
    line(300, 1000)  # 1 s after the last write: written
    clock.now += 0.2
    line(1000, 1000)  # the last one: always written
    line.close()
    assert out.getvalue().split("\r")[1:] == [
        "text: 100/1000 texts, 50.0/s, ETA 0:18",
        "text: 300/1000 texts, 100.0/s, ETA 0:07",
        "text: 1000/1000 texts, 312.5/s, in 0:03\n",
    ]


def test_slow_steps_show_seconds_each_and_the_close_line_says_why_it_stopped() -> None:
    out, clock = io.StringIO(), FakeClock()
    line = ProgressLine("sasrec", "epochs", out, clock=clock)
    clock.now += 30.0
    line.note("valid NDCG@10 0.1093")
    line(2, 100)
    clock.now += 30.0
    line(4, 100)
    line.close("stopped early after epoch 4: no improvement")
    assert out.getvalue() == (
        "\rsasrec: 2/100 epochs, 15.0 s each, ETA 24:30, valid NDCG@10 0.1093"
        "\rsasrec: 4/100 epochs, 15.0 s each, ETA 24:00, valid NDCG@10 0.1093"
        "\nsasrec: stopped early after epoch 4: no improvement\n"
    )


def test_a_shorter_line_overwrites_the_whole_previous_one() -> None:
    out, clock = io.StringIO(), FakeClock()
    line = ProgressLine("x", "items", out, interval_s=0.0, clock=clock)
    line.note("a long detail")
    clock.now += 1.0
    line(1, 2)
    line.note("")
    clock.now += 1.0
    line(2, 2)
    first, second = out.getvalue().split("\r")[1:]
    assert len(second) == len(first) and second.rstrip() == "x: 2/2 items, 1.0/s, in 0:02"


def test_an_update_held_back_by_the_interval_is_shown_on_close() -> None:
    out, clock = io.StringIO(), FakeClock()
    line = ProgressLine("x", "items", out, interval_s=10.0, clock=clock)
    line(1, 5)
    line(3, 5)  # held back
    line.close()
    assert out.getvalue().split("\r")[-1] == "x: 3/5 items\n"


def test_progress_goes_to_stderr_only_when_enabled(capsys: pytest.CaptureFixture[str]) -> None:
    for enabled in (False, True):
        with progress_line("x", "items", enabled) as line:
            line(2, 2)
            line.close("done")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("\rx: 2/2 items") and captured.err.endswith("\nx: done\n")
    assert captured.err.count("x: done") == 1  # the disabled one wrote nothing
