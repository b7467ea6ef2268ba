"""`--threads`: the intra-op thread count of a run, its default from the free cores, and the manifest."""

from __future__ import annotations

import io
import json

import pytest
import torch
from conftest import write_tiny_suite
from typer.testing import CliRunner

from ganbench import device
from ganbench.cli import app
from ganbench.errors import GanbenchError


def test_an_explicit_count_wins_and_is_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(device.THREADS_ENV, "2")
    assert device.use_threads(1) == 1 == torch.get_num_threads()
    assert device.use_threads() == 1  # now from the exported GANBENCH_THREADS


def test_the_environment_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(device.THREADS_ENV, "1")
    assert device.use_threads() == 1
    monkeypatch.setenv(device.THREADS_ENV, "many")
    with pytest.raises(GanbenchError, match="GANBENCH_THREADS must be a whole number, got 'many'"):
        device.use_threads()
    with pytest.raises(GanbenchError, match="at least 1"):
        device.use_threads(0)


def test_omp_num_threads_is_honoured_after_ganbench_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    # CI recipes set OpenMP's own variable; ganbench's --threads and GANBENCH_THREADS come first.
    monkeypatch.setenv(device.THREADS_ENV, "")
    monkeypatch.setenv(device.OMP_ENV, "3")
    assert device.use_threads() == 3 == torch.get_num_threads()
    monkeypatch.setenv(device.THREADS_ENV, "")
    monkeypatch.setenv(device.OMP_ENV, "2,1")  # nested levels: the first is the intra-op count
    assert device.use_threads() == 2
    monkeypatch.setenv(device.THREADS_ENV, "1")
    assert device.use_threads() == 1
    assert device.use_threads(3) == 3
    monkeypatch.setenv(device.THREADS_ENV, "")
    monkeypatch.setenv(device.OMP_ENV, "all")
    with pytest.raises(GanbenchError, match="OMP_NUM_THREADS must be a whole number, got 'all'"):
        device.use_threads()


@pytest.mark.parametrize(("busy", "expected"), [(0.0, 4), (1.2, 3), (2.6, 1), (3.9, 1), (9.0, 1)])
def test_the_default_is_the_cores_not_busy(
    monkeypatch: pytest.MonkeyPatch, busy: float, expected: int
) -> None:
    monkeypatch.delenv(device.THREADS_ENV)
    monkeypatch.delenv(device.OMP_ENV, raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda _: set(range(4)))
    monkeypatch.setattr(device, "_busy_cores", lambda: busy)
    assert device.free_cores() == expected
    assert device.use_threads() == expected == torch.get_num_threads()


def test_busy_cores_reads_the_cpu_times(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    # user nice system idle iowait: 300 of 400 ticks busy on a 2-core machine = 1.5 busy cores.
    samples = iter(["cpu 100 0 100 1000 0\n", "cpu 250 0 250 1100 0\n"])
    monkeypatch.setattr("builtins.open", lambda *a, **k: io.StringIO(next(samples)))
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    monkeypatch.setattr(device, "BUSY_SAMPLE_SECONDS", 0.0)
    assert device._busy_cores() == pytest.approx(1.5)


@pytest.mark.e2e
def test_a_run_records_its_threads(tmp_path) -> None:
    suite = write_tiny_suite(tmp_path, methods=("gan",), seeds=1, steps=2)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--suite", str(suite), "--out", str(out), "--threads", "1"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["torch"]["num_threads"] == 1 and manifest["streams"] == "seedsequence-v1"
    (record,) = (json.loads(p.read_text()) for p in (out / "jobs").glob("*.json"))
    assert record["manifest"]["torch"]["num_threads"] == 1
    bad = CliRunner().invoke(app, ["run", "--suite", str(suite), "--out", str(out), "--threads", "0"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


@pytest.mark.e2e
def test_a_run_honours_and_records_omp_num_threads(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The CI workflow (docs/pages/ci/ci-suite.md) sets OMP_NUM_THREADS; 3 is neither our cores nor 1.
    monkeypatch.setenv(device.THREADS_ENV, "")
    monkeypatch.setenv(device.OMP_ENV, "3")
    suite = write_tiny_suite(tmp_path, methods=("gan",), seeds=1, steps=2)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--suite", str(suite), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (record,) = (json.loads(p.read_text()) for p in (out / "jobs").glob("*.json"))
    assert record["manifest"]["torch"]["num_threads"] == 3
