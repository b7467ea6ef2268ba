"""Sweeps: settings labels, `[sweep]` expansion and keys, runs and resumes, reports over settings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, write_tiny_suite
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.errors import GanbenchError
from ganbench.labels import label, labelled_key, order, parse_label, settings_labels, varying
from ganbench.records.record import TRAIN_KEY
from ganbench.report import build_report
from ganbench.suite import load_suite, parse_key, with_overrides

GOLDEN = ROOT / "tests" / "data" / "golden"
SWEEP = '\n[sweep]\n"train.steps" = [4, 8]\n'


def _config(method: str = "gan", steps: int = 10, lr: float = 1e-3, seed: int = 0) -> dict:
    return {
        "suite": "s",
        "method": method,
        "dataset": "ring-8",
        "seed": seed,
        "hyperparameters": {"lr": lr},
        "train": {"steps": steps, "width": 16},
        "metrics": ["w1"],
    }


# --- labels ---


def test_a_label_names_the_leaf_of_each_path_in_config_order() -> None:
    assert label({"train.steps": 1000}) == "steps=1000"
    assert label({"hyperparameters.lr": 0.001, "train.steps": 10}) == "lr=0.001,steps=10"
    # Two paths with one leaf keep their whole paths, so the label stays unambiguous.
    assert label({"train.samples": 5, "eval.samples": 7}) == "train.samples=5,eval.samples=7"
    assert label({"eval.keep": True, "x.lr": 1e-05}) == "keep=true,lr=1e-05"
    assert label({}) == ""
    assert parse_label("lr=0.001,steps=10") == {"lr": "0.001", "steps": "10"}
    assert parse_label("") == {}


def test_only_settings_that_vary_within_a_method_and_dataset_make_the_label() -> None:
    configs = [
        _config("gan", 10, seed=0),
        _config("gan", 10, seed=1),  # a seed is a repeat, not a setting
        _config("gan", 20, seed=0),
        _config("wgan", 10, lr=5e-5),  # another method's other lr is not a setting of gan's
        _config("wgan", 10, lr=5e-5, seed=1),
    ]
    assert varying(configs[:3]) == ["train.steps"]
    # The budget is a shared setting: wgan, run at one budget only, still says which.
    assert settings_labels(configs) == ["steps=10", "steps=10", "steps=20", "steps=10", "steps=10"]
    # A method's own setting is named only where it varies; one setting everywhere: no labels.
    configs = [_config("gan", lr=1e-3), _config("gan", lr=1e-4), _config("wgan", lr=5e-5)]
    assert settings_labels(configs) == ["lr=0.001", "lr=0.0001", ""]
    assert settings_labels([_config("gan"), _config("gan", seed=1), _config("wgan", lr=5e-5)]) == ["", "", ""]


def test_rows_of_one_dataset_made_with_different_protocols_say_how() -> None:
    # Folders merged into one report: gan and wgan run quick (steps 100, samples 500), gan-ns at the
    # suite's budget, and `ganbench eval` rows (no training; samples or a generator scored). No setting
    # varies within a method x dataset, but the rows of ring-8 differ in their protocol: each names the
    # protocol settings that differ among them, the eval rows what they scored, the trained rows their
    # steps. A method's own settings (lr, the generator's factory) still name nothing.
    def run(method: str, steps: int, samples: int, lr: float = 1e-3) -> dict:
        return {**_config(method, steps, lr), "eval": {"samples": samples}}

    def scored(method: str, kind: str, samples: int) -> dict:
        source = {"kind": kind, **({"generator": f"my.{method}:make"} if kind == "generator" else {})}
        return {"suite": "eval", "method": method, "dataset": "ring-8", "seed": 0,
                "eval": {"samples": samples}, "source": source, "metrics": ["w1"]}  # fmt: skip

    configs = [run("gan", 100, 500), run("wgan", 100, 500, lr=5e-5), run("gan-ns", 1000, 500),
               scored("mine", "samples", 2500), scored("mlp", "generator", 2500)]  # fmt: skip
    assert settings_labels(configs) == [
        "steps=100,samples=500,source=run",
        "steps=100,samples=500,source=run",
        "steps=1000,samples=500,source=run",
        "samples=2500,source=samples",
        "samples=2500,source=generator",
    ]
    # Only the budget differs: only steps.
    assert settings_labels(configs[:3]) == ["steps=100", "steps=100", "steps=1000"]
    # Eval rows alike but for what they scored say that alone; of one source, nothing.
    assert settings_labels([scored("a", "samples", 2500), scored("b", "generator", 2500)]) == [
        "source=samples",
        "source=generator",
    ]
    assert settings_labels([scored("a", "generator", 2500), scored("b", "generator", 2500)]) == ["", ""]
    # Another dataset's protocol is its own: ring-8 and grid-25 run at different budgets, each alike.
    grid = [{**config, "dataset": "grid-25", "train": {"steps": 7, "width": 16}} for config in configs[:2]]
    assert settings_labels([*configs[:2], *grid]) == ["", "", "", ""]
    # A dataset's parameters that differ between its rows are named for that dataset's rows.
    std = [{**run("gan", 100, 500), "dataset_params": {"std": s}} for s in (0.01, 0.05)]
    std[1]["method"] = "wgan"
    assert settings_labels(std) == ["std=0.01", "std=0.05"]


def test_labels_sort_numbers_as_numbers() -> None:
    ranks = order(["steps=1000", "steps=500", "steps=20000", ""])
    assert sorted(ranks, key=ranks.get) == ["", "steps=500", "steps=1000", "steps=20000"]


def test_a_label_goes_before_the_seed_of_a_key() -> None:
    assert labelled_key("gan__ring-8__seed2", "steps=10") == "gan__ring-8__steps=10__seed2"
    assert labelled_key("gan__ring-8__steps=10__seed2", "") == "gan__ring-8__seed2"
    assert labelled_key("gan__mlp-b64", "width=8") == "gan__mlp-b64__width=8"  # throughput: no seed
    assert parse_key("gan__ring-8__steps=10__seed2") == ("gan", "ring-8", 2)
    match = TRAIN_KEY.fullmatch("gan-ns__grid-25__lr=0.001,steps=10__seed0")
    assert match and (match["method"], match["cell"], match["settings"], match["seed"]) == (
        "gan-ns",
        "grid-25",
        "lr=0.001,steps=10",
        "0",
    )


# --- suites ---


def test_a_sweep_expands_to_every_setting_of_every_method(tmp_path: Path) -> None:
    extra = '\n[sweep]\n"train.steps" = [10, 30]\n"method.gan.lr" = [0.001, 0.0001]\n'
    suite = load_suite(str(write_tiny_suite(tmp_path, seeds=2, extra=extra)))
    keys = [job.key for job in suite.jobs()]
    assert keys == [
        "gan__ring-8__lr=0.001,steps=10__seed0",
        "gan__ring-8__lr=0.001,steps=10__seed1",
        "gan__ring-8__lr=0.0001,steps=10__seed0",
        "gan__ring-8__lr=0.0001,steps=10__seed1",
        "gan__ring-8__lr=0.001,steps=30__seed0",
        "gan__ring-8__lr=0.001,steps=30__seed1",
        "gan__ring-8__lr=0.0001,steps=30__seed0",
        "gan__ring-8__lr=0.0001,steps=30__seed1",
        "wgan__ring-8__steps=10__seed0",  # method.gan.lr sweeps gan's lr only
        "wgan__ring-8__steps=10__seed1",
        "wgan__ring-8__steps=30__seed0",
        "wgan__ring-8__steps=30__seed1",
    ]
    jobs = {job.key: job for job in suite.jobs()}
    job = jobs["gan__ring-8__lr=0.0001,steps=30__seed1"]
    assert (job.train.steps, job.hyperparameters.lr, job.seed) == (30, 0.0001, 1)
    assert jobs["wgan__ring-8__steps=30__seed0"].hyperparameters.lr == 5e-5, "wgan keeps its own lr"
    assert suite.job_count() == len(keys) == 12
    assert suite.shape() == "2 methods x 1 datasets x 4 settings x 2 seeds"
    # The label in each key is the one a report derives from the jobs' configs.
    assert settings_labels([j.config() for j in suite.jobs()]) == [j.label for j in suite.jobs()]


def test_quick_and_steps_give_every_job_one_budget(tmp_path: Path) -> None:
    suite = load_suite(str(write_tiny_suite(tmp_path, seeds=1, extra=SWEEP)))
    assert [j.key for j in with_overrides(suite, quick=True).jobs()] == [
        "gan__ring-8__seed0",
        "wgan__ring-8__seed0",
    ]
    assert {j.train.steps for j in with_overrides(suite, steps=2).jobs()} == {2}


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ('"train.stepz" = [1, 2]', "unknown setting 'stepz' (did you mean 'steps'?)"),
        ('"train.steps" = []', "must be a non-empty list"),
        ('"train.steps" = 5', "must be a non-empty list"),
        ('"train.steps" = [5, 5]', "lists a value twice"),
        ('"train.steps" = [5, -1]', "must be >= 0"),
        ('"train.steps" = [5, 2.5]', "must be an integer"),
        ('"train.checkpoint_every" = [5, 10]', "changes no result, so it cannot be swept"),
        ('"method.wgan-gp.lr" = [0.1, 0.2]', "the suite does not run method 'wgan-gp'"),
        ('"method.nope.lr" = [0.1, 0.2]', "unknown method 'nope'"),
        ('"method.lr" = [0.1, 0.2]', "write method.<name>.<setting>"),
        ('"steps" = [1, 2]', "a sweep varies train.<setting>"),
        ('"method.gan.optimizer" = ["adam", "adagrad"]', "must be one of"),
        ('"method.gan.architecture" = ["mlp", "a/b"]', "cannot label a job"),
        ('"method.gan.architecture" = ["mlp", "dcgan"]', "uses architecture 'dcgan', which does not apply"),
    ],
)
def test_a_bad_sweep_is_refused_naming_file_and_key(tmp_path: Path, sweep: str, message: str) -> None:
    path = write_tiny_suite(tmp_path, extra=f"\n[sweep]\n{sweep}\n")
    with pytest.raises(GanbenchError) as err:
        load_suite(str(path))
    assert str(err.value).startswith(f"{path}: ") and "sweep" in str(err.value), str(err.value)
    assert message in str(err.value), str(err.value)


def test_a_sweep_point_beyond_a_bound_is_refused(tmp_path: Path) -> None:
    path = write_tiny_suite(tmp_path, extra='\n[sweep]\n"eval.samples" = [100, 60000]\n')
    with pytest.raises(GanbenchError, match="eval.samples = 60,000 is more than metric 'w1' can score"):
        load_suite(str(path))


# --- runs, resumes and reports ---


def _run(suite: Path, out: Path, *extra: str) -> None:
    result = CliRunner().invoke(
        app, ["run", "--suite", str(suite), "--out", str(out), "--device", "cpu", *extra]
    )
    assert result.exit_code == 0, result.output


def _jobs(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "jobs").glob("*.json")}


@pytest.mark.e2e
def test_a_sweep_runs_resumes_and_reports_the_swept_setting(tmp_path: Path) -> None:
    suite, out = write_tiny_suite(tmp_path, seeds=2, extra=SWEEP), tmp_path / "run"
    _run(suite, out, "--methods", "gan")
    jobs = _jobs(out)
    assert sorted(jobs) == [f"gan__ring-8__steps={s}__seed{i}" for s in (4, 8) for i in (0, 1)]
    assert {k: j["config"]["train"]["steps"] for k, j in jobs.items()} == {
        k: int(parse_label(k.split("__")[2])["steps"]) for k in jobs
    }
    assert all(len(j["losses"]["step"]) > 0 for j in jobs.values())
    # The same command again trains nothing; adding wgan trains only wgan's four jobs.
    before = {p.name: p.read_bytes() for p in (out / "jobs").iterdir()}
    _run(suite, out)
    assert {p.name: p.read_bytes() for p in (out / "jobs").iterdir() if p.name in before} == before
    assert len(_jobs(out)) == 8
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    w1 = summary[summary.metric == "w1"]
    assert w1[["method", "settings", "n"]].values.tolist() == [
        ["gan", "steps=4", 2],
        ["gan", "steps=8", 2],
        ["wgan", "steps=4", 2],
        ["wgan", "steps=8", 2],
    ]
    records = pd.read_csv(out / "records.csv", keep_default_na=False)
    mean = records[
        (records.key.str.startswith("gan__ring-8__steps=8")) & (records.metric == "w1")
    ].value.mean()
    assert w1.iloc[1]["mean"] == pytest.approx(mean)


@pytest.mark.e2e
def test_a_folder_keeps_the_settings_it_swept(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _run(write_tiny_suite(tmp_path, seeds=1, extra=SWEEP), out, "--methods", "gan")
    other = tmp_path / "other"
    other.mkdir()
    result = CliRunner().invoke(
        app, ["run", "--suite", str(write_tiny_suite(other, seeds=1)), "--out", str(out), "--methods", "gan"]
    )
    assert result.exit_code == 2
    assert "swept settings of gan: steps != none" in result.output
    changed = tmp_path / "changed"
    changed.mkdir()
    suite = write_tiny_suite(changed, seeds=1, extra=SWEEP)
    suite.write_text(suite.read_text().replace("samples = 200", "samples = 150"))
    result = CliRunner().invoke(app, ["run", "--suite", str(suite), "--out", str(out), "--methods", "gan"])
    assert result.exit_code == 2
    assert "eval.samples: 200 != 150" in result.output


@pytest.mark.e2e
def test_two_folders_at_different_steps_merge_into_one_report(tmp_path: Path) -> None:
    # The same suite run at two budgets: the same job keys, told apart by the settings that differ.
    suite = write_tiny_suite(tmp_path, seeds=2, methods=("gan",))
    _run(suite, tmp_path / "short", "--steps", "4")
    _run(suite, tmp_path / "long", "--steps", "8")
    report = build_report([tmp_path / "short", tmp_path / "long"], tmp_path / "both")
    w1 = report.summary[report.summary.metric == "w1"]
    assert w1[["settings", "n", "jobs"]].values.tolist() == [["steps=4", 2, 2], ["steps=8", 2, 2]]
    short = pd.read_csv(tmp_path / "short" / "summary.csv")
    assert w1.iloc[0]["mean"] == pytest.approx(short[short.metric == "w1"].iloc[0]["mean"])
    assert set(report.records.key) == {f"gan__ring-8__steps={s}__seed{i}" for s in (4, 8) for i in (0, 1)}
    # The same folder twice is the same jobs at the same settings: still an error.
    with pytest.raises(GanbenchError, match="is in both .* with the same settings"):
        build_report([tmp_path / "short", tmp_path / "short"], tmp_path / "twice")


def test_a_folder_from_before_sweeps_reports_without_settings(tmp_path: Path) -> None:
    report = build_report([GOLDEN / "run"], tmp_path)
    assert set(report.summary.settings) == {""}
    assert (tmp_path / "summary.csv").read_text().splitlines()[0].startswith("method,dataset,settings,metric")
    # A copy of it, merged with itself under another name, differs in nothing: refused as before.
    shutil.copytree(GOLDEN / "run", tmp_path / "copy")
    with pytest.raises(GanbenchError, match="is in both"):
        build_report([GOLDEN / "run", tmp_path / "copy"], tmp_path / "merged")


@pytest.mark.e2e
def test_a_swept_folder_is_rescored_job_by_job(tmp_path: Path) -> None:
    # `ganbench eval --from-run` keeps each job's settings label, so the two budgets stay two rows.
    run, again = tmp_path / "run", tmp_path / "again"
    _run(write_tiny_suite(tmp_path, seeds=1, methods=("gan",), extra=SWEEP), run, "--keep-generators")
    result = CliRunner().invoke(app, ["eval", "--from-run", str(run), "--out", str(again), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (
        sorted(_jobs(again))
        == sorted(_jobs(run))
        == ["gan__ring-8__steps=4__seed0", "gan__ring-8__steps=8__seed0"]
    )
    for key, job in _jobs(again).items():
        assert job["metrics"] == _jobs(run)[key]["metrics"]
    assert CliRunner().invoke(app, ["compare", str(run), str(again)]).exit_code == 0


@pytest.mark.e2e
def test_a_sweep_of_one_method_reports_beside_methods_run_once(tmp_path: Path) -> None:
    # gan at two learning rates, wgan at its one: wgan's row has no label, and every figure is drawn.
    out = tmp_path / "run"
    _run(write_tiny_suite(tmp_path, seeds=1, extra='\n[sweep]\n"method.gan.lr" = [0.001, 0.0001]\n'), out)
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    w1 = summary[summary.metric == "w1"]
    assert w1[["method", "settings"]].values.tolist() == [
        ["gan", "lr=0.0001"],
        ["gan", "lr=0.001"],
        ["wgan", ""],
    ]
    assert (out / "figures" / "metric-w1.png").is_file() and (out / "figures" / "sweep-w1.png").is_file()
