"""Convergence flags: undertrained below the quality threshold, still-improving on rising curves."""

from __future__ import annotations

import pandas as pd

from ganbench.metrics.validity import (
    HQ_RISE,
    STILL_IMPROVING,
    UNDERTRAINED,
    UNDERTRAINED_HQ,
    W1_FALL,
    verdict,
)
from ganbench.report.tables import summarize, summary_latex, summary_markdown

STEPS = [0, 200, 400, 600, 800, 1000]  # the window is steps 800..1000 (the last 20%)


def test_the_threshold_boundary() -> None:
    assert verdict(UNDERTRAINED_HQ, {}) == []  # at the threshold: trained enough
    assert verdict(UNDERTRAINED_HQ - 1e-9, {}) == [UNDERTRAINED]
    assert verdict(float("nan"), {}) == [UNDERTRAINED]  # no quality to speak of


def test_a_plateau_is_converged() -> None:
    curves = {
        "step": STEPS,
        "high_quality_fraction": [0, 0.6, 0.9, 0.93, 0.94, 0.95],
        "w1": [3, 1, 0.2] + [0.1] * 3,
    }
    # Over the window 800 -> 1000: HQ +0.01 (<= 0.05) and W1 unchanged.
    assert verdict(0.95, curves) == []


def test_a_rising_curve_is_still_improving() -> None:
    rising_hq = {"step": STEPS, "high_quality_fraction": [0, 0.2, 0.4, 0.6, 0.7, 0.7 + HQ_RISE + 0.01]}
    assert verdict(0.76, rising_hq) == [STILL_IMPROVING]
    # The rise must happen inside the window: the same +0.06 before step 800 does not count.
    early = {"step": STEPS, "high_quality_fraction": [0, 0.2, 0.4, 0.6, 0.76, 0.76]}
    assert verdict(0.76, early) == []
    # W1 falling by more than 10% of its value at step 800 counts too; exactly 10% does not.
    assert verdict(0.9, {"step": STEPS, "w1": [1, 1, 1, 1, 1.0, 1.0 - W1_FALL - 0.01]}) == [STILL_IMPROVING]
    assert verdict(0.9, {"step": STEPS, "w1": [1, 1, 1, 1, 1.0, 1.0 - W1_FALL]}) == []
    # ... unless the fall is within W1's sampling noise: 0.1 -> 0.08 is 20%, but two true samples
    # already lie 0.04 apart, so it is not a fall.
    near_floor = {"step": STEPS, "w1": [1, 0.5, 0.2, 0.1, 0.1, 0.08]}
    assert verdict(0.95, near_floor, w1_floor=0.04) == [] and verdict(0.95, near_floor) == [STILL_IMPROVING]
    # A falling HQ (unstable, not improving) is not "still improving".
    assert verdict(0.6, {"step": STEPS, "high_quality_fraction": [0, 0.9, 0.9, 0.9, 0.9, 0.6]}) == []
    # Both flags at once: low quality and still rising.
    assert verdict(0.3, {"step": STEPS, "high_quality_fraction": [0, 0, 0, 0, 0.1, 0.3]}) == [
        UNDERTRAINED,
        STILL_IMPROVING,
    ]


def test_the_noise_floor_is_w1_between_two_true_samples() -> None:
    import numpy as np

    from ganbench.data import DATASETS
    from ganbench.engine.streams import generator
    from ganbench.metrics.validity import w1_noise_floor

    ring = DATASETS.get("ring-8").build(DATASETS.get("ring-8").params())
    a, b = (ring.sample(1000, generator(0, p)).double().numpy() for p in ("track-real", "reference"))
    floor = w1_noise_floor(a, b)
    # Not 0 (two samples differ) and well below the ring's radius; identical sets give exactly 0.
    assert 0.005 < floor < 0.2 and w1_noise_floor(a, a.copy()) == 0.0
    assert np.isfinite(floor)


def test_the_window_starts_at_the_last_point_before_it() -> None:
    # Tracked at 0, 500, 1000: the window 800..1000 opens at the point of step 500.
    assert verdict(0.9, {"step": [0, 500, 1000], "high_quality_fraction": [0, 0.8, 0.9]}) == [STILL_IMPROVING]
    assert verdict(0.9, {"step": [0], "high_quality_fraction": [0.9]}) == []  # one point: no window


def _frame(flags: dict[str, str]) -> pd.DataFrame:
    rows = [
        {"key": f"{m}__ring-8__seed{s}", "method": m, "dataset": "ring-8", "metric": "high-quality-fraction",
         "value": 0.9, "unit": "fraction", "higher_is_better": True, "status": "ok",
         "flags": flags.get(f"{m}{s}", "")}
        for m in ("gan", "wgan") for s in (0, 1)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_tables_mark_flagged_cells_with_a_legend() -> None:
    summary = summarize(_frame({"gan1": "undertrained", "wgan0": "undertrained;still-improving"}))
    assert summary.set_index("method")["flags"].to_dict() == {
        "gan": "undertrained",
        "wgan": "undertrained;still-improving",
    }
    markdown = summary_markdown(summary)
    # Both cells 0.9 over two seeds with no spread: three significant digits, a tie, both bold.
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in markdown.splitlines()[2:4]}
    assert rows == {"GAN": "**0.900 ± 0.000** †", "WGAN": "**0.900 ± 0.000** †‡"}
    assert "† undertrained: high-quality fraction below 0.5" in markdown
    assert "‡ still-improving: still improving over the last 20%" in markdown
    latex = summary_latex(summary)
    assert r"WGAN & \textbf{0.900 $\pm$ 0.000} $^\dagger$$^\ddagger$ \\" in latex
    assert "\n$^\\dagger$ undertrained: high-quality fraction below 0.5" in latex  # a note, not a comment


def test_unflagged_tables_have_no_marks_or_legend() -> None:
    markdown = summary_markdown(summarize(_frame({})))
    assert "†" not in markdown and "‡" not in markdown
    # A records.csv from before flags existed summarizes with none.
    assert summarize(_frame({}).drop(columns="flags"))["flags"].tolist() == ["", ""]


def test_runs_record_the_verdict_and_count_it_in_the_last_line(tmp_path) -> None:
    from conftest import write_tiny_suite
    from typer.testing import CliRunner

    from ganbench.cli import app
    from ganbench.run.store import RunStore

    suite = write_tiny_suite(tmp_path, methods=("gan",), seeds=2, steps=3)
    result = CliRunner().invoke(app, ["run", "--suite", str(suite), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    records = RunStore(tmp_path / "run").records()
    assert all(r.flags == [UNDERTRAINED] for r in records)  # 3 steps: nothing has trained
    assert "2 of 2 jobs flagged (undertrained 2), see the table's legend" in result.output.splitlines()[-1]
