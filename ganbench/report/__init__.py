"""Reports: rebuild every table and figure of a run folder from its stored records alone."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ganbench.data import DATASETS
from ganbench.metrics import METRICS
from ganbench.report.curves import correlations, correlations_markdown, curves_frame
from ganbench.report.records import records_frame
from ganbench.report.tables import summarize, summary_markdown
from ganbench.store import FIGURES_DIR, RunStore


@dataclass(frozen=True)
class Report:
    """The tables of a run folder, and the files written for them."""

    records: pd.DataFrame
    summary: pd.DataFrame
    markdown: str
    files: list[Path]


def build_report(root: Path) -> Report:
    """Write records.csv, summary.csv, summary.md and the figures of run folder `root`."""
    store = RunStore(root)
    records = store.records()
    frame = records_frame(records)
    summary = summarize(frame)
    markdown = summary_markdown(summary)
    files = [
        store.write_text("records.csv", frame.to_csv(index=False)),
        store.write_text("summary.csv", summary.to_csv(index=False)),
        store.write_text("summary.md", markdown),
    ]
    if not frame.empty and any(METRICS.get(m).modality == "points" for m in frame["metric"].unique()):
        files += _point_figures(store, records, frame)
    curves = curves_frame(records)
    if not curves.empty:
        files += _curve_outputs(store, curves)
    return Report(frame, summary, markdown, files)


def _curve_outputs(store: RunStore, curves: pd.DataFrame) -> list[Path]:
    """curves.csv, correlations.csv/.md and figures/training-curves.png."""
    from ganbench.report import figures
    from ganbench.tracking import CRITIC_ESTIMATE, D_LOSS, W1_CURVE

    table = correlations(curves)
    folder = store.root / FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return [
        store.write_text("curves.csv", curves.to_csv(index=False)),
        store.write_text("correlations.csv", table.to_csv(index=False)),
        store.write_text("correlations.md", correlations_markdown(table)),
        figures.training_curves(curves, [D_LOSS, CRITIC_ESTIMATE, W1_CURVE], folder / "training-curves.png"),
    ]


def _point_figures(store: RunStore, records: list[dict], frame: pd.DataFrame) -> list[Path]:
    from ganbench.report import figures

    configs = {r["config"]["dataset"]: r["config"]["dataset_params"] for r in records}

    @functools.cache
    def centers(dataset: str) -> np.ndarray:
        spec = DATASETS.get(dataset)
        return spec.build(spec.params(**configs[dataset])).centers.numpy()

    folder = store.root / FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return [
        figures.sample_grid(frame, store.load_samples, centers, folder / "samples.png"),
        figures.modes_covered_plot(frame, lambda d: len(centers(d)), folder / "modes-covered.png"),
    ]
