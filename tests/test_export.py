"""Dashboard exports: github-action-benchmark's custom entries and Bencher's BMF, from compare and report."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.metrics import METRICS
from ganbench.records.record import MetricResult, Record, spec_of
from ganbench.records.store import RunStore
from ganbench.report import export
from ganbench.report.compare import load_rows

HQ, W1 = "high-quality-fraction", "w1"
TRAIN_IPS, MEMORY, GFLOP = "train-img-per-s", "peak-memory-mb", "train-gflop-per-img"
BIGGER, SMALLER = "github-action-benchmark-bigger.json", "github-action-benchmark-smaller.json"


def train(method: str, seed: int, values: dict[str, float], steps: int = 100, status: str = "ok") -> Record:
    """A training job's record on ring-8, with the metrics' specs as registered today."""
    specs = {m: spec_of(METRICS.get(m)) for m in values}
    return Record(
        kind="train",
        key=f"{method}__ring-8__seed{seed}",
        method=method,
        cell="ring-8",
        seed=seed,
        config={
            "suite": "tiny",
            "method": method,
            "dataset": "ring-8",
            "seed": seed,
            "hyperparameters": {"lr": 0.001},
            "train": {"steps": steps, "batch_size": 32},
            "eval": {"samples": 500},
            "metrics": list(values),
        },  # fmt: skip
        metric_specs=specs,
        status=status,
        reason=None if status == "ok" else "loss is nan",
        metrics={} if status != "ok" else {m: MetricResult(v, specs[m]) for m, v in values.items()},
    )


def seeds(method: str, per_metric: dict[str, list[float]], steps: int = 100) -> list[Record]:
    """One record per seed 0, 1, ...: seed i has the i-th value of every metric."""
    n = len(next(iter(per_metric.values())))
    return [train(method, i, {m: v[i] for m, v in per_metric.items()}, steps) for i in range(n)]


def throughput(method: str, repeats: dict[str, list[float]]) -> Record:
    """A throughput measurement of `method` at batch 64: each metric's median and its timed repeats."""
    specs = {m: spec_of(METRICS.get(m)) for m in repeats}
    return Record(
        kind="throughput",
        key=f"{method}__mlp-b64",
        method=method,
        cell="mlp-b64",
        seed=None,
        config={"suite": "throughput", "method": method, "batch_size": 64, "metrics": list(repeats)},
        metric_specs=specs,
        metrics={
            m: MetricResult(
                float(sorted(v)[len(v) // 2]) if v else math.nan, specs[m], values=v if len(v) > 1 else []
            )
            for m, v in repeats.items()
        },
    )


def write_run(folder: Path, records: list[Record]) -> Path:
    store = RunStore(folder)
    for rec in records:
        store.save(rec, None)
    return folder


def read(path: Path) -> Any:
    """A written export, parsed strictly: NaN or Infinity in the file is an error (JSON has neither)."""

    def refuse(name: str) -> None:
        raise ValueError(f"{path.name} holds {name}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


# Three seeds with exact binary fractions, so that means and spreads are exact by hand:
# w1 0.25, 0.5, 0.75: mean 0.5, sample std sqrt((0.0625 + 0 + 0.0625) / 2) = 0.25, min 0.25, max 0.75;
# high-quality fraction 0.5, 0.75, 1.0: mean 0.75, std 0.25, min 0.5, max 1.0.
RING = {HQ: [0.5, 0.75, 1.0], W1: [0.25, 0.5, 0.75]}


def test_registry_directions_the_exports_rely_on() -> None:
    assert not METRICS.get(W1).higher_is_better and METRICS.get(HQ).higher_is_better
    assert METRICS.get(TRAIN_IPS).higher_is_better and not METRICS.get(MEMORY).higher_is_better


def test_github_action_benchmark_entries_are_split_by_direction(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", seeds("wgan-gp", RING))
    split = export.github_action_benchmark(export.entries(load_rows(run)))
    assert split == {
        "bigger": [
            {
                "name": "wgan-gp / ring-8 / high-quality-fraction",
                "unit": "fraction",
                "value": 0.75,
                "range": "± 0.25",
                "extra": "n=3 seeds",
            }
        ],
        "smaller": [
            {
                "name": "wgan-gp / ring-8 / w1",
                "unit": "distance",
                "value": 0.5,
                "range": "± 0.25",
                "extra": "n=3 seeds",
            }
        ],
    }


def test_bencher_metric_format(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", seeds("wgan-gp", RING) + seeds("gan", {W1: [0.5]}))
    bmf = export.bencher(export.entries(load_rows(run)))
    assert bmf == {
        # A single value has no interval: lower and upper are left out.
        "gan / ring-8": {"w1": {"value": 0.5}},
        "wgan-gp / ring-8": {
            "high-quality-fraction": {"value": 0.75, "lower_value": 0.5, "upper_value": 1.0},
            "w1": {"value": 0.5, "lower_value": 0.25, "upper_value": 0.75},
        },
    }
    assert list(bmf) == ["gan / ring-8", "wgan-gp / ring-8"]  # registry order of methods, then metrics
    assert list(bmf["wgan-gp / ring-8"]) == [HQ, W1]


def test_throughput_repeats_directions_and_a_missing_value_left_out(tmp_path: Path) -> None:
    # train img/s repeats 1000, 1200, 1400: mean 1200, std 200; memory one value; the FLOP count could
    # not be computed (NaN) and is left out of both formats.
    measured = throughput("gan", {TRAIN_IPS: [1000.0, 1200.0, 1400.0], MEMORY: [512.0], GFLOP: []})
    found = export.entries(load_rows(write_run(tmp_path / "run", [measured])))
    assert export.github_action_benchmark(found) == {
        "bigger": [
            {"name": "gan / mlp-b64 / train-img-per-s", "unit": "img/s", "value": 1200.0, "range": "± 200",
             "extra": "n=3 repeats"},
        ],
        "smaller": [
            {"name": "gan / mlp-b64 / peak-memory-mb", "unit": "MiB", "value": 512.0, "extra": "n=1 repeat"},
        ],
    }  # fmt: skip
    assert export.bencher(found) == {
        "gan / mlp-b64": {
            "train-img-per-s": {"value": 1200.0, "lower_value": 1000.0, "upper_value": 1400.0},
            "peak-memory-mb": {"value": 512.0},
        }
    }
    files = export.write(found, export.BENCHER, tmp_path / "out")
    assert GFLOP not in read(files[0])["gan / mlp-b64"]
    # A large spread keeps 3 significant digits without an exponent: |12468 - 10000| / sqrt(2) = 1745.1.
    wide = export.Entry("gan / mlp-b64", TRAIN_IPS, "img/s", True, (10000.0, 12468.0), "repeats")
    assert export.github_action_benchmark([wide])["bigger"][0]["range"] == "± 1750"


def test_jobs_without_a_value_are_counted_not_averaged(tmp_path: Path) -> None:
    # Seed 1 diverged: w1 is the mean of seeds 0 and 2, (0.25 + 0.75) / 2 = 0.5, std sqrt(0.125) = 0.354.
    records = [train("gan", 0, {W1: 0.25}), train("gan", 1, {W1: 0.5}, status="diverged")]
    records.append(train("gan", 2, {W1: 0.75}))
    (entry,) = export.github_action_benchmark(export.entries(load_rows(write_run(tmp_path / "r", records))))[
        "smaller"
    ]
    assert entry == {
        "name": "gan / ring-8 / w1",
        "unit": "distance",
        "value": 0.5,
        "range": "± 0.354",
        "extra": "n=2 seeds; 1 job without a value",
    }
    # Every seed diverged: no entry at all, not a NaN.
    gone = [train("gan", i, {W1: 0.5}, status="diverged") for i in range(2)]
    assert export.entries(load_rows(write_run(tmp_path / "gone", gone))) == []


def test_direction_and_unit_come_from_the_records(tmp_path: Path) -> None:
    # A run folder whose stored spec says w1 is bigger-is-better (another registry made it) goes
    # to the bigger file: nothing in the export hard-codes a metric's direction.
    flipped = dataclasses.replace(spec_of(METRICS.get(W1)), higher_is_better=True, unit="nats")
    records = [
        dataclasses.replace(
            r, metric_specs={W1: flipped}, metrics={W1: MetricResult(r.metrics[W1].value, flipped)}
        )
        for r in seeds("gan", {W1: [0.25, 0.75]})
    ]
    split = export.github_action_benchmark(export.entries(load_rows(write_run(tmp_path / "run", records))))
    assert split["smaller"] == []
    assert [(e["name"], e["unit"]) for e in split["bigger"]] == [("gan / ring-8 / w1", "nats")]


def test_settings_labels_name_the_rows_of_a_sweep(tmp_path: Path) -> None:
    records = seeds("gan", {W1: [0.25, 0.75]}, steps=100) + [
        dataclasses.replace(r, key=f"gan__ring-8__steps=200__seed{r.seed}")
        for r in seeds("gan", {W1: [0.5, 0.5]}, steps=200)
    ]
    bmf = export.bencher(export.entries(load_rows(write_run(tmp_path / "run", records))))
    assert bmf == {
        "gan / ring-8 / steps=100": {"w1": {"value": 0.5, "lower_value": 0.25, "upper_value": 0.75}},
        "gan / ring-8 / steps=200": {"w1": {"value": 0.5, "lower_value": 0.5, "upper_value": 0.5}},
    }


def test_write_names_the_files_and_writes_strict_json(tmp_path: Path) -> None:
    found = export.entries(load_rows(write_run(tmp_path / "run", seeds("gan", RING))))
    files = export.write(found, export.GITHUB_ACTION_BENCHMARK, tmp_path / "new" / "folder")
    assert [f.name for f in files] == [BIGGER, SMALLER]
    assert [e["name"] for e in read(files[0])] == ["gan / ring-8 / high-quality-fraction"]
    assert [e["name"] for e in read(files[1])] == ["gan / ring-8 / w1"]
    (bmf,) = export.write(found, export.BENCHER, tmp_path / "new" / "folder")
    assert bmf.name == "bencher.json" and set(read(bmf)) == {"gan / ring-8"}
    # One direction only: both files are still written, the other one as an empty list.
    only_w1 = [e for e in found if e.metric == W1]
    assert read(export.write(only_w1, export.GITHUB_ACTION_BENCHMARK, tmp_path / "w1")[0]) == []
    # A NaN never reaches a file: json refuses it rather than writing invalid JSON.
    with pytest.raises(ValueError, match="not JSON compliant"):
        json.dumps({"value": math.nan}, allow_nan=False)


# --- ganbench compare --format ---


def _compare(tmp_path: Path, base: list[Record], cand: list[Record], *args: str) -> Any:
    baseline, candidate = write_run(tmp_path / "baseline", base), write_run(tmp_path / "candidate", cand)
    return CliRunner().invoke(app, ["compare", str(baseline), str(candidate), *args])


def test_compare_github_action_benchmark_unchanged_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = _compare(
        tmp_path,
        seeds("gan", RING),
        seeds("gan", RING),
        "--format",
        "github-action-benchmark",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    lines = result.output.rstrip().splitlines()
    assert lines[0] == "**ganbench compare**: PASS: 0 regressed, 0 missing, 0 improved, 2 unchanged"
    assert lines[-2] == f"wrote {BIGGER}, {SMALLER} (2 entries) in {out}"
    assert lines[-1] == "ganbench compare: PASS: 0 regressed, 0 missing, 0 improved, 2 unchanged"
    assert read(out / BIGGER) == [
        {"name": "gan / ring-8 / high-quality-fraction", "unit": "fraction", "value": 0.75, "range": "± 0.25",
         "extra": "n=3 seeds; verdict: unchanged"},
    ]  # fmt: skip
    assert read(out / SMALLER) == [
        {"name": "gan / ring-8 / w1", "unit": "distance", "value": 0.5, "range": "± 0.25",
         "extra": "n=3 seeds; verdict: unchanged"},
    ]  # fmt: skip


def test_compare_bencher_regressed_exits_1_and_still_writes(tmp_path: Path) -> None:
    # w1 0.0625, 0.125, 0.1875 -> 0.25, 0.5, 0.75: +0.375, beyond tolerance, full separation (p = 0.1).
    base = seeds("gan", {W1: [0.0625, 0.125, 0.1875]})
    cand = seeds("gan", {W1: [0.25, 0.5, 0.75]}) + seeds("wgan", {HQ: [0.5, 0.75, 1.0]})
    out = tmp_path / "bench"
    result = _compare(tmp_path, base, cand, "--format", "bencher", "--out", str(out), "--allow-missing")
    assert result.exit_code == 1, result.output
    # The candidate's values, the run being judged (not the baseline's 0.125).
    assert read(out / "bencher.json") == {
        "gan / ring-8": {"w1": {"value": 0.5, "lower_value": 0.25, "upper_value": 0.75}},
        "wgan / ring-8": {"high-quality-fraction": {"value": 0.75, "lower_value": 0.5, "upper_value": 1.0}},
    }
    assert (
        f"wrote bencher.json (2 entries) in {out}; smaller is better (threshold upper boundary): w1; "
        "bigger is better (lower boundary): high-quality-fraction"
    ) in result.output
    assert result.output.rstrip().splitlines()[-1].startswith("ganbench compare: FAIL: 1 regressed")
    # The same comparison as github-action-benchmark: the verdict of each row in its extra.
    result = _compare(tmp_path / "b", base, cand, "--format", "github-action-benchmark", "--out", str(out))
    assert result.exit_code == 1, result.output
    assert [e["extra"] for e in read(out / SMALLER)] == ["n=3 seeds; verdict: regressed"]
    assert [e["extra"] for e in read(out / BIGGER)] == ["n=3 seeds; verdict: new"]


def test_compare_writes_into_the_current_folder_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = _compare(tmp_path, seeds("gan", RING), seeds("gan", RING), "--format", "bencher")
    assert result.exit_code == 0, result.output
    assert set(read(tmp_path / "bencher.json")) == {"gan / ring-8"}


def test_compare_formats_markdown_json_and_bad_values(tmp_path: Path) -> None:
    base, cand = seeds("gan", RING), seeds("gan", RING)
    as_json = json.loads(_compare(tmp_path / "a", base, cand, "--json").output)
    assert as_json == json.loads(_compare(tmp_path / "b", base, cand, "--format", "json").output)
    assert as_json["summary"]["unchanged"] == 2
    result = _compare(tmp_path / "c", base, cand, "--format", "csv")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("error: Invalid value for '--format'")
    assert "'csv' is not one of 'markdown', 'json', 'github-action-benchmark', 'bencher'" in result.output
    for args in (("--json", "--format", "bencher"), ("--format", "markdown", "--out", str(tmp_path / "x"))):
        result = _compare(tmp_path / "d", base, cand, *args)
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, args
        assert result.output.startswith("error: ")
    assert not (tmp_path / "x").exists()


# --- ganbench report --format ---


def _report(*args: str) -> Any:
    return CliRunner().invoke(app, ["report", *args])


def test_report_format_writes_the_export_into_the_report_folder(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", seeds("gan", RING))
    result = _report(str(run), "--format", "bencher", "--number-format", ".2f")
    assert result.exit_code == 0, result.output
    assert read(run / "bencher.json") == {
        "gan / ring-8": {
            "high-quality-fraction": {"value": 0.75, "lower_value": 0.5, "upper_value": 1.0},
            "w1": {"value": 0.5, "lower_value": 0.25, "upper_value": 0.75},
        }
    }
    assert "0.50 ± 0.25" in (run / "summary.md").read_text(encoding="utf-8")  # --number-format .2f
    out = tmp_path / "report"
    result = _report(str(run), "--out", str(out), "--format", "github-action-benchmark", "--metrics", W1)
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().splitlines()[-1] == f"wrote {BIGGER}, {SMALLER} (1 entry) in {out}"
    assert read(out / BIGGER) == []
    assert read(out / SMALLER) == [
        {
            "name": "gan / ring-8 / w1",
            "unit": "distance",
            "value": 0.5,
            "range": "± 0.25",
            "extra": "n=3 seeds",
        }
    ]


def test_report_format_latex_prints_the_latex_table(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", seeds("gan", RING))
    result = _report(str(run), "--format", "latex", "--number-format", ".3g")
    assert result.exit_code == 0, result.output
    printed = result.output.rsplit("\nwrote ", 1)[0].rstrip("\n")
    assert printed == (run / "summary.tex").read_text(encoding="utf-8").rstrip("\n")
    assert "\\caption{" in printed and "0.5 $\\pm$ 0.25" in printed  # --number-format .3g
    assert "| Method" not in result.output and (run / "summary.md").is_file()
    assert not (run / "bencher.json").exists() and not (run / BIGGER).exists()
    # markdown, the default, prints the Markdown table.
    result = _report(str(run), "--format", "markdown")
    assert result.exit_code == 0 and result.output.startswith("| Method")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "%d"), "error: --format: '%d' is not one of markdown, latex, github-action-benchmark, "
         "bencher"),
        (("--format", ".3g"), "error: --format: '.3g' is a number format: give it as --number-format .3g"),
        (("--number-format", "bencher"), "error: --number-format: 'bencher' is not a number format (try .3g "
         "or .2f)"),
        (("--format", ".3g", "--number-format", ".2f"), "error: --format: '.3g' is a number format: give it "
         "as --number-format .3g"),
    ],
)  # fmt: skip
def test_report_rejects_an_unusable_format_in_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    run = write_run(tmp_path / "run", seeds("gan", RING))
    result = _report(str(run), *args)
    assert result.exit_code == 2
    assert result.output.strip() == message
    assert not (run / "summary.md").exists()  # refused before any work
