"""The training-time estimate printed before a long run, and the choice to stop there."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from ganbench.app import run as app_run
from ganbench.cli import app
from ganbench.run import estimate
from ganbench.run.driver import RunDeclined, stack_groups
from ganbench.suite import load_suite

SUITE = """
name = "estimate"
methods = ["gan", "wgan"]
datasets = ["ring-8", "grid-25"]
seeds = 2
metrics = ["modes-covered"]

[train]
steps = 1000
batch_size = 16
width = 8
depth = 1
log_every = 500

[eval]
samples = 100
"""


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "estimate.toml"
    path.write_text(SUITE)
    return path


def test_duration_reads_like_a_person_would_say_it():
    assert estimate.duration(45) == "45 s"
    assert estimate.duration(12 * 60 + 20) == "12 min"
    assert estimate.duration(3 * 3600 + 20 * 60) == "3 h 20 min"
    assert estimate.duration(2 * 86400 + 4 * 3600 + 59) == "2 d 4 h"


def test_each_distinct_group_is_measured_once_and_scaled_by_its_steps(suite_file, monkeypatch):
    calls = []

    def fake(method, hp, members, size, batch_size, device):
        calls.append((method.name, len(members)))
        return 0.5 if method.name == "gan" else 2.0

    monkeypatch.setattr(estimate, "seconds_per_step", fake)
    suite = load_suite(str(suite_file))
    groups = stack_groups(suite.jobs(), True) + stack_groups(suite.jobs(), True)  # the same groups twice
    guess = estimate.estimate(groups, torch.device("cpu"))
    assert calls == [("gan", 4), ("wgan", 4)]  # 2 seeds x 2 datasets per group, measured once each
    # 2 x (1000 steps x 0.5 s) + 2 x (1000 steps x 2 s) = 5000 s
    assert guess.seconds == pytest.approx(5000.0)
    assert guess.describe().startswith("estimated training time: 1 h 23 min on cpu (1,000 steps; gan 8 jobs")


def test_a_steps_sweep_is_timed_once_and_a_large_group_on_a_part_of_it(tmp_path, monkeypatch):
    calls = []

    def fake(method, hp, members, size, batch_size, device):
        calls.append(len(members))
        return 0.001 * len(members)  # a stacked step costs in proportion to its members

    monkeypatch.setattr(estimate, "seconds_per_step", fake)
    path = tmp_path / "sweep.toml"
    text = SUITE.replace('methods = ["gan", "wgan"]', 'methods = ["gan"]').replace("seeds = 2", "seeds = 100")
    path.write_text(text + '\n[sweep]\n"train.steps" = [1000, 2000, 3000]\n')
    groups = stack_groups(load_suite(str(path)).jobs(), True)
    assert sorted(len(g) for g in groups) == [200, 200, 200]  # 100 seeds x 2 datasets per sweep point
    guess = estimate.estimate(groups, torch.device("cpu"))
    # One measurement for the three points (steps do not change a step's cost), on TIMED_MEMBERS members,
    # scaled to the group's 200: 0.2 s per step, x (1000 + 2000 + 3000) steps.
    assert calls == [estimate.TIMED_MEMBERS]
    assert guess.seconds == pytest.approx(0.2 * 6000)


@pytest.mark.e2e
def test_the_measured_step_time_is_a_real_step():
    suite = load_suite("mode-collapse")
    group = stack_groups([j for j in suite.jobs() if j.method == "gan"], True)[0]
    seconds = estimate.estimate([group], torch.device("cpu")).groups[0].seconds_per_step
    assert 0 < seconds < 5


def test_declining_stops_before_anything_is_written(suite_file, tmp_path, monkeypatch):
    monkeypatch.setattr(
        estimate, "seconds_per_step", lambda *args: 10.0
    )  # 2 groups x 1000 steps x 10 s = 20,000 s
    questions = []

    def decline(question: str) -> bool:
        questions.append(question)
        return False

    out = tmp_path / "run"
    with pytest.raises(RunDeclined):
        app_run.run(str(suite_file), out=out, confirm=decline)
    assert questions == ["Train for about 5 h 33 min?"]
    assert not out.exists()


@pytest.mark.e2e
def test_short_runs_start_without_asking(suite_file, tmp_path, monkeypatch):
    monkeypatch.setattr(estimate, "seconds_per_step", lambda *args: 0.001)  # 4 s in all
    asked = []
    outcome, _ = app_run.run(str(suite_file), out=tmp_path / "run", confirm=lambda q: asked.append(q) or True)
    assert asked == [] and len(outcome.ran) == 8


@pytest.mark.e2e
def test_the_cli_prints_the_estimate_and_never_asks_without_a_terminal(suite_file, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--suite", str(suite_file), "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert "estimated training time:" in result.output and "?" not in result.output.split("\n")[0]
    quick = runner.invoke(
        app, ["run", "--suite", str(suite_file), "--steps", "10", "--out", str(tmp_path / "b")]
    )
    assert quick.exit_code == 0 and "estimated training time" not in quick.output


def test_a_file_that_is_not_the_groups_checkpoint_counts_no_steps_done(suite_file, tmp_path, monkeypatch):
    from ganbench.engine.checkpoint import CHECKPOINT_FORMAT
    from ganbench.run.checkpoints import checkpoint_path

    monkeypatch.setattr(estimate, "seconds_per_step", lambda *args: 1.0)
    groups = stack_groups(load_suite(str(suite_file)).jobs(), True)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    gan = checkpoint_path(folder, [j.config() for j in groups[0]])
    torch.save({"format": CHECKPOINT_FORMAT, "step": 600, "weights": torch.zeros(3)}, gan)
    guess = estimate.estimate(groups, torch.device("cpu"), folder)
    # A file with the right name but not this group's full state is not a checkpoint the worker would
    # resume from (tests/test_hostile_checkpoints.py): the estimate counts every step, as training will.
    assert [g.done for g in guess.groups] == [0, 0]
    assert guess.seconds == 1000 + 1000
    assert "resuming" not in guess.describe()
    checkpoint_path(folder, [j.config() for j in groups[1]]).write_bytes(b"not a checkpoint")
    assert estimate.estimate(groups, torch.device("cpu"), folder).groups[1].done == 0
