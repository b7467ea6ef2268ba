"""Report figures: what their marks mean, their axes' ranges, units, panels, legends, seeds and sweeps.

Figures are built from hand-made frames and inspected as matplotlib Figures; one test runs a tiny
sweep end to end and checks that the report writes its sweep figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_tiny_suite
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.errors import GanbenchError
from ganbench.labels import labelled_key
from ganbench.report import build_report, figures
from ganbench.report.tables import summarize

MODES = (0.0, 8.0)  # modes covered on an 8-mode ring


def domain(metric: str, dataset: str) -> tuple[float | None, float | None]:
    return MODES if metric == "modes-covered" else (0.0, None)


def records(
    values: dict[tuple[str, str, str], list[float]], metric: str = "modes-covered", unit: str = "modes"
) -> pd.DataFrame:
    """A records frame: one ok row per (method, dataset, settings) x seed, seeds 0, 1, ... in order."""
    rows = [
        {"key": labelled_key(f"{method}__{dataset}__seed{seed}", settings), "method": method,
         "dataset": dataset, "settings": settings, "seed": seed, "metric": metric, "value": value,
         "unit": unit, "higher_is_better": True, "status": "ok"}
        for (method, dataset, settings), seeds in values.items()
        for seed, value in enumerate(seeds)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def texts(fig) -> str:
    """Every piece of text the figure shows outside tick labels, joined by single spaces."""
    parts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
    return " ".join(" ".join(parts).split())  # captions wrap: compare words, not line breaks


def bars(ax) -> list[np.ndarray]:
    """The error-bar segments of an axes, as (2, 2) arrays of (x, y) ends."""
    return [
        np.asarray(seg) for c in ax.collections if isinstance(c, LineCollection) for seg in c.get_segments()
    ]


def outside_every_axes(fig) -> bool:
    """Whether each figure legend lies clear of every axes' area."""
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    boxes = [ax.get_window_extent(renderer) for ax in fig.axes]
    return bool(fig.legends) and all(
        not legend.get_window_extent(renderer).overlaps(box) for legend in fig.legends for box in boxes
    )


def test_metric_bars_and_axis_stay_inside_the_modes_domain() -> None:
    # gan: 0 and 3 modes (n = 2); wgan: 0, 0, 3 (n = 3). A Student t interval would claim negative modes:
    # wgan mean 1, std 1.732, t(0.975, 2) = 4.303 -> 1 ± 4.30 * 1.732 / sqrt(3) = [-3.30, 5.30]. The
    # bootstrap gives [0, 3] for both (ganbench.report.intervals, worked by hand there).
    frame = records({("gan", "ring-8", ""): [0, 3], ("wgan", "ring-8", ""): [0, 0, 3]})
    summary = summarize(frame, None, domain)
    assert summary[["ci_low", "ci_high"]].values.tolist() == [[0, 3], [0, 3]]
    fig = figures.make_metric_figure(frame, summary, "modes-covered", lambda d: 8.0, domain, "all modes")
    (ax,) = fig.axes
    assert ax.get_ylim() == (0.0, 8.0)  # from the domain's low (the data start there) to its high
    ends = bars(ax)
    assert len(ends) == 2
    for segment in ends:
        assert sorted(segment[:, 1]) == [0.0, 3.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["GAN\nn = 2", "WGAN\nn = 3"]
    caption = texts(fig)
    assert "Diamond: mean over n = 2 to 3 seeds" in caption
    assert "bars: 95% percentile-bootstrap interval of the mean" in caption
    assert "dots: seeds" in caption and "dashed line: all modes" in caption
    # Without the reference line the top follows the data (3 + 6% of 3), still from 0.
    fig = figures.make_metric_figure(frame, summary, "modes-covered", None, domain)
    assert fig.axes[0].get_ylim() == pytest.approx((0.0, 3.18))


def test_metric_axis_starts_above_zero_when_the_data_are_far_from_it() -> None:
    frame = records({("gan", "ring-8", ""): [7, 8, 8], ("wgan", "ring-8", ""): [6, 7, 8]})
    summary = summarize(frame, None, domain)
    low, high = figures.make_metric_figure(frame, summary, "modes-covered", None, domain).axes[0].get_ylim()
    assert (low, high) == pytest.approx((6 - 0.12, 8.0))  # 6% of the span 2 below 6; never above 8 modes
    assert "n = 3 seeds;" in texts(figures.make_metric_figure(frame, summary, "modes-covered"))


def test_axis_limits_by_hand() -> None:
    assert figures.y_limits([0.95, 1.0], (0.0, 1.0)) == pytest.approx((0.947, 1.0))  # 1.003 cut to 1
    assert figures.y_limits([0.1, 0.5], (0.0, 1.0)) == pytest.approx((0.0, 0.524))  # 0.1 is near 0
    assert figures.y_limits([0.0, 0.0], (0.0, None)) == (0.0, 0.5)  # one value: a window of 0.5
    assert figures.y_limits([-2.0, 2.0], (None, None)) == pytest.approx((-2.24, 2.24))
    assert figures.y_limits([float("nan")], (0.0, 1.0)) is None


def test_units_show_only_where_a_metric_has_one() -> None:
    plain = records({("gan", "ring-8", ""): [1.0, 2.0]}, metric="fid", unit="")
    nats = records({("gan", "ring-8", ""): [1.0, 2.0]}, metric="reverse-kl", unit="nats")
    fid = figures.make_metric_figure(plain, summarize(plain), "fid")
    kl = figures.make_metric_figure(nats, summarize(nats), "reverse-kl")
    assert fid.axes[0].get_ylabel() == "FID" and "[]" not in texts(fid)
    assert kl.axes[0].get_ylabel() == "Reverse KL [nats]"


def test_scored_models_get_a_color_each_kept_in_every_figure() -> None:
    # Two models `ganbench eval` scored beside GAN: three colors, none of them gray, and a model's color
    # does not depend on what else a figure shows.
    frame = records(
        {("gan", "ring-8", ""): [1, 2], ("mine", "ring-8", ""): [3, 4], ("theirs", "ring-8", ""): [5]}
    )
    fig = figures.make_metric_figure(frame, summarize(frame, None, domain), "modes-covered")
    seeds = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    shown = [tuple(np.round(c.get_facecolor()[0][:3], 6)) for c in seeds]
    assert len(shown) == 3 and len(set(shown)) == 3
    assert all(len(set(color)) > 1 for color in shown)  # gray has equal red, green and blue
    colors = figures.method_colors(["gan", "mine", "theirs"])
    assert shown == [tuple(np.round(colors[m], 6)) for m in ("gan", "mine", "theirs")]
    assert figures.method_colors(["theirs"]) == {"theirs": colors["theirs"]}
    assert figures.method_colors(["wgan", "mine"])["mine"] == colors["mine"]
    many = figures.method_colors([f"model-{i}" for i in range(9)])  # nine labels: nine colors
    assert len(set(many.values())) == 9


def test_a_sweep_gets_one_mark_per_setting_never_an_average() -> None:
    frame = records({("gan", "ring-8", "steps=500"): [1, 2], ("gan", "ring-8", "steps=1000"): [5, 6]})
    fig = figures.make_metric_figure(frame, summarize(frame, None, domain), "modes-covered")
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["GAN\n500", "GAN\n1000"] and fig.axes[0].get_xlabel() == "method, steps"
    means = [line.get_ydata()[0] for line in fig.axes[0].get_lines() if line.get_marker() == "D"]
    assert means == [1.5, 5.5]


def losses_frame() -> pd.DataFrame:
    """gan and wgan on ring-8, seeds 0 and 1, steps 0, 10, 20: d_loss = seed-dependent constants."""
    rows = []
    for method, d in (("gan", (1.2, 1.4)), ("wgan", (-0.01, 0.03))):
        for seed in (0, 1):
            for step in (0, 10, 20):
                rows.append({"key": f"{method}__ring-8__seed{seed}", "method": method, "dataset": "ring-8",
                             "settings": "", "seed": seed, "step": step, "d_loss": d[seed],
                             "g_loss": -d[seed]})  # fmt: skip
    return pd.DataFrame(rows)


def test_losses_of_each_method_have_their_own_axes() -> None:
    # GAN cross-entropies (about 1.3) and a clipped WGAN critic's values (about 0.01) never share an
    # axis: one row per method, columns dataset x (discriminator or critic loss, generator loss).
    fig = figures.make_loss_figure(losses_frame())
    assert len(fig.axes) == 4  # (gan, wgan) x (discriminator/critic, generator) x 1 dataset
    held = [{line.get_label() for line in ax.get_lines()} for ax in fig.axes]
    assert held == [{"GAN"}, {"GAN"}, {"WGAN"}, {"WGAN"}]
    # The mean over seeds: gan's discriminator loss (1.2 + 1.4) / 2 = 1.3 at every step; wgan's
    # critic loss (-0.01 + 0.03) / 2 = 0.01, on an axis of its own scale.
    line = fig.axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [0, 10, 20]
    assert line.get_ydata() == pytest.approx([1.3, 1.3, 1.3])
    assert fig.axes[2].get_lines()[0].get_ydata() == pytest.approx([0.01, 0.01, 0.01])
    assert fig.axes[2].get_ylim()[1] - fig.axes[2].get_ylim()[0] < 0.1, "not squashed by gan's scale"
    assert fig.axes[0].get_ylabel() == "GAN\ncross-entropy (GAN)"
    assert fig.axes[2].get_ylabel() == "WGAN\nWasserstein critic"
    assert [ax.get_title() for ax in fig.axes[:2]] == [
        "Ring-8\ndiscriminator / critic loss",
        "Ring-8\ngenerator loss",
    ]
    assert outside_every_axes(fig)
    assert "Line: mean over n = 2 seeds; band: one standard deviation over the seeds" in texts(fig)


def test_training_curves_keep_settings_apart_and_inside_the_domain() -> None:
    # Three seeds covering 0, 0 and 3 modes at every step: mean 1, std 1.73; the band stops at 0.
    rows = [
        {"key": labelled_key(f"gan__ring-8__seed{seed}", label), "method": "gan", "dataset": "ring-8",
         "settings": label, "seed": seed, "step": step, "modes_covered": modes + shift, "d_loss": 1.0}
        for label, shift in (("steps=5", 0), ("steps=10", 1))
        for seed, modes in enumerate((0, 0, 3))
        for step in (0, 5)
    ]  # fmt: skip
    curves = pd.DataFrame(rows)
    fig = figures.make_training_figure(
        curves, ["d_loss", "modes_covered"], ["d_loss"], {"modes_covered": MODES}
    )
    modes_ax = fig.axes[1]
    lines = modes_ax.get_lines()
    assert [line.get_label() for line in lines] == ["GAN steps=5", "GAN steps=10"]
    assert [list(line.get_ydata()) for line in lines] == [[1, 1], [2, 2]]  # never averaged to 1.5
    assert lines[0].get_linestyle() != lines[1].get_linestyle()
    band = [c for c in modes_ax.collections if isinstance(c, PolyCollection)][0]
    assert band.get_paths()[0].vertices[:, 1].min() == 0.0  # 1 - 1.73 clipped to 0 modes
    assert modes_ax.get_ylim()[0] == 0.0
    assert fig.axes[0].get_ylabel() == "GAN\ndiscriminator loss"
    assert "n = 3 seeds" in texts(fig) and "line style: settings" in texts(fig)
    assert outside_every_axes(fig)
    assert figures.make_training_figure(curves, ["critic_estimate"]) is None  # not tracked: no figure


def test_the_convergence_figure_states_its_sample_counts_and_the_tables() -> None:
    # A quick budget: curves on 1,000 tracking samples, the table on 500 evaluation samples; the
    # curves' last points and the table differ by sampling, and the figure says why.
    rows = [
        {"method": "gan", "dataset": "ring-8", "seed": seed, "step": step, "modes_covered": 4.0,
         "w1": 0.3, "track_samples": 1000, "eval_samples": 500}
        for seed in range(2)
        for step in (0, 100)
    ]  # fmt: skip
    fig = figures.make_training_figure(
        pd.DataFrame(rows), ["modes_covered", "w1"], [], {"modes_covered": MODES}
    )
    assert "Curves: on 1,000 fixed tracking samples at each step" in texts(fig)
    assert "the tables' values come from 500 evaluation samples" in texts(fig)
    # Jobs at several evaluation sample counts (a sweep over eval.samples): the range.
    swept = pd.DataFrame(rows).assign(eval_samples=[500, 500, 2500, 2500])
    assert "from 500 to 2,500 evaluation samples" in texts(figures.make_training_figure(swept, ["w1"]))


def sample_jobs(seeds: int = 3) -> pd.DataFrame:
    return records({(m, d, ""): [0.0] * seeds for m in ("gan", "wgan") for d in ("ring-8", "grid-25")})


def load_points(key: str) -> np.ndarray:
    return np.random.default_rng(len(key)).normal(size=(50, 2))


def centers(dataset: str) -> np.ndarray:
    return np.array([[1.0, 0.0], [-1.0, 0.0]])


def panels_with_samples(fig) -> list:
    return [ax for ax in fig.axes if any(len(c.get_offsets()) == 50 for c in ax.collections)]


def test_the_samples_grid_shows_every_seed_or_the_one_asked_for() -> None:
    frame = sample_jobs()
    fig = figures.make_sample_figure(frame, load_points, centers)
    shown = panels_with_samples(fig)
    assert len(shown) == 2 * 2 * 3  # methods x datasets x seeds
    assert shown[0].get_title() == "GAN\nRing-8, seed 0"
    assert shown[-1].get_title() == "WGAN\nGrid-25, seed 2"
    one = panels_with_samples(figures.make_sample_figure(frame, load_points, centers, sample_seed=1))
    assert len(one) == 4 and all(ax.get_title().endswith("seed 1") for ax in one)
    with pytest.raises(GanbenchError, match="no job has seed 7"):
        figures.make_sample_figure(frame, load_points, centers, sample_seed=7)


def test_the_image_grid_shows_every_seed() -> None:
    frame = sample_jobs(seeds=2)
    images = np.zeros((4, 1, 6, 6), dtype=np.uint8)
    fig = figures.make_image_figure(frame, lambda key: images)
    assert sum(1 for ax in fig.axes if ax.images) == 2 * 2 * 2


def sweep_summary() -> pd.DataFrame:
    # Reverse KL falls with steps: gan 3 seeds at 500, 1000, 5000 steps; wgan the same, listed shuffled.
    values = {}
    for method, base in (("gan", 2.0), ("wgan", 1.0)):
        for steps in (1000, 5000, 500):
            values[(method, "ring-8", f"steps={steps}")] = [base * 500 / steps + d for d in (0.0, 0.1, 0.3)]
    return summarize(records(values, metric="reverse-kl", unit="nats"), None, domain)


def test_the_sweep_figure_plots_the_metric_against_the_swept_value(tmp_path: Path) -> None:
    summary = sweep_summary()
    paths = figures.sweep_plot(summary, "reverse-kl", tmp_path / "sweep-reverse-kl", domain)
    assert [p.name for p in paths] == ["sweep-reverse-kl.png", "sweep-reverse-kl.pdf"]
    assert all(p.stat().st_size > 5_000 for p in paths)
    fig = figures.make_sweep_figure(summary, "reverse-kl", domain)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"  # 5000 / 500 = 10
    assert ax.get_xlabel() == "steps" and ax.get_ylabel() == "Reverse KL [nats]"
    assert [line.get_label() for line in ax.get_lines()] == ["GAN", "WGAN"]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    for line, band, method in zip(ax.get_lines(), bands, ("gan", "wgan"), strict=True):
        rows = summary[summary.method == method].assign(x=lambda s: s.settings.str[6:].astype(float))
        rows = rows.sort_values("x")
        assert list(line.get_xdata()) == [500, 1000, 5000]
        assert list(line.get_ydata()) == pytest.approx(list(rows["mean"]))
        corners = {(round(x, 9), round(y, 9)) for x, y in band.get_paths()[0].vertices}
        for x, low, high in zip(rows["x"], rows["ci_low"], rows["ci_high"], strict=True):
            assert (round(x, 9), round(low, 9)) in corners and (round(x, 9), round(high, 9)) in corners
    assert "Line: mean over n = 3 seeds per setting; band: 95% percentile-bootstrap interval" in texts(fig)
    assert outside_every_axes(fig)


def test_no_sweep_figure_where_two_settings_vary(tmp_path: Path) -> None:
    two = {("gan", "ring-8", f"steps={s},lr={lr}"): [1.0, 2.0] for s in (5, 10) for lr in (0.1, 0.2)}
    one = {("gan", "grid-25", f"steps={s}"): [1.0, 2.0] for s in (5, 10)}
    assert figures.sweep_plot(summarize(records(two)), "modes-covered", tmp_path / "sweep") == []
    fig = figures.make_sweep_figure(summarize(records({**two, **one})), "modes-covered")
    assert [ax.get_title() for ax in fig.axes] == ["Grid-25"]
    assert (
        figures.make_sweep_figure(summarize(records({("gan", "ring-8", "opt=adam"): [1.0]})), "modes-covered")
        is None
    )
    assert not (tmp_path / "sweep.png").exists()


@pytest.mark.e2e
def test_a_swept_run_reports_sweep_figures(tmp_path: Path) -> None:
    suite = write_tiny_suite(tmp_path, seeds=2, steps=5, extra='\n[sweep]\n"train.steps" = [5, 10]\n')
    # Tracked curves too (every 5 steps, on 100 samples), for the training-curves and convergence figures.
    text = suite.read_text().replace("log_every = 5", "log_every = 5\ntrack_every = 5")
    suite.write_text(text.replace("samples = 200", "samples = 200\ntrack_samples = 100"))
    run = tmp_path / "run"
    # `ganbench run` ends with build_report([run], run): the run folder holds the report's figures.
    assert CliRunner().invoke(app, ["run", "--suite", str(suite), "--out", str(run)]).exit_code == 0
    metrics = ("modes-covered", "high-quality-fraction", "reverse-kl", "w1")
    stems = ["samples", "losses", "training-curves", "convergence"]
    for stem in stems + [f"{kind}-{m}" for kind in ("metric", "sweep") for m in metrics]:
        for ext in ("png", "pdf"):
            assert (run / "figures" / f"{stem}.{ext}").stat().st_size > 5_000, f"{stem}.{ext}"
    with pytest.raises(GanbenchError, match="no job has that seed"):
        build_report([run], tmp_path / "again", sample_seed=9)
