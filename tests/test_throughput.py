"""The throughput suite on CPU with tiny sizes: positive finite figures, every setting recorded."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.metrics.speed import (
    PEAK_MEMORY_MB,
    SAMPLE_IMG_PER_S,
    TRAIN_GFLOP_PER_IMG,
    TRAIN_IMG_PER_S,
    TRAIN_TFLOP_PER_S,
)
from ganbench.suite import load_suite

TINY = """
kind = "throughput"
name = "tiny-throughput"
description = "tiny sizes for tests"
methods = {methods}
targets = ["mlp-2d", "dcgan-32"]
batch_sizes = [4]

[networks]
latent_dim = 8
width = 8
depth = 2

[measure]
warmup = 1
blocks = 2
iterations = 1

[quick]
warmup = 1
blocks = 2
iterations = 1
"""


def _suite(tmp_path: Path, methods: list[str]) -> Path:
    path = tmp_path / "tiny-throughput.toml"
    path.write_text(TINY.format(methods=json.dumps(methods)), encoding="utf-8")
    return path


def _jobs(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "jobs").glob("*.json")}


def test_tiny_throughput_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["throughput", "--suite", str(_suite(tmp_path, ["gan", "wgan", "wgan-gp"])), "--device", "cpu"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    jobs = _jobs(out)
    assert sorted(jobs) == sorted(
        f"{m}__{t}-b4" for m in ("gan", "wgan", "wgan-gp") for t in ("mlp-2d", "dcgan-32")
    )
    for key, job in jobs.items():
        assert job["status"] == "ok", (key, job["reason"])
        metrics = job["metrics"]
        for name in (TRAIN_IMG_PER_S, SAMPLE_IMG_PER_S, PEAK_MEMORY_MB):
            assert math.isfinite(metrics[name]["value"]) and metrics[name]["value"] > 0, (key, name)
        assert len(metrics[TRAIN_IMG_PER_S]["values"]) == 2, "one value per timed block"
        if not key.startswith("wgan-gp"):  # FlopCounterMode cannot trace the penalty's autograd.grad
            assert metrics[TRAIN_GFLOP_PER_IMG]["value"] > 0 and metrics[TRAIN_TFLOP_PER_S]["value"] > 0
        config = job["config"]
        assert config["options"] == {"dtype": "fp32", "channels_last": False, "compile": False}
        assert (config["batch_size"], config["device"]) == (4, "cpu")
        torch_settings = job["manifest"]["torch"]
        assert {"tf32_matmul", "tf32_cudnn", "cuda_version", "num_threads"} <= set(torch_settings)
        assert job["manifest"]["device"]["name"] and job["manifest"]["versions"]["torch"]
    assert jobs["wgan-gp__dcgan-32-b4"]["extra"]["architecture"] == "dcgan-gp", "critic without batch norm"
    # A measurement is its own kind of record: no dataset, no seed.
    assert {job["kind"] for job in jobs.values()} == {"throughput"}
    assert all(job["seed"] is None and job["dataset"] is None for job in jobs.values())
    # n_critic = 5 makes a WGAN iteration cost more FLOPs per image than a GAN one (1 critic step).
    gan, wgan = (jobs[f"{m}__dcgan-32-b4"]["metrics"][TRAIN_GFLOP_PER_IMG]["value"] for m in ("gan", "wgan"))
    assert wgan > 2 * gan
    assert (out / "summary.md").exists() and "Training img/s ↑" in result.stdout


def test_bf16_channels_last_option_path(tmp_path: Path) -> None:
    out = tmp_path / "run"
    suite = _suite(tmp_path, ["gan"])
    args = ["throughput", "--suite", str(suite), "--dtype", "bf16", "--channels-last", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    job = _jobs(out)["gan__dcgan-32-b4"]
    assert job["status"] == "ok" and job["config"]["options"] == {
        "dtype": "bf16",
        "channels_last": True,
        "compile": False,
    }
    # Resume: the same command again measures nothing new.
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "measuring" not in again.stdout


def test_suite_kinds_are_not_mixed(tmp_path: Path) -> None:
    cli = CliRunner()
    result = cli.invoke(app, ["run", "--suite", "throughput"])
    assert (
        result.exit_code == 2 and "is a throughput suite: run it with `ganbench throughput`" in result.stderr
    )
    result = cli.invoke(app, ["throughput", "--suite", "mode-collapse"])
    assert result.exit_code == 2 and "is a training suite" in result.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "throughput"\nmethods = ["gan"]\ntargets = ["dcgan-48"]\nbatch_sizes = [4]\n')
    result = cli.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2 and "unknown target 'dcgan-48'" in result.stderr


def test_shipped_throughput_suite() -> None:
    suite = load_suite("throughput")
    assert suite.targets == ("mlp-2d", "dcgan-32", "dcgan-64")
    assert {m for m, _, _ in suite.jobs()} == {"gan", "wgan", "wgan-gp"}
    assert suite.batch_sizes == (64, 256)


@pytest.mark.parametrize("target", ["mlp-2d", "dcgan-64"])
def test_targets_build(target: str, tmp_path: Path) -> None:
    import torch

    from ganbench.throughput.measure import measure_one
    from ganbench.throughput.spec import TARGETS, Measure, Networks, Options

    figures = measure_one(
        "gan", TARGETS[target], 2, Networks(8, 4, 1), Measure(1, 1, 1), Options(), torch.device("cpu")
    )
    assert figures[TRAIN_IMG_PER_S][0] > 0


def test_compare_sees_every_timed_block(tmp_path: Path) -> None:
    # Baseline blocks 100, 101, 99, 100, 102 img/s against 80, 81, 79, 80, 82: a 20% drop, beyond the
    # 10% tolerance of train-img-per-s, and every candidate block is below every baseline block, so
    # the exact two-sided Mann-Whitney p is 2 / C(10, 5) = 0.0079 < 0.1: regressed (exit 1).
    from ganbench.metrics import METRICS
    from ganbench.run.records import MetricResult, Record, spec_of
    from ganbench.run.store import RunStore

    def folder(name: str, blocks: list[float]) -> Path:
        spec = spec_of(METRICS.get(TRAIN_IMG_PER_S))
        config = {"suite": "t", "method": "gan", "metrics": [TRAIN_IMG_PER_S], "batch_size": 4}
        record = Record(
            kind="throughput", key="gan__dcgan-32-b4", method="gan", cell="dcgan-32-b4", seed=None,
            config=config, metric_specs={TRAIN_IMG_PER_S: spec},
            metrics={TRAIN_IMG_PER_S: MetricResult(sorted(blocks)[2], spec, values=blocks)},
        )  # fmt: skip
        RunStore(tmp_path / name).save(record, None)
        return tmp_path / name

    base, cand = folder("base", [100, 101, 99, 100, 102]), folder("cand", [80, 81, 79, 80, 82])
    result = CliRunner().invoke(app, ["compare", str(base), str(cand), "--json"])
    assert result.exit_code == 1, result.output
    (row,) = json.loads(result.stdout)["rows"]
    assert row["verdict"] == "regressed" and row["n_baseline"] == 5 and row["n_candidate"] == 5
    assert row["p_value"] == pytest.approx(2 / 252)
