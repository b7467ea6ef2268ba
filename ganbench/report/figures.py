"""Figures from records: the only module that imports seaborn and matplotlib (lazily).

Every figure is written as PNG and PDF, and every method keeps one color in every figure: its
color is chosen by its position in the method registry, not by its position in one report.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ganbench.models import METHODS

FORMATS = ("png", "pdf")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    return plt, sns


def method_colors(methods: list[str]) -> dict[str, tuple[float, float, float]]:
    """One fixed color per method, by registry position (unregistered methods are gray)."""
    _, sns = _pyplot()
    palette = sns.color_palette("colorblind", n_colors=10)
    names = METHODS.names()
    return {m: palette[names.index(m) % len(palette)] if m in names else (0.5, 0.5, 0.5) for m in methods}


def _save(fig, stem: Path) -> list[Path]:
    plt, _ = _pyplot()
    with warnings.catch_warnings():
        # A panel without data (a method whose every seed failed) cannot be laid out tighter.
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()
    paths = [stem.with_suffix(f".{ext}") for ext in FORMATS]
    for path in paths:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return paths


def _panels(
    frame: pd.DataFrame,
    load_samples: Callable[[str], np.ndarray | None],
    panel: tuple[float, float],
    draw: Callable[[object, str, str, np.ndarray | None], None],
):
    """A figure of one panel per method (rows) x dataset (columns); `draw(ax, method, dataset,
    samples)` fills each from the stored samples of the lowest seed that finished ok (None if none)."""
    plt, _ = _pyplot()
    methods = list(dict.fromkeys(frame["method"]))
    datasets = list(dict.fromkeys(frame["dataset"]))
    fig, axes = plt.subplots(
        len(methods),
        len(datasets),
        squeeze=False,
        figsize=(panel[0] * len(datasets), panel[1] * len(methods)),
    )
    jobs = frame.drop_duplicates("key").sort_values("seed")
    for i, method in enumerate(methods):
        for j, dataset in enumerate(datasets):
            ok = jobs[(jobs.method == method) & (jobs.dataset == dataset) & (jobs.status == "ok")]
            samples = load_samples(ok.iloc[0]["key"]) if len(ok) else None
            draw(axes[i][j], method, dataset, samples)
            title = f"{method} / {dataset} " + (
                f"(seed {ok.iloc[0]['seed']})" if samples is not None else "missing"
            )
            axes[i][j].set_title(title, fontsize=8)
    return fig


def sample_grid(
    frame: pd.DataFrame,
    load_samples: Callable[[str], np.ndarray | None],
    centers: Callable[[str], np.ndarray],
    stem: Path,
) -> list[Path]:
    """Scatter of generated samples: rows methods, columns datasets, true centers as black crosses.

    Each panel shows the lowest seed that finished ok for that method and dataset.
    """
    colors = method_colors(list(dict.fromkeys(frame["method"])))

    def draw(ax, method: str, dataset: str, samples: np.ndarray | None) -> None:
        c = centers(dataset)
        if samples is not None:
            ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, color=colors[method])
        if c is not None and len(c):  # a plugin's 2-D dataset may have no centers: axes then fit the samples
            ax.scatter(c[:, 0], c[:, 1], marker="x", color="black", s=30, zorder=3)
            span = np.abs(c).max() * 1.5
            ax.set(xlim=(-span, span), ylim=(-span, span))
        ax.set(aspect="equal")

    return _save(_panels(frame, load_samples, (3.2, 3.0), draw), stem)


def image_grid(
    frame: pd.DataFrame, load_samples: Callable[[str], np.ndarray | None], stem: Path
) -> list[Path]:
    """Generated images, 8 x 8 per panel: rows methods, columns datasets (lowest seed that finished ok).

    The samples are the uint8 (N, C, H, W) images each job stored.
    """
    import torch
    from torchvision.utils import make_grid

    def draw(ax, method: str, dataset: str, images: np.ndarray | None) -> None:
        if images is not None:
            grid = make_grid(torch.from_numpy(images[:64]), nrow=8, padding=1, pad_value=128)
            ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set(xticks=[], yticks=[])
        ax.grid(False)

    return _save(_panels(frame, load_samples, (3.4, 3.6), draw), stem)


def metric_plot(
    frame: pd.DataFrame,
    summary: pd.DataFrame,
    metric: str,
    reference: Callable[[str], float | None],
    stem: Path,
) -> list[Path]:
    """One metric per method: the mean with its confidence interval (from `summary`) and every
    seed's value as a dot; one panel per dataset; `reference(dataset)` draws a dashed line."""
    plt, sns = _pyplot()
    data = frame[(frame.metric == metric) & (frame.status == "ok")]
    stats = summary[summary.metric == metric]
    datasets = list(dict.fromkeys(stats["dataset"]))
    methods = list(dict.fromkeys(stats["method"]))
    colors = method_colors(methods)
    fig, axes = plt.subplots(
        1, len(datasets), squeeze=False, figsize=(max(3.5, 1.1 * len(methods)) * len(datasets), 3.2)
    )
    for ax, dataset in zip(axes[0], datasets, strict=True):
        subset = data[data.dataset == dataset]
        sns.stripplot(subset, x="method", y="value", order=methods, hue="method", palette=colors,
                      size=4, jitter=0.15, alpha=0.7, legend=False, ax=ax)  # fmt: skip
        for x, method in enumerate(methods):
            row = stats[(stats.dataset == dataset) & (stats.method == method)]
            if row.empty or row.iloc[0]["n"] == 0:
                ax.annotate("missing", (x, 0.5), xycoords=ax.get_xaxis_transform(), ha="center", color="gray")
                continue
            r = row.iloc[0]
            low, high = r["ci_low"], r["ci_high"]
            yerr = None if pd.isna(low) else [[r["mean"] - low], [high - r["mean"]]]
            ax.errorbar(x, r["mean"], yerr=yerr, fmt="D", color=colors[method], markersize=7, capsize=6,
                        markeredgecolor="black", zorder=4)  # fmt: skip
        line = reference(dataset)
        if line is not None:
            ax.axhline(line, color="gray", linestyle="--", linewidth=1)
        ax.set(title=dataset, xlabel="", ylabel=f"{metric} [{stats.iloc[0]['unit']}]")
    return _save(fig, stem)


def loss_curves(losses: pd.DataFrame, stem: Path) -> list[Path]:
    """Generator and discriminator/critic losses against steps: mean and one-std band over seeds."""
    plt, sns = _pyplot()
    datasets = list(dict.fromkeys(losses["dataset"]))
    colors = method_colors(list(dict.fromkeys(losses["method"])))
    fig, axes = plt.subplots(2, len(datasets), squeeze=False, figsize=(4.2 * len(datasets), 5.2))
    for j, dataset in enumerate(datasets):
        subset = losses[losses.dataset == dataset]
        for i, (column, label) in enumerate(
            (("d_loss", "discriminator / critic loss"), ("g_loss", "generator loss"))
        ):
            ax = axes[i][j]
            sns.lineplot(subset, x="step", y=column, hue="method", palette=colors, errorbar="sd", ax=ax,
                         legend=(i == 0 and j == 0))  # fmt: skip
            ax.set(title=dataset if i == 0 else "", ylabel=label)
    return _save(fig, stem)


def training_curves(curves: pd.DataFrame, series: list[str], stem: Path) -> list[Path]:
    """Tracked series against steps: rows series, columns datasets, one line per method
    (mean over seeds, band = one standard deviation)."""
    plt, sns = _pyplot()
    datasets = list(dict.fromkeys(curves["dataset"]))
    colors = method_colors(list(dict.fromkeys(curves["method"])))
    fig, axes = plt.subplots(
        len(series), len(datasets), squeeze=False, figsize=(4.2 * len(datasets), 2.6 * len(series))
    )
    for j, dataset in enumerate(datasets):
        subset = curves[curves.dataset == dataset]
        for i, name in enumerate(series):
            ax = axes[i][j]
            sns.lineplot(subset, x="step", y=name, hue="method", palette=colors, errorbar="sd", ax=ax,
                         legend=(i == 0 and j == 0))  # fmt: skip
            ax.set(title=dataset if i == 0 else "", ylabel=name.replace("_", " "))
    return _save(fig, stem)
