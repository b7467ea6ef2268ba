"""Reports: golden tables, bootstrap intervals, the bold best, merging, missing jobs, figures."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, write_tiny_suite
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS
from ganbench.report import build_report
from ganbench.report.tables import summarize, summary_markdown

GOLDEN = ROOT / "tests" / "data" / "golden"


def test_golden_tables(tmp_path: Path) -> None:
    # Committed records (tests/data/golden/run): gan modes 8, 7, 6 and W1 0.1, 0.2, 0.3 -> 7 ± 1 and
    # 0.2 ± 0.1; wgan modes 5, 7 and W1 0.05, 0.15 (seed 2 failed, seed 3 planned but missing)
    # -> 6 ± 1.41 and 0.1 ± 0.0707 over 2 of 4 seeds. Decimals, per cell by its own std: 1 and 1.41 (one
    # decimal), 0.1 (two), 0.0707 (three). The mixture's 8 modes in the header. Best: gan on modes
    # (higher), wgan on W1 (lower); Welch's test
    # cannot tell the other method from either (modes: t = 0.87, df = 1.7, p = 0.49; W1: t = 1.31,
    # df = 2.9, p = 0.29), so every cell is bold.
    report = build_report([GOLDEN / "run"], tmp_path)
    assert (tmp_path / "summary.md").read_text() == (GOLDEN / "summary.md").read_text()
    assert (tmp_path / "summary.tex").read_text() == (GOLDEN / "summary.tex").read_text()
    assert report.markdown == (GOLDEN / "summary.md").read_text()


def test_summary_csv_holds_the_bootstrap_interval(tmp_path: Path) -> None:
    summary = build_report([GOLDEN / "run"], tmp_path).summary.set_index(["method", "metric"])
    gan = summary.loc[("gan", "modes-covered")]
    assert (gan["mean"], gan["std"], gan["n"], gan["jobs"]) == (7.0, 1.0, 3, 3)
    # gan modes 8, 7, 6: a resample of three seeds has mean 6 only when it draws 6 three times,
    # probability 1/27 = 3.7% > 2.5%, so the 2.5th percentile is 6; likewise 8 for the 97.5th. The
    # interval is [6, 8]: inside the values, where Student t gave 7 ± 2.48 = [4.52, 9.48].
    assert (gan["ci_low"], gan["ci_high"]) == (6.0, 8.0)
    # wgan W1 0.05, 0.15 (two seeds): each value is a resample's mean with probability 1/4: [0.05, 0.15].
    wgan = summary.loc[("wgan", "w1")]
    assert (wgan["ci_low"], wgan["ci_high"]) == pytest.approx((0.05, 0.15))
    assert (
        "Confidence intervals in summary.csv: 95% percentile bootstrap"
        in (tmp_path / "summary.md").read_text()
    )


def test_bold_follows_the_metric_direction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # gan W1 0.10, 0.11, 0.12 and wgan 0.30, 0.31, 0.29 (std 0.01 each): Welch t = 24.5, df = 4,
    # p = 1.6e-5, so only the better one is bold, whichever way is better.
    def table(higher: bool) -> dict[str, str]:
        frame = pd.DataFrame(
            [
                {"key": f"{method}__ring-8__seed{seed}", "method": method, "dataset": "ring-8",
                 "metric": "w1", "value": value, "unit": "distance", "higher_is_better": higher,
                 "status": "ok"}
                for method, values in (("gan", [0.10, 0.11, 0.12]), ("wgan", [0.30, 0.31, 0.29]))
                for seed, value in enumerate(values)
            ]
        )  # fmt: skip
        rows = [line.split("|")[1:3] for line in summary_markdown(summarize(frame)).splitlines()[2:4]]
        return {method.strip(): cell.strip() for method, cell in rows}

    assert table(higher=False) == {"GAN": "**0.110 ± 0.010**", "WGAN": "0.300 ± 0.010"}
    assert table(higher=True) == {"GAN": "0.110 ± 0.010", "WGAN": "**0.300 ± 0.010**"}
    # The golden run takes W1's direction from the metric's registry entry: flipped there, the arrow
    # flips (both W1 cells stay bold: Welch's p = 0.29 between them).
    flipped = dataclasses.replace(METRICS.get("w1"), higher_is_better=True)
    monkeypatch.setitem(METRICS._entries, "w1", flipped)
    markdown = build_report([GOLDEN / "run"], tmp_path).markdown
    assert "| Ring-8: W1 ↑ " in markdown and "| **0.20 ± 0.10** " in markdown


def test_missing_and_failed_jobs_are_marked_not_averaged_away(tmp_path: Path) -> None:
    markdown = build_report([GOLDEN / "run"], tmp_path).markdown
    assert "| **6.0 ± 1.4** (2/4) " in markdown
    assert "- wgan__ring-8__seed3: missing (planned, no record)" in markdown
    assert "- wgan__ring-8__seed2: failed: RuntimeError: boom" in markdown


@pytest.mark.e2e
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


@pytest.mark.e2e
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
    assert "**7.0 ± 1.0**" in result.stdout and "WGAN" not in (tmp_path / "summary.md").read_text()
    result = cli.invoke(app, ["report", str(GOLDEN / "run"), str(tmp_path)])
    assert result.exit_code == 2 and "give --out DIR" in result.stderr
    result = cli.invoke(app, ["report", str(tmp_path / "nope"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "run folder not found" in result.stderr


@pytest.mark.e2e
def test_a_merged_report_shows_where_protocols_differ(tmp_path: Path) -> None:
    # A --quick run (3 steps, 100 evaluation samples) beside `ganbench eval` rows of 300 samples: no row
    # of one method x dataset differs within itself, yet the table's rows were not made alike. Each row
    # says how it differs: its steps, evaluation samples and source (run, samples, generator).
    cli = CliRunner()
    suite = write_tiny_suite(tmp_path, methods=("gan", "wgan"), seeds=2)
    quick = tmp_path / "quick"
    result = cli.invoke(
        app, ["run", "--suite", str(suite), "--out", str(quick), "--quick", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    rng = np.random.default_rng(0)
    angles = rng.integers(0, 8, 300) * np.pi / 4
    points = np.stack([np.cos(angles), np.sin(angles)], 1) + rng.normal(0, 0.01, (300, 2))
    np.save(tmp_path / "mine.npy", points.astype(np.float32))
    scored = tmp_path / "scored"
    args = ["eval", "--samples", str(tmp_path / "mine.npy"), "--suite", str(suite), "--dataset", "ring-8"]
    result = cli.invoke(app, [*args, "--out", str(scored), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    merged = tmp_path / "merged"
    result = cli.invoke(app, ["report", str(quick), str(scored), "--out", str(merged)])
    assert result.exit_code == 0, result.output
    markdown = (merged / "summary.md").read_text(encoding="utf-8")
    rows = [[c.strip() for c in line.strip("|").split("|")][:2] for line in markdown.splitlines()[2:5]]
    assert rows == [
        ["GAN", "steps=3,samples=100,source=run"],
        ["WGAN", "steps=3,samples=100,source=run"],
        ["mine", "samples=300,source=samples"],
    ]
    assert "source=samples or generator: samples or a generator scored by ganbench eval" in markdown
    latex = (merged / "summary.tex").read_text(encoding="utf-8")
    assert r"GAN & steps=3,samples=100,source=run & " in latex
    assert r"mine & samples=300,source=samples & " in latex
    summary = pd.read_csv(merged / "summary.csv", keep_default_na=False)
    assert set(summary["settings"]) == {"steps=3,samples=100,source=run", "samples=300,source=samples"}
    # Each folder alone is one protocol: no settings.
    assert "Settings" not in (quick / "summary.md").read_text(encoding="utf-8")
