"""The Dirac-GAN's phase plane: each seed's (theta, psi) over training, around the equilibrium (0, 0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ganbench.data.dirac import PSI, THETA
from ganbench.report import figures

# Seeds of one method share its color (every figure's rule); their lines differ in style.
SEED_STYLES = ["-", "--", ":", "-."]
PANELS_PER_ROW = 4


def make_phase_plane_figure(curves: pd.DataFrame):
    """The Figure of `phase_plane`, or None when no job tracked theta and psi."""
    if THETA not in curves.columns or PSI not in curves.columns:
        return None
    tracked = figures._with_settings(curves.dropna(subset=[THETA, PSI]))
    if tracked.empty:
        return None
    plt, _ = figures._pyplot()
    panels = list(dict.fromkeys(zip(tracked["method"], tracked["settings"], tracked["dataset"], strict=True)))
    several_datasets = tracked["dataset"].nunique() > 1
    colors = figures.method_colors(list(dict.fromkeys(tracked["method"])))
    all_seeds = sorted(tracked["seed"].unique())
    styles = {seed: SEED_STYLES[i % len(SEED_STYLES)] for i, seed in enumerate(all_seeds)}
    columns = min(PANELS_PER_ROW, len(panels))
    rows = -(-len(panels) // columns)  # ceil
    fig, axes = plt.subplots(rows, columns, squeeze=False, figsize=(2.8 * columns, 2.8 * rows))
    seeds_per_panel: list[int] = []
    for ax, (method, settings, dataset) in zip(axes.flat, panels, strict=False):
        cell = tracked[(tracked.method == method) & (tracked.settings == settings)]
        cell = cell[cell.dataset == dataset]
        seeds_per_panel.append(cell["seed"].nunique())
        for seed, job in cell.sort_values("step").groupby("seed", sort=True):
            theta, psi = job[THETA].to_numpy(), job[PSI].to_numpy()
            ax.plot(theta, psi, color=colors[method], linestyle=styles[seed], linewidth=1.1)
            ax.plot(theta[:1], psi[:1], "o", color=colors[method], markerfacecolor="white", markersize=5)
            ax.plot(theta[-1:], psi[-1:], "s", color=colors[method], markersize=4)
        ax.plot([0], [0], marker="X", color="black", markersize=8, linestyle="none", zorder=5)
        # Square axes centred on the equilibrium: a cycle around it looks like one.
        values = np.abs(cell[[THETA, PSI]].to_numpy())
        reach = float(values[np.isfinite(values)].max(initial=0.0)) * 1.1 or 1.0
        ax.set(xlim=(-reach, reach), ylim=(-reach, reach), aspect="equal")
        title = figures.method_title(method) + (f", {settings}" if settings else "")
        title += f"\n{figures.dataset_title(dataset)}" if several_datasets else ""
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("θ (generator)", fontsize=8)
        ax.set_ylabel("ψ (critic slope)", fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    figures._layout(fig)
    # One legend for every panel, where seeds are several: a gray line in each seed's style.
    proxies = [
        axes[0][0].plot([], [], color="0.35", linestyle=styles[s], label=f"seed {s}")[0] for s in all_seeds
    ]
    figures._legend(fig, proxies if len(all_seeds) > 1 else [])
    first = tracked[tracked.key == tracked["key"].iloc[0]]["step"].to_numpy()
    every = f"every {int(first[1] - first[0]):,} steps" if len(first) > 1 else "at the tracked steps"
    caption = (
        "The Dirac-GAN (Mescheder et al. 2018): θ, the generator's point (the tracked samples' mean), "
        f"against ψ = D(1) − D(0), the critic's slope, {every}; one line per seed "
        f"({figures._n_text(seeds_per_panel)} seeds, line style), from the circle (first tracked step) to "
        "the square (last); black X: the equilibrium (0, 0). Seeds that train alike overlap."
    )
    figures._caption(fig, caption)
    return fig


def phase_plane(curves: pd.DataFrame, stem: Path) -> list[Path]:
    """figures/phase-plane.png/.pdf: one panel per method (x settings, x dataset) of the jobs whose curves
    track theta and psi (ganbench.data.dirac), square axes centred on (0, 0); no files without them."""
    fig = make_phase_plane_figure(curves)
    return [] if fig is None else figures._save(fig, stem)
