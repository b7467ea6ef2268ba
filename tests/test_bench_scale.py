"""Scale: validating a suite and starting its run stay linear up to MAX_JOBS, and give what they gave.

The plain tests check labels, keys, order, stacking groups and tuning scores against the pairwise
rules they replaced (written out here as references), and that a suite at the job cap validates and
starts. The benchmarks time both at 1,000, 10,000 and 100,000 jobs, so the growth shows in the medians:
    .venv/bin/python -m pytest -m bench --benchmark-only tests/test_bench_scale.py
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ganbench import labels
from ganbench.app import run as app_run
from ganbench.cli import app
from ganbench.data import DATASETS
from ganbench.engine import streams
from ganbench.engine.train import data_shape
from ganbench.limits import MAX_JOBS
from ganbench.models import METHODS
from ganbench.models.base import identity, step_structure
from ganbench.records.record import MetricResult, MetricSpec, Record
from ganbench.run import estimate
from ganbench.run.driver import RunDeclined, stack_groups
from ganbench.suite import NOT_CONFIG, Job, Suite, load_suite
from ganbench.tune import score_configurations, search_suite

SIZES = [1_000, 10_000, 100_000]
FIVE = ["gan", "gan-ns", "wgan", "wgan-gp", "pacgan2"]

SCALE_SUITE = """
name = "scale"
methods = {methods}
datasets = ["ring-8", "grid-25"]
seeds = {seeds}
metrics = ["w1"]

[sweep]
"train.steps" = {steps}
"""


def _scale_suite(folder: Path, layout: str, jobs: int) -> Path:
    """A suite of `jobs` jobs. `seeds`: 5 methods x 2 datasets x 10 budgets x jobs/100 seeds (many
    seeds of few settings); `points`: 1 method x 2 datasets x jobs/2 budgets x 1 seed (every job its
    own sweep point). Every budget is long enough for a run to estimate its time first."""
    methods, points, seeds = (FIVE, 10, jobs // 100) if layout == "seeds" else (["gan"], jobs // 2, 1)
    text = SCALE_SUITE.format(
        methods=json.dumps(methods), seeds=seeds, steps=list(range(1000, 1000 + points))
    )
    path = folder / f"scale-{layout}-{jobs}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _declined_start(path: Path, out: Path) -> None:
    """`ganbench run` up to training: load, jobs, labels, stacking, the estimate, the folder's checks."""
    with pytest.raises(RunDeclined):
        app_run.run(str(path), out=out, device="cpu", confirm=lambda question: False)


@pytest.fixture
def no_step_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The estimate's step timing trains a few steps per distinct group: training, not planning."""
    monkeypatch.setattr(estimate, "seconds_per_step", lambda *args, **kwargs: 1.0)


# --- the references: the rules as first written, one member or one configuration at a time ---


def _reference_differ(flat: list[dict[str, Any]], missing_differs: bool) -> list[str]:
    paths = list(dict.fromkeys(path for one in flat for path in one))
    missing = object()
    found = []
    for path in paths:
        values = [one.get(path, missing) for one in flat]
        if not missing_differs:
            values = [v for v in values if v is not missing]
        if len({json.dumps(v, default=str) for v in values}) > 1:
            found.append(path)
    return found


def _reference_labels(configs: list[dict[str, Any]]) -> list[str]:
    """`labels.settings_labels` as first written: each member's group and table compared anew."""

    def protocol(group: list[dict[str, Any]]) -> list[str]:
        flat = [labels.settings(config) for config in group]
        paths = [path for path in _reference_differ(flat, False) if labels._is_protocol(path)]
        if labels.SOURCE in paths and "train.steps" not in paths:
            paths.append("train.steps")
        return paths

    groups: dict[Any, list[int]] = {}
    tables: dict[Any, list[int]] = {}
    for i, config in enumerate(configs):
        groups.setdefault((config.get("method"), config.get("dataset")), []).append(i)
        tables.setdefault(config.get("dataset"), []).append(i)
    varies = {
        i: _reference_differ([labels.settings(configs[j]) for j in members], True)
        for members in groups.values()
        for i in members
    }
    differs = {i: protocol([configs[j] for j in members]) for members in tables.values() for i in members}
    found = {path for i in range(len(configs)) for path in [*varies[i], *differs[i]]}
    shared = {path for path in found if path == labels.SOURCE or path.startswith(labels.SHARED)}
    result = []
    for i, config in enumerate(configs):
        flat = labels.settings(config)
        paths = [path for path in flat if path in shared or path in varies[i] or path in differs[i]]
        result.append(labels.label({path: flat[path] for path in paths}))
    return result


def _reference_config(job: Job) -> dict[str, Any]:
    """`Job.config()` as first written: every table through `dataclasses.asdict`."""
    return {
        "suite": job.suite,
        "method": job.method,
        "dataset": job.dataset,
        "seed": job.seed,
        "hyperparameters": identity(job.hyperparameters),
        "dataset_params": dataclasses.asdict(job.dataset_params),
        "train": {k: v for k, v in dataclasses.asdict(job.train).items() if k not in NOT_CONFIG},
        "eval": {k: v for k, v in dataclasses.asdict(job.eval).items() if k not in NOT_CONFIG},
        "metrics": list(job.metrics),
        "streams": streams.SCHEME,
    }


def _reference_jobs(suite: Suite) -> tuple[list[str], list[dict[str, Any]]]:
    """The keys and configs of `Suite.jobs()` as first written: every job's config labelled at once."""
    jobs = [
        Job(suite.name, m, d, seed, *setting, suite.metrics)
        for m in suite.methods
        for d in suite.datasets
        for setting in suite._settings(m, d)
        for seed in range(suite.first_seed, suite.first_seed + suite.seeds)
    ]
    configs = [_reference_config(job) for job in jobs]
    names = _reference_labels(configs)
    keys = [dataclasses.replace(job, label=name).key for job, name in zip(jobs, names, strict=True)]
    return keys, configs


def _reference_groups(jobs: list[Job]) -> list[list[str]]:
    """The keys of `stack_groups` as first written, for networks that stack."""
    groups: dict[str, list[str]] = {}
    for job in jobs:
        setup = job.setup() | {"hyperparameters": step_structure(job.hyperparameters)}
        shape = data_shape(DATASETS.get(job.dataset).build(job.dataset_params))
        groups.setdefault(json.dumps([setup, shape], sort_keys=True), []).append(job.key)
    return list(groups.values())


# --- the same answers ---

# Values whose JSON texts differ though Python finds them equal (0.0 and -0.0, 1 and 1.0 and True),
# one text for two objects (nan), and values that are not scalars.
AWKWARD = [0.0, -0.0, 1, 1.0, True, float("nan"), float("nan"), "adam", None, [1, 2], [1, 2], {"x": 1}]


def _random_config(rng: random.Random) -> dict[str, Any]:
    config: dict[str, Any] = {
        "suite": "s",
        "method": rng.choice(["gan", "wgan"]),
        "dataset": rng.choice(["ring-8", "grid-25"]),
        "seed": rng.randrange(3),
        "hyperparameters": {"lr": rng.choice(AWKWARD), "beta1": rng.choice([0.5, 0.5, 0.0])},
        "train": {"steps": rng.choice([10, 10, 20]), "width": rng.choice([16, 16, 1.0, True])},
        "eval": {"samples": rng.choice([100, 100, 200])},
        "metrics": ["w1"],
    }
    if rng.random() < 0.3:  # a `ganbench eval` row: no training, another source
        del config["train"]
        config["source"] = {"kind": rng.choice(["samples", "generator"])}
    if rng.random() < 0.5:
        config["dataset_params"] = {"std": rng.choice(AWKWARD)}
    return config


def test_labels_are_those_of_the_pairwise_rule() -> None:
    rng = random.Random(0)
    for _ in range(300):
        configs = [_random_config(rng) for _ in range(rng.randrange(1, 25))]
        assert labels.settings_labels(configs) == _reference_labels(configs)


SWEPT = """
[sweep]
"train.steps" = [4, 8]
"eval.samples" = [100, 200]
"method.gan.lr" = [1e-3, 2e-4]
"dataset.ring-8.std" = [0.01, 0.02]
"""


def test_jobs_keep_their_keys_configs_and_order(tmp_path: Path) -> None:
    text = SCALE_SUITE.format(methods='["gan", "wgan"]', seeds=3, steps="[4, 8]").split("[sweep]")[0]
    for i, extra in enumerate(["", SWEPT, '\n[sweep]\n"method.wgan.clip" = [0.01, 0.0, -0.0]\n']):
        path = tmp_path / f"s{i}.toml"
        path.write_text(text + extra, encoding="utf-8")
        suite = load_suite(str(path))
        jobs = suite.jobs()
        keys, configs = _reference_jobs(suite)
        assert [job.key for job in jobs] == keys
        assert [job.config() for job in jobs] == configs
        assert json.dumps([job.config() for job in jobs]) == json.dumps(configs)  # -0.0 stays -0.0
    # Every call gives a config of its own, whatever a caller does with the last one.
    job = suite.jobs()[0]
    job.config()["hyperparameters"]["lr"] = 9.0
    assert job.config() == _reference_config(job)


TUNED = """
[tune]
configurations = 3
seeds = 2
first_seed = 100
select = ["w1"]

[tune.space.gan]
lr = [1e-3, 1e-4, 1e-5]

[tune.space.wgan]
clip = [0.01, 0.02, 0.0]
"""


def test_stacking_groups_are_those_of_the_pairwise_rule(tmp_path: Path) -> None:
    text = SCALE_SUITE.format(methods='["gan", "wgan"]', seeds=3, steps="[4, 8]")
    (tmp_path / "swept.toml").write_text(text + '"method.gan.lr" = [1e-3, 2e-4]\n', encoding="utf-8")
    (tmp_path / "tuned.toml").write_text(text.split("[sweep]")[0] + TUNED, encoding="utf-8")
    swept = load_suite(str(tmp_path / "swept.toml"))
    search = search_suite(load_suite(str(tmp_path / "tuned.toml")))  # per-member settings share a model
    for suite in (swept, search):
        jobs = suite.jobs()
        assert [[job.key for job in group] for group in stack_groups(jobs, True)] == _reference_groups(jobs)


def test_tuning_scores_are_those_of_the_pairwise_rule() -> None:
    base = METHODS.get("gan").defaults
    tried = tuple(dataclasses.replace(base, lr=lr) for lr in (1e-4, 2e-4, 3e-4))
    spec = MetricSpec("modes", True, 0.0, 0.0)
    rng = random.Random(0)
    records = []
    for i in range(60):
        hp = rng.choice([*tried, dataclasses.replace(base, lr=5e-4)])
        settings: dict[str, Any] = rng.choice([dataclasses.asdict(hp), identity(hp)])
        if i % 17 == 0:
            settings = {**settings, "lr": [hp.lr]}  # damaged: matches no configuration
        record = Record(
            kind="train", key=f"k{i}", method="gan", cell="ring-8", seed=i,
            config={"hyperparameters": settings}, metric_specs={},
            status=rng.choice(["ok", "ok", "diverged"]),
        )  # fmt: skip
        record.metrics = {"modes-covered": MetricResult(rng.random(), spec)}
        records.append(record)
    scored = score_configurations(records, tried, ("modes-covered",))
    for hp, result in zip(tried, scored, strict=True):
        own = [r for r in records if identity(r.config.get("hyperparameters", {})) == identity(hp)]
        values = [r.metrics["modes-covered"].value for r in own if r.status == "ok"]
        assert result.jobs == len(own) > 0
        assert result.means["modes-covered"] == sum(values) / len(values)  # the same order, the same sum


# --- at the cap ---


def test_a_suite_of_max_jobs_validates(tmp_path: Path) -> None:
    path = _scale_suite(tmp_path, "seeds", MAX_JOBS)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{MAX_JOBS} jobs (5 methods x 2 datasets x 10 settings x 1000 seeds)" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["seeds", "points"])
def test_a_run_of_max_jobs_starts(tmp_path: Path, no_step_timing: None, layout: str) -> None:
    path = _scale_suite(tmp_path, layout, MAX_JOBS)
    assert len(load_suite(str(path)).jobs()) == MAX_JOBS
    _declined_start(path, tmp_path / "run")
    assert not (tmp_path / "run").exists()


# --- benchmarks ---


@pytest.mark.bench
@pytest.mark.parametrize("jobs", SIZES)
@pytest.mark.parametrize("layout", ["seeds", "points"])
def test_validate_scales_linearly(benchmark, tmp_path: Path, layout: str, jobs: int) -> None:
    """`ganbench validate`'s work: load the suite file, expand its jobs, label them."""
    benchmark.group = f"validate, {layout}"
    path = _scale_suite(tmp_path, layout, jobs)

    def validate() -> int:
        return len(load_suite(str(path)).jobs())

    assert benchmark.pedantic(validate, rounds=3, iterations=1, warmup_rounds=1) == jobs


@pytest.mark.bench
@pytest.mark.parametrize("jobs", SIZES)
@pytest.mark.parametrize("layout", ["seeds", "points"])
def test_run_start_scales_linearly(
    benchmark, tmp_path: Path, no_step_timing: None, layout: str, jobs: int
) -> None:
    """`ganbench run` up to training, declined at the estimate's question (its step timing stubbed)."""
    benchmark.group = f"run start, {layout}"
    path = _scale_suite(tmp_path, layout, jobs)
    benchmark.pedantic(_declined_start, args=(path, tmp_path / "run"), rounds=3, iterations=1)
