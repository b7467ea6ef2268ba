"""The throughput suite on CPU with tiny sizes: positive finite figures, every setting recorded."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
from matplotlib.collections import LineCollection
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.metrics.base import NOT_APPLICABLE
from ganbench.metrics.speed import (
    PEAK_MEMORY_MB,
    SAMPLE_IMG_PER_S,
    TRAIN_GFLOP_PER_IMG,
    TRAIN_IMG_PER_S,
    TRAIN_TFLOP_PER_S,
)
from ganbench.report import figures
from ganbench.report.records import records_frame
from ganbench.report.tables import latex_text
from ganbench.throughput import measure
from ganbench.throughput.measure import NO_PEAK_RSS, PeakMemory, measure_one
from ganbench.throughput.spec import TARGETS, Measure, Networks, Options, load_throughput_suite

GP_REASON = "FlopCounterMode cannot trace WGAN-GP's gradient penalty (autograd.grad with create_graph)"
# Per-target peak memory on CPU needs to reset the peak resident set (proc(5), clear_refs).
CAN_RESET_PEAK_RSS = os.access(measure.CLEAR_REFS, os.W_OK)
CPU = torch.device("cpu")

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


@pytest.mark.e2e
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
        for name in (TRAIN_IMG_PER_S, SAMPLE_IMG_PER_S):
            assert math.isfinite(metrics[name]["value"]) and metrics[name]["value"] > 0, (key, name)
        # What the target adds (it can round to nothing for a tiny MLP), or n/a without clear_refs.
        memory = metrics[PEAK_MEMORY_MB]
        assert memory["value"] >= 0 if CAN_RESET_PEAK_RSS else memory["note"] == NOT_APPLICABLE + NO_PEAK_RSS
        assert len(metrics[TRAIN_IMG_PER_S]["values"]) == 2, "one value per timed block"
        if not key.startswith("wgan-gp"):
            assert metrics[TRAIN_GFLOP_PER_IMG]["value"] > 0 and metrics[TRAIN_TFLOP_PER_S]["value"] > 0
        else:  # FlopCounterMode cannot trace the penalty's autograd.grad: n/a with the reason, job ok
            for name in (TRAIN_GFLOP_PER_IMG, TRAIN_TFLOP_PER_S):
                assert (
                    math.isnan(metrics[name]["value"]) and metrics[name]["note"] == NOT_APPLICABLE + GP_REASON
                )
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
    # The table: n/a with footnote 1 in both FLOP columns of both WGAN-GP rows, the reason under it,
    # and no WGAN-GP job listed as without a result.
    markdown = (out / "summary.md").read_text(encoding="utf-8")
    header, _, *rows = [line.split("|")[1:-1] for line in markdown.splitlines() if line.startswith("|")]
    columns = [cell.strip() for cell in header]
    flop_columns = [i for i, name in enumerate(columns) if "GFLOP/img" in name or "TFLOP/s" in name]
    wgan_gp = [[cell.strip() for cell in row] for row in rows if row[0].strip() == "WGAN-GP"]
    assert len(flop_columns) == 4 and [[row[i] for i in flop_columns] for row in wgan_gp] == [["n/a¹"] * 4]
    assert f"\n¹ n/a: {GP_REASON}.\n" in markdown and "Jobs without a result" not in markdown
    latex = (out / "summary.tex").read_text(encoding="utf-8")
    assert "n/a$^{1}$" in latex and f"\n$^{{1}}$ n/a: {latex_text(GP_REASON)}.\\par\n" in latex  # a note


@pytest.mark.e2e
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
    suite = load_throughput_suite("throughput")
    assert suite.targets == ("mlp-2d", "dcgan-32", "dcgan-64")
    assert {m for m, _, _ in suite.jobs()} == {"gan", "wgan", "wgan-gp"}
    assert suite.batch_sizes == (64, 256)


@pytest.mark.parametrize("target", ["mlp-2d", "dcgan-64"])
def test_targets_build(target: str, tmp_path: Path) -> None:
    measured = measure_one(
        "gan", TARGETS[target], 2, Networks(8, 4, 1), Measure(1, 1, 1), Options(), torch.device("cpu")
    )
    assert measured.figures[TRAIN_IMG_PER_S].value > 0


def test_compare_sees_every_timed_block(tmp_path: Path) -> None:
    # Baseline blocks 100, 101, 99, 100, 102 img/s against 80, 81, 79, 80, 82: a 20% drop, beyond the
    # 10% tolerance of train-img-per-s, and every candidate block is below every baseline block, so
    # the exact two-sided Mann-Whitney p is 2 / C(10, 5) = 0.0079 < 0.1: regressed (exit 1).
    from ganbench.metrics import METRICS
    from ganbench.records.record import MetricResult, Record, spec_of
    from ganbench.records.store import RunStore

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


def test_blocks_are_timed_by_torch_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every block is one torch.utils.benchmark.Timer.timeit(iterations): the spy keeps what each returns.
    # 3 blocks of 2 iterations at batch 4: a block of raw time t seconds is 2 / t iterations per second,
    # 4 * 2 / t images per second; the value is 4 images over the Measurement's median seconds per call.
    measurements = []
    timeit = torch.utils.benchmark.Timer.timeit

    def spy(self, number: int):
        result = timeit(self, number)
        measurements.append(result)
        return result

    monkeypatch.setattr(torch.utils.benchmark.Timer, "timeit", spy)
    measured = measure_one("gan", TARGETS["mlp-2d"], 4, Networks(8, 8, 2), Measure(1, 3, 2), Options(), CPU)
    assert len(measurements) == 6, "3 training blocks, then 3 sampling blocks"
    assert {m.number_per_run for m in measurements} == {2}
    assert {m.task_spec.num_threads for m in measurements} == {torch.get_num_threads()}, "threads kept"
    for name, blocks in ((TRAIN_IMG_PER_S, measurements[:3]), (SAMPLE_IMG_PER_S, measurements[3:])):
        figure = measured.figures[name]
        seconds = sorted(m.raw_times[0] / 2 for m in blocks)
        assert figure.values == pytest.approx([4 * 2 / m.raw_times[0] for m in blocks])
        assert figure.value == pytest.approx(4 / seconds[1])  # the median of 3 blocks is the middle one
        assert measured.extra["timing"][name]["median_s"] == pytest.approx(seconds[1])


def test_peak_memory_is_per_target() -> None:
    # 200 MiB of ones (52,428,800 float32, every page written) measured first, then 1 MiB: the second
    # figure is the second target's own, not the process's peak so far (which 200 MiB would set).
    if not CAN_RESET_PEAK_RSS:
        pytest.skip("/proc/self/clear_refs is not writable here")
    with PeakMemory(CPU) as big:
        block = torch.ones(200 * 2**20 // 4)
        del block  # freed before the peak is read: the peak still holds it
    with PeakMemory(CPU) as small:
        kept = torch.ones(2**20 // 4)
    assert big.figure().value >= 195, "200 MiB, less what a page-granular RSS reading may miss"
    assert small.figure().value < 20 and kept.numel() == 262_144


def test_peak_memory_without_clear_refs_is_not_applicable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(measure, "CLEAR_REFS", tmp_path / "no-proc" / "clear_refs")
    with PeakMemory(CPU) as memory:
        torch.ones(1024)
    figure = memory.figure()
    assert math.isnan(figure.value) and figure.note == NOT_APPLICABLE + NO_PEAK_RSS


def test_throughput_figure_shows_the_blocks_from_zero() -> None:
    # GAN's training blocks 90, 100, 120 img/s with the value 100 (the median): a bar of 100 from 0 and a
    # whisker from 90 to 120. WGAN-GP's FLOPs are n/a: no bar, an "n/a" mark.
    from ganbench.metrics import METRICS
    from ganbench.records.record import MetricResult, Record, spec_of

    specs = {name: spec_of(METRICS.get(name)) for name in (TRAIN_IMG_PER_S, TRAIN_GFLOP_PER_IMG)}

    def record(method: str, metrics: dict[str, MetricResult]) -> Record:
        return Record(
            kind="throughput", key=f"{method}__mlp-2d-b4", method=method, cell="mlp-2d-b4", seed=None,
            config={"suite": "t", "method": method}, metric_specs=specs, metrics=metrics,
        )  # fmt: skip

    rate, flops = specs[TRAIN_IMG_PER_S], specs[TRAIN_GFLOP_PER_IMG]
    na = MetricResult(math.nan, flops, exact=False, note=NOT_APPLICABLE + GP_REASON)
    records = [
        record("gan", {TRAIN_IMG_PER_S: MetricResult(100.0, rate, values=[90.0, 100.0, 120.0]),
                       TRAIN_GFLOP_PER_IMG: MetricResult(0.5, flops)}),
        record("wgan-gp", {TRAIN_IMG_PER_S: MetricResult(50.0, rate, values=[40.0, 50.0, 55.0]),
                           TRAIN_GFLOP_PER_IMG: na}),
    ]  # fmt: skip
    frame = records_frame(records)
    blocks = figures.throughput_blocks(records, ["", ""])
    assert blocks == {("gan__mlp-2d-b4", TRAIN_IMG_PER_S): [90.0, 100.0, 120.0],
                      ("wgan-gp__mlp-2d-b4", TRAIN_IMG_PER_S): [40.0, 50.0, 55.0]}  # fmt: skip
    (ax,) = figures.make_throughput_figure(frame, blocks, TRAIN_IMG_PER_S).axes
    assert ax.get_ylim() == pytest.approx((0.0, 120 * 1.08))
    assert [patch.get_height() for patch in ax.patches] == [100.0, 50.0]
    whiskers = [seg for c in ax.collections if isinstance(c, LineCollection) for seg in c.get_segments()]
    assert [sorted(y for _, y in seg) for seg in whiskers] == [[90.0, 120.0], [40.0, 55.0]]
    caption = " ".join(" ".join(t.get_text() for t in ax.figure.texts).split())
    assert "median over 3 timed blocks" in caption and "whiskers: min to max over the blocks" in caption
    (ax,) = figures.make_throughput_figure(frame, blocks, TRAIN_GFLOP_PER_IMG).axes
    assert ax.get_ylim()[0] == 0.0 and [patch.get_height() for patch in ax.patches] == [0.5]
    assert [text.get_text() for text in ax.texts] == ["n/a"]
