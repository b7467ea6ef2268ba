"""Training curves: the critic's estimate, the loss and the exact W1, and their correlation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_tiny_suite
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.data import DATASETS
from ganbench.engine.streams import generator as stream
from ganbench.engine.tracking import (
    CRITIC_ESTIMATE,
    D_LOSS,
    HQ_CURVE,
    MODES_CURVE,
    W1_CURVE,
    w1_observer,
)
from ganbench.engine.train import Member, build_networks, train, train_group
from ganbench.metrics.wasserstein import exact_w1
from ganbench.models import METHODS, NetworkSize
from ganbench.report import figures
from ganbench.report.curves import MIN_POINTS, correlations, correlations_markdown

SIZE = NetworkSize(latent_dim=2, width=16, depth=2)
CPU = torch.device("cpu")


def _ring():
    spec = DATASETS.get("ring-8")
    return spec.build(spec.params())


def _observer(method: str, seed: int, n: int = 100):
    return w1_observer(METHODS.get(method).objective, _ring(), n, SIZE.latent_dim, seed, CPU)


def test_curves_are_taken_at_zero_every_k_and_at_the_end() -> None:
    m = METHODS.get("wgan")
    result = train(m, m.defaults, _ring(), SIZE, 7, 32, 0, CPU, track_every=3, observer=_observer("wgan", 0))
    assert result.curves["step"] == [0, 3, 6, 7]
    assert all(np.isfinite(result.curves[name]).all() for name in (D_LOSS, CRITIC_ESTIMATE, W1_CURVE))


def test_step_zero_values_are_those_of_the_untrained_networks() -> None:
    m = METHODS.get("gan")
    result = train(m, m.defaults, _ring(), SIZE, 2, 32, 4, CPU, track_every=1, observer=_observer("gan", 4))
    generator, discriminator = build_networks(m.defaults, SIZE, (2,), 4, CPU)  # same seed, same init
    real = _ring().sample(100, stream(4, "track-real"))
    z = torch.randn(100, 2, generator=stream(4, "track-noise"))
    with torch.no_grad():
        fake = generator(z)
        estimate = (discriminator(real).mean() - discriminator(fake).mean()).item()
    assert result.curves[W1_CURVE][0] == pytest.approx(
        exact_w1(fake.double().numpy(), real.double().numpy()).value
    )
    assert result.curves[CRITIC_ESTIMATE][0] == pytest.approx(estimate)
    assert result.curves[W1_CURVE][0] != result.curves[W1_CURVE][-1], "training moved the generator"


def test_wgan_loss_is_minus_the_critic_estimate() -> None:
    # The Wasserstein critic loss is E[D(G(z))] - E[D(x)], so on the same sets it is -estimate.
    m = METHODS.get("wgan-gp")
    result = train(
        m, m.defaults, _ring(), SIZE, 4, 32, 1, CPU, track_every=2, observer=_observer("wgan-gp", 1)
    )
    np.testing.assert_allclose(result.curves[D_LOSS], -np.array(result.curves[CRITIC_ESTIMATE]), rtol=1e-5)


def test_batched_tracking_matches_separate_runs() -> None:
    m = METHODS.get("wgan")
    seeds = [0, 3]
    members = [Member(s, _ring(), _observer("wgan", s)) for s in seeds]
    batched = train_group(m, m.defaults, members, SIZE, 5, 32, CPU, track_every=2)
    for seed, result in zip(seeds, batched, strict=True):
        alone = train(
            m, m.defaults, _ring(), SIZE, 5, 32, seed, CPU, track_every=2, observer=_observer("wgan", seed)
        )
        assert result.curves["step"] == alone.curves["step"] == [0, 2, 4, 5]
        for name in (D_LOSS, CRITIC_ESTIMATE, W1_CURVE):
            np.testing.assert_allclose(result.curves[name], alone.curves[name], rtol=1e-4, atol=1e-6)


def _hand_made(losses_per_seed: dict[int, list[float]], w1: list[float]) -> pd.DataFrame:
    """Tracked curves of one method on ring-8: per seed its losses, against the same W1 curve."""
    rows = []
    for seed, losses in losses_per_seed.items():
        for step, (distance, loss) in enumerate(zip(w1, losses, strict=True)):
            rows.append({"method": "wgan", "dataset": "ring-8", "seed": seed, "step": step,
                         W1_CURVE: distance, D_LOSS: loss, CRITIC_ESTIMATE: -distance})  # fmt: skip
    return pd.DataFrame(rows)


def test_spearman_table_on_hand_made_curves() -> None:
    # Five tracked points, the fewest a correlation is computed over (MIN_POINTS).
    # Seed 0: loss rises with W1 (rho = +1), estimate falls as W1 rises (rho = -1).
    # Seed 1: loss ranks 1,3,2,4,5 against W1 ranks 1,2,3,4,5: rho = 1 - 6*(0+1+1+0+0)/(5*(25-1)) = 0.9.
    assert MIN_POINTS == 5
    curves = _hand_made(
        {0: [1.0, 2.0, 3.0, 4.0, 5.0], 1: [1.0, 3.0, 2.0, 4.0, 5.0]}, [0.5, 0.6, 0.7, 0.9, 1.0]
    )
    table = correlations(curves)
    row = table.iloc[0]
    assert row["spearman_loss_w1_mean"] == pytest.approx(0.95)
    assert row["spearman_loss_w1_std"] == pytest.approx(np.std([1.0, 0.9], ddof=1))
    assert row["spearman_estimate_w1_mean"] == pytest.approx(-1.0)
    assert row["spearman_loss_w1_n"] == 2 and row["tracked_points"] == 5 and row["na_reason"] == ""
    assert "| 0.95 ± 0.07 (n=2) | -1.00 ± 0.00 (n=2) |" in correlations_markdown(table)


@pytest.mark.parametrize("points", [2, 4])
def test_a_correlation_over_fewer_than_five_tracked_points_is_not_applicable(points: int) -> None:
    # A quick budget tracks 2 points: their Spearman correlation is +1 or -1 whatever the curves.
    curves = _hand_made(
        {seed: [float(i) for i in range(points)] for seed in range(3)}, [0.1 * i for i in range(points)]
    )
    table = correlations(curves)
    row = table.iloc[0]
    assert row["spearman_loss_w1_n"] == 0 and np.isnan(row["spearman_loss_w1_mean"])
    assert row["tracked_points"] == points
    assert row["na_reason"].startswith(f"only {points} tracked points per seed; a rank correlation needs 5")
    markdown = correlations_markdown(table)
    (line,) = [line for line in markdown.splitlines() if line.startswith("| wgan")]
    assert [cell.strip() for cell in line.strip("|").split("|")][2:] == ["n/a¹", "n/a¹"]
    assert f"¹ n/a: only {points} tracked points per seed" in markdown
    assert "1.00" not in markdown


@pytest.mark.e2e
def test_suite_with_tracking_writes_curves_table_and_figure(tmp_path: Path) -> None:
    suite = write_tiny_suite(tmp_path, methods=("gan", "wgan"), seeds=2, extra="")
    text = suite.read_text().replace("log_every = 5", "log_every = 5\ntrack_every = 5")
    suite.write_text(text.replace("samples = 200", "samples = 200\ntrack_samples = 50"))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--suite", str(suite), "--out", str(out)])
    assert result.exit_code == 0, result.output
    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) == 4 * 3  # 4 jobs x steps 0, 5, 10
    job = json.loads((out / "jobs" / "gan__ring-8__seed1.json").read_text())
    assert job["curves"]["step"] == [0, 5, 10]
    table = pd.read_csv(out / "correlations.csv")
    assert set(table["method"]) == {"gan", "wgan"} and (table["tracked_points"] == 3).all()
    # 3 tracked points are too few for a rank correlation: n/a with the reason, never a number.
    assert (table["spearman_loss_w1_n"] == 0).all() and table["na_reason"].str.startswith("only 3").all()
    markdown = (out / "correlations.md").read_text()
    assert "ρ(loss, W1)" in markdown and "n/a¹" in markdown and "¹ n/a: only 3 tracked points" in markdown
    assert (out / "figures" / "training-curves.png").stat().st_size > 10_000
    # The convergence figure's curves are on the 50 tracking samples, the table on 200: it says so.
    assert (curves["track_samples"] == 50).all() and (curves["eval_samples"] == 200).all()
    assert (out / "figures" / "convergence.png").exists()
    curves = pd.read_csv(out / "curves.csv", dtype={"settings": str})  # no settings: empty, not NaN
    fig = figures.make_training_figure(curves, [MODES_CURVE, HQ_CURVE, W1_CURVE])
    caption = " ".join(" ".join(text.get_text() for text in fig.texts).split())
    assert "on 50 fixed tracking samples at each step" in caption
    assert "the tables' values come from 200 evaluation samples" in caption
