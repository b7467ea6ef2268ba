"""The Ray executor: same records as local, failures recorded, dead workers retried, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, write_tiny_suite

from ganbench.app.run import run
from ganbench.run.ray_executor import MAX_RETRIES, RayExecutor

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.e2e]

TESTS = str(ROOT / "tests")


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory):
    """One local Ray instance with 2 CPUs whose workers import the test plugin."""
    exit_dir = tmp_path_factory.mktemp("exits")
    env = {
        "GANBENCH_PLUGINS": "ray_plugin",
        "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]),
        "GANBENCH_TEST_EXIT_DIR": str(exit_dir),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    yield exit_dir
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_ray_gives_the_same_records_as_local(local_ray: Path, tmp_path: Path) -> None:
    suite = write_tiny_suite(tmp_path, methods=("gan", "wgan-gp"), seeds=2)
    run(str(suite), device="cpu", out=tmp_path / "local")
    outcome, _ = run(str(suite), device="cpu", out=tmp_path / "ray", executor=RayExecutor())
    assert sorted(outcome.ran) == sorted(p.stem for p in (tmp_path / "local" / "jobs").glob("*.json"))
    local, remote = (pd.read_csv(tmp_path / name / "records.csv") for name in ("local", "ray"))
    assert local["key"].tolist() == remote["key"].tolist()
    pd.testing.assert_series_equal(local["value"], remote["value"], rtol=1e-5)
    assert (remote["status"] == "ok").all()


def test_failures_and_dead_workers(local_ray: Path, tmp_path: Path) -> None:
    methods = ("gan", "test-raise", "test-exit-once", "test-exit-always")
    suite = write_tiny_suite(tmp_path, methods=methods, seeds=1)
    out = tmp_path / "run"
    run(str(suite), device="cpu", out=out, executor=RayExecutor())
    records = pd.read_csv(out / "records.csv").drop_duplicates("key").set_index("method")
    assert records.loc["gan", "status"] == "ok"
    assert (records.loc["test-raise", "status"], records.loc["test-raise", "reason"]) == (
        "failed", "RuntimeError: boom in a worker"
    )  # fmt: skip
    # Died once, then Ray's retry finished it: 2 attempts, status ok.
    assert records.loc["test-exit-once", "status"] == "ok"
    assert len((local_ray / "attempts-1").read_text().splitlines()) == 2
    # Died every time: 1 + MAX_RETRIES attempts, then recorded failed.
    assert records.loc["test-exit-always", "status"] == "failed"
    assert f"worker died {MAX_RETRIES + 1} times" in records.loc["test-exit-always", "reason"]
    assert len((local_ray / "attempts-99").read_text().splitlines()) == MAX_RETRIES + 1
    assert len(list((out / "jobs").glob("*.json"))) == 4, "one record per job, none duplicated"


# A minute of Ray start-up, SIGKILL and resume: `slow`, so the default run stays under 10 minutes on 2
# cores; kill-and-resume stays in the default run through tests/test_checkpoints.py and test_cli.py.
@pytest.mark.slow
def test_driver_killed_then_resumed_without_duplicates(tmp_path: Path) -> None:
    suite = write_tiny_suite(tmp_path, methods=("gan", "gan-ns", "wgan"), seeds=2, steps=300)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "ganbench", "run", "--suite", str(suite), "--out", str(out),
               "--executor", "ray", "--no-batch-seeds"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while len(list((out / "jobs").glob("*.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stored = sorted(p.name for p in (out / "jobs").glob("*.json"))
    assert 2 <= len(stored) < 6
    before = {name: (out / "jobs" / name).read_bytes() for name in stored}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"({len(stored)} already finished, skipped)" in done.stdout
    assert len(list((out / "jobs").glob("*.json"))) == 6
    for name, content in before.items():
        assert (out / "jobs" / name).read_bytes() == content
    records = pd.read_csv(out / "records.csv")
    assert len(records) == 6 * 4 and not records.duplicated(["key", "metric"]).any()
