"""Reports: rebuild every table and figure from stored records alone, over one or more run folders."""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

import ganbench
from ganbench.errors import GanbenchError
from ganbench.metrics.mode_collapse import MODES_COVERED
from ganbench.report.curves import correlations, correlations_markdown, curves_frame
from ganbench.report.records import in_registry_order, records_frame
from ganbench.report.tables import check_number_format, select, summarize, summary_latex, summary_markdown
from ganbench.run.records import Record
from ganbench.run.store import FIGURES_DIR, REPORT_FILE, RunStore, cell_of_key


@dataclass(frozen=True)
class Report:
    """The tables of a report, and the files written for them."""

    records: pd.DataFrame
    summary: pd.DataFrame
    markdown: str
    files: list[Path]


@dataclass(frozen=True)
class _Sources:
    """Records merged from several run folders, with where each job's samples live."""

    records: list[Record]
    folder_of: dict[str, Path]  # job key -> the run folder holding it
    planned_keys: frozenset[str]  # every job key the folders' plans name

    @classmethod
    def load(cls, roots: Sequence[Path]) -> _Sources:
        records, folder_of, planned_keys = [], {}, set()
        for root in roots:
            store = RunStore(root)
            if not store.root.is_dir():
                raise GanbenchError(f"run folder not found: {root}")
            for record in store.records():
                if record.key in folder_of:
                    raise GanbenchError(f"job {record.key} is in both {folder_of[record.key]} and {root}")
                folder_of[record.key] = store.root
                records.append(record)
            planned_keys |= set(store.plan())
        return cls(records, folder_of, frozenset(planned_keys))

    def planned(self) -> Counter:
        """(method, cell) -> number of jobs planned (or at least stored)."""
        return Counter(cell_of_key(key) for key in self.planned_keys | set(self.folder_of))

    def missing(self) -> list[str]:
        """Planned job keys without any record."""
        return sorted(self.planned_keys - set(self.folder_of))

    def samples(self, key: str) -> np.ndarray | None:
        return RunStore(self.folder_of[key]).load_samples(key)


def build_report(
    roots: Sequence[Path],
    out: Path,
    metrics: list[str] | None = None,
    methods: list[str] | None = None,
    number_format: str = ".3g",
) -> Report:
    """Merge the records of `roots` and write every table and figure into `out`.

    Tables: records.csv, summary.csv (with 95% Student t intervals), summary.md, summary.tex.
    Figures (PNG and PDF) under out/figures: one per metric, sample scatters for 2-D data,
    losses against steps, and the tracked curves with their correlation table when recorded.
    """
    number_format = check_number_format(number_format)
    sources = _Sources.load(roots)
    frame = records_frame(sources.records)
    if methods:
        frame = frame[frame.method.isin(methods)]
    summary = select(summarize(frame, sources.planned()), metrics, methods)
    frame = frame[frame.metric.isin(summary.metric.unique())] if metrics else frame
    markdown = summary_markdown(summary, number_format) + _not_ok_lines(frame, sources)
    store = RunStore(out)
    files = _report_file(store, roots, metrics, methods, number_format)
    files += [
        store.write_text("records.csv", frame.to_csv(index=False)),
        store.write_text("summary.csv", summary.to_csv(index=False)),
        store.write_text("summary.md", markdown),
        store.write_text("summary.tex", summary_latex(summary, number_format)),
    ]
    if not frame.empty:
        files += _figures(store, sources, frame, summary)
    curves = curves_frame([r for r in sources.records if not methods or r.method in methods])
    if not curves.empty:
        files += _curve_outputs(store, curves)
    return Report(frame, summary, markdown, files)


def _report_file(
    store: RunStore,
    roots: Sequence[Path],
    metrics: list[str] | None,
    methods: list[str] | None,
    number_format: str,
) -> list[Path]:
    """A report written outside its run folders gets report.json: what it merged, with which options.
    (It also marks the folder as ganbench's, so `--out` may write there again.)"""
    if any(Path(root).resolve() == store.root.resolve() for root in roots):
        return []
    described = {
        "runs": [str(Path(root).resolve()) for root in roots],
        "metrics": metrics,
        "methods": methods,
        "format": number_format,
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "ganbench": ganbench.__version__,
    }
    return [store.write_text(REPORT_FILE, json.dumps(described, indent=1))]


def against_published(
    roots: Sequence[Path], out: Path, name: str, alpha: float = 0.05, number_format: str = ".3g"
) -> tuple[str, list[Path]]:
    """Set the records of `roots` beside the published table `name` (a shipped table or a TOML path)
    and write against-<name>.md, .tex and .csv into `out`; returns the Markdown and the files."""
    from ganbench.metrics.published import load_published
    from ganbench.report.reproduce import reproduce, reproduce_latex, reproduce_markdown

    number_format = check_number_format(number_format)
    if not 0 < alpha < 1:
        raise GanbenchError(f"--alpha must be between 0 and 1 (got {alpha:g})")
    table = load_published(name)
    frame = records_frame(_Sources.load(roots).records)
    result = reproduce(frame, table, alpha)
    markdown = reproduce_markdown(result, table, alpha, number_format)
    store = RunStore(out)
    stem = f"against-{table.name}"
    files = [
        store.write_text(f"{stem}.md", markdown),
        store.write_text(f"{stem}.tex", reproduce_latex(result, table, alpha, number_format)),
        store.write_text(f"{stem}.csv", result.to_csv(index=False)),
    ]
    return markdown, files


def _not_ok_lines(frame: pd.DataFrame, sources: _Sources) -> str:
    """Markdown lines naming every planned job without a record and every job not `ok`."""
    cells = set(zip(frame["method"], frame["dataset"], strict=True))
    lines = [
        f"- {key}: missing (planned, no record)" for key in sources.missing() if cell_of_key(key) in cells
    ]
    jobs = frame.drop_duplicates("key")
    lines += [f"- {r.key}: {r.status}: {r.reason}" for r in jobs[jobs.status != "ok"].itertuples()]
    return ("\nJobs without a result:\n" + "\n".join(lines) + "\n") if lines else ""


def _figures(store: RunStore, sources: _Sources, frame: pd.DataFrame, summary: pd.DataFrame) -> list[Path]:
    from ganbench.report import figures

    folder = store.root / FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    # What each dataset is comes from the records themselves (modality, mixture centers).
    info = {r.cell: r.dataset for r in sources.records if r.dataset is not None}
    point_data = [d for d in frame["dataset"].unique() if d in info and info[d].modality == "points"]
    image_data = [d for d in frame["dataset"].unique() if d in info and info[d].modality == "images"]

    def centers(dataset: str) -> np.ndarray:
        return np.asarray(info[dataset].centers or np.zeros((0, 2)), dtype=np.float64).reshape(-1, 2)

    def reference(metric: str, dataset: str) -> float | None:
        return float(len(centers(dataset))) if metric == MODES_COVERED and dataset in point_data else None

    files: list[Path] = []
    for metric in summary["metric"].unique():
        stem = folder / f"metric-{metric}"
        files += figures.metric_plot(frame, summary, metric, functools.partial(reference, metric), stem)
    if point_data:
        points = frame[frame.dataset.isin(point_data)]
        files += figures.sample_grid(points, sources.samples, centers, folder / "samples")
    if image_data:
        images = frame[frame.dataset.isin(image_data)]
        files += figures.image_grid(images, sources.samples, folder / "image-samples")
    losses = _losses_frame([r for r in sources.records if r.key in set(frame["key"])])
    if not losses.empty:
        files += figures.loss_curves(losses, folder / "losses")
    return files


def _losses_frame(records: list[Record]) -> pd.DataFrame:
    """One row per job x logged step: the discriminator and generator losses."""
    rows = [
        {"key": r.key, "method": r.method, "dataset": r.cell, "seed": r.seed, "step": step, "d_loss": d,
         "g_loss": g}
        for r in records
        for step, d, g in zip(r.losses.get("step", []), r.losses.get("d", []), r.losses.get("g", []),
                              strict=True)
    ]  # fmt: skip
    if not rows:
        return pd.DataFrame()
    return in_registry_order(pd.DataFrame(rows), then=["seed", "step"])


def _curve_outputs(store: RunStore, curves: pd.DataFrame) -> list[Path]:
    """curves.csv, correlations.csv/.md, figures/training-curves.png/.pdf and, on Gaussian
    mixtures, figures/convergence.png/.pdf (modes covered, high-quality fraction, W1 over training)."""
    from ganbench.engine.tracking import CRITIC_ESTIMATE, D_LOSS, HQ_CURVE, MODES_CURVE, W1_CURVE
    from ganbench.report import figures

    table = correlations(curves)
    folder = store.root / FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    outputs = [
        store.write_text("curves.csv", curves.to_csv(index=False)),
        store.write_text("correlations.csv", table.to_csv(index=False)),
        store.write_text("correlations.md", correlations_markdown(table)),
        *figures.training_curves(curves, [D_LOSS, CRITIC_ESTIMATE, W1_CURVE], folder / "training-curves"),
    ]
    mixtures = curves.dropna(subset=[HQ_CURVE]) if HQ_CURVE in curves else curves.iloc[:0]
    if not mixtures.empty:
        series = [MODES_CURVE, HQ_CURVE, W1_CURVE]
        outputs += figures.training_curves(mixtures, series, folder / "convergence")
    return outputs
