"""Reports: golden tables, confidence intervals, the bold best, merging, missing jobs, figures."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, write_tiny_suite
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS
from ganbench.report import build_report
from ganbench.report.tables import t_interval

GOLDEN = ROOT / "tests" / "data" / "golden"


def test_golden_tables(tmp_path: Path) -> None:
    # Committed records (tests/data/golden/run): gan modes 8, 7, 6 and W1 0.1, 0.2, 0.3 -> 7 ± 1 and
    # 0.2 ± 0.1; wgan modes 5, 7 and W1 0.05, 0.15 (seed 2 failed, seed 3 planned but missing)
    # -> 6 ± 1.41 and 0.1 ± 0.0707 over 2 of 4 seeds. Best: gan on modes (higher), wgan on W1 (lower).
    report = build_report([GOLDEN / "run"], tmp_path)
    assert (tmp_path / "summary.md").read_text() == (GOLDEN / "summary.md").read_text()
    assert (tmp_path / "summary.tex").read_text() == (GOLDEN / "summary.tex").read_text()
    assert report.markdown == (GOLDEN / "summary.md").read_text()


def test_student_t_interval_by_hand() -> None:
    # n = 3, mean 7, std 1: t_{0.975, 2} = 4.302653, half width 4.302653 / sqrt(3) = 2.484138.
    low, high = t_interval(7.0, 1.0, 3)
    assert (low, high) == pytest.approx((7 - 2.484138, 7 + 2.484138), abs=1e-6)
    assert all(v != v for v in t_interval(7.0, float("nan"), 1)), "one seed: no interval"


def test_summary_csv_holds_the_interval(tmp_path: Path) -> None:
    summary = build_report([GOLDEN / "run"], tmp_path).summary
    row = summary[(summary.method == "gan") & (summary.metric == "modes-covered")].iloc[0]
    assert (row["mean"], row["std"], row["n"], row["jobs"]) == (7.0, 1.0, 3, 3)
    assert row["ci_low"] == pytest.approx(4.515862, abs=1e-6)


def test_bold_follows_the_metric_direction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "| **0.1 ± 0.0707** (2/4)" in build_report([GOLDEN / "run"], tmp_path / "a").markdown
    flipped = dataclasses.replace(METRICS.get("w1"), higher_is_better=True)
    monkeypatch.setitem(METRICS._entries, "w1", flipped)
    markdown = build_report([GOLDEN / "run"], tmp_path / "b").markdown
    assert "ring-8: w1 ↑" in markdown
    assert "| **0.2 ± 0.1**" in markdown and "**0.1 ± 0.0707**" not in markdown


def test_missing_and_failed_jobs_are_marked_not_averaged_away(tmp_path: Path) -> None:
    markdown = build_report([GOLDEN / "run"], tmp_path).markdown
    assert "6 ± 1.41 (2/4)" in markdown
    assert "- wgan__ring-8__seed3: missing (planned, no record)" in markdown
    assert "- wgan__ring-8__seed2: failed: RuntimeError: boom" in markdown


def test_report_over_two_folders_equals_report_over_their_union(tmp_path: Path) -> None:
    left, right, union = tmp_path / "left", tmp_path / "right", tmp_path / "union"
    shutil.copytree(GOLDEN / "run", union)
    for folder, method in ((left, "gan"), (right, "wgan")):
        (folder / "jobs").mkdir(parents=True)
        for path in (GOLDEN / "run" / "jobs").glob(f"{method}__*.json"):
            shutil.copy(path, folder / "jobs" / path.name)
    shutil.copy(GOLDEN / "run" / "plan.json", right / "plan.json")
    build_report([left, right], tmp_path / "merged")
    build_report([union], tmp_path / "single")
    for name in ("summary.csv", "summary.md", "summary.tex", "records.csv"):
        assert (tmp_path / "merged" / name).read_text() == (tmp_path / "single" / name).read_text(), name


def test_a_job_in_two_folders_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GanbenchError, match="is in both"):
        build_report([GOLDEN / "run", GOLDEN / "run"], tmp_path)


def test_options_choose_metrics_methods_and_format(tmp_path: Path) -> None:
    summary = build_report(
        [GOLDEN / "run"], tmp_path, metrics=["w1"], methods=["wgan"], number_format=".2f"
    ).summary
    assert summary[["method", "metric"]].values.tolist() == [["wgan", "w1"]]
    assert "0.10 ± 0.07" in (tmp_path / "summary.md").read_text()
    with pytest.raises(GanbenchError, match="not a number format"):
        build_report([GOLDEN / "run"], tmp_path, number_format="%d")
    with pytest.raises(GanbenchError, match="unknown metric 'w3'"):
        build_report([GOLDEN / "run"], tmp_path, metrics=["w3"])


def test_every_figure_is_written_as_png_and_pdf(tmp_path: Path) -> None:
    suite = write_tiny_suite(tmp_path, methods=("gan", "wgan"), seeds=2)
    out = tmp_path / "run"
    assert CliRunner().invoke(app, ["run", "--suite", str(suite), "--out", str(out)]).exit_code == 0
    stems = ["samples", "losses"] + [
        f"metric-{m}" for m in ("modes-covered", "high-quality-fraction", "reverse-kl", "w1")
    ]
    for stem in stems:
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{stem}.{ext}").stat().st_size > 5_000, f"{stem}.{ext}"


def test_report_command(tmp_path: Path) -> None:
    cli = CliRunner()
    result = cli.invoke(app, ["report", str(GOLDEN / "run"), "--out", str(tmp_path), "--methods", "gan"])
    assert result.exit_code == 0, result.output
    assert "**7 ± 1**" in result.stdout and "wgan" not in (tmp_path / "summary.md").read_text()
    result = cli.invoke(app, ["report", str(GOLDEN / "run"), str(tmp_path)])
    assert result.exit_code == 2 and "give --out DIR" in result.stderr
    result = cli.invoke(app, ["report", str(tmp_path / "nope"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "run folder not found" in result.stderr
