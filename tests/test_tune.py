"""Tuning at an equal budget: the [tune] table, the search's jobs, the selection rule, the written suite."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path

import pytest
from conftest import write_tiny_suite

from ganbench.app.run import tune as tune_suite
from ganbench.errors import GanbenchError
from ganbench.models import METHODS
from ganbench.records.record import MetricResult, MetricSpec, Record
from ganbench.run.driver import stack_groups
from ganbench.suite import load_suite, with_overrides
from ganbench.tune import (
    Range,
    Scored,
    choose,
    configurations,
    parse_tune,
    score_configurations,
    search_suite,
)

TUNE = """
[tune]
configurations = 3
seeds = 1
first_seed = 100
select = ["on-modes", "modes-covered", "reverse-kl"]

[tune.space.gan]
lr = {{ log_uniform = [1e-4, 1e-2] }}
beta1 = [0.0, 0.5]

[tune.space.wgan]
lr = {{ log_uniform = [1e-5, 1e-3] }}
clip = {{ log_uniform = [0.005, 0.1] }}
{more}
"""


def _suite(tmp_path: Path, more: str = "", **kwargs) -> Path:
    return write_tiny_suite(tmp_path, extra=TUNE.format(more=more), **kwargs)


def test_every_method_gets_the_same_budget_and_its_own_setting_first(tmp_path) -> None:
    suite = load_suite(str(_suite(tmp_path)))
    search = search_suite(suite)
    jobs = search.jobs()
    for method in ("gan", "wgan"):
        tried = search.configurations[method]
        assert len(tried) == 3 and len(set(tried)) == 3  # the same number, all distinct
        assert tried[0] == METHODS.get(method).defaults  # the suite's own (here the paper's) setting
        own = [job for job in jobs if job.method == method]
        # configurations x datasets x tuning seeds, at the suite's one budget
        assert len(own) == 3 * 1 * 1 and {job.seed for job in own} == {100}
        assert {job.train.steps for job in own} == {suite.train.steps}
    gan = search.configurations["gan"]
    assert all(1e-4 <= hp.lr <= 1e-2 and hp.beta1 in (0.0, 0.5) for hp in gan[1:])
    assert all(hp.n_critic == 1 and hp.beta2 == 0.999 for hp in gan)  # untouched settings stay
    # Configurations that differ only in per-member values train as one stacked model per method.
    groups = stack_groups(jobs, batch=True)
    assert sorted(len(g) for g in groups) == [3, 3]
    assert {job.key for job in jobs} == {job.key for g in groups for job in g}


def test_draws_are_reproducible_per_method_and_have_two_significant_digits(tmp_path) -> None:
    suite = load_suite(str(_suite(tmp_path)))
    first, again = search_suite(suite), search_suite(suite)
    assert first.configurations == again.configurations
    for hp in first.configurations["gan"][1:]:
        assert float(f"{hp.lr:.2g}") == hp.lr
    # Dropping a method leaves the other's draws as they were (each method its own stream).
    only_gan = search_suite(with_overrides(suite, methods=["gan"]))
    assert only_gan.configurations["gan"] == first.configurations["gan"]
    r = Range("log_uniform", (1e-4, 1e-2))
    draws = [r.draw(random.Random(i)) for i in range(200)]
    assert min(draws) >= 1e-4 and max(draws) <= 1e-2
    # log-uniform: about half below the geometric midpoint 1e-3
    assert 70 < sum(d < 1e-3 for d in draws) < 130


def test_the_draws_are_a_latin_hypercube_covering_every_range() -> None:
    space = {
        "lr": {"log_uniform": [1e-4, 1e-2]},
        "beta1": [0.0, 0.5, 0.9],
        "gp_lambda": {"uniform": [1.0, 9.0]},
    }
    tune = parse_tune(
        {"select": ["w1"], "configurations": 9, "space": {"wgan-gp": space}}, ("wgan-gp",), ("w1",), "t"
    )
    drawn = configurations(METHODS.get("wgan-gp").defaults, "wgan-gp", tune)[1:]
    n = len(drawn)
    # Each of the 8 equal (log-equal for lr) parts of a range holds exactly one draw: the i-th smallest
    # lies in part i, up to rounding to two significant digits (0.05 of a part for gp_lambda's values
    # up to 9 in parts of width 1; under 0.01 of a part for lr).
    lr_at = sorted(math.log(hp.lr / 1e-4) / math.log(100) * n for hp in drawn)
    gp_at = sorted((hp.gp_lambda - 1.0) / 8.0 * n for hp in drawn)
    for positions in (lr_at, gp_at):
        assert all(i - 0.06 <= at <= i + 1.06 for i, at in enumerate(positions)), positions
    # A list's values are dealt in turn: 8 draws of 3 values give 3, 3 and 2.
    counts = sorted(sum(hp.beta1 == v for hp in drawn) for v in (0.0, 0.5, 0.9))
    assert counts == [2, 3, 3]


def test_tuning_seeds_must_be_apart_from_the_reported_ones(tmp_path) -> None:
    path = write_tiny_suite(
        tmp_path, seeds=2, extra=TUNE.format(more="").replace("first_seed = 100", "first_seed = 1")
    )
    with pytest.raises(GanbenchError, match=r"tuning seeds 1-1 overlap the reported seeds 0-1"):
        load_suite(str(path))
    suite = load_suite(str(_suite(tmp_path)))
    with pytest.raises(GanbenchError, match="overlap the reported seeds 99-100"):
        with_overrides(suite, first_seed=99)
    with_overrides(suite, first_seed=101)  # apart again: fine


def test_a_space_for_a_method_the_suite_does_not_run_is_refused(tmp_path) -> None:
    path = _suite(tmp_path, more="[tune.space.gan-ns]\nlr = [1e-3]")
    with pytest.raises(
        GanbenchError, match="tiny.toml: tune.space.gan-ns: the suite does not run method 'gan-ns'"
    ):
        load_suite(str(path))
    both = _suite(tmp_path, more='[sweep]\n"train.steps" = [4, 8]')
    with pytest.raises(GanbenchError, match="either a \\[sweep\\] or a \\[tune\\] search"):
        load_suite(str(both))


def test_bad_tables_name_the_key() -> None:
    where = "s.toml: tune"
    for table, message in [
        ({"select": []}, "select must be a non-empty list"),
        ({"select": ["fid"]}, "not one the suite computes"),
        ({"select": ["w1"], "configurations": 0}, "configurations"),
        ({"select": ["w1"], "space": {"gan": {"lr": {"log_uniform": [1e-3, 1e-4]}}}}, "0 < low < high"),
        ({"select": ["w1"], "space": {"gan": {"n_critic": {"uniform": [1, 5]}}}}, "whole number"),
        ({"select": ["w1"], "space": {"gan": {"lr": [1e-3, 1e-3]}}}, "lists a value twice"),
        ({"select": ["w1"], "space": {"gan": {"lr": [-1.0]}}}, "lr"),
        ({"select": ["w1"], "sedes": 2}, "unknown key 'sedes'"),
    ]:
        with pytest.raises(GanbenchError, match=message):
            parse_tune(table, ("gan",), ("w1",), where)


def test_a_space_too_small_for_the_budget_is_refused() -> None:
    tune = parse_tune(
        {"select": ["w1"], "configurations": 4, "space": {"gan": {"beta1": [0.0, 0.9]}}},
        ("gan",),
        ("w1",),
        "t",
    )
    # The suite's own beta1 (0.5) and the two choices: three distinct settings, four asked for.
    with pytest.raises(GanbenchError, match="only 3 distinct settings"):
        configurations(METHODS.get("gan").defaults, "gan", tune)
    # A method with no space at all could not spend its budget either.
    with pytest.raises(GanbenchError, match=r"no \[tune.space.wgan\]: every method spends the same budget"):
        parse_tune({"select": ["w1"], "space": {"gan": {"beta1": [0.0]}}}, ("gan", "wgan"), ("w1",), "t")


def _record(hp, seed: int, modes: float, kl: float, status: str = "ok") -> Record:
    spec = MetricSpec("modes", True, 0.0, 0.0)
    record = Record(
        kind="train", key=f"k{seed}{modes}{kl}", method="gan", cell="ring-8", seed=seed,
        config={"hyperparameters": dataclasses.asdict(hp)}, metric_specs={}, status=status,
    )  # fmt: skip
    record.metrics = {"modes-covered": MetricResult(modes, spec), "reverse-kl": MetricResult(kl, spec)}
    return record


def test_the_rule_ranks_by_mean_modes_then_lowest_reverse_kl_and_puts_failures_last() -> None:
    base = METHODS.get("gan").defaults
    a, b, c, d = (dataclasses.replace(base, lr=lr) for lr in (1e-4, 2e-4, 3e-4, 4e-4))
    records = [
        _record(a, 0, 8, 0.30), _record(a, 1, 6, 0.10),  # modes 7.0, KL 0.20
        _record(b, 0, 7, 0.05), _record(b, 1, 7, 0.07),  # modes 7.0, KL 0.06: wins the tie on KL
        _record(c, 0, 5, 0.01), _record(c, 1, 5, 0.01),  # fewer modes: KL does not matter
        _record(d, 0, 8, 0.00), _record(d, 1, 8, 0.00, status="diverged"),  # best numbers, but one diverged
    ]  # fmt: skip
    scored = score_configurations(records, (a, b, c, d), ("modes-covered", "reverse-kl"))
    assert scored[0].means == {"modes-covered": 7.0, "reverse-kl": pytest.approx(0.20)}
    assert scored[0].stds["modes-covered"] == pytest.approx(math.sqrt(2))  # (8-7)^2 + (6-7)^2, n-1 = 1
    assert scored[3].means["modes-covered"] == 8.0 and not scored[3].complete
    ranked = choose(scored, ("modes-covered", "reverse-kl"))
    assert [s.index for s in ranked] == [2, 1, 3, 4]
    # A configuration missing a metric (nan) ranks after one that has it, before an incomplete one.
    e = Scored(5, base, {"modes-covered": math.nan, "reverse-kl": 0.0}, {}, True, 2)
    assert [s.index for s in choose([*ranked, e], ("modes-covered", "reverse-kl"))] == [2, 1, 3, 5, 4]
    # `on-modes` first: a configuration whose samples lie off the modes loses to one on them, however
    # many modes its strays "cover".
    records[0].flags = records[1].flags = ["off-modes"]  # configuration 1, both jobs
    records[2].flags = ["off-modes", "not-converged"]  # configuration 2, one job of two
    rule = ("on-modes", "modes-covered", "reverse-kl")
    scored = score_configurations(records, (a, b, c, d), rule)
    assert [s.means["on-modes"] for s in scored[:3]] == [0.0, 0.5, 1.0]
    assert [s.index for s in choose(scored, rule)] == [3, 2, 1, 4]
    # Equal on every metric: the earlier configuration (the suite's own comes first) wins.
    twin = Scored(0, base, dict(ranked[0].means), {}, True, 2)
    assert choose([ranked[0], twin], ("modes-covered", "reverse-kl"))[0].index == 0


@pytest.mark.e2e
def test_a_search_runs_writes_its_choice_and_the_written_suite_reproduces_it(tmp_path) -> None:
    path = _suite(tmp_path, seeds=2, steps=6)
    out = tmp_path / "search"
    written = tmp_path / "chosen.toml"
    outcome, _, selection = tune_suite(str(path), write_suite=written, out=out, device="cpu")
    assert len(outcome.ran) == 6  # 2 methods x 3 configurations x 1 dataset x 1 tuning seed
    data = json.loads((out / "tuning.json").read_text())
    assert data["tuning_seeds"] == [100] and data["reported_seeds"] == [0, 1] and data["configurations"] == 3
    gan = data["methods"]["gan"]
    assert len(gan["configurations"]) == 3 and gan["configurations"][0]["rank"] == 1
    assert gan["chosen"] == gan["configurations"][0]["index"]
    assert "| rank | configuration |" in (out / "tuning.md").read_text()
    chosen = selection.chosen("gan")
    suite = load_suite(str(written))  # validates
    assert suite.name == "chosen" and suite.tune is None and suite.seeds == 2 and suite.first_seed == 0
    assert suite.hyperparameters("gan") == chosen
    assert suite.hyperparameters("wgan") == selection.chosen("wgan")
    assert suite.train.steps == 6 and suite.metrics == load_suite(str(path)).metrics
    assert "tuning seeds 100-100" in written.read_text().splitlines()[1]
    # Its own description, not the search's.
    assert suite.description != load_suite(str(path)).description
    assert suite.description.startswith("gan, wgan on ")
    assert f"chosen by `ganbench tune` from {path.name}" in suite.description


@pytest.mark.e2e
def test_the_cli_tunes_and_refuses_a_suite_without_a_search_in_one_line(tmp_path, cli) -> None:
    from ganbench.cli import app

    plain = write_tiny_suite(tmp_path)
    result = cli.invoke(app, ["tune", "--suite", str(plain), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "has no [tune] table" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
    command = ["tune", "--suite", str(_suite(tmp_path)), "--quick", "--out", str(tmp_path / "t")]
    result = cli.invoke(app, [*command, "--write-suite", str(tmp_path / "w.toml")])
    assert result.exit_code == 0, result.output
    assert "every configuration in" in result.output and "(chosen)" in result.output
    assert (tmp_path / "t" / "tuning.md").is_file() and (tmp_path / "w.toml").is_file()
