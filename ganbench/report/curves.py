"""Training curves from records: a tidy frame and the Spearman correlation of loss and exact W1."""

from __future__ import annotations

import pandas as pd

from ganbench.engine.tracking import CRITIC_ESTIMATE, D_LOSS, W1_CURVE
from ganbench.labels import labelled_key
from ganbench.report.records import in_registry_order
from ganbench.run.records import Record

CURVE_COLUMNS = ["key", "method", "dataset", "settings", "seed", "step"]
# Which tracked series are correlated with the exact W1, and the column each gets.
CORRELATED = {D_LOSS: "spearman_loss_w1", CRITIC_ESTIMATE: "spearman_estimate_w1"}


def curves_frame(records: list[Record], settings: list[str] | None = None) -> pd.DataFrame:
    """One row per job x tracked step, one column per tracked value; empty without curves.

    `settings` is each record's settings label (ganbench.labels; '' for all when None).
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
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    return in_registry_order(pd.concat(frames, ignore_index=True), then=["seed", "step"])


def correlations(curves: pd.DataFrame) -> pd.DataFrame:
    """Per method x dataset x settings: mean, std and n over seeds of the Spearman correlation, over training,
    between each tracked series and the exact W1.

    Spearman (rank) correlation, because a clipped WGAN critic estimates W1 only up to an unknown
    constant factor: a monotone relation is the claim, not equality.
    """
    if curves.empty:
        return pd.DataFrame()
    if "settings" not in curves.columns:  # a frame made without labels: one setting
        curves = curves.assign(settings="")
    per_job = curves.groupby(["method", "dataset", "settings", "seed"], sort=False).apply(
        lambda job: pd.Series(
            {col: job[name].corr(job[W1_CURVE], method="spearman") for name, col in CORRELATED.items()}
        ),
        include_groups=False,
    )
    stats = per_job.groupby(["method", "dataset", "settings"], sort=False).agg(["mean", "std", "count"])
    stats.columns = [f"{col}_{stat}".replace("_count", "_n") for col, stat in stats.columns]
    return stats.reset_index()


def correlations_markdown(table: pd.DataFrame) -> str:
    """'mean ± std (n=3)' per method x dataset (x settings, in a sweep) for each correlation."""
    rows = []
    swept = bool(table["settings"].astype(bool).any())
    for row in table.itertuples(index=False):
        values = row._asdict()
        cells = {"method": values["method"], "dataset": values["dataset"]}
        if swept:
            cells["settings"] = values["settings"]
        for col in CORRELATED.values():
            mean, std, n = values[f"{col}_mean"], values[f"{col}_std"], values[f"{col}_n"]
            spread = "" if pd.isna(std) else f" ± {std:.2f}"
            cells[col.replace("spearman_", "ρ(").replace("_w1", ", W1)")] = f"{mean:.2f}{spread} (n={n})"
        rows.append(cells)
    return pd.DataFrame(rows).to_markdown(index=False) + "\n"
