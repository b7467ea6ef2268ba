"""The CLI end to end: run, list, validate, errors, divergence, interruption and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import ROOT, write_tiny_suite
from typer.testing import CliRunner

from ganbench.cli import EXIT_JOBS_FAILED, app
from ganbench.data import DATASETS
from ganbench.metrics import METRICS
from ganbench.models import ARCHITECTURES, METHODS, Method
from ganbench.models.base import Objective
from ganbench.models.objectives import GAN, gan_discriminator_loss
from ganbench.run import worker


def _run(cli: CliRunner, *args: str) -> object:
    return cli.invoke(app, ["run", *args])


def _keys(out: Path) -> list[str]:
    return sorted(p.stem for p in (out / "jobs").glob("*.json"))


@pytest.mark.e2e
def test_run_writes_the_whole_run_folder(cli: CliRunner, tiny_suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = _run(cli, "--suite", str(tiny_suite), "--out", str(out), "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert _keys(out) == [
        "gan__ring-8__seed0",
        "gan__ring-8__seed1",
        "wgan__ring-8__seed0",
        "wgan__ring-8__seed1",
    ]

    records = pd.read_csv(out / "records.csv")
    assert len(records) == 4 * 4  # jobs x metrics, one row each
    assert set(records["metric"]) == {"modes-covered", "high-quality-fraction", "reverse-kl", "w1"}
    assert (records["status"] == "ok").all() and records["value"].notna().all()
    assert (records["wall_seconds"] > 0).all()
    config = json.loads(records.loc[0, "config"])
    assert config["train"]["steps"] == 10 and config["hyperparameters"]["optimizer"] == "adam"

    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 * 4 and (summary["n"] == 2).all()
    w1 = records[(records.method == "gan") & (records.metric == "w1")]["value"]
    row = summary[(summary.method == "gan") & (summary.metric == "w1")].iloc[0]
    assert row["mean"] == pytest.approx(w1.mean()) and row["std"] == pytest.approx(w1.std(ddof=1))
    assert "| GAN      | " in (out / "summary.md").read_text()
    assert "Ring-8: Modes (of 8) ↑" in result.output, "the summary table is printed at the end"
    for figure in ("samples.png", "metric-modes-covered.png"):
        assert (out / "figures" / figure).stat().st_size > 10_000

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["versions"]["torch"] == torch.__version__.split("+")[0] or manifest["versions"]["torch"]
    assert {"versions", "git", "device", "torch", "command"} <= set(manifest)
    assert manifest["device"]["type"] == "cpu"
    job = json.loads((out / "jobs" / "gan__ring-8__seed0.json").read_text())
    assert job["manifest"]["torch"]["num_threads"] >= 1
    assert job["losses"]["step"] == [5, 10]


@pytest.mark.e2e
def test_quick_and_overrides_reach_the_jobs(cli: CliRunner, tiny_suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = _run(cli, "--suite", str(tiny_suite), "--out", str(out), "--quick", "--methods", "gan-ns",
                  "--seeds", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    (job,) = [json.loads(p.read_text()) for p in (out / "jobs").glob("*.json")]
    assert job["key"] == "gan-ns__ring-8__seed0"
    assert (job["config"]["train"]["steps"], job["config"]["eval"]["samples"]) == (3, 100)


@pytest.mark.e2e
def test_same_command_twice_gives_identical_metrics(cli: CliRunner, tiny_suite: Path, tmp_path: Path) -> None:
    frames = []
    for name in ("a", "b"):
        result = _run(cli, "--suite", str(tiny_suite), "--out", str(tmp_path / name), "--device", "cpu")
        assert result.exit_code == 0, result.output
        frames.append(pd.read_csv(tmp_path / name / "records.csv"))
    pd.testing.assert_series_equal(frames[0]["value"], frames[1]["value"])
    assert frames[0]["key"].tolist() == frames[1]["key"].tolist()


@pytest.mark.e2e
def test_ctrl_c_keeps_finished_jobs_and_resume_runs_only_the_rest(
    cli: CliRunner, tiny_suite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    real_execute = worker.execute_jobs
    calls: list[list[str]] = []

    def interrupt_second(jobs, device, progress=None, context=None):
        calls.append([job.key for job in jobs])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_execute(jobs, device, progress, context)

    monkeypatch.setattr(worker, "execute_jobs", interrupt_second)
    result = _run(cli, "--suite", str(tiny_suite), "--out", str(out))
    assert result.exit_code == 130
    assert "interrupted during training: 2 of 4 jobs are stored" in result.stderr
    assert f"--out {out}" in result.stderr
    assert _keys(out) == ["gan__ring-8__seed0", "gan__ring-8__seed1"]

    calls.clear()
    result = _run(cli, "--suite", str(tiny_suite), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert calls == [["wgan__ring-8__seed0", "wgan__ring-8__seed1"]], "finished jobs are not trained again"
    assert "2 already finished, skipped" in result.output
    assert len(pd.read_csv(out / "records.csv")) == 4 * 4, "no record lost or duplicated"


@pytest.mark.e2e
def test_more_seeds_later_trains_only_the_new_ones(cli: CliRunner, tiny_suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _run(cli, "--suite", str(tiny_suite), "--out", str(out), "--methods", "gan").exit_code == 0
    first = (out / "jobs" / "gan__ring-8__seed0.json").read_bytes()
    result = _run(cli, "--suite", str(tiny_suite), "--out", str(out), "--methods", "gan", "--seeds", "3")
    assert result.exit_code == 0 and "ran 1 jobs (2 already finished" in result.output
    assert (out / "jobs" / "gan__ring-8__seed0.json").read_bytes() == first


@pytest.mark.e2e
def test_resume_with_other_settings_is_an_error(cli: CliRunner, tiny_suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _run(cli, "--suite", str(tiny_suite), "--out", str(out), "--methods", "gan").exit_code == 0
    result = _run(cli, "--suite", str(tiny_suite), "--out", str(out), "--methods", "gan", "--steps", "11")
    assert result.exit_code == 2
    assert "train.steps: 10 != 11" in result.stderr and "choose another --out" in result.stderr


def _nan_after(step: int) -> Objective:
    calls = {"n": 0}

    def generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        loss = GAN.generator_loss(d_fake)
        return loss * float("nan") if calls["n"] >= step else loss

    return Objective(gan_discriminator_loss, generator_loss)


def _raising(d_fake: torch.Tensor) -> torch.Tensor:
    raise RuntimeError("boom in the generator loss")


@pytest.mark.e2e
def test_divergence_and_failure_are_recorded_and_the_suite_goes_on(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defaults = METHODS.get("gan").defaults
    monkeypatch.setitem(
        METHODS._entries, "test-nan", Method("test-nan", "NaN at step 4", _nan_after(4), defaults)
    )
    monkeypatch.setitem(
        METHODS._entries,
        "test-raise",
        Method("test-raise", "raises", Objective(gan_discriminator_loss, _raising), defaults),
    )
    suite = write_tiny_suite(tmp_path, methods=("test-nan", "test-raise", "gan"), seeds=1)
    out = tmp_path / "run"
    result = _run(cli, "--suite", str(suite), "--out", str(out))
    # Every job ran; one failed, so the exit code says so (a diverged job is a result, not a failure).
    assert result.exit_code == EXIT_JOBS_FAILED, result.output
    assert "1 of 3 jobs failed" in result.stderr and "retry them with: ganbench" in result.stderr
    jobs = {p.stem: json.loads(p.read_text()) for p in (out / "jobs").glob("*.json")}
    nan = jobs["test-nan__ring-8__seed0"]
    assert (nan["status"], nan["diverged_step"]) == ("diverged", 4)
    assert "step 4" in nan["reason"]
    failed = jobs["test-raise__ring-8__seed0"]
    assert failed["status"] == "failed" and failed["reason"] == "RuntimeError: boom in the generator loss"
    assert jobs["gan__ring-8__seed0"]["status"] == "ok"
    assert "diverged: loss became NaN or infinite at step 4" in result.output
    summary = (out / "summary.md").read_text()
    assert "| test-nan   | — (0/1)" in summary
    records = pd.read_csv(out / "records.csv")
    assert records[records.method == "test-nan"]["value"].isna().all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--suite", "mode-colapse"], "unknown suite 'mode-colapse' (did you mean 'mode-collapse'"),
        (["--suite", "mode-collapse", "--methods", "gan,wgna"], "unknown method 'wgna' (did you mean 'wgan'"),
        (["--suite", "mode-collapse", "--seeds", "0"], "--seeds must be >= 1 (got 0)"),
        (["--suite", "mode-collapse", "--steps", "-3"], "--steps must be >= 0 (got -3)"),
        (["--suite", "missing/suite.toml"], "suite file not found: missing/suite.toml"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli: CliRunner, args: list[str], message: str) -> None:
    result = _run(cli, *args)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {result.stderr.strip()[7:]}"]
    assert message in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_bad_suite_file_is_one_line_naming_file_and_key(cli: CliRunner, tmp_path: Path) -> None:
    suite = write_tiny_suite(tmp_path, extra="[method.wgan]\nclipp = 0.1\n")
    for command in (["run", "--suite", str(suite)], ["validate", str(suite)]):
        result = cli.invoke(app, command)
        assert result.exit_code == 2
        assert result.stderr == (
            f"error: {suite}: method.wgan: unknown key 'clipp' (did you mean 'clip'?); "
            "valid: optimizer, lr, beta1, beta2, n_critic, clip, gp_lambda, pack, architecture, lr_d, lr_g, "
            "r1_gamma, r2_gamma, dragan_lambda, dragan_spread, spectral_norm, unroll\n"
        )


def test_cuda_without_cuda_is_a_clear_error(cli: CliRunner, tiny_suite: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = _run(cli, "--suite", str(tiny_suite), "--device", "cuda")
    assert result.exit_code == 2 and "no CUDA device is available" in result.stderr


def test_validate_shipped_suites(cli: CliRunner) -> None:
    for path in sorted((ROOT / "suites").glob("*.toml")):
        result = cli.invoke(app, ["validate", str(path)])
        assert result.exit_code == 0 and result.stdout.startswith(f"ok: {path}")
    result = cli.invoke(app, ["validate", str(ROOT / "suites" / "mode-collapse.toml")])
    assert "100 jobs (5 methods x 2 datasets x 10 seeds)" in result.stdout


@pytest.mark.e2e
def test_list_names_everything_without_heavy_imports() -> None:
    # In a fresh interpreter: `list` must not pull in POT, seaborn, matplotlib or pandas.
    heavy = ("ot", "seaborn", "matplotlib", "pandas", "torch_fidelity")
    code = (
        "import sys; from typer.testing import CliRunner; from ganbench.cli import app; "
        "r = CliRunner().invoke(app, ['list']); print(r.stdout); "
        f"print('HEAVY', [m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    for name in [
        *METHODS.names(),
        *ARCHITECTURES.names(),
        *DATASETS.names(),
        *METRICS.names(),
        "mode-collapse",
    ]:
        assert f"  {name} " in out
    assert "lower is better" in out and "higher is better" in out


@pytest.mark.e2e
def test_kill_9_mid_run_loses_nothing_and_resume_finishes(tmp_path: Path) -> None:
    suite = write_tiny_suite(tmp_path, methods=("gan", "gan-ns"), seeds=3, steps=300)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "ganbench", "run", "--suite", str(suite), "--out", str(out)]
    env = {**os.environ, "COLUMNS": "120"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while len(list((out / "jobs").glob("*.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stored = _keys(out)
    assert 2 <= len(stored) < 6, "killed mid-run, after some jobs finished"
    before = {key: (out / "jobs" / f"{key}.json").read_bytes() for key in stored}

    done = subprocess.run(command, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert f"({len(stored)} already finished, skipped)" in done.stdout
    assert len(_keys(out)) == 6
    for key, content in before.items():
        assert (out / "jobs" / f"{key}.json").read_bytes() == content, "finished jobs are not redone"
    records = pd.read_csv(out / "records.csv")
    assert len(records) == 6 * 4 and not records.duplicated(["key", "metric"]).any()


def test_unwritable_output_is_one_line(cli: CliRunner, tiny_suite: Path, tmp_path: Path) -> None:
    # A folder under a regular file cannot be created, even by root: an OSError, shown as one line.
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = _run(cli, "--suite", str(tiny_suite), "--out", str(blocker / "run"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "Not a directory" in result.stderr


def test_ray_options_need_the_ray_executor(cli: CliRunner, tiny_suite: Path) -> None:
    result = _run(cli, "--suite", str(tiny_suite), "--address", "auto")
    assert result.exit_code == 2 and result.stderr == "error: --address needs --executor ray\n"
    result = _run(cli, "--suite", str(tiny_suite), "--executor", "ray", "--cpus-per-job", "0")
    assert result.exit_code == 2 and "--cpus-per-job must be > 0" in result.stderr
