"""Summary tables over seeds: pure functions of the tidy records frame."""

from __future__ import annotations

import pandas as pd

from ganbench.metrics import METRICS

SUMMARY_COLUMNS = ["method", "dataset", "metric", "unit", "higher_is_better", "mean", "std", "n", "jobs"]


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std (ddof 1) and n over the `ok` seeds per method x dataset x metric.

    `jobs` counts every stored job of the cell, so a cell whose n is below it shows that
    some seeds diverged or failed instead of silently averaging over fewer.
    """
    keys = ["method", "dataset", "metric"]
    if frame.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    ok = frame[frame["status"] == "ok"]
    stats = ok.groupby(keys, sort=False)["value"].agg(mean="mean", std="std", n="count")
    jobs = frame.groupby(keys, sort=False)["key"].nunique().rename("jobs")
    summary = jobs.to_frame().join(stats).reset_index()
    summary["n"] = summary["n"].fillna(0).astype(int)
    summary["unit"] = [METRICS.get(m).unit for m in summary["metric"]]
    summary["higher_is_better"] = [METRICS.get(m).higher_is_better for m in summary["metric"]]
    return summary[SUMMARY_COLUMNS]


def format_cell(mean: float, std: float, n: int, jobs: int) -> str:
    """'mean ± std (n=3)', with 'n=2 of 3' when some seeds did not finish ok."""
    if n == 0:
        return f"no result (0 of {jobs})"
    spread = "" if pd.isna(std) else f" ± {std:.2g}"
    count = f"n={n}" if n == jobs else f"n={n} of {jobs}"
    return f"{mean:.3g}{spread} ({count})"


def summary_markdown(summary: pd.DataFrame) -> str:
    """A wide Markdown table: one row per method x dataset, one column per metric (with direction)."""
    if summary.empty:
        return "_no records_\n"
    cells = summary.assign(cell=[format_cell(r.mean, r.std, r.n, r.jobs) for r in summary.itertuples()])
    wide = cells.pivot(index=["method", "dataset"], columns="metric", values="cell")
    metrics = list(dict.fromkeys(summary["metric"]))
    order = list(dict.fromkeys(zip(summary["method"], summary["dataset"], strict=False)))
    wide = wide.loc[order, metrics]
    wide.columns = [f"{m} {'↑' if METRICS.get(m).higher_is_better else '↓'}" for m in metrics]
    return wide.reset_index().to_markdown(index=False) + "\n"
