"""Figures from records: the only module that imports seaborn and matplotlib (lazily)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ganbench.metrics.mode_collapse import MODES_COVERED


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    return plt, sns


def sample_grid(
    frame: pd.DataFrame,
    load_samples: Callable[[str], np.ndarray | None],
    centers: Callable[[str], np.ndarray],
    path: Path,
) -> Path:
    """Scatter of generated samples: rows methods, columns datasets, true centers as red crosses.

    Each panel shows the lowest seed that finished ok for that method and dataset.
    """
    plt, _ = _pyplot()
    methods = list(dict.fromkeys(frame["method"]))
    datasets = list(dict.fromkeys(frame["dataset"]))
    fig, axes = plt.subplots(
        len(methods), len(datasets), squeeze=False, figsize=(3.2 * len(datasets), 3.0 * len(methods))
    )
    jobs = frame.drop_duplicates("key").sort_values("seed")
    for i, method in enumerate(methods):
        for j, dataset in enumerate(datasets):
            ax = axes[i][j]
            c = centers(dataset)
            ax.scatter(c[:, 0], c[:, 1], marker="x", color="red", s=30, zorder=3, label="true centers")
            ok = jobs[(jobs.method == method) & (jobs.dataset == dataset) & (jobs.status == "ok")]
            samples = load_samples(ok.iloc[0]["key"]) if len(ok) else None
            if samples is not None:
                ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, color="tab:blue")
                title = f"{method} / {dataset} (seed {ok.iloc[0]['seed']})"
            else:
                title = f"{method} / {dataset}: no ok job"
            span = np.abs(c).max() * 1.5
            ax.set(xlim=(-span, span), ylim=(-span, span), aspect="equal", title=title)
            ax.title.set_fontsize(8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def modes_covered_plot(frame: pd.DataFrame, n_modes: Callable[[str], int], path: Path) -> Path:
    """Modes covered per method: mean bar and every seed's value as a dot; dashed line = all modes."""
    plt, sns = _pyplot()
    data = frame[(frame.metric == MODES_COVERED) & (frame.status == "ok")]
    datasets = list(dict.fromkeys(frame["dataset"]))
    methods = list(dict.fromkeys(frame["method"]))
    fig, axes = plt.subplots(1, len(datasets), squeeze=False, figsize=(4.0 * len(datasets), 3.2))
    for ax, dataset in zip(axes[0], datasets, strict=False):
        subset = data[data.dataset == dataset]
        sns.barplot(subset, x="method", y="value", order=methods, errorbar=None, alpha=0.5, ax=ax)
        sns.stripplot(subset, x="method", y="value", order=methods, color="black", size=5, jitter=0.15, ax=ax)
        ax.axhline(n_modes(dataset), color="gray", linestyle="--", linewidth=1)
        ax.set(title=dataset, xlabel="", ylabel="modes covered", ylim=(0, n_modes(dataset) * 1.08))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def training_curves(curves: pd.DataFrame, series: list[str], path: Path) -> Path:
    """Tracked series against steps: rows series, columns datasets, one line per method
    (mean over seeds, band = one standard deviation)."""
    plt, sns = _pyplot()
    datasets = list(dict.fromkeys(curves["dataset"]))
    fig, axes = plt.subplots(
        len(series), len(datasets), squeeze=False, figsize=(4.2 * len(datasets), 2.6 * len(series))
    )
    for j, dataset in enumerate(datasets):
        subset = curves[curves.dataset == dataset]
        for i, name in enumerate(series):
            ax = axes[i][j]
            sns.lineplot(
                subset, x="step", y=name, hue="method", errorbar="sd", ax=ax, legend=(i == 0 and j == 0)
            )
            ax.set(title=dataset if i == 0 else "", ylabel=name.replace("_", " "))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
