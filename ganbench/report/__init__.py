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
from ganbench.labels import labelled_key, settings_labels, settings_of_key
from ganbench.metrics.mode_collapse import MODES_COVERED
from ganbench.records.record import Record
from ganbench.records.store import FIGURES_DIR, REPORT_FILE, RunStore, cell_of_key
from ganbench.report.curves import correlations, correlations_markdown, curves_frame
from ganbench.report.intervals import Domain
from ganbench.report.records import in_registry_order, records_frame
from ganbench.report.tables import (
    check_number_format,
    markdown_text,
    registry_domain,
    select,
    summarize,
    summary_latex,
    summary_markdown,
)


@dataclass(frozen=True)
class Report:
    """The tables of a report, and the files written for them."""

    records: pd.DataFrame
    summary: pd.DataFrame
    markdown: str
    files: list[Path]
    latex: str = ""  # summary.tex


@dataclass(frozen=True)
class _Sources:
    """Records merged from several run folders, each with its settings label and where it lives.

    Jobs of one method and dataset run at different settings (a sweep, or folders run at different
    budgets) are told apart by a settings label derived from their configs (ganbench.labels), which
    also goes into their key in the report (`gan__ring-8__steps=1000__seed0`). Rows of one dataset
    made with different protocols (a `--quick` run beside `ganbench eval` rows) are labelled with
    what differs, so that no table mixes protocols without saying so.
    """

    records: list[Record]
    labels: list[str]  # each record's settings label ('' where its method and dataset ran at one)
    where: dict[str, tuple[Path, str]]  # report key -> (run folder, job key there)
    planned_keys: frozenset[str]  # report keys of every job the folders' plans name

    @classmethod
    def load(cls, roots: Sequence[Path]) -> _Sources:
        entries: list[tuple[Path, Record]] = []
        plans: list[tuple[Path, str]] = []
        for root in roots:
            store = RunStore(root)
            if not store.root.is_dir():
                raise GanbenchError(f"run folder not found: {root}")
            entries += [(store.root, record) for record in store.records()]
            plans += [(store.root, key) for key in store.plan()]
        # Grouped by the record's method and cell (a throughput target's config names no dataset).
        labels = settings_labels([{**r.config, "method": r.method, "dataset": r.cell} for _, r in entries])
        where: dict[str, tuple[Path, str]] = {}
        label_in: dict[tuple[Path, str, str, str], str] = {}  # a folder's job group -> its label here
        for (root, record), label in zip(entries, labels, strict=True):
            key = labelled_key(record.key, label)
            if key in where:
                raise GanbenchError(
                    f"job {record.key} is in both {where[key][0]} and {root}, with the same settings"
                )
            where[key] = (root, record.key)
            label_in[(root, *cell_of_key(record.key), settings_of_key(record.key))] = label
        planned = {
            labelled_key(
                key, label_in.get((root, *cell_of_key(key), settings_of_key(key)), settings_of_key(key))
            )
            for root, key in plans
        }
        return cls([r for _, r in entries], labels, where, frozenset(planned))

    def planned(self) -> Counter:
        """(method, cell, settings) -> number of jobs planned (or at least stored)."""
        return Counter(
            (*cell_of_key(key), settings_of_key(key)) for key in self.planned_keys | set(self.where)
        )

    def missing(self) -> list[str]:
        """Planned report keys without any record."""
        return sorted(self.planned_keys - set(self.where))

    def samples(self, key: str) -> np.ndarray | None:
        root, job = self.where[key]
        return RunStore(root).load_samples(job)

    def frame(self) -> pd.DataFrame:
        """The tidy records frame (ganbench.report.records) with each record's settings label."""
        return records_frame(self.records, self.labels)

    def domain(self, metric: str, dataset: str) -> Domain:
        """The values `metric` can take on `dataset`: its declared domain, and for modes covered on a
        Gaussian mixture at most the mixture's modes (read from the records' centers)."""
        low, high = registry_domain(metric, dataset)
        if metric == MODES_COVERED:
            info = next(
                (r.dataset for r in self.records if r.cell == dataset and r.dataset is not None), None
            )
            if info is not None and info.centers:
                high = float(len(info.centers))
        return low, high


def build_report(
    roots: Sequence[Path],
    out: Path,
    metrics: list[str] | None = None,
    methods: list[str] | None = None,
    number_format: str | None = None,
    sample_seed: int | None = None,
) -> Report:
    """Merge the records of `roots` and write every table and figure into `out`.

    Tables: records.csv, summary.csv (with 95% percentile-bootstrap intervals), summary.md,
    summary.tex. `number_format` (a format spec such as '.3g') replaces the decimals that follow
    each cell's uncertainty. Figures (PNG and PDF) under out/figures: one per metric, sample
    scatters for 2-D data (every seed, or `sample_seed` alone), losses against steps, and the
    tracked curves with their correlation table when recorded.
    """
    if number_format is not None:
        number_format = check_number_format(number_format)
    sources = _Sources.load(roots)
    frame = sources.frame()
    if methods:
        frame = frame[frame.method.isin(methods)]
    summary = select(summarize(frame, sources.planned(), sources.domain), metrics, methods)
    frame = frame[frame.metric.isin(summary.metric.unique())] if metrics else frame
    markdown = summary_markdown(summary, number_format, sources.domain) + _not_ok_lines(frame, sources)
    latex = summary_latex(summary, number_format, sources.domain)
    store = RunStore(out)
    files = _report_file(store, roots, metrics, methods, number_format)
    files += [
        store.write_text("records.csv", frame.to_csv(index=False)),
        store.write_text("summary.csv", summary.to_csv(index=False)),
        store.write_text("summary.md", markdown),
        store.write_text("summary.tex", latex),
    ]
    if not frame.empty:
        files += _figures(store, sources, frame, summary, sample_seed)
    chosen = [(r, label) for r, label in zip(sources.records, sources.labels, strict=True)
              if not methods or r.method in methods]  # fmt: skip
    curves = curves_frame([r for r, _ in chosen], [label for _, label in chosen])
    if not curves.empty:
        files += _curve_outputs(store, curves)
    return Report(frame, summary, markdown, files, latex)


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
    frame = _Sources.load(roots).frame()
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
    """Markdown lines naming every planned job without a record and every job not `ok` (keys and
    reasons come from the records: escaped, so that no line break or `|` in them makes Markdown)."""
    cells = set(zip(frame["method"], frame["dataset"], strict=True))
    lines = [
        f"- {markdown_text(key)}: missing (planned, no record)"
        for key in sources.missing()
        if cell_of_key(key) in cells
    ]
    jobs = frame.drop_duplicates("key")
    lines += [
        f"- {markdown_text(r.key)}: {r.status}: {markdown_text(r.reason)}"
        for r in jobs[jobs.status != "ok"].itertuples()
    ]
    return ("\nJobs without a result:\n" + "\n".join(lines) + "\n") if lines else ""


def _figures(
    store: RunStore, sources: _Sources, frame: pd.DataFrame, summary: pd.DataFrame, sample_seed: int | None
) -> list[Path]:
    """figures/: metric-<metric> (axes inside each metric's domain), sweep-<metric> in sweeps, samples
    and image-samples (every seed, or `sample_seed` alone) and losses, each as PNG and PDF."""
    from ganbench.report import figures

    folder = store.root / FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    # What each dataset is comes from the records themselves (modality, mixture centers).
    info = {r.cell: r.dataset for r in sources.records if r.dataset is not None}
    point_data = [d for d in frame["dataset"].unique() if d in info and info[d].modality == "points"]
    image_data = [d for d in frame["dataset"].unique() if d in info and info[d].modality == "images"]
    # First, so that a seed no job ran fails before any figure is drawn.
    samples = _sample_frames(frame, {"points": point_data, "images": image_data}, sample_seed)

    def centers(dataset: str) -> np.ndarray:
        return np.asarray(info[dataset].centers or np.zeros((0, 2)), dtype=np.float64).reshape(-1, 2)

    def reference(metric: str, dataset: str) -> float | None:
        return float(len(centers(dataset))) if metric == MODES_COVERED and dataset in point_data else None

    files: list[Path] = []
    # Throughput metrics: bars from zero with the spread over timed blocks (kept in the records).
    throughput = set(frame.loc[frame["kind"] == "throughput", "metric"])
    blocks = figures.throughput_blocks(sources.records, sources.labels)
    for metric in summary["metric"].unique():
        stem = folder / f"metric-{metric}"
        if metric in throughput:
            files += figures.throughput_plot(frame, blocks, metric, stem)
            continue
        line, label = functools.partial(reference, metric), "the mixture's number of modes"
        files += figures.metric_plot(frame, summary, metric, line, stem, sources.domain, label)
    files += _sweep_figures(folder, summary, sources)
    if "points" in samples:
        files += figures.sample_grid(
            samples["points"], sources.samples, centers, folder / "samples", sample_seed
        )
    if "images" in samples:
        files += figures.image_grid(samples["images"], sources.samples, folder / "image-samples", sample_seed)
    losses = _losses_frame(sources, set(frame["key"]))
    if not losses.empty:
        files += figures.loss_curves(losses, folder / "losses")
    return files


def _sweep_figures(folder: Path, summary: pd.DataFrame, sources: _Sources) -> list[Path]:
    """figures/sweep-<metric>.png/.pdf for every metric, where a dataset's jobs sweep one numeric setting."""
    from ganbench.report import figures

    files: list[Path] = []
    if not summary["settings"].astype(bool).any():
        return files
    for metric in summary["metric"].unique():
        files += figures.sweep_plot(summary, metric, folder / f"sweep-{metric}", sources.domain)
    return files


def _sample_frames(
    frame: pd.DataFrame, data: dict[str, list[str]], sample_seed: int | None
) -> dict[str, pd.DataFrame]:
    """The records of each modality's datasets that have sample figures (those that ran `sample_seed`,
    when one is asked for); a seed no job ran is an error."""
    if sample_seed is not None and not (frame["seed"] == sample_seed).any():
        seeds = ", ".join(str(int(s)) for s in sorted(frame["seed"].dropna().unique()))
        raise GanbenchError(f"--sample-seed {sample_seed}: no job has that seed (seeds here: {seeds})")
    chosen = {}
    for modality, datasets in data.items():
        subset = frame[frame.dataset.isin(datasets)]
        if not subset.empty and (sample_seed is None or (subset["seed"] == sample_seed).any()):
            chosen[modality] = subset
    return chosen


def _losses_frame(sources: _Sources, keys: set[str]) -> pd.DataFrame:
    """One row per job x logged step (of the report keys `keys`): the discriminator and generator losses."""
    rows = [
        {"key": key, "method": r.method, "dataset": r.cell, "settings": label, "seed": r.seed, "step": step,
         "d_loss": d, "g_loss": g}
        for r, label in zip(sources.records, sources.labels, strict=True)
        if (key := labelled_key(r.key, label)) in keys
        for step, d, g in zip(r.losses.get("step", []), r.losses.get("d", []), r.losses.get("g", []),
                              strict=True)
    ]  # fmt: skip
    if not rows:
        return pd.DataFrame()
    return in_registry_order(pd.DataFrame(rows), then=["seed", "step"])


def _curve_outputs(store: RunStore, curves: pd.DataFrame) -> list[Path]:
    """curves.csv, correlations.csv/.md (where W1 was tracked), figures/training-curves.png/.pdf and,
    on Gaussian mixtures, figures/convergence.png/.pdf (modes covered, high-quality fraction, W1 over
    training); on images, the tracked image metrics in figures/convergence (convergence-images beside
    mixtures); on the Dirac-GAN, figures/phase-plane.png/.pdf (theta against psi)."""
    from ganbench.data.dirac import PSI, THETA
    from ganbench.metrics.validity import (
        CRITIC_ESTIMATE,
        D_LOSS,
        HQ_CURVE,
        IMAGE_CURVES,
        MODES_CURVE,
        W1_CURVE,
    )
    from ganbench.report import figures
    from ganbench.report.phase_plane import phase_plane

    table = correlations(curves)
    folder = store.root / FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    # The discriminator's loss and its estimate are on the scale of its objective and its critic's
    # constraint (a clipped critic's values are tiny): one row per method.
    per_method = [D_LOSS, CRITIC_ESTIMATE]
    outputs = [store.write_text("curves.csv", curves.to_csv(index=False))]
    if not table.empty:  # no correlations where no job tracked W1 (an image suite)
        outputs += [
            store.write_text("correlations.csv", table.to_csv(index=False)),
            store.write_text("correlations.md", correlations_markdown(table)),
        ]
    outputs += [
        *figures.training_curves(
            curves,
            [D_LOSS, CRITIC_ESTIMATE, W1_CURVE],
            folder / "training-curves",
            per_method,
            _curve_domains(),
        ),
    ]
    mixtures = curves.dropna(subset=[HQ_CURVE]) if HQ_CURVE in curves else curves.iloc[:0]
    if not mixtures.empty:
        series = [MODES_CURVE, HQ_CURVE, W1_CURVE]
        outputs += figures.training_curves(
            mixtures, series, folder / "convergence", per_method, _curve_domains()
        )
    # Image jobs' tracked image metrics (FID; Stacked MNIST's modes and KL): their own figure,
    # `convergence` when the run has no mixtures, so an image suite's curves sit where a 2-D suite's do.
    image_series = [name for name in IMAGE_CURVES if name in curves and curves[name].notna().any()]
    if image_series:
        images = curves.dropna(subset=image_series, how="all")
        stem = "convergence" if mixtures.empty else "convergence-images"
        outputs += figures.training_curves(images, image_series, folder / stem, per_method, _curve_domains())
    # Its axes are square around the furthest point: a theta or psi no axis can hold is left out.
    outputs += phase_plane(figures.drawable_frame(curves, [THETA, PSI])[0], folder / "phase-plane")
    return outputs


def _curve_domains() -> dict[str, Domain]:
    """The values each tracked metric series can take (its metric's declared domain), for the figures."""
    from ganbench.metrics.mode_collapse import HIGH_QUALITY_FRACTION
    from ganbench.metrics.validity import HQ_CURVE, IMAGE_CURVES, MODES_CURVE, W1_CURVE
    from ganbench.metrics.wasserstein import W1

    metrics = {MODES_CURVE: MODES_COVERED, HQ_CURVE: HIGH_QUALITY_FRACTION, W1_CURVE: W1}
    metrics |= {name: name for name in IMAGE_CURVES}  # image curves bear their metrics' names
    return {series: registry_domain(metric, "") for series, metric in metrics.items()}
