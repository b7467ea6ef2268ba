"""Figures from records: the only module that imports seaborn and matplotlib (lazily).

Every figure is written as PNG and PDF, and every method keeps one color in every figure: its
color is chosen by its position in the method registry, not by its position in one report; a
model that `ganbench eval` scored (a label no method has) gets one chosen by its name.

Each figure is built by a `make_*` function that returns the matplotlib Figure (tests inspect it),
and written by the public function of the same name without the prefix. Every figure says in its
caption what its marks, bars and bands are and over how many seeds; legends sit outside the axes
(to the right of the figure), captions below them, so that nothing covers data; a metric's axis
never leaves the values the metric can take. A value no axis can hold (infinite, or beyond
MAX_PLOTTED_VALUE) is left out, and the caption says so; text from records is never read as math.
Each file is rendered in memory and written atomically: the old file or the new one, never a part.
"""

from __future__ import annotations

import io
import textwrap
import warnings
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ganbench import labels
from ganbench.data import DATASETS
from ganbench.errors import GanbenchError
from ganbench.files import write_atomic
from ganbench.limits import MAX_PLOTTED_VALUE
from ganbench.metrics import METRICS
from ganbench.models import METHODS
from ganbench.models.objectives import CROSS_ENTROPY_FAMILY, WASSERSTEIN_FAMILY
from ganbench.report.intervals import CONFIDENCE, RESAMPLES, Domain
from ganbench.report.tables import registry_domain

FORMATS = ("png", "pdf")
# Line styles of a sweep's settings (in settings order); colors belong to methods.
LINESTYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3))]
INTERVAL = f"{CONFIDENCE:.0%} percentile-bootstrap interval of the mean ({RESAMPLES:,} resamples)"
# Readable names of the tracked training series (ganbench.engine.tracking); others keep their name.
SERIES_TITLES = {
    "d_loss": "discriminator / critic loss",
    "critic_estimate": "critic estimate",  # E[D(x)] - E[D(G(z))]
    "w1": "W1 (exact)",
    "modes_covered": "modes covered",
    "high_quality_fraction": "HQ fraction",
}
OFF_SCALE = f" Values infinite or beyond ±{MAX_PLOTTED_VALUE:g} are left out (the tables show them)."


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    # Names, settings and units come from records: a '$' in them is text, never the start of math
    # (an unbalanced one made matplotlib raise while drawing). No figure here writes math.
    matplotlib.rcParams["text.parse_math"] = False
    return plt, sns


def drawable(values: Iterable[float] | np.ndarray) -> np.ndarray:
    """`values` as floats, NaN where a figure cannot draw them: not finite, or beyond MAX_PLOTTED_VALUE
    in magnitude (matplotlib's axis arithmetic overflows float64 near 1e308)."""
    data = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(data) <= MAX_PLOTTED_VALUE, data, np.nan)


def off_scale(values: Iterable[float] | np.ndarray) -> bool:
    """Whether `drawable` leaves out any of `values` (a NaN is no value: n/a, nothing to leave out)."""
    data = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
    return bool(np.any(~np.isnan(data) & np.isnan(drawable(data))))


def drawable_frame(frame: pd.DataFrame, columns: Iterable[str]) -> tuple[pd.DataFrame, bool]:
    """`frame` with every value of `columns` (those it has) that `drawable` leaves out made NaN, and
    whether any was."""
    present = [c for c in columns if c in frame.columns]
    left_out = any(off_scale(frame[c].astype(float)) for c in present)
    if not left_out:
        return frame, False
    return frame.assign(**{c: drawable(frame[c].astype(float)) for c in present}), True


def method_colors(methods: list[str]) -> dict[str, tuple[float, float, float]]:
    """One fixed color per method, by registry position; labels no method has (scored models) get
    the darker palette, each a color of its own (`_label_colors`)."""
    _, sns = _pyplot()
    palette = sns.color_palette("colorblind", n_colors=10)
    names = METHODS.names()
    scored = _label_colors([m for m in methods if m not in names])
    return {m: palette[names.index(m) % len(palette)] if m in names else scored[m] for m in methods}


def _label_colors(names: list[str]) -> dict[str, tuple[float, float, float]]:
    """A color per label, by a hash of its name, so a label keeps its color in every figure and
    report; where two labels hash alike, the one later in name order takes the next free color."""
    _, sns = _pyplot()
    # The dark palette without its gray: apart from the methods' lighter colors and from gray text.
    palette = [c for i, c in enumerate(sns.color_palette("dark", n_colors=10)) if i != 7]
    colors: dict[str, tuple[float, float, float]] = {}
    for name in sorted(set(names)):
        start = zlib.crc32(name.encode("utf-8")) % len(palette)
        order = [palette[(start + step) % len(palette)] for step in range(len(palette))]
        # More labels than colors: colors repeat, from the hashed one.
        colors[name] = next((c for c in order if c not in colors.values()), order[0])
    return colors


def method_title(method: str) -> str:
    """The method's display name ('WGAN-GP'), or its slug when no registered method has it."""
    return METHODS.get(method).title if method in METHODS else method


def metric_title(metric: str) -> str:
    """The metric's display name ('HQ fraction'), or its slug."""
    return METRICS.get(metric).title if metric in METRICS else metric


def dataset_title(dataset: str) -> str:
    """The dataset's display name ('Ring-8'), or the cell's name (a throughput target, a plugin's)."""
    return DATASETS.get(dataset).title if dataset in DATASETS else dataset


def objective_family(method: str) -> str:
    """'cross-entropy (GAN)', 'Wasserstein critic', ...: losses of one family share a scale."""
    return METHODS.get(method).objective.family if method in METHODS else "other"


def unit_suffix(unit: object) -> str:
    """' [nats]' for a unit, '' for none (an empty or missing unit is never shown as '[]')."""
    return f" [{unit.strip()}]" if isinstance(unit, str) and unit.strip() else ""


def _with_settings(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with a text `settings` column ('' outside sweeps, and where a frame has none)."""
    if "settings" not in frame.columns:
        return frame.assign(settings="")
    return frame.assign(settings=frame["settings"].fillna("").astype(str))


def _settings_styles(settings: Iterable[str]) -> dict[str, object]:
    """One line style per settings label, in settings order (numbers as numbers)."""
    ranks = labels.order(list(settings))
    return {text: LINESTYLES[rank % len(LINESTYLES)] for text, rank in ranks.items()}


def _n_text(counts: Iterable[int]) -> str:
    """'n = 3' or, where cells differ, 'n = 2 to 3' (cells without any seed left out)."""
    ns = sorted({int(n) for n in counts if n > 0})
    if not ns:
        return "n = 0"
    return f"n = {ns[0]}" if len(ns) == 1 else f"n = {ns[0]} to {ns[-1]}"


def y_limits(values: Iterable[float], domain: Domain) -> tuple[float, float] | None:
    """Axis limits that show `values` with a margin but stay inside `domain` (None: unbounded).

    The bottom sits on the domain's low end when the data start near it (within a quarter of
    their distance from it), so counts and fractions are read from zero; the top is at most the
    domain's high end. None when there is no finite value.
    Worked: modes 0, 0, 3 with the reference line at 8 on an 8-mode ring give (0, 8); 6 to 8 modes
    give (6 - 0.06 * 2, 8): the margin above 8 is cut.
    """
    data = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if not len(data):
        return None
    low, high = float(data.min()), float(data.max())
    if high > low:
        bottom, top = low - 0.06 * (high - low), high + 0.06 * (high - low)
    else:  # one value: a window of 10% around it, or of 0.5 around zero
        half = abs(high) * 0.1 or 0.5
        bottom, top = low - half, high + half
    floor, ceiling = domain
    if floor is not None:
        if low - floor <= 0.25 * (high - floor):
            bottom = floor
        bottom = min(max(bottom, floor), low)  # a value outside the domain (a plugin's) still shows
    if ceiling is not None:
        top = max(min(top, ceiling), high)
    return bottom, top


def _caption(fig, text: str) -> None:
    """A caption below the axes (outside them: savefig's tight box takes it in), wrapped to the width."""
    width = max(60, int(fig.get_figwidth() * 16))
    fig.text(0.5, 0.0, textwrap.fill(text, width), ha="center", va="top", fontsize=7.5, color="0.2")


def _legend(fig, handles: list) -> None:
    """The legend to the right of every axes, outside the figure's data area."""
    if handles:
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8)


def _layout(fig) -> None:
    """Lay out the axes; call before adding the legend and caption, which go outside them."""
    with warnings.catch_warnings():
        # A panel without data (a method whose every seed failed) cannot be laid out tighter.
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()


def _line_handles(methods: Sequence[str], settings: Sequence[str], colors: Mapping) -> list:
    """Legend entries: a colored line per method, then (in a sweep) a gray line style per settings label."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colors[m], linewidth=2, label=method_title(m)) for m in methods]
    styles = _settings_styles(settings)
    shown = sorted((s for s in styles if s), key=labels.order(list(styles)).get)
    handles += [Line2D([], [], color="0.35", linestyle=styles[s], label=s) for s in shown]
    return handles


def _save(fig, stem: Path) -> list[Path]:
    """Write `fig` as PNG and PDF beside `stem` (the tight box takes in legend and caption) and close it.

    Each file is rendered in memory, then written with `write_atomic`: a full disk leaves the old
    file (or none), never a truncated one, and is an OSError, not one of matplotlib's errors.
    """
    plt, _ = _pyplot()
    paths = [stem.with_suffix(f".{ext}") for ext in FORMATS]
    try:
        for path in paths:
            rendered = io.BytesIO()
            fig.savefig(rendered, format=path.suffix[1:], dpi=110, bbox_inches="tight")
            write_atomic(path, rendered.getvalue())
    finally:
        plt.close(fig)
    return paths


# --- samples ---------------------------------------------------------------------------------------


def _sample_jobs(frame: pd.DataFrame, sample_seed: int | None) -> pd.DataFrame:
    """One row per training job (every seed, or `sample_seed` alone, which some job must have)."""
    jobs = _with_settings(frame).drop_duplicates("key")
    jobs = jobs[jobs["seed"].notna()].astype({"seed": int})
    if sample_seed is not None:
        if not (jobs["seed"] == sample_seed).any():
            seeds = ", ".join(str(s) for s in sorted(set(jobs["seed"])))
            raise GanbenchError(f"no job has seed {sample_seed} (seeds here: {seeds or 'none'})")
        jobs = jobs[jobs["seed"] == sample_seed]
    return jobs


def _sample_panels(
    frame: pd.DataFrame,
    load_samples: Callable[[str], np.ndarray | None],
    sample_seed: int | None,
    panel: tuple[float, float],
    draw: Callable[[object, str, str, np.ndarray], None],
):
    """A grid of panels: rows method (x settings), columns dataset x seed; `draw(ax, method, dataset,
    samples)` fills each panel of a job that finished ok from its stored samples."""
    plt, _ = _pyplot()
    jobs = _sample_jobs(frame, sample_seed)
    rows = list(dict.fromkeys(zip(jobs["method"], jobs["settings"], strict=True)))
    columns = [
        (dataset, seed)
        for dataset in dict.fromkeys(jobs["dataset"])
        for seed in sorted(set(jobs.loc[jobs.dataset == dataset, "seed"]))
    ]
    fig, axes = plt.subplots(
        len(rows), len(columns), squeeze=False, figsize=(panel[0] * len(columns), panel[1] * len(rows))
    )
    for i, (method, settings) in enumerate(rows):
        for j, (dataset, seed) in enumerate(columns):
            ax = axes[i][j]
            ax.set(xticks=[], yticks=[])  # sample coordinates carry no meaning a reader needs
            ax.grid(False)
            job = jobs[
                (jobs.method == method)
                & (jobs.settings == settings)
                & (jobs.dataset == dataset)
                & (jobs.seed == seed)
            ]
            if job.empty:  # this method did not run on this dataset at this seed
                ax.set_axis_off()
                continue
            job = job.iloc[0]
            name = method_title(method) + (f", {settings}" if settings else "")
            ax.set_title(f"{name}\n{dataset_title(dataset)}, seed {seed}", fontsize=7, pad=3)
            samples = load_samples(job["key"]) if job["status"] == "ok" else None
            if samples is None:
                reason = job["status"] if job["status"] != "ok" else "no samples stored"
                ax.text(0.5, 0.5, reason, transform=ax.transAxes, ha="center", va="center", color="gray")
                continue
            draw(ax, method, dataset, samples)
    return fig


def make_sample_figure(
    frame: pd.DataFrame,
    load_samples: Callable[[str], np.ndarray | None],
    centers: Callable[[str], np.ndarray],
    sample_seed: int | None = None,
):
    """The Figure of `sample_grid`."""
    colors = method_colors(list(dict.fromkeys(frame["method"])))
    left_out: list[bool] = []

    def draw(ax, method: str, dataset: str, samples: np.ndarray) -> None:
        points = drawable(np.asarray(samples, dtype=np.float64).reshape(len(samples), -1))
        keep = ~np.isnan(points).any(axis=1)
        left_out.append(off_scale(samples.reshape(-1)))
        points = points[keep]
        y = points[:, 1] if points.shape[1] > 1 else np.zeros(len(points))  # 1-D points on the x axis
        ax.scatter(points[:, 0], y, s=2, alpha=0.5, color=colors[method], linewidths=0, zorder=2)
        c = centers(dataset)
        if c is not None and len(c):
            c = c[~np.isnan(drawable(np.asarray(c, dtype=np.float64))).any(axis=1)]
        if c is not None and len(c):  # a plugin's 2-D dataset may have no centers: axes then fit the samples
            # Under the samples: a cross shows through only where a mode is missed or thinly covered.
            ax.scatter(c[:, 0], c[:, 1], marker="x", color="black", s=14, linewidths=0.7, zorder=1)
            span = np.abs(c).max() * 1.5
            ax.set(xlim=(-span, span), ylim=(-span, span))
        ax.set_aspect("equal")

    fig = _sample_panels(frame, load_samples, sample_seed, (1.9, 2.1), draw)
    _layout(fig)
    caption = "Generated samples, one panel per job; black crosses (under the samples): the mixture's modes."
    note = f" Samples infinite or beyond ±{MAX_PLOTTED_VALUE:g} are left out." if any(left_out) else ""
    _caption(fig, caption + note)
    return fig


def sample_grid(
    frame: pd.DataFrame,
    load_samples: Callable[[str], np.ndarray | None],
    centers: Callable[[str], np.ndarray],
    stem: Path,
    sample_seed: int | None = None,
) -> list[Path]:
    """Scatter of generated samples: rows method (x settings), columns dataset x seed, true centers
    as black crosses; every seed, or `sample_seed` alone (a seed no job has is an error)."""
    return _save(make_sample_figure(frame, load_samples, centers, sample_seed), stem)


def make_image_figure(
    frame: pd.DataFrame, load_samples: Callable[[str], np.ndarray | None], sample_seed: int | None = None
):
    """The Figure of `image_grid`."""
    import torch
    from torchvision.utils import make_grid

    def draw(ax, method: str, dataset: str, images: np.ndarray) -> None:
        grid = make_grid(torch.from_numpy(images[:64]), nrow=8, padding=1, pad_value=128)
        ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")

    fig = _sample_panels(frame, load_samples, sample_seed, (2.3, 2.5), draw)
    _layout(fig)
    _caption(fig, "Generated images, the first 64 of each job's stored samples.")
    return fig


def image_grid(
    frame: pd.DataFrame,
    load_samples: Callable[[str], np.ndarray | None],
    stem: Path,
    sample_seed: int | None = None,
) -> list[Path]:
    """Generated images, 8 x 8 per panel: rows method (x settings), columns dataset x seed (every
    seed, or `sample_seed` alone). The samples are the uint8 (N, C, H, W) images each job stored."""
    return _save(make_image_figure(frame, load_samples, sample_seed), stem)


# --- metrics ---------------------------------------------------------------------------------------


def make_metric_figure(
    frame: pd.DataFrame,
    summary: pd.DataFrame,
    metric: str,
    reference: Callable[[str], float | None] | None = None,
    domain: Callable[[str, str], Domain] = registry_domain,
    reference_label: str = "reference",
):
    """The Figure of `metric_plot`."""
    plt, _ = _pyplot()
    data = _with_settings(frame[(frame.metric == metric) & (frame.status == "ok")])
    stats = _with_settings(summary[summary.metric == metric])
    datasets = list(dict.fromkeys(stats["dataset"]))
    colors = method_colors(list(dict.fromkeys(stats["method"])))
    ns = [int(n) for n in stats["n"]]
    n_varies = len({n for n in ns if n > 0}) > 1
    # A mark per method x settings: narrower where a sweep makes many; panels stack where a row would
    # be wider than a page.
    per_mark = 0.55 if stats["settings"].astype(bool).any() else 0.8
    width = max(2.8, per_mark * max(int((stats.dataset == d).sum()) for d in datasets) + 1.0)
    shape = (1, len(datasets)) if width * len(datasets) <= 12 else (len(datasets), 1)
    fig, axes = plt.subplots(*shape, squeeze=False, figsize=(width * shape[1], 3.0 * shape[0]))
    unit = stats["unit"].iloc[0] if len(stats) else ""
    drew_reference = left_out = False
    for ax, dataset in zip(axes.flat, datasets, strict=True):
        cells = stats[stats.dataset == dataset]
        swept = swept_setting(cells["settings"])
        shown: list[float] = []
        ticks = []
        for x, cell in enumerate(cells.itertuples(index=False)):
            rows = (data.dataset == dataset) & (data.method == cell.method) & (data.settings == cell.settings)
            stored = data[rows].sort_values("seed")["value"].astype(float)
            left_out |= off_scale([*stored, cell.mean, cell.ci_low, cell.ci_high])
            shown += _metric_marks(ax, x, cell, stored, colors[cell.method])
            ticks.append(_metric_tick(cell, swept, n_varies))
        line = reference(dataset) if reference is not None else None
        if line is not None and not np.isnan(drawable([line])[0]):
            ax.axhline(line, color="gray", linestyle="--", linewidth=1)
            shown.append(line)
            drew_reference = True
        ax.set_xticks(range(len(ticks)), ticks, fontsize=7 if per_mark < 0.8 else 7.5)
        ax.set_xlim(-0.6, len(ticks) - 0.4)
        limits = y_limits(shown, domain(metric, dataset))
        if limits is not None:
            ax.set_ylim(*limits)
        ax.set(title=dataset_title(dataset), xlabel=f"method, {swept}" if swept else "")
        ax.set_ylabel(metric_title(metric) + unit_suffix(unit) if ax in axes[:, 0] else "")
    _layout(fig)
    _caption(fig, _metric_caption(ns, n_varies, reference_label, drew_reference, left_out))
    return fig


def _metric_marks(ax, x: int, cell, stored: pd.Series, color) -> list[float]:
    """Draw one method x settings of a metric panel at `x`: its seeds (`stored`) as dots left of the
    tick, the mean and its interval right of it, so that neither covers the other (a note where there
    is no mean to draw). Returns the values the axis must show."""
    seeds = drawable(stored)
    seeds = seeds[~np.isnan(seeds)]
    mean, low, high = drawable([cell.mean, cell.ci_low, cell.ci_high])
    offsets = np.linspace(-0.07, 0.07, len(seeds)) if len(seeds) > 1 else np.zeros(len(seeds))
    ax.scatter(x - 0.15 + offsets, seeds, s=12, color=color, alpha=0.75, linewidths=0, clip_on=False)
    if cell.n > 0 and not np.isnan(mean):
        yerr = None
        if not (np.isnan(low) or np.isnan(high)):
            # max(0, .): seeds that agree give an interval equal to the mean up to rounding
            yerr = [[max(0.0, mean - low)], [max(0.0, high - mean)]]
        ax.errorbar(
            x + 0.12,
            mean,
            yerr=yerr,
            fmt="D",
            color=color,
            markersize=6,
            capsize=4,
            markeredgecolor="black",
            zorder=4,
            clip_on=False,
        )
    else:
        ax.annotate(
            "no ok seed" if cell.n == 0 else "mean off scale",
            (x, 0.5),
            xycoords=ax.get_xaxis_transform(),
            ha="center",
            color="gray",
            fontsize=7,
            rotation=90,
        )
    return [*seeds, mean, low, high]


def _metric_tick(cell, swept: str | None, n_varies: bool) -> str:
    """A mark's tick label: the method, then with one swept setting its value alone (named in the
    axis label), else the whole settings label, one setting per line so that neighbouring ticks do
    not run into each other; then its n where cells differ in n."""
    setting = labels.parse_label(cell.settings).get(swept, "") if swept else cell.settings.replace(",", "\n")
    name = method_title(cell.method) + (f"\n{setting}" if setting else "")
    return name + (f"\nn = {cell.n}" if n_varies else "")


def _metric_caption(
    ns: list[int], n_varies: bool, reference_label: str, drew_reference: bool, left_out: bool
) -> str:
    """What a metric figure's marks, bars and dots are, its dashed line's label where it drew one, and
    whether values off the scale were left out."""
    counts = f"{_n_text(ns)} seeds" + (" (n under each method)" if n_varies else "")
    caption = f"Diamond: mean over {counts}; bars: {INTERVAL}"
    caption += "; no bars where n = 1" if 1 in ns else ""
    caption += "; dots: seeds"
    caption += f"; dashed line: {reference_label}." if drew_reference else "."
    return caption + (OFF_SCALE if left_out else "")


def metric_plot(
    frame: pd.DataFrame,
    summary: pd.DataFrame,
    metric: str,
    reference: Callable[[str], float | None],
    stem: Path,
    domain: Callable[[str, str], Domain] = registry_domain,
    reference_label: str = "reference",
) -> list[Path]:
    """One metric per method (x settings): the mean with its bootstrap interval (from `summary`) and
    every seed's value as a dot; one panel per dataset; `reference(dataset)` draws a dashed line.
    The y axis stays inside `domain(metric, dataset)`."""
    return _save(make_metric_figure(frame, summary, metric, reference, domain, reference_label), stem)


# --- throughput ------------------------------------------------------------------------------------


def throughput_blocks(records: Sequence, settings: Sequence[str]) -> dict[tuple[str, str], list[float]]:
    """(report key, metric) -> the timed blocks behind each throughput record's value (`values`), for
    `throughput_plot`; `settings` are the records' settings labels (the report keys carry them)."""
    return {
        (labels.labelled_key(record.key, label), name): list(result.values)
        for record, label in zip(records, settings, strict=True)
        if record.kind == "throughput"
        for name, result in record.metrics.items()
        if result.values
    }


def make_throughput_figure(frame: pd.DataFrame, blocks: Mapping[tuple[str, str], list[float]], metric: str):
    """The Figure of `throughput_plot`."""
    plt, _ = _pyplot()
    data = _with_settings(frame[frame.metric == metric])
    datasets = list(dict.fromkeys(data["dataset"]))
    colors = method_colors(list(dict.fromkeys(data["method"])))
    if not datasets:
        raise GanbenchError(f"no throughput records of {metric} to plot")
    columns = min(3, len(datasets))
    rows = -(-len(datasets) // columns)  # ceil
    width = max(2.8, 0.8 * max(int((data.dataset == d).sum()) for d in datasets) + 1.0)
    fig, axes = plt.subplots(rows, columns, squeeze=False, figsize=(width * columns, 3.0 * rows))
    unit = data["unit"].iloc[0] if len(data) else ""
    counts: set[int] = set()
    left_out = False
    for ax, dataset in zip(axes.flat, datasets, strict=False):
        cells = data[data.dataset == dataset]
        top = 0.0
        ticks = []
        for x, cell in enumerate(cells.itertuples(index=False)):
            setting = cell.settings.replace(",", "\n")  # several settings: one per line
            ticks.append(method_title(cell.method) + (f"\n{setting}" if setting else ""))
            if cell.status != "ok" or not np.isfinite(cell.value):
                # A job not ok, or a figure the method cannot have (n/a: the table's footnote says why).
                word = "n/a" if cell.status == "ok" else cell.status
                ax.annotate(word, (x, 0.5), xycoords=ax.get_xaxis_transform(), ha="center", color="gray",
                            fontsize=7, rotation=90)  # fmt: skip
                continue
            stored = blocks.get((cell.key, metric), [])
            left_out |= off_scale([cell.value, *stored])
            if np.isnan(drawable([cell.value])[0]):
                ax.annotate("off scale", (x, 0.5), xycoords=ax.get_xaxis_transform(), ha="center",
                            color="gray", fontsize=7, rotation=90)  # fmt: skip
                continue
            color = colors[cell.method]
            ax.bar(x, cell.value, width=0.6, color=color, alpha=0.85, edgecolor="black", linewidth=0.5)
            values = [v for v in drawable(stored) if not np.isnan(v)]
            top = max(top, cell.value, *values)
            if len(values) > 1:
                counts.add(len(values))
                low, high = min(values), max(values)
                yerr = [[max(0.0, cell.value - low)], [max(0.0, high - cell.value)]]
                ax.errorbar(x, cell.value, yerr=yerr, fmt="none", ecolor="black", capsize=4, zorder=4)
                offsets = np.linspace(-0.15, 0.15, len(values))
                ax.scatter(x + offsets, values, s=9, color="black", alpha=0.6, linewidths=0, zorder=5)
        ax.set_xticks(range(len(ticks)), ticks, fontsize=7.5)
        ax.set_xlim(-0.6, len(ticks) - 0.4)
        # Bars are read from zero: an axis cut above it would inflate every difference.
        ax.set_ylim(0.0, top * 1.08 if top > 0 else 1.0)
        ax.set(title=dataset_title(dataset))
        ax.set_ylabel(metric_title(metric) + unit_suffix(unit) if ax in axes[:, 0] else "")
    for ax in list(axes.flat)[len(datasets) :]:
        ax.set_visible(False)
    _layout(fig)
    if counts:
        fewest, most = min(counts), max(counts)
        number = f"{fewest}" if fewest == most else f"{fewest} to {most}"
        caption = (
            f"Bars: the median over {number} timed blocks (torch.utils.benchmark.Timer); whiskers: min to "
            "max over the blocks; dots: the blocks."
        )
    else:
        caption = "Bars: one value per measurement (no timed blocks)."
    caption += " Axes start at zero; n/a: the figure cannot be computed for the method (see the table)."
    _caption(fig, caption + (OFF_SCALE if left_out else ""))
    return fig


def throughput_plot(
    frame: pd.DataFrame, blocks: Mapping[tuple[str, str], list[float]], metric: str, stem: Path
) -> list[Path]:
    """One throughput metric per method (x settings): a bar at the value from zero, whiskers from the
    smallest to the largest timed block (`throughput_blocks`) and the blocks as dots; one panel per
    target and batch size."""
    return _save(make_throughput_figure(frame, blocks, metric), stem)


# --- sweeps ----------------------------------------------------------------------------------------


def swept_setting(settings: Iterable[str]) -> str | None:
    """The one setting that the (non-empty) settings labels vary, when all its values are numbers;
    None where no setting or several vary, or a value is not a number."""
    values: dict[str, set[str]] = {}
    for text in settings:
        for name, value in labels.parse_label(text).items():
            values.setdefault(name, set()).add(value)
    if len(values) != 1:
        return None
    name, texts = next(iter(values.items()))
    try:
        [float(t) for t in texts]
    except ValueError:
        return None
    return name if len(texts) > 1 else None


def make_sweep_figure(
    summary: pd.DataFrame, metric: str, domain: Callable[[str, str], Domain] = registry_domain
):
    """The Figure of `sweep_plot`, or None when no dataset has exactly one numeric swept setting."""
    plt, _ = _pyplot()
    stats = _with_settings(summary[summary.metric == metric])
    stats, left_out = drawable_frame(stats[stats.settings != ""], ["mean", "ci_low", "ci_high"])
    panels = []
    for dataset in dict.fromkeys(stats["dataset"]):
        cells = stats[stats.dataset == dataset]
        name = swept_setting(cells["settings"])
        if name is not None:
            x = drawable([float(labels.parse_label(s)[name]) for s in cells["settings"]])
            left_out |= bool(np.isnan(x).any())
            cells = cells.assign(x=x).dropna(subset=["x"]).sort_values("x", kind="stable")
            if len(cells):
                panels.append((dataset, name, cells))
    if not panels:
        return None
    methods = list(dict.fromkeys(stats["method"]))
    colors = method_colors(methods)
    fig, axes = plt.subplots(1, len(panels), squeeze=False, figsize=(3.4 * len(panels), 2.8))
    ns: list[int] = []
    plotted: list[str] = []
    for ax, (dataset, name, cells) in zip(axes[0], panels, strict=True):
        shown: list[float] = []
        for method in methods:
            rows = cells[(cells.method == method) & (cells.n > 0)]
            if rows.empty or rows["mean"].isna().all():
                continue
            plotted.append(method)
            ns += list(rows["n"])
            ax.plot(
                rows["x"],
                rows["mean"],
                marker="o",
                markersize=4,
                color=colors[method],
                label=method_title(method),
                clip_on=False,
            )
            band = rows.dropna(subset=["ci_low", "ci_high"])
            if len(band):
                ax.fill_between(
                    band["x"], band["ci_low"], band["ci_high"], color=colors[method], alpha=0.2, linewidth=0
                )
            shown += [*rows["mean"], *rows["ci_low"], *rows["ci_high"]]
        xs = sorted(set(cells["x"]))
        if xs[0] > 0 and xs[-1] / xs[0] >= 10:
            ax.set_xscale("log")
        # Ticks at the swept values, written as the suite wrote them.
        texts = {float(labels.parse_label(s)[name]): labels.parse_label(s)[name] for s in cells["settings"]}
        ax.set_xticks(xs, [texts[x] for x in xs])
        ax.minorticks_off()
        limits = y_limits(shown, domain(metric, dataset))
        if limits is not None:
            ax.set_ylim(*limits)
        ax.set(title=dataset_title(dataset), xlabel=name)
        unit = cells["unit"].iloc[0]
        ax.set_ylabel(metric_title(metric) + unit_suffix(unit) if ax is axes[0][0] else "")
    _layout(fig)
    colors_shown = list(dict.fromkeys(plotted))
    _legend(fig, _line_handles(colors_shown, [], colors))
    caption = f"Line: mean over {_n_text(ns)} seeds per setting; band: {INTERVAL}"
    caption += " (none where n = 1)." if 1 in ns else "."
    _caption(fig, caption + (OFF_SCALE if left_out else ""))
    return fig


def sweep_plot(
    summary: pd.DataFrame, metric: str, stem: Path, domain: Callable[[str, str], Domain] = registry_domain
) -> list[Path]:
    """A metric against the swept setting: one panel per dataset where exactly one numeric setting
    varies (others are left out), a line per method through the means, a band of the bootstrap
    interval; a log x axis where the values are positive and span 10x or more. No files (an empty
    list) when no dataset qualifies."""
    fig = make_sweep_figure(summary, metric, domain)
    return [] if fig is None else _save(fig, stem)


# --- curves over training --------------------------------------------------------------------------


def _mean_band(
    ax, group: pd.DataFrame, column: str, color, linestyle, label: str, domain: Domain
) -> list[float]:
    """A line of the mean of `column` over seeds per step, and a band of one standard deviation
    (clipped to `domain`); returns the values drawn."""
    stats = group.groupby("step")[column].agg(["mean", "std"]).dropna(subset=["mean"])
    low, high = stats["mean"] - stats["std"], stats["mean"] + stats["std"]
    low, high = low.clip(lower=domain[0], upper=domain[1]), high.clip(lower=domain[0], upper=domain[1])
    # A job logged at a few steps only (a short run) still shows: its points get markers.
    marker = "o" if len(stats) <= 3 else None
    ax.plot(
        stats.index,
        stats["mean"],
        color=color,
        linestyle=linestyle,
        linewidth=1.3,
        label=label,
        marker=marker,
        markersize=3,
    )
    if stats["std"].notna().any():
        ax.fill_between(stats.index, low, high, color=color, alpha=0.18, linewidth=0)
    return [*stats["mean"], *low.dropna(), *high.dropna()]


def _lines(frame: pd.DataFrame):
    """What a figure of lines against steps draws from: the frame (with its settings column), its
    methods, datasets and settings in order, each method's color and each setting's line style."""
    frame = _with_settings(frame)
    methods, datasets, settings = (list(dict.fromkeys(frame[c])) for c in ("method", "dataset", "settings"))
    return frame, methods, datasets, settings, method_colors(methods), _settings_styles(settings)


def _curve_figure(
    frame: pd.DataFrame,
    rows: list[tuple[str, str | None, str]],
    domains: Mapping[str, Domain],
):
    """Panels of curves against steps: `rows` of (column, one method or None for all, y label),
    columns datasets; a line per method x settings (mean over seeds) with a one-std band."""
    plt, _ = _pyplot()
    frame, methods, datasets, settings, colors, styles = _lines(frame)
    frame, left_out = drawable_frame(frame, [*dict.fromkeys(column for column, _, _ in rows), "step"])
    fig, axes = plt.subplots(
        len(rows), len(datasets), squeeze=False, sharex="col", figsize=(3.3 * len(datasets), 2.1 * len(rows))
    )
    ns: list[int] = []
    for i, (column, only, ylabel) in enumerate(rows):
        for j, dataset in enumerate(datasets):
            ax = axes[i][j]
            subset = frame[(frame.dataset == dataset) & frame[column].notna()]
            if only is not None:
                subset = subset[subset.method == only]
            shown: list[float] = []
            for (method, label), group in subset.groupby(["method", "settings"], sort=False):
                ns.append(group["seed"].nunique())
                name = method_title(method) + (f" {label}" if label else "")
                shown += _mean_band(
                    ax, group, column, colors[method], styles[label], name, domains.get(column, (None, None))
                )
            if subset.empty:
                what = "not run" if only is not None else "not recorded"
                ax.text(
                    0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", color="gray", fontsize=7
                )
            limits = y_limits(shown, domains.get(column, (None, None)))
            if limits is not None:
                ax.set_ylim(*limits)
            ax.set_title(dataset_title(dataset) if i == 0 else "")
            ax.set_ylabel(ylabel if j == 0 else "", fontsize=8)
            ax.set_xlabel("training step" if i == len(rows) - 1 else "")
    _layout(fig)
    _legend(fig, _line_handles(methods, settings, colors))
    caption = f"Line: mean over {_n_text(ns)} seeds; band: one standard deviation over the seeds"
    caption += ", kept inside the metric's range" if any(d != (None, None) for d in domains.values()) else ""
    caption += "; line style: settings." if any(settings) else "."
    _caption(fig, caption + _samples_note(frame) + (OFF_SCALE if left_out else ""))
    return fig


def _samples_note(curves: pd.DataFrame) -> str:
    """' Curves: on 1,000 fixed tracking samples at each step; the tables' values come from 500
    evaluation samples, ...': why a curve's last point is not its table value ('' where the curves
    do not record their sample counts)."""
    if "track_samples" not in curves or "eval_samples" not in curves:
        return ""
    track, evaluation = _count_text(curves["track_samples"]), _count_text(curves["eval_samples"])
    if not track or not evaluation:
        return ""
    return (
        f" Curves: on {track} fixed tracking samples at each step; the tables' values come from "
        f"{evaluation} evaluation samples, so a curve's last point need not equal its table value."
    )


def _count_text(counts: pd.Series) -> str:
    """'1,000', or '500 to 2,500' where jobs differ; '' where none is recorded."""
    found = sorted({int(n) for n in counts.dropna()})
    if not found:
        return ""
    return f"{found[0]:,}" if len(found) == 1 else f"{found[0]:,} to {found[-1]:,}"


def _loss_label(family: str | None, column: str) -> str:
    """What a loss column is called in `family` (a WGAN's discriminator is a critic; None: either)."""
    if column == "g_loss":
        return "generator loss"
    return {CROSS_ENTROPY_FAMILY: "discriminator loss", WASSERSTEIN_FAMILY: "critic loss"}.get(
        family, "discriminator / critic loss"
    )


def make_loss_figure(losses: pd.DataFrame):
    """The Figure of `loss_curves`."""
    plt, _ = _pyplot()
    losses, methods, datasets, settings, colors, styles = _lines(losses)
    losses, left_out = drawable_frame(losses, ["d_loss", "g_loss", "step"])
    columns = [(dataset, column) for dataset in datasets for column in ("d_loss", "g_loss")]
    fig, axes = plt.subplots(
        len(methods),
        len(columns),
        squeeze=False,
        sharex="col",
        figsize=(2.7 * len(columns), 1.9 * len(methods)),
    )
    ns: list[int] = []
    for i, method in enumerate(methods):
        family = objective_family(method)
        for j, (dataset, column) in enumerate(columns):
            ax = axes[i][j]
            subset = losses[(losses.method == method) & (losses.dataset == dataset) & losses[column].notna()]
            shown: list[float] = []
            for label, group in subset.groupby("settings", sort=False):
                ns.append(group["seed"].nunique())
                name = method_title(method) + (f" {label}" if label else "")
                shown += _mean_band(ax, group, column, colors[method], styles[label], name, (None, None))
            if subset.empty:
                ax.text(0.5, 0.5, "not run", transform=ax.transAxes, ha="center", va="center", color="gray")
            limits = y_limits(shown, (None, None))
            if limits is not None:
                ax.set_ylim(*limits)
            if i == 0:
                ax.set_title(f"{dataset_title(dataset)}\n{_loss_label(None, column)}", fontsize=8)
            ax.set_ylabel(f"{method_title(method)}\n{family}" if j == 0 else "", fontsize=8)
            ax.set_xlabel("training step" if i == len(methods) - 1 else "")
    _layout(fig)
    _legend(fig, _line_handles(methods, settings, colors))
    caption = (
        f"Line: mean over {_n_text(ns)} seeds; band: one standard deviation over the seeds. One row per "
        "method, each on its own scale: GAN cross-entropies and Wasserstein critic values are different "
        "quantities, and a weight-clipped critic's values are far smaller than a gradient-penalty one's."
    )
    caption += " Line style: settings." if any(settings) else ""
    _caption(fig, caption + (OFF_SCALE if left_out else ""))
    return fig


def loss_curves(losses: pd.DataFrame, stem: Path) -> list[Path]:
    """Discriminator/critic and generator losses against steps: one row per method (so objectives of
    different families, and critics of different scales, never share an axis), columns dataset x loss;
    the mean over seeds with a band of one standard deviation, a line style per setting in a sweep."""
    return _save(make_loss_figure(losses), stem)


def make_training_figure(
    curves: pd.DataFrame,
    series: list[str],
    per_method: Sequence[str] = (),
    domains: Mapping[str, Domain] | None = None,
):
    """The Figure of `training_curves`, or None when the records track none of `series`."""
    methods = list(dict.fromkeys(curves["method"]))
    rows: list[tuple[str, str | None, str]] = []
    for name in series:
        if name not in curves.columns or curves[name].isna().all():
            continue  # not tracked by these records
        # Image curves are metrics tracked under their own names: titled as the tables title them.
        title = SERIES_TITLES.get(name) or (metric_title(name) if name in METRICS else name.replace("_", " "))
        if name in per_method:
            for method in methods:
                label = _loss_label(objective_family(method), name) if name == "d_loss" else title
                rows.append((name, method, f"{method_title(method)}\n{label}"))
        else:
            rows.append((name, None, title))
    return _curve_figure(curves, rows, domains or {}) if rows else None


def training_curves(
    curves: pd.DataFrame,
    series: list[str],
    stem: Path,
    per_method: Sequence[str] = (),
    domains: Mapping[str, Domain] | None = None,
) -> list[Path]:
    """Tracked series against steps: rows series (one per method for the series in `per_method`,
    whose scale depends on the objective and the critic's constraint), columns datasets, a line per method (x
    settings): the mean over seeds with a band of one standard deviation, kept inside `domains[series]`."""
    fig = make_training_figure(curves, series, per_method, domains)
    return [] if fig is None else _save(fig, stem)
