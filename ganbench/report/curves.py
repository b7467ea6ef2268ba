"""Training curves from records: a tidy frame and the Spearman correlation of loss and exact W1."""

from __future__ import annotations

import math

import pandas as pd

from ganbench.labels import labelled_key
from ganbench.metrics.base import NOT_APPLICABLE
from ganbench.metrics.validity import CRITIC_ESTIMATE, D_LOSS, W1_CURVE
from ganbench.records.record import Record
from ganbench.report.records import in_registry_order
from ganbench.report.tables import SUPERSCRIPTS, markdown_text

CURVE_COLUMNS = ["key", "method", "dataset", "settings", "seed", "step"]
# Which tracked series are correlated with the exact W1, and the column each gets.
CORRELATED = {D_LOSS: "spearman_loss_w1", CRITIC_ESTIMATE: "spearman_estimate_w1"}
# A rank correlation over a few points says nothing about the curves: over 2 it is ±1 whatever they
# are, over 3 or 4 it can take only a handful of values. Below this many tracked points it is n/a.
MIN_POINTS = 5


def curves_frame(records: list[Record], settings: list[str] | None = None) -> pd.DataFrame:
    """One row per job x tracked step, one column per tracked value; empty without curves.

    `settings` is each record's settings label (ganbench.labels; '' for all when None). The last two
    columns are the job's sample counts: `track_samples` behind each tracked value and `eval_samples`
    behind its table values (the figures say why a curve's last point is not the table's value).
    """
    frames = []
    for record, label in zip(records, settings or [""] * len(records), strict=True):
        if not record.curves.get("step"):
            continue
        frame = pd.DataFrame(record.curves)
        frame.insert(0, "key", labelled_key(record.key, label))
        frame.insert(1, "method", record.method)
        frame.insert(2, "dataset", record.cell)
        frame.insert(3, "settings", label)
        frame.insert(4, "seed", record.seed)
        evaluation = record.config.get("eval", {})
        frame["track_samples"] = evaluation.get("track_samples")
        frame["eval_samples"] = evaluation.get("samples")
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    return in_registry_order(pd.concat(frames, ignore_index=True), then=["seed", "step"])


def correlations(curves: pd.DataFrame) -> pd.DataFrame:
    """Per method x dataset x settings (of the jobs that tracked W1; empty when none did): mean, std and
    n over seeds of the Spearman correlation, over training, between each tracked series and the exact
    W1; `tracked_points`, the most points a seed tracked, and `na_reason` where every seed tracked
    fewer than MIN_POINTS (the correlations are then n/a).

    Spearman (rank) correlation, because a clipped WGAN critic estimates W1 only up to an unknown
    constant factor: a monotone relation is the claim, not equality.
    """
    # Only jobs that tracked W1 (2-D jobs; image jobs track image metrics instead) have correlations.
    curves = curves.dropna(subset=[W1_CURVE]) if W1_CURVE in curves.columns else curves.iloc[:0]
    if curves.empty:
        return pd.DataFrame()
    if "settings" not in curves.columns:  # a frame made without labels: one setting
        curves = curves.assign(settings="")
    keys = ["method", "dataset", "settings"]
    per_job = curves.groupby([*keys, "seed"], sort=False).apply(_job_correlations, include_groups=False)
    stats = per_job[list(CORRELATED.values())].groupby(level=keys, sort=False).agg(["mean", "std", "count"])
    stats.columns = [f"{col}_{stat}".replace("_count", "_n") for col, stat in stats.columns]
    points = per_job["tracked_points"].astype(int).groupby(level=keys, sort=False)
    stats["tracked_points"] = points.max()
    stats["na_reason"] = [_too_few(low, high) for low, high in zip(points.min(), points.max(), strict=True)]
    return stats.reset_index()


def _job_correlations(job: pd.DataFrame) -> pd.Series:
    """One job's Spearman correlation of each series with W1 over its tracked steps (NaN below
    MIN_POINTS), and how many steps tracked both (the fewest over the series)."""
    values: dict[str, float] = {}
    counts = []
    for name, col in CORRELATED.items():
        pairs = job[[name, W1_CURVE]].dropna()
        counts.append(len(pairs))
        enough = len(pairs) >= MIN_POINTS
        values[col] = pairs[name].corr(pairs[W1_CURVE], method="spearman") if enough else math.nan
    return pd.Series({**values, "tracked_points": min(counts)})


def _too_few(low: int, high: int) -> str:
    """Why a row's correlations are n/a when even its best seed tracked fewer than MIN_POINTS; '' else."""
    if high >= MIN_POINTS:
        return ""
    count = f"{high}" if low == high else f"{low} to {high}"
    return (
        f"only {count} tracked points per seed; a rank correlation needs {MIN_POINTS} or more "
        "(over 2 points it is ±1 whatever the curves): track more often (track_every) or train longer"
    )


def correlations_markdown(table: pd.DataFrame) -> str:
    """'mean ± std (n=3)' per method x dataset (x settings, in a sweep) for each correlation; 'n/a¹'
    with a footnote giving the reason where too few points were tracked."""
    rows = []
    swept = bool(table["settings"].astype(bool).any())
    reasons = _na_reasons(table)
    for row in table.itertuples(index=False):
        values = row._asdict()
        # Names and settings come from the records: escaped for a table cell.
        cells = {"method": markdown_text(values["method"]), "dataset": markdown_text(values["dataset"])}
        if swept:
            cells["settings"] = markdown_text(values["settings"])
        reason = values.get("na_reason")
        reason = reason if isinstance(reason, str) else ""  # NaN where read back from a CSV
        for col in CORRELATED.values():
            mean, std, n = values[f"{col}_mean"], values[f"{col}_std"], values[f"{col}_n"]
            spread = "" if pd.isna(std) else f" ± {std:.2f}"
            if reason:
                text = "n/a" + str(reasons.index(reason) + 1).translate(SUPERSCRIPTS)
            else:
                text = "—" if n == 0 else f"{mean:.2f}{spread} (n={n})"
            cells[col.replace("spearman_", "ρ(").replace("_w1", ", W1)")] = text
        rows.append(cells)
    # One line per reason, as the summary table's n/a footnotes: '¹ n/a: only 2 tracked points ...'.
    footnotes = "".join(
        f"{str(i).translate(SUPERSCRIPTS)} {NOT_APPLICABLE}{reason}.\n" for i, reason in enumerate(reasons, 1)
    )
    return pd.DataFrame(rows).to_markdown(index=False) + "\n" + ("\n" + footnotes if footnotes else "")


def _na_reasons(table: pd.DataFrame) -> list[str]:
    """The distinct reasons of the table's n/a rows, in table order: footnote 1, 2, ..."""
    if "na_reason" not in table.columns:  # a table of before n/a correlations
        return []
    return list(dict.fromkeys(reason for reason in table["na_reason"].fillna("") if reason))
